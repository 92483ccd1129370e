"""``kaleidoscope``: pieces of coloured glass seen through 6 to 12 mirrors.

The picture is folded into a wedge and mirrored around the centre, as a real kaleidoscope's
mirrors do. Inside the wedge lies a mosaic of glass pieces (two sets of bands of warped fractal
noise, crossed, with anti-aliased lead lines between them, light gathering at their rims) and
rings around the centre, lit from behind. Each piece takes a place in the scene's palette
(shadow, middle tones or highlight), so every frame holds dark and bright glass.

What drives what (see :data:`sonicdreams.direction.CUES`):

- **Scene** (``variant_a``/``variant_b``, ``mix``): the number of mirrors (6 to 12) and the cut
  of the glass. In a transition the next scene's symmetry opens from the centre like an iris,
  growing with ``mix`` until it fills the frame on the downbeat: no jump, no ghost. The
  palette (``palette_a``/``palette_b``) is the scene's.
- **Latent** ``z``: where the glass lies, how finely it is cut and how it is warped (each unit
  moves it by a fraction of a piece, so the slow latent walk never jumps and the change
  between hits stays small).
- **flow**: the mirrors turn and the glass slides, slowly and continuously. **surge** (a step
  on every hit that never comes back): the mirrors turn on each hit, as a hand turns a
  kaleidoscope — the same glass, a new pattern.
- **hit** (every percussive onset): the light behind the glass swells (the whole frame
  brightens, no zoom, so the edges stay put). Every band's cue passes a soft knee: faint
  onsets and the swells' tails give nothing. **kick**: a little more light.
  **snare**: the rims of the pieces flare. **hat**: a faint shimmer of the light.
- **hue**: shifts the glass along the palette (the pieces' places in the palette barely move
  with the latent, so a scene keeps its mix of colours).
- The classes ``c`` nudge the cut of the glass and its colours a little.
"""

from __future__ import annotations

import numpy as np

from ..._compiled import lazy_kernel
from ...direction import CUE, palette_mix
from ._noise import TEX_SIZE, noise_texture, sample_noise
from ._toolkit import ProceduralStyle, axes, class_mix, knee, latent_params

__all__ = ["Kaleidoscope"]

_N_PARAMS = 12
_SURGE = 0.025  # radians the mirrors turn per unit of surge (a strong hit: about 0.012)
_MOVE = 0.06  # how far one unit of the latent moves the glass (see the module's docstring)
# How far pitch reshapes the glass: the pieces' edges move with it, so a little goes far
# (at 0.6 a guitar-heavy song kept the whole mosaic shifting, 9/255 of luma a frame).
_PITCH = 0.25
_PITCH_SHIFT = 0.02  # how far pitch moves the pieces' colours along the palette
_HUE = 0.4  # how far the director's pitch phase (the hue cue) moves them
_SPIN = 0.03  # radians the mirrors turn per unit of the latent
_FLOW_SPIN = 0.012  # radians the mirrors turn per unit of the flow cue
_FLOW_SLIDE = 0.12  # texels the glass slides per unit of the flow cue
_MIN_ORDER, _MAX_ORDER = 6, 12
_IRIS_EDGE = 0.2  # half the width of the iris's soft edge
_LEAD = 0.06  # half the width of a lead line, in pieces
# Each class nudges the mosaic a little (besides its palette), so pitch also shows as texture.
_CLASS_TEXTURE = np.random.default_rng(13).standard_normal((12, 4)).astype(np.float32)


def _pixel_slope(f: np.ndarray, scale: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """|df/dx| + |df/dy| per pixel (a shader's fwidth), never below a tiny floor; ``scale``:
    (rows, columns) of this grid per pixel of the one the slope is for."""
    g = np.zeros_like(f)
    if f.shape[1] > 1:
        np.subtract(f[:, 1:], f[:, :-1], out=g[:, :-1])
        g[:, -1] = g[:, -2]
        np.abs(g, out=g)
        g *= np.float32(scale[1])
    if f.shape[0] > 1:
        gy = np.empty_like(f)
        np.subtract(f[1:], f[:-1], out=gy[:-1])
        gy[-1] = gy[-2]
        np.abs(gy, out=gy)
        gy *= np.float32(scale[0])
        g += gy
    np.maximum(g, np.float32(1e-4), out=g)
    return g


def _order(variant: float) -> int:
    """A scene's number of mirrors (6 … 12) from its variant."""
    v = float(variant) % 1.0
    return _MIN_ORDER + min(_MAX_ORDER - _MIN_ORDER, int(v * (_MAX_ORDER - _MIN_ORDER + 1)))


def _cut(variant: float) -> float:
    """How a scene cuts its glass (-1 … 1: coarser or finer, another set of colours)."""
    return float(np.sin(2 * np.pi * 3.7 * (float(variant) % 1.0)))


def _glass_py(planes, scenes, table, look, iris, out):
    """Paint the glass into ``out`` (uint8 rows × columns × 3), sampling the planes bilinearly.

    ``planes`` (float32 [2, 5, rows, columns], a grid as fine as ``out`` or coarser over the
    same picture): per scene, the two band coordinates (their whole numbers are the pieces'
    edges), the shimmer's noise, and how fast each band coordinate changes per pixel of
    ``out``. ``scenes``: 1, or 2 in a transition, when the second scene shows inside the
    iris. ``table``: the palette (float64 [256, 3], 0 … 255). ``look``: (each scene's place
    of its pieces in the palette (two), the rims' light, the shimmer, the light's gain).
    ``iris``: (radius, half the width of its soft edge), in the grid's units (the height
    spans 2). The pieces' edges, the lead and the rims are drawn at the output's own pixels.
    """
    h, w = out.shape[0], out.shape[1]
    hs, ws = planes.shape[2], planes.shape[3]
    rim, shimmer, gain = look[2], look[3], look[4]
    radius, edge = iris[0], iris[1]
    ex = np.empty(w, dtype=np.float64)  # the backlight is separable: e^(-1.2 x²)·e^(-1.2 y²)
    xs = np.empty(w, dtype=np.float64)
    x0 = np.empty(w, dtype=np.int64)
    x1 = np.empty(w, dtype=np.int64)
    ax = np.empty(w, dtype=np.float64)
    for j in range(w):
        xs[j] = (j + 0.5 - w / 2) * 2.0 / h
        ex[j] = np.exp(-1.2 * xs[j] * xs[j])
        sx = min(max((j + 0.5) * ws / w - 0.5, 0.0), ws - 1.0)
        x0[j] = int(sx)
        x1[j] = min(x0[j] + 1, ws - 1)
        ax[j] = sx - x0[j]
    rows = np.empty((2, 5, ws), dtype=np.float64)  # the planes, sampled at this output row
    rgb = np.empty((2, 3), dtype=np.float64)
    for i in range(h):
        y = (i + 0.5) * 2.0 / h - 1.0
        ey = np.exp(-1.2 * y * y)
        sy = min(max((i + 0.5) * hs / h - 0.5, 0.0), hs - 1.0)
        y0 = int(sy)
        y1 = min(y0 + 1, hs - 1)
        ay = sy - y0
        for s in range(scenes):
            for k in range(5):
                for q in range(ws):
                    rows[s, k, q] = planes[s, k, y0, q] + ay * (planes[s, k, y1, q]
                                                               - planes[s, k, y0, q])
        for j in range(w):
            inner = 0.0
            if scenes == 2:  # the next scene opens from the centre like an iris
                r = np.sqrt(xs[j] * xs[j] + y * y)
                inner = min(max((r - (radius + edge)) / (-2.0 * edge), 0.0), 1.0)
                inner = inner * inner * (3.0 - 2.0 * inner)
            back = 0.55 + 0.9 * ey * ex[j]
            a, p, q = ax[j], x0[j], x1[j]
            for s in range(2):
                if (s == 0 and inner >= 1.0) or (s == 1 and inner <= 0.0):
                    rgb[s, 0] = rgb[s, 1] = rgb[s, 2] = 0.0
                    continue
                A = rows[s, 0, p] + a * (rows[s, 0, q] - rows[s, 0, p])
                B = rows[s, 1, p] + a * (rows[s, 1, q] - rows[s, 1, p])
                n = rows[s, 2, p] + a * (rows[s, 2, q] - rows[s, 2, p])
                ga = rows[s, 3, p] + a * (rows[s, 3, q] - rows[s, 3, p])
                gb = rows[s, 4, p] + a * (rows[s, 4, q] - rows[s, 4, p])
                ia = np.floor(A)
                ib = np.floor(B)
                da = 0.5 - abs(A - ia - 0.5)  # how far from the piece's edge, in pieces
                db = 0.5 - abs(B - ib - 0.5)
                # dark lead between the pieces, 1.6 output pixels of soft edge
                lead = min((da - _LEAD) / max(ga, 1e-4), (db - _LEAD) / max(gb, 1e-4))
                lead = min(max((lead + 0.8) / 1.6, 0.0), 1.0)
                lead = lead * lead * (3.0 - 2.0 * lead)
                # light gathers at the rims and shines through each piece unevenly
                m = min(max((min(da, db) - 0.3) / (0.06 - 0.3), 0.0), 1.0)
                light = m * m * (3.0 - 2.0 * m) * rim + 0.8 + shimmer * n
                tint = ia * 0.4142 + ib * 0.7320
                tint -= np.floor(tint)
                light *= (0.55 + 0.7 * tint) * lead * back * gain
                t = ia * 0.31 + ib * 0.17 + look[s]
                k = min(max(int((t - np.floor(t)) * 255.999), 0), 255)
                for ch in range(3):
                    rgb[s, ch] = table[k, ch] * light
            for ch in range(3):
                v = rgb[0, ch] + inner * (rgb[1, ch] - rgb[0, ch])
                out[i, j, ch] = np.uint8(min(max(v, 0.0), 255.0) + 0.5)
    return out


_glass = lazy_kernel(_glass_py)


class Kaleidoscope(ProceduralStyle):
    name = "kaleidoscope"
    description = "mirrored mosaics of coloured glass with 6 to 12-fold symmetry, tinted by pitch"
    work_pixels = 256 * 256  # the smooth band coordinates: computed at about this many pixels

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> np.ndarray:
        hs, ws = self.work_size()
        p = np.clip(latent_params(z, _N_PARAMS, key=self.name), -6.0, 6.0)
        cue = np.nan_to_num(np.asarray(cue, dtype=np.float64), nan=0.0, posinf=0.0,
                            neginf=0.0)
        mix = min(1.0, max(0.0, float(cue[CUE["mix"]])))
        mix = mix * mix * (3.0 - 2.0 * mix)
        lut = palette_mix(cue[CUE["palette_a"]], cue[CUE["palette_b"]], mix) * np.float32(255)
        light_hit, kick, snare, hat = (knee(cue[CUE["hit"]]), knee(cue[CUE["kick"]]),
                                       knee(cue[CUE["snare"]]), knee(cue[CUE["hat"]]))
        ct = class_mix(c) @ _CLASS_TEXTURE
        flow, surge = float(cue[CUE["flow"]]), float(cue[CUE["surge"]])

        # The scene's symmetry; in a transition the next one opens from the centre (an iris
        # growing with the mix, filling the frame when the mix reaches 1).
        order_a = _order(cue[CUE["variant_a"]])
        order_b = _order(cue[CUE["variant_b"]])
        cut_a, cut_b = _cut(cue[CUE["variant_a"]]), _cut(cue[CUE["variant_b"]])
        if order_a == order_b and cut_a == cut_b:
            mix = 0.0
        corner = float(np.hypot(1.0, self.size[1] / self.size[0]))
        radius = mix * (corner + 3 * _IRIS_EDGE) - _IRIS_EDGE
        if mix >= 1.0:
            order_a, cut_a = order_b, cut_b
        scenes = [(order_a, cut_a)] + ([(order_b, cut_b)] if 0.0 < mix < 1.0 else [])
        x, y = axes(self.size, (hs, ws))
        x, y = np.broadcast_to(x[None, :], (hs, ws)), np.broadcast_to(y[:, None], (hs, ws))
        r, theta = np.hypot(x, y), np.arctan2(y, x)
        planes = np.zeros((2, 5, hs, ws), dtype=np.float32)
        per_pixel = (hs / self.size[0], ws / self.size[1])  # the slopes: per output pixel
        for k, (order, cut) in enumerate(scenes):
            self._bands(planes[k], r, theta, order, cut, p, flow, surge, ct, per_pixel)
        # The latent barely tints and pitch only leans the colours (every piece moves along
        # the palette at once): a section keeps its colours while the glass moves.
        tint = (0.02 * np.tanh(0.3 * p[11]) + _HUE * float(cue[CUE["hue"]])
                + _PITCH_SHIFT * np.tanh(ct[3]))
        look = np.array([
            tint + 3.1 * scenes[0][1], tint + 3.1 * scenes[-1][1],  # each scene's cut
            0.45 + 0.5 * snare,  # the rims flare on a snare
            0.12 + 0.25 * hat,  # the light shimmers on the hats
            0.95 + 0.6 * light_hit + 0.15 * kick,  # the light behind the glass swells
        ], dtype=np.float64)
        table = np.ascontiguousarray(lut, dtype=np.float64)
        out = np.empty((*self.size, 3), dtype=np.uint8)
        return _glass()(planes, len(scenes), table, look,
                        np.array([radius, _IRIS_EDGE]), out)

    @staticmethod
    def _bands(out: np.ndarray, r: np.ndarray, theta: np.ndarray, order: int, cut: float,
               p: np.ndarray, flow: float, surge: float, ct: np.ndarray,
               per_pixel: tuple[float, float]) -> None:
        """The smooth planes of a scene's glass into ``out`` (float32 [5, rows, columns]):
        the two band coordinates, the shimmer's noise, and the band coordinates' slopes
        per pixel of the output (``per_pixel``: grid rows and columns per output pixel)."""
        f32 = np.float32
        # Fold the angle into one wedge, mirrored: the same glass seen in every wedge.
        sector = f32(2.0 * np.pi / order)
        # The hits turn the mirrors, as a hand turns a kaleidoscope: the same glass, new patterns.
        a = np.mod(theta + f32(_SPIN * p[0] + _FLOW_SPIN * flow + _SURGE * surge), sector)
        a -= sector * f32(0.5)
        np.abs(a, out=a)
        fx = r * np.cos(a)
        fy = r * np.sin(a)

        scale = f32(TEX_SIZE * 0.16 * np.exp(0.3 * np.tanh(_MOVE * p[1]) + 0.35 * cut))
        turn = f32(0.7 * _MOVE * p[2])
        ca, sa = np.cos(turn) * scale, np.sin(turn) * scale
        slide = f32(TEX_SIZE * 0.05 * _MOVE)
        # The flow slides the glass (wrapped: the texture is periodic, coordinates stay small).
        u = ca * fx - sa * fy + slide * f32(p[3]) + f32((_FLOW_SLIDE * flow) % TEX_SIZE)
        v = sa * fx + ca * fy + slide * f32(p[4]) + f32((0.6 * _FLOW_SLIDE * flow) % TEX_SIZE)

        smooth = noise_texture(3, 2.0, cutoff=24.0)
        detail = noise_texture(4, 1.6, cutoff=32.0)
        warp = f32(TEX_SIZE * 0.05 * (1.0 + 0.4 * np.tanh(_MOVE * p[5] + _PITCH * ct[0])))
        q = sample_noise(smooth, (u * f32(0.6) + slide * f32(p[6])).astype(np.float32),
                         (v * f32(0.6) + slide * f32(p[7])).astype(np.float32))
        n = sample_noise(detail, (u + warp * q.real).astype(np.float32),
                         (v + warp * q.imag).astype(np.float32))

        # Two band coordinates; their whole numbers are the edges of the pieces.
        bands = f32(1.8 + 0.6 * np.tanh(_MOVE * p[8] + _PITCH * ct[1]))
        ring_freq = f32(np.pi * (5.0 + 3.0 * np.tanh(_MOVE * p[9] + 0.5 * _PITCH * ct[2])))
        ring = np.sin(r * ring_freq - f32(_MOVE * p[10]))
        out[0] = n.real * bands + f32(0.6) * ring
        out[1] = n.imag * bands
        out[2] = q.real
        out[3] = _pixel_slope(out[0], per_pixel)
        out[4] = _pixel_slope(out[1], per_pixel)
