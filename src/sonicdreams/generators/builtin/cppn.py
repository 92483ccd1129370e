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
  with the cue.
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

from ._toolkit import (
    KernelStyle,
    accent,
    class_nudge,
    cue_palette,
    frame_cues,
    grid,
    latent_params,
    lazy_kernel,
)

__all__ = ["CPPN"]

_IN, _HIDDEN, _OUT = 7, 12, 3
_SHAPES = ((_IN, _HIDDEN), (_HIDDEN,), (_HIDDEN, _HIDDEN), (_HIDDEN,), (_HIDDEN, _OUT), (_OUT,))
_N_WEIGHTS = sum(int(np.prod(s)) for s in _SHAPES)
_N_PARAMS = _N_WEIGHTS + 10
_SCENE = 0.75  # how strongly the scene (its variant) sets the weights
_SURGE = 0.08  # radians the view turns per unit of surge (a strong hit: about 0.03)
_MOVE = 0.15  # how strongly the latent moves them: the motion stays calm next to the hits
_SYMMETRIES = (0, 1, 3, 5)  # none, a mirror, 3-fold and 5-fold mirrored turns
_STATS_STEP = 4  # the fields' statistics and quantiles come from every 4th pixel each way
_TONE_LEVELS = 25  # quantiles of a frame's fields that place its tones
_FLAT = 1e-3  # fields that vary less than this have no shapes to show
# Each class nudges the network a little, so pitch also shows as texture.
_CLASS_TEXTURE = np.random.default_rng(7).standard_normal((12, _N_WEIGHTS)).astype(np.float32)


def _net_py(xs, ys, cam, fold, w1, b1, w2, b2, w3, b3, out):
    """The network's three fields at each pixel into ``out`` (float32, rows × columns × 3).

    ``cam``: (scale·cos, scale·sin, 4 wave frequencies, 4 wave phases); ``fold``: the
    symmetry (0 none, 1 mirror, n ≥ 2: n-fold mirrored turns); ``w*``/``b*``: the layers,
    already scaled.
    """
    h = ys.shape[0]
    w = xs.shape[0]
    a, b = cam[0], cam[1]
    f0, f1, f2, f3 = cam[2], cam[3], cam[4], cam[5]
    p0, p1, p2, p3 = cam[6], cam[7], cam[8], cam[9]
    sector = np.pi / max(fold, 1)
    feats = np.empty(_IN)
    h1 = np.empty(_HIDDEN)
    h2 = np.empty(_HIDDEN)
    for i in range(h):
        for j in range(w):
            x = xs[j]
            y = ys[i]
            if fold == 1:
                x = abs(x)
            elif fold >= 2:
                rr = np.sqrt(x * x + y * y)
                th = np.arctan2(y, x) + np.pi
                th = th - 2.0 * sector * np.floor(th / (2.0 * sector))
                th = abs(th - sector)
                x = rr * np.cos(th)
                y = rr * np.sin(th)
            u = a * x - b * y
            v = b * x + a * y
            r = np.sqrt(u * u + v * v)
            feats[0] = u
            feats[1] = v
            feats[2] = r
            feats[3] = np.sin(f0 * u + p0)
            feats[4] = np.cos(f1 * v + p1)
            feats[5] = np.sin(f2 * r - p2)
            feats[6] = np.sin(f3 * (u + v) * 0.7071 + p3)
            for k in range(_HIDDEN):
                s = b1[k]
                for m in range(_IN):
                    s += feats[m] * w1[m, k]
                # tanh, as a rational curve (a few times cheaper, within 2 % of it)
                s = min(3.0, max(-3.0, s))
                h1[k] = s * (27.0 + s * s) / (27.0 + 9.0 * s * s)
            for k in range(_HIDDEN):
                s = b2[k]
                for m in range(_HIDDEN):
                    s += h1[m] * w2[m, k]
                h2[k] = np.sin(s)
            for k in range(_OUT):
                s = b3[k]
                for m in range(_HIDDEN):
                    s += h2[m] * w3[m, k]
                out[i, j, k] = s
    return out


def _paint_py(fields, tone, shade_base, stats, look, lut, out):
    """Colour the fields into ``out`` (uint8 rows × columns × 3).

    ``tone``: where each pixel sits in the palette before the cues (0 shadow … 0.5
    highlight); ``shade_base``: its shading before the ripple, -1 … 1; ``stats``: the
    second and third fields' mean and 1 / spread (the ripple and the filament read them):
    (mean 1, 1 / spread 1, mean 2, 1 / spread 2); ``look``: (hue
    offset, highlight pull, exposure, filament width, filament glow, ripple, ripple
    frequency, shade depth); ``lut``: the palette ring [256, 3] in 0..1.
    """
    h = fields.shape[0]
    w = fields.shape[1]
    hue, pull, gain, width = look[0], look[1], look[2], look[3]
    glow, ripple, rfreq, depth = look[4], look[5], look[6], look[7]
    n = lut.shape[0]
    for i in range(h):
        for j in range(w):
            fb = (fields[i, j, 1] - stats[0]) * stats[1]
            fc = (fields[i, j, 2] - stats[2]) * stats[3]
            t = tone[i, j]
            t += (0.5 - t) * pull
            t += hue
            t -= np.floor(t)
            k = int(t * (n - 0.001))
            kh = int(((t + 0.5) - np.floor(t + 0.5)) * (n - 0.001))
            shade = (1.0 - depth) + depth * shade_base[i, j]
            shade *= 1.0 + ripple * np.sin(rfreq * fb + 5.0 * fc)
            line = np.exp(-(fc * fc) / (width * width)) * glow
            for ch in range(3):
                v = gain * (lut[k, ch] * shade + line * (0.35 + lut[kh, ch]))
                if v > 0.8:  # a soft knee: highlights bloom instead of clipping
                    v = 0.8 + 0.2 * np.tanh((v - 0.8) * 5.0)
                if v < 0.0:
                    v = 0.0
                out[i, j, ch] = np.uint8(v * 255.0 + 0.5)
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


_net = lazy_kernel(_net_py)
_paint = lazy_kernel(_paint_py)


class CPPN(KernelStyle):
    name = "cppn"
    description = "flowing organic shapes from a coordinate network, in the scene's palette"
    work_pixels = 288 * 288  # smooth fields: computed at about this many pixels, then scaled

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> np.ndarray:
        from ._noise import budget_size
        from ._toolkit import resize_rgb

        h, w = budget_size(self.size, self.work_pixels)
        f = frame_cues(cue)
        kick, snare, hat, beat = accent(f.kick), accent(f.snare), accent(f.hat, 0.6), accent(f.beat)
        beat = 0.9 * np.tanh(beat / 0.9)  # the loudest hits swell, never cut
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

        # The camera: placed by the latent, turned slowly by the flow, pushed in by the kick.
        zoom = 1.25 * np.exp(0.3 * np.tanh(0.5 * extra[0])) * (1.0 - 0.05 * kick)
        # The hits turn the view (a lurch that keeps the section's colours in the frame).
        angle = 0.5 * extra[1] + 0.05 * f.flow + _SURGE * f.surge
        drift = 0.3 * f.flow + 0.1 * snare
        cam = np.array([
            zoom * np.cos(angle), zoom * np.sin(angle),
            2.0 + 0.8 * np.tanh(extra[2]), 3.0 + 0.8 * np.tanh(extra[3]),
            2.5 + 0.8 * np.tanh(extra[4]), 4.0 + 1.0 * np.tanh(extra[5]),
            extra[6] + drift, extra[7] - 0.7 * drift, extra[8] + 0.8 * drift, extra[9],
        ], dtype=np.float64)
        x, y = grid(h, w)
        xs = np.ascontiguousarray(x[0], dtype=np.float64)
        ys = np.ascontiguousarray(y[:, 0], dtype=np.float64)

        va, vb = f.variant(len(_SYMMETRIES))
        fields = _net()(xs, ys, cam, _SYMMETRIES[va], *net,
                        np.empty((h, w, 3), dtype=np.float32))
        if va != vb and f.mix > 0.0:
            # Through a transition the two scenes' symmetries morph into each other.
            other = _net()(xs, ys, cam, _SYMMETRIES[vb], *net,
                           np.empty((h, w, 3), dtype=np.float32))
            fields *= np.float32(1.0 - f.mix)
            fields += np.float32(f.mix) * other
        sample = fields[::_STATS_STEP, ::_STATS_STEP].reshape(-1, 3).astype(np.float64)
        mean = sample.mean(axis=0)
        spread = 1.0 / np.maximum(sample.std(axis=0), _FLAT)
        stats = np.array([mean[1], spread[1], mean[2], spread[2]])
        # Tones and shading by rank: the shapes morph, the share of shadow and highlight
        # stays (a scene keeps its colours; a new scene's palette is what changes them).
        levels, tone_curve, shade_curve = _tone_curves()
        tone = _equalised(fields[..., 0], sample[:, 0], levels, tone_curve)
        shade = _equalised(fields[..., 1], sample[:, 1], levels, shade_curve)
        look = np.array([
            f.hue + 0.04 * snare,  # pitch places the colours; the snare pushes them along
            0.12 * beat,  # the beat pulls every colour towards the highlight …
            1.0 + 0.2 * beat,  # … and raises the exposure
            0.16,  # filament width (in spreads of its field)
            0.22 + 0.5 * snare,  # filament glow: the snare's flare
            0.04 * hat,  # the hats' ripple
            9.0,  # ripple frequency (per spread of the shade's field)
            0.55,  # how deep the shading goes
        ], dtype=np.float64)
        lut = np.ascontiguousarray(cue_palette(f), dtype=np.float64)
        img = _paint()(fields, tone, shade, stats, look, lut, np.empty((h, w, 3), dtype=np.uint8))
        return resize_rgb(img, self.size)
