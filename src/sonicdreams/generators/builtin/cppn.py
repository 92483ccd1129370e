"""``cppn``: a compositional pattern-producing network painted with the class palettes.

Each pixel's coordinates (x, y, radius and a few oriented waves) go through a small random
network whose weights are read from the latent; the network's outputs pick the colour and its
shade. Nearby latents give nearby weights, so the image flows; pulse bends every weight at once.
"""

from __future__ import annotations

import numpy as np

from ._toolkit import (
    ProceduralStyle,
    class_mix,
    colorize,
    grid,
    latent_params,
    palette_lut,
    resize_rgb,
    work_size,
)

__all__ = ["CPPN"]

_IN, _HIDDEN, _OUT = 7, 12, 3
_SHAPES = ((_IN, _HIDDEN), (_HIDDEN,), (_HIDDEN, _HIDDEN), (_HIDDEN,), (_HIDDEN, _OUT), (_OUT,))
_N_WEIGHTS = sum(int(np.prod(s)) for s in _SHAPES)
_N_PARAMS = _N_WEIGHTS + 8
# Each class nudges the network a little (besides its palette), so pitch also shows as texture.
_CLASS_TEXTURE = np.random.default_rng(7).standard_normal((12, _N_WEIGHTS)).astype(np.float32)


class CPPN(ProceduralStyle):
    name = "cppn"
    description = "flowing organic shapes from a coordinate network, painted by pitch"
    max_side = 256  # smooth by nature: computed at this size, then scaled

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> np.ndarray:
        h, w = work_size(self.size, self.max_side)
        x, y = grid(h, w)
        p = latent_params(z, _N_PARAMS, key=self.name)
        mix = class_mix(c)
        weights = p[:_N_WEIGHTS] + 0.35 * (mix @ _CLASS_TEXTURE)
        extra = p[_N_WEIGHTS:]

        zoom = np.float32(1.2 * np.exp(0.25 * np.tanh(extra[0])))
        angle = np.float32(0.6 * extra[1])
        ca, sa = np.cos(angle), np.sin(angle)
        u = (ca * x - sa * y) * zoom
        v = (sa * x + ca * y) * zoom
        r = np.sqrt(u * u + v * v)
        f1, f2 = 2.0 + 0.8 * np.tanh(extra[2]), 3.0 + 0.8 * np.tanh(extra[3])
        feats = np.stack([u, v, r, np.sin(f1 * u + extra[4]), np.cos(f2 * v + extra[5]),
                          np.sin(f1 * r - extra[6]), np.ones_like(u)], axis=-1)

        layers, k = [], 0
        for shape in _SHAPES:
            size = int(np.prod(shape))
            layers.append(weights[k:k + size].reshape(shape))
            k += size
        w1, b1, w2, b2, w3, b3 = layers
        act = np.tanh(feats @ (1.3 * w1) + 0.5 * b1)
        act = np.sin(act @ (1.6 * w2 / np.sqrt(_HIDDEN)) * 2.2 + b2)
        out = act @ (1.2 * w3 / np.sqrt(_HIDDEN)) + 0.3 * b3

        t = 0.35 * out[..., 0] + 0.15 * out[..., 2] + 0.5 + 0.1 * extra[7]
        shade = 0.62 + 0.38 * np.tanh(1.5 * out[..., 1])
        img = colorize(t, palette_lut(mix), shade)
        return resize_rgb(img, self.size)
