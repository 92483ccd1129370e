"""``cppn``: a compositional pattern-producing network, painted from the scene's palette.

Each pixel's coordinates (x, y, radius and a few oriented waves) go through a small random
network whose weights are read from the latent; its three outputs are three smooth fields over
the picture. The first sets where in the palette a pixel sits — deep shadow to bright
highlight, as sharp an edge as the field's own slope — the second shades it, and the
zero line of the third glows as a thin filament. The first two are read by rank in each frame
(its own quantiles), so every frame has the same share of shadow, mid-tone and highlight: the
shapes morph, the scene's colours stay, and a new scene's palette is what changes them.

What drives what:

- **latent** (keyframes, the motion walk, the scene's region): the network's weights, the
  camera (zoom, turn) and the waves' frequencies — the shapes.
- **kick**: the big hit. The picture swells towards the viewer (a push of scale towards the
  centre), its colours climb towards the palette's highlight and its exposure rises; all decay
  with the cue (the beat's swell: light and scale). The light saturates sooner than the
  scale: the strongest beats (a strong look on a fast song) push in more rather than flare
  more, which the flash limiter would hold.
- **snare**: the accent. The filaments flare and the colours push along the palette.
- **hat**: fine texture only: a faint ripple of the shading.
- **surge** (a step on every hit that never comes back): the camera turns a little on each
  hit, so the beat moves the picture without a decay to undo it and the colours stay.
- **flow**: a slow turn of the camera and a drift of the waves (smooth, with the harmony).
- **hue**: where pitch places the colours in the palette; ``palette_a/b`` and ``mix``: the
  scene's palette; ``variant_a/b``: the scene's symmetry (none, mirror, 3-fold, 5-fold), the two
  pictures' fields blended through a transition; the class vector nudges the weights a little.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..._compiled import lazy_kernel
from ._toolkit import (
    KernelStyle,
    accent,
    axes,
    class_nudge,
    cue_palette,
    frame_cues,
    latent_params,
    sampling,
)

__all__ = ["CPPN"]

_IN, _HIDDEN, _OUT = 7, 12, 3
_SHAPES = ((_IN, _HIDDEN), (_HIDDEN,), (_HIDDEN, _HIDDEN), (_HIDDEN,), (_HIDDEN, _OUT), (_OUT,))
_N_WEIGHTS = sum(int(np.prod(s)) for s in _SHAPES)
_N_PARAMS = _N_WEIGHTS + 10
_SCENE = 0.75  # how strongly the scene (its variant) sets the weights
_SURGE = 0.08  # radians the view turns per unit of surge (a strong hit: about 0.03)
_LIGHT, _LIGHT_KNEE = 0.45, 0.1  # a hit's light follows it to here, then saturates (at 0.55)
_MOVE = 0.15  # how strongly the latent moves them: the motion stays calm next to the hits
_SYMMETRIES = (0, 1, 3, 5)  # none, a mirror, 3-fold and 5-fold mirrored turns
_STATS_STEP = 4  # the fields' statistics and quantiles come from every 4th pixel each way
_TONE_LEVELS = 25  # quantiles of a frame's fields that place its tones
_FLAT = 1e-3  # fields that vary less than this have no shapes to show
_FAINT = np.float32(0.002)  # a filament's glow below this adds under a level: not drawn
# Each class nudges the network a little, so pitch also shows as texture.
_CLASS_TEXTURE = np.random.default_rng(7).standard_normal((12, _N_WEIGHTS)).astype(np.float32)


def _fields(xs: np.ndarray, ys: np.ndarray, cam: np.ndarray, fold: int,
            layers: tuple[np.ndarray, ...]) -> np.ndarray:
    """The network's three fields on the grid ``ys`` × ``xs``: float32 [shape=(3, rows, columns)].

    ``cam``: (scale·cos, scale·sin, 4 wave frequencies, 4 wave phases); ``fold``: the
    symmetry (0 none, 1 mirror, n ≥ 2: n-fold mirrored turns); ``layers``: (w1, b1, w2, b2,
    w3, b3), already scaled. Whole-grid float32 arithmetic: numpy's SIMD sine runs about 15
    times faster than a compiled per-pixel loop's.
    """
    f32 = np.float32
    x = np.broadcast_to(xs.astype(f32)[None, :], (len(ys), len(xs)))
    y = np.broadcast_to(ys.astype(f32)[:, None], (len(ys), len(xs)))
    if fold == 1:
        x = np.abs(x)
    elif fold >= 2:
        sector = f32(np.pi / fold)
        rr = np.hypot(x, y)
        th = np.arctan2(y, x) + f32(np.pi)
        th -= f32(2.0) * sector * np.floor(th / (f32(2.0) * sector))
        th = np.abs(th - sector)
        x, y = rr * np.cos(th), rr * np.sin(th)
    a, b = f32(cam[0]), f32(cam[1])
    u = a * x - b * y
    v = b * x + a * y
    feats = np.empty((_IN, *u.shape), dtype=f32)
    feats[0], feats[1] = u, v
    np.hypot(u, v, out=feats[2])
    np.sin(f32(cam[2]) * u + f32(cam[6]), out=feats[3])
    np.cos(f32(cam[3]) * v + f32(cam[7]), out=feats[4])
    np.sin(f32(cam[4]) * feats[2] - f32(cam[8]), out=feats[5])
    np.sin(f32(cam[5] * 0.7071) * (u + v) + f32(cam[9]), out=feats[6])
    w1, b1, w2, b2, w3, b3 = (np.ascontiguousarray(m, dtype=f32) for m in layers)
    dense = _dense()
    h = dense(w1, b1, feats.reshape(_IN, -1), True, np.empty((_HIDDEN, u.size), dtype=f32))
    h2 = dense(w2, b2, h, False, np.empty((_HIDDEN, u.size), dtype=f32))
    np.sin(h2, out=h2)
    out = dense(w3, b3, h2, False, np.empty((_OUT, u.size), dtype=f32))
    return out.reshape(_OUT, *u.shape)


def _dense_py(w, b, x, squash, out):
    """``out = w.T @ x + b[:, None]`` (float32), through a soft clip (tanh as a rational curve,
    within 2 % of it) if ``squash``: one layer over every pixel, the pixels in the innermost
    loop (SIMD), on the calling thread (a BLAS pool beside the style's own threads spins for
    nothing)."""
    n = x.shape[1]
    step = 2048  # pixels per block: the block's rows stay in the cache
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        for k in range(w.shape[1]):
            o = out[k, lo:hi]  # (rows as 1-d views: the loop below compiles to SIMD)
            o[:] = b[k]
            for m in range(w.shape[0]):
                wk = w[m, k]
                xr = x[m, lo:hi]
                for p in range(hi - lo):
                    o[p] += wk * xr[p]
            if squash:
                for p in range(hi - lo):
                    v = min(max(o[p], np.float32(-3.0)), np.float32(3.0))
                    v2 = v * v
                    o[p] = v * (np.float32(27.0) + v2) / (np.float32(27.0) + np.float32(9.0) * v2)
    return out


def _paint_py(tone, shade_base, fb, fc, rows_at, cols_at, look, lut, out):
    """Colour a frame into ``out`` (uint8 rows × columns × 3), sampling the planes bilinearly.

    The planes (float32, a grid as fine as ``out`` or coarser over the same picture):
    ``tone``, where each pixel sits in the palette before the cues (0 shadow … 0.5
    highlight); ``shade_base``, its shading before the ripple (-1 … 1); ``fb`` and ``fc``,
    the second and third fields in spreads from their means (the ripple and the filament).
    ``rows_at``, ``cols_at``: the planes' :func:`~._toolkit.sampling` for ``out``.
    ``look``: (hue offset, highlight pull, exposure, filament width, filament glow, ripple,
    ripple frequency, shade depth); ``lut``: the palette ring float32 [256, 3] in 0..1. The
    thin filament, the ripple and the palette's edges are drawn at the output's own pixels.

    A row goes in passes, each a loop the compiler turns into SIMD: the planes sampled at
    the row, then at its pixels with the shading worked out, the palette read, then the
    highlights' knee.
    """
    h, w = out.shape[0], out.shape[1]
    ws = tone.shape[1]
    f32 = np.float32
    one, zero = f32(1.0), f32(0.0)
    hue, pull, gain = f32(look[0]), f32(look[1]), f32(look[2])
    inv_w2 = f32(1.0 / (64.0 * look[3] * look[3]))
    glow, ripple = f32(look[4]), f32(look[5])
    rfreq, cfreq = f32(look[6] / (2.0 * np.pi)), f32(5.0 / (2.0 * np.pi))
    depth = f32(look[7])
    scale = f32(lut.shape[0] - 0.001)
    top = lut.shape[0] - 1
    y0s, y1s, ays = rows_at
    x0, x1, ax = cols_at
    rows = np.empty((4, ws), dtype=np.float32)  # the planes, sampled at this output row
    k_lo = np.empty(w, dtype=np.uint32)  # palette entries: the colour and its opposite
    k_hi = np.empty(w, dtype=np.uint32)  # (unsigned: no test for negative indices)
    shades = np.empty(w, dtype=np.float32)
    lines = np.empty(w, dtype=np.float32)
    waves = np.empty(w, dtype=np.float32)
    values = np.empty(3 * w, dtype=np.float32)
    for i in range(h):
        y0, y1, ay = y0s[i], y1s[i], ays[i]
        for q in range(ws):
            rows[0, q] = tone[y0, q] + ay * (tone[y1, q] - tone[y0, q])
            rows[1, q] = shade_base[y0, q] + ay * (shade_base[y1, q] - shade_base[y0, q])
            rows[2, q] = fb[y0, q] + ay * (fb[y1, q] - fb[y0, q])
            rows[3, q] = fc[y0, q] + ay * (fc[y1, q] - fc[y0, q])
        for j in range(w):
            a, p, q = ax[j], x0[j], x1[j]
            t = rows[0, p] + a * (rows[0, q] - rows[0, p])
            sb = rows[1, p] + a * (rows[1, q] - rows[1, p])
            b = rows[2, p] + a * (rows[2, q] - rows[2, p])
            c = rows[3, p] + a * (rows[3, q] - rows[3, p])
            t += (f32(0.5) - t) * pull
            t += hue
            t -= np.floor(t)
            k_lo[j] = min(max(np.int32(t * scale), 0), top)  # (a NaN reads nothing else)
            t += f32(0.5)
            k_hi[j] = min(max(np.int32((t - np.floor(t)) * scale), 0), top)
            shades[j] = (one - depth) + depth * sb
            waves[j] = rfreq * b + cfreq * c
            lines[j] = c
        # (each in a loop of its own: one long loop does not compile to SIMD)
        for j in range(w if ripple != zero else 0):
            # the ripple: sin(2π·x) as a parabola through its peaks, refined (within 0.001)
            x = waves[j]
            x -= np.floor(x)
            x = one - f32(2.0) * x  # (sin(2π·x) = sin(π·(1 - 2x)))
            wave = f32(4.0) * x * (one - abs(x))
            wave += f32(0.225) * (wave * abs(wave) - wave)
            shades[j] *= one + ripple * wave
        for j in range(w):
            # the filament: exp(-c²/width²) as (1 - c²/64width²)^64 (within 0.005 of it)
            c = lines[j]
            g = max(zero, one - c * c * inv_w2)
            g *= g
            g *= g
            g *= g
            g *= g
            g *= g
            g *= g
            lines[j] = g * glow
        for j in range(w):
            k, shade, line = k_lo[j], shades[j], lines[j]
            if line > _FAINT:  # (most pixels are far from a filament: one colour to read)
                kh = k_hi[j]
                for ch in range(3):
                    values[3 * j + ch] = gain * (lut[k, ch] * shade
                                                 + line * (f32(0.35) + lut[kh, ch]))
            else:
                for ch in range(3):
                    values[3 * j + ch] = gain * lut[k, ch] * shade
        row = out[i].reshape(3 * w)
        for m in range(3 * w):
            # a soft knee above 0.8 (tanh as a rational curve): highlights bloom, never clip
            v = values[m]
            x = min(max(f32(5.0) * (v - f32(0.8)), zero), f32(3.0))
            x2 = x * x
            v = min(v, f32(0.8)) + f32(0.2) * x * (f32(27.0) + x2) / (f32(27.0) + f32(9.0) * x2)
            row[m] = np.uint8(max(v, zero) * f32(255.0) + f32(0.5))
    return out


@lru_cache(maxsize=1)
def _tone_curves() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The quantile levels at which a frame's fields are read, and the tone and the shading
    each level gets: those a field with a normal distribution would get from a soft edge
    (``0.25 + 0.25·tanh(1.2·x)`` and ``tanh(1.3·x + 0.9)``)."""
    from scipy.special import ndtri

    levels = np.linspace(0.0, 1.0, _TONE_LEVELS)
    levels[0], levels[-1] = 0.002, 0.998  # the ends are at ±2.9 standard deviations, not ±∞
    x = ndtri(levels)
    return levels, 0.25 + 0.25 * np.tanh(1.2 * x), np.tanh(1.3 * x + 0.9)


def _equalised(field: np.ndarray, sample: np.ndarray, levels: np.ndarray,
               curve: np.ndarray) -> np.ndarray:
    """``field`` through the curve that gives its ``sample``'s quantiles the values of
    ``curve``: every frame has the same share of each tone, whatever shape the field has.
    A field flatter than ``_FLAT`` is one mid-tone (its variations are rounding, not shapes)."""
    knots = np.quantile(sample, levels)
    span = float(knots[-1] - knots[0])
    if not span > _FLAT:  # (NaN too)
        return np.full(field.shape, curve[len(curve) // 2], dtype=np.float32)
    knots = knots + np.arange(len(knots)) * (1e-9 * span)  # strictly rising, for np.interp
    return np.interp(field, knots, curve).astype(np.float32)


@lru_cache(maxsize=64)
def _scene_weights(variant: float) -> np.ndarray:
    """The network of a scene: its shapes, which the latent then moves (a new scene, a new
    picture, whatever the latent does)."""
    seed = int(variant * 2**31)
    return np.random.default_rng([seed, 77]).standard_normal(_N_PARAMS)


_dense = lazy_kernel(_dense_py)
_paint = lazy_kernel(_paint_py)


class CPPN(KernelStyle):
    name = "cppn"
    description = "flowing organic shapes from a coordinate network, in the scene's palette"
    work_pixels = 200 * 200  # the smooth fields: computed at about this many pixels
    work_share = 1 / 12  # (a 512² frame: at 148², 3.5 output pixels a side per grid step)

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> np.ndarray:
        h, w = self.work_size()
        f = frame_cues(cue)
        kick, snare, hat, beat = accent(f.kick), accent(f.snare), accent(f.hat, 0.6), accent(f.beat)
        swell = 0.9 * np.tanh(beat / 0.9)  # the loudest hits swell, never cut …
        # … in light up to a point, past it in scale. With every strong hit a flare of light,
        # the intense look flashed so often that the limiter held a tenth of its beat_corr
        # away; a push of scale over moving detail is no flash.
        light = swell if swell <= _LIGHT else _LIGHT + _LIGHT_KNEE * np.tanh(
            (swell - _LIGHT) / _LIGHT_KNEE)
        push = swell - light
        p = np.clip(latent_params(z, _N_PARAMS, key=self.name), -6.0, 6.0).astype(np.float64)
        base = (1.0 - f.mix) * _scene_weights(f.variant_a) + f.mix * _scene_weights(f.variant_b)
        params = _SCENE * base + _MOVE * p
        weights = params[:_N_WEIGHTS] + 0.2 * class_nudge(c, _CLASS_TEXTURE)
        extra = params[_N_WEIGHTS:]
        layers, k = [], 0
        for shape in _SHAPES:
            size = int(np.prod(shape))
            layers.append(weights[k:k + size].reshape(shape))
            k += size
        w1, b1, w2, b2, w3, b3 = layers
        net = (1.3 * w1, 0.5 * b1, 2.2 * 1.6 * w2 / np.sqrt(_HIDDEN), b2,
               1.2 * w3 / np.sqrt(_HIDDEN), 0.3 * b3)

        # The camera: placed by the latent, turned slowly by the flow, pushed in by the kick
        # and by the strongest beats (what their light leaves).
        zoom = 1.25 * np.exp(0.3 * np.tanh(0.5 * extra[0])) * (1.0 - 0.05 * kick - 0.3 * push)
        # The hits turn the view (a lurch that keeps the section's colours in the frame).
        angle = 0.5 * extra[1] + 0.05 * f.flow + _SURGE * f.surge
        drift = 0.3 * f.flow + 0.1 * snare
        cam = np.array([
            zoom * np.cos(angle), zoom * np.sin(angle),
            2.0 + 0.8 * np.tanh(extra[2]), 3.0 + 0.8 * np.tanh(extra[3]),
            2.5 + 0.8 * np.tanh(extra[4]), 4.0 + 1.0 * np.tanh(extra[5]),
            extra[6] + drift, extra[7] - 0.7 * drift, extra[8] + 0.8 * drift, extra[9],
        ], dtype=np.float64)
        # The fields are smooth: computed on a coarser grid over the same picture (the
        # output's own in a reference), read bilinearly by the painter at every pixel.
        xs, ys = axes(self.size, (h, w))
        va, vb = f.variant(len(_SYMMETRIES))
        fields = _fields(xs, ys, cam, _SYMMETRIES[va], net)
        if va != vb and f.mix > 0.0:
            # Through a transition the two scenes' symmetries morph into each other.
            fields *= np.float32(1.0 - f.mix)
            fields += np.float32(f.mix) * _fields(xs, ys, cam, _SYMMETRIES[vb], net)
        sample = fields[:, ::_STATS_STEP, ::_STATS_STEP].reshape(3, -1).astype(np.float64)
        mean = sample.mean(axis=1)
        spread = 1.0 / np.maximum(sample.std(axis=1), _FLAT)
        # Tones and shading by rank: the shapes morph, the share of shadow and highlight
        # stays (a scene keeps its colours; a new scene's palette is what changes them).
        levels, tone_curve, shade_curve = _tone_curves()
        tone = _equalised(fields[0], sample[0], levels, tone_curve)
        shade = _equalised(fields[1], sample[1], levels, shade_curve)
        fb = (fields[1] - np.float32(mean[1])) * np.float32(spread[1])
        fc = (fields[2] - np.float32(mean[2])) * np.float32(spread[2])
        look = np.array([
            f.hue + 0.04 * snare,  # pitch places the colours; the snare pushes them along
            0.12 * light,  # the beat pulls every colour towards the highlight …
            1.0 + 0.2 * light,  # … and raises the exposure
            0.16,  # filament width (in spreads of its field)
            0.22 + 0.5 * snare,  # filament glow: the snare's flare
            0.04 * hat,  # the hats' ripple
            9.0,  # ripple frequency (per spread of the shade's field)
            0.55,  # how deep the shading goes
        ], dtype=np.float64)
        lut = np.array(cue_palette(f), dtype=np.float32)  # (writable: one compiled signature)
        (h_out, w_out), (h_in, w_in) = self.size, tone.shape
        return _paint()(tone, shade, fb, fc, sampling(h_out, h_in), sampling(w_out, w_in),
                        look, lut, np.empty((*self.size, 3), dtype=np.uint8))
