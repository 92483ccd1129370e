"""``flow``: ink swirled through water, drawn along the streamlines of a curl-noise flow.

The water moves with a divergence-free flow (the curl of a smooth noise, so it swirls without
sources or sinks, as a liquid does). Each pixel follows the flow backwards for a while and
takes the ink that was where it came from: bands of dye, laid down across the water, are
stretched by the flow into long silky filaments, folded around the eddies. Along the way it
also gathers a fine noise (line-integral convolution), which streaks the ink along the flow
like the sheen of silk. Nothing is simulated from frame to frame: the picture is a pure
function of the latent and the classes.

What drives what:

- **scene** (``variant_a/b``, blended by ``mix``) and **latent**: the view into the water
  (where, how close, turned how far), the shape of the flow (a blend of two flows), how long the
  ink has swirled, where the dye was laid and how finely; the latent moves them gently.
- **palette**: the ink runs from the palette's shadow to its highlight, the filaments take the
  mirrored colour (bright on dark ink, dark on bright); ``hue`` (pitch) shifts the positions.
- **beat** (every band's hits): the ink brightens and climbs towards the highlight.
- **kick**: the view pushes in and the ink swirls a little further. **snare**: the filaments
  flare. **hat**: the silk's sheen shimmers.
- **flow**: the dye drifts and the view turns slowly; **surge** (a step on every hit that
  never comes back): the dye lurches along its drift on each hit. The class vector nudges the
  flow, the dye's bands and the sheen.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from ..._compiled import lazy_kernel
from ._noise import TEX_SIZE, noise_texture
from ._toolkit import (
    ProceduralStyle,
    accent,
    axes,
    class_nudge,
    cue_palette,
    frame_cues,
    latent_params,
    upsample,
)

__all__ = ["Flow"]

_N_PARAMS = 14
_STEPS = 10  # midpoint steps along each streamline
_MASK = TEX_SIZE - 1
_LINE_MEAN = float(np.sqrt(2.0 * np.pi))  # a filament's average over a band, per unit width
_FAR = float(TEX_SIZE * 4096)  # texel coordinates are shifted by this (see ``_flow_py``)
_PAN = 0.2  # how far one unit of the latent moves the view (in tenths of the texture)
_SURGE = 1.1  # how far a hit moves the picture along its flow (flow units per unit of surge)
_MOVE = 0.3  # how far one unit of the latent moves the dye, zooms and reshapes the flow
_SCENE = 1.0  # how far the scene (its variant) sets the view, the flow and the dye
_LATENT = 0.35  # how far the latent moves them: calm motion next to the hits
_SPIN = 0.1  # radians the view turns per unit of the latent
# Each class nudges the flow, the dye and the sheen (besides its palette).
_CLASS_TEXTURE = np.random.default_rng(19).standard_normal((12, 4)).astype(np.float32)


@lru_cache(maxsize=2)
def _flows() -> npt.NDArray[np.float32]:
    """Two divergence-free velocity fields on the periodic texture, float32 [256, 256, 4]:
    (vx, vy) of the first flow, then of the second, each of unit mean speed (texels per unit
    of time). They are the curls of the two channels of a smooth noise."""
    tex = noise_texture(21, 2.4, low=3.0, cutoff=10.0).reshape(TEX_SIZE, TEX_SIZE)
    out = np.empty((TEX_SIZE, TEX_SIZE, 4), dtype=np.float32)
    for k, psi in enumerate((tex.real.astype(np.float64), tex.imag.astype(np.float64))):
        # Curl of the stream function psi: (d psi / dy, -d psi / dx), central differences.
        vx = (np.roll(psi, -1, axis=0) - np.roll(psi, 1, axis=0)) * 0.5
        vy = -(np.roll(psi, -1, axis=1) - np.roll(psi, 1, axis=1)) * 0.5
        speed = np.mean(np.hypot(vx, vy))
        out[..., 2 * k] = vx / speed
        out[..., 2 * k + 1] = vy / speed
    out.setflags(write=False)
    return out


@lru_cache(maxsize=2)
def _dyes() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The dye (a smooth noise) and the sheen's fine noise, each float32 [256²]."""
    smooth = noise_texture(22, 2.2, low=2.0, cutoff=16.0).real.astype(np.float32)
    fine = noise_texture(23, 1.0, low=8.0, cutoff=60.0).real.astype(np.float32)
    return smooth, fine


def _trace_py(xs, ys, view, field, dye, fine, look, band, tone, sheen):
    """Follow the water back from each point of a grid: the smooth planes of a frame.

    ``xs``/``ys``: the grid's x per column and y per row; ``view``: (scale·cos, scale·sin,
    offset u, offset v, dt, dye scale, dye offset u, dye offset v, sheen scale), in texels;
    ``field``: the velocity, (vx, vy) interleaved per texel [2·256²]; ``dye`` and ``fine``:
    the dye and the sheen's noise [256²]; ``look``: (bands, hue, colour per unit of dye, …).
    Into the float32 planes of the grid's shape: ``band`` (the dye's band coordinate: its
    whole numbers are the filaments), ``tone`` (the ink's place in the palette) and ``sheen``
    (the silk's streaks).
    """
    h = ys.shape[0]
    w = xs.shape[0]
    a, b, ou, ov, dt = view[0], view[1], view[2], view[3], view[4]
    dscale, du, dv, fscale = view[5], view[6], view[7], view[8]
    bands, hue, spread = look[0], look[1], look[2]
    half_dt = 0.5 * dt
    for i in range(h):
        y = ys[i]
        for j in range(w):
            x = xs[j]
            # Texel coordinates, shifted far into the positive (the textures wrap), so that
            # truncation is flooring.
            u = a * x - b * y + ou + _FAR
            v = b * x + a * y + ov + _FAR
            acc = 0.0
            for _ in range(_STEPS):
                # Midpoint step backwards along the flow (bilinear velocity).
                iu = int(u)
                iv = int(v)
                au = u - iu
                av = v - iv
                k00 = ((iv & _MASK) * TEX_SIZE + (iu & _MASK)) * 2
                k01 = ((iv & _MASK) * TEX_SIZE + ((iu + 1) & _MASK)) * 2
                k10 = (((iv + 1) & _MASK) * TEX_SIZE + (iu & _MASK)) * 2
                k11 = (((iv + 1) & _MASK) * TEX_SIZE + ((iu + 1) & _MASK)) * 2
                top = field[k00] + au * (field[k01] - field[k00])
                vx = top + av * (field[k10] + au * (field[k11] - field[k10]) - top)
                top = field[k00 + 1] + au * (field[k01 + 1] - field[k00 + 1])
                vy = top + av * (field[k10 + 1] + au * (field[k11 + 1] - field[k10 + 1]) - top)
                mu = u - half_dt * vx
                mv = v - half_dt * vy
                iu = int(mu)
                iv = int(mv)
                au = mu - iu
                av = mv - iv
                k00 = ((iv & _MASK) * TEX_SIZE + (iu & _MASK)) * 2
                k01 = ((iv & _MASK) * TEX_SIZE + ((iu + 1) & _MASK)) * 2
                k10 = (((iv + 1) & _MASK) * TEX_SIZE + (iu & _MASK)) * 2
                k11 = (((iv + 1) & _MASK) * TEX_SIZE + ((iu + 1) & _MASK)) * 2
                top = field[k00] + au * (field[k01] - field[k00])
                vx = top + av * (field[k10] + au * (field[k11] - field[k10]) - top)
                top = field[k00 + 1] + au * (field[k01 + 1] - field[k00 + 1])
                vy = top + av * (field[k10 + 1] + au * (field[k11 + 1] - field[k10 + 1]) - top)
                u -= dt * vx
                v -= dt * vy
                # The sheen: fine noise gathered along the streamline.
                su = u * fscale
                sv = v * fscale
                iu = int(su)
                iv = int(sv)
                au = su - iu
                av = sv - iv
                r0 = (iv & _MASK) * TEX_SIZE
                r1 = ((iv + 1) & _MASK) * TEX_SIZE
                c0 = iu & _MASK
                c1 = (iu + 1) & _MASK
                top = fine[r0 + c0] + au * (fine[r0 + c1] - fine[r0 + c0])
                acc += top + av * (fine[r1 + c0] + au * (fine[r1 + c1] - fine[r1 + c0]) - top)
            # The dye where the water came from.
            su = u * dscale + du
            sv = v * dscale + dv
            iu = int(su)
            iv = int(sv)
            au = su - iu
            av = sv - iv
            r0 = (iv & _MASK) * TEX_SIZE
            r1 = ((iv + 1) & _MASK) * TEX_SIZE
            c0 = iu & _MASK
            c1 = (iu + 1) & _MASK
            top = dye[r0 + c0] + au * (dye[r0 + c1] - dye[r0 + c0])
            d = top + av * (dye[r1 + c0] + au * (dye[r1 + c1] - dye[r1 + c0]) - top)
            band[i, j] = d * bands
            tone[i, j] = hue + spread * np.tanh(d)
            sheen[i, j] = acc * (1.0 / _STEPS)
    return band


def _ink_py(band, tone, sheen, look, lut, out):
    """Paint the ink into ``out`` (uint8 rows × columns × 3) from the planes of ``_trace_py``
    at the output's own pixels: thin anti-aliased filaments where the dye's bands change,
    ink in between. ``look``: as ``_trace_py``'s (the sheen, brightness, filament width and
    glow at 3 … 6); ``lut``: palette [256, 3] in 0..1.
    """
    h = out.shape[0]
    w = out.shape[1]
    gloss, bright, width, flare = look[3], look[4], look[5], look[6]
    for i in range(h):
        ii = i + 1 if i + 1 < h else i - 1
        for j in range(w):
            jj = j + 1 if j + 1 < w else j - 1
            f = band[i, j]
            # How far the band coordinate moves per pixel (a shader's fwidth).
            slope = abs(band[i, jj] - f) + abs(band[ii, j] - f) + 1e-4
            frac = f - np.floor(f)
            dist = min(frac, 1.0 - frac)  # to the nearest filament, in bands
            # A filament is a Gaussian ``width`` bands wide, blurred over the pixel. Where the
            # flow packs the bands tighter than a few pixels apart, their ripple fades to its
            # average: detail finer than the pixels would flicker at every small move.
            ripple = np.exp(-(3.5 * slope) ** 2)
            sigma = np.sqrt(width * width + slope * slope)
            line = width / sigma * np.exp(-0.5 * (dist / sigma) ** 2)
            line = ripple * line + (1.0 - ripple) * _LINE_MEAN * width
            t = tone[i, j]
            t -= np.floor(t)
            idx = int(t * 255.999)
            t2 = t + 0.5
            t2 -= np.floor(t2)
            idx2 = int(t2 * 255.999)
            silk = 1.0 + gloss * sheen[i, j]
            body = bright * (0.675 + 0.325 * ripple * np.cos(6.283185307 * frac)) * silk
            for ch in range(3):
                v = (lut[idx, ch] * body * (1.0 - line) + lut[idx2, ch] * line * flare * silk)
                if v > 0.8:  # a soft knee: bright ink blooms instead of clipping
                    v = 0.8 + 0.2 * np.tanh((v - 0.8) * 5.0)
                elif v < 0.0:
                    v = 0.0
                out[i, j, ch] = np.uint8(v * 255.0 + 0.5)
    return out


_trace = lazy_kernel(_trace_py)
_ink = lazy_kernel(_ink_py)


@lru_cache(maxsize=64)
def _scene_params(variant: float) -> np.ndarray:
    """A scene's view into the water, its flow and its dye (the latent then moves them)."""
    return np.random.default_rng([int(variant * 2**31), 79]).standard_normal(_N_PARAMS)


class Flow(ProceduralStyle):
    name = "flow"
    description = "silky filaments of ink swirled by a flowing liquid"
    work_pixels = 320 * 320  # the water's smooth planes: computed at about this many pixels

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> np.ndarray:
        # The water is followed on a coarser grid (the dye's bands and the silk's streaks
        # are smooth); the filaments are drawn at the output's own pixels.
        xs, ys, view, field, dye, fine, look, lut = self._params(z, c, cue)
        planes = [np.empty((len(ys), len(xs)), dtype=np.float32) for _ in range(3)]
        _trace()(xs, ys, view, field, dye, fine, look, *planes)
        if planes[0].shape != self.size:
            planes = [upsample(p, self.size) for p in planes]
        return _ink()(*planes, look, lut, np.empty((*self.size, 3), dtype=np.uint8))

    def _params(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> tuple:
        """The arguments of ``_trace_py`` (without its planes) and the palette."""
        f = frame_cues(cue)
        kick, snare, hat = accent(f.kick), accent(f.snare), accent(f.hat, 0.6)
        beat = accent(f.beat)
        beat = 0.9 * np.tanh(beat / 0.9)  # the loudest hits swell, never cut
        base = (1.0 - f.mix) * _scene_params(f.variant_a) + f.mix * _scene_params(f.variant_b)
        p = _SCENE * base + _LATENT * np.clip(
            latent_params(z, _N_PARAMS, key=self.name), -6.0, 6.0).astype(np.float64)
        ct = class_nudge(c, _CLASS_TEXTURE).astype(np.float64)

        # The view: placed by the scene and the latent, pushed in by the kick.
        scale = TEX_SIZE * 0.15 * np.exp(0.3 * np.tanh(_MOVE * p[0]) - 0.08 * kick)
        flow = f.flow + _SURGE * f.surge  # the hits lurch the flow forward
        angle = _SPIN * p[1] + 0.015 * flow
        move = TEX_SIZE * 0.1 * _MOVE
        pan = TEX_SIZE * 0.1 * _PAN
        mixing = 0.35 * p[2] + 0.3 * ct[0]
        # How long the ink has swirled: the kick swirls it a little further.
        travel = TEX_SIZE * 0.13 * np.exp(0.3 * np.tanh(0.5 * p[3]) + 0.12 * kick)
        view = np.array([
            scale * np.cos(angle), scale * np.sin(angle), pan * p[4], pan * p[5],
            travel / _STEPS,  # dt: the mean speed is one texel per unit of time
            # the dye: its scale and where it was laid (drifting slowly with the flow)
            0.8, move * p[6] + 1.2 * flow, move * p[7] - 0.8 * flow,
            1.2,  # the sheen's noise: finer than the dye
        ], dtype=np.float64)
        flows = _flows()
        field = flows[..., :2] * np.float32(np.cos(mixing))
        field += flows[..., 2:] * np.float32(np.sin(mixing))
        look = np.array([
            2.2 * np.exp(0.25 * np.tanh(0.5 * p[8]) + 0.15 * ct[1]),  # dye bands
            # where the ink sits in the palette (shadow 0 … highlight 0.5) and the pitch's hue
            0.25 + 0.03 * np.tanh(p[9]) + f.hue + 0.03 * snare + 0.06 * beat,
            0.24 + 0.03 * ct[2],  # palette travel per unit of dye
            0.3 + 0.05 * ct[3] + 0.3 * hat,  # sheen: the hats make the silk shimmer
            0.95 * (1.0 + 0.18 * beat),  # brightness: the beat's swell
            0.035,  # filament width, in bands
            1.3 * (1.0 + 0.9 * snare),  # filament glow: the snare's flare
        ], dtype=np.float64)
        xs, ys = axes(self.size, self.work_size())
        lut = np.ascontiguousarray(cue_palette(f), dtype=np.float64)
        return (xs.astype(np.float64), ys.astype(np.float64), view, field.ravel(), *_dyes(),
                look, lut)
