"""``julia``: Julia sets of z² + c with smooth escape-time colouring, lit along their rims.

Each pixel is a starting point ``w`` of the map ``w → w² + k`` (``k`` is the fractal's complex
parameter; the contract's ``c`` is the class vector). Points that run away are coloured by how
fast they do, counted continuously (the fractional escape time, so no bands), and darkened far
from the set. Points that stay are the set's interior, shaded by how close their orbit passes
to the origin (an orbit trap). The set's rim glows: a distance estimate tells how many pixels
away the set is, and within a pixel or two every point takes the rim's colour, so the detail
finer than a pixel (a Julia set has detail at every scale) glows instead of flickering.

- The latent moves ``k`` along a path just outside the main cardioid of the Mandelbrot set (the
  part of the plane where Julia sets are most ornate: spirals, dendrites, rabbits) and sets the
  view: zoom, rotation and centre. Every one of these is a smooth function of the latent, and so
  is the colouring of every pixel away from the set's rim.
- Pulse pushes every latent dimension alike, so the latent's mean is the pulse: each beat draws
  the view in and brightens the rim.
- The classes pick the palette and nudge ``k``, the colour bands and the interior's texture.
"""

from __future__ import annotations

import numpy as np

from ._toolkit import (
    KernelStyle,
    class_mix,
    grid,
    latent_params,
    lazy_kernel,
    palette_lut,
)

__all__ = ["Julia"]

_N_PARAMS = 10
_MAX_ITER = 96  # escape-time iterations; beyond this a point counts as inside the set
_BAILOUT2 = 256.0  # squared escape radius (a large one makes the fractional count smooth)
_PATH = 0.22  # radians along the cardioid one unit of the latent moves k
_SPIN = 0.15  # radians the view turns per unit of the latent
# Each class nudges k, the colour bands and the interior (besides its palette).
_CLASS_TEXTURE = np.random.default_rng(17).standard_normal((12, 4)).astype(np.float32)


def _julia_py(xs, ys, view, k, look, lut, rim_rgb, out):
    """Draw one frame into ``out`` (uint8, rows × columns × 3).

    ``xs``/``ys``: the grid's x per column and y per row; ``view``: (centre re, centre im,
    scale·cos, scale·sin, pixel size in the plane); ``k``: (re, im); ``look``: (hue, colour
    bands, 1 / rim width in pixels, glow, interior bands, interior hue, interior fade);
    ``lut``: palette [256, 3] in 0..1; ``rim_rgb``: the rim's colour (3,) in 0..1.
    """
    h = ys.shape[0]
    w = xs.shape[0]
    cre, cim, a, b, pixel = view[0], view[1], view[2], view[3], view[4]
    kre, kim = k[0], k[1]
    hue, bands, rim_px, glow, trap_gain, in_hue, in_mix = (look[0], look[1], look[2], look[3],
                                                           look[4], look[5], look[6])
    for i in range(h):
        y = ys[i]
        for j in range(w):
            x = xs[j]
            zr = cre + a * x - b * y
            zi = cim + b * x + a * y
            dr = 1.0  # derivative of the orbit by its start, for the distance estimate
            di = 0.0
            trap = 1e9
            n = 0
            r2 = zr * zr + zi * zi
            while n < _MAX_ITER and r2 < _BAILOUT2:
                # dz' = 2 z dz, z' = z² + k
                t = 2.0 * (zr * dr - zi * di)
                di = 2.0 * (zr * di + zi * dr)
                dr = t
                t = zr * zr - zi * zi + kre
                zi = 2.0 * zr * zi + kim
                zr = t
                r2 = zr * zr + zi * zi
                if r2 < trap:
                    trap = r2
                n += 1
            if r2 >= _BAILOUT2:
                # Fractional escape count: continuous across the iteration where it escapes.
                log_r = 0.5 * np.log(r2)
                nu = n + 1.0 - np.log2(log_r / np.log(2.0))
                if nu < 1.0:
                    nu = 1.0
                dz = np.sqrt(dr * dr + di * di)
                dist = np.sqrt(r2) * log_r / max(dz, 1e-30) / pixel  # to the set, in pixels
                tone = hue + bands * np.log(nu)
                near = 1.0 - np.exp(-nu * glow)
                shade = (0.12 + 1.2 * near * near) * (0.7 + 0.3 * np.cos(6.283185307 * tone))
                # Within a pixel or two of the set the colour becomes the rim's own: the set's
                # finest detail, smaller than a pixel, glows instead of flickering.
                edge = np.exp(-dist * rim_px)
            else:
                tone = in_hue + trap_gain * np.sqrt(np.sqrt(trap))
                shade = 0.2 + 0.7 * np.exp(-6.0 * trap)
                # How far the orbit's end moves when its start moves by a pixel: deep inside
                # the set, hardly at all; near the rim, it is chaotic and shows the rim.
                wobble = np.sqrt(dr * dr + di * di) * pixel
                edge = 1.0 - np.exp(-wobble * in_mix)
            tone -= np.floor(tone)
            idx = int(tone * 255.999)
            for ch in range(3):
                v = lut[idx, ch] * shade * (1.0 - edge) + rim_rgb[ch] * edge
                v *= 255.0
                if v > 255.0:
                    v = 255.0
                out[i, j, ch] = np.uint8(v)
    return out


_kernel = lazy_kernel(_julia_py)


def _cardioid(t: float) -> tuple[complex, complex]:
    """The main cardioid's boundary at angle ``t`` and its outward unit normal there.

    The cardioid is the unit circle mapped by f(m) = m/2 - m²/4, which keeps angles, so the
    circle's outward direction m maps to f'(m)·m = (m - m²)/2, the cardioid's outward normal
    (undefined only at the cusp, t = 0).
    """
    m = np.exp(1j * t)
    point = m / 2 - m * m / 4
    out = (m - m * m) / 2
    return complex(point), complex(out / max(abs(out), 1e-9))


class Julia(KernelStyle):
    name = "julia"
    description = "ornate Julia-set fractals with glowing rims, drifting and turning, by pitch"
    work_pixels = 512 * 512  # computed at about this many pixels, then scaled

    kernel = staticmethod(_kernel)

    @staticmethod
    def _kernel_args(z: np.ndarray, c: np.ndarray, cue: np.ndarray,
                     size: tuple[int, int]) -> tuple:
        """The arguments of ``_julia_py`` for a frame of ``size`` (output array included)."""
        h, w = size
        p = np.clip(latent_params(z, _N_PARAMS, key=Julia.name), -6.0, 6.0).astype(np.float64)
        pulse = float(np.tanh(3.0 * np.mean(z, dtype=np.float64)))
        mix = class_mix(c)
        ct = (mix @ _CLASS_TEXTURE).astype(np.float64)

        t = 2.2 + _PATH * p[0] + 0.15 * ct[0]
        point, normal = _cardioid(t)
        k = point + normal * (0.03 + 0.025 * np.tanh(0.5 * p[1]) + 0.01 * ct[1])

        scale = 1.2 * np.exp(-0.45 * np.tanh(0.35 * p[2]) - 0.2 * pulse)
        angle = -0.45 + _SPIN * p[3]
        centre = 0.3 * np.tanh(0.25 * p[4]), 0.3 * np.tanh(0.25 * p[5])
        pixel = scale * 2.0 / h
        view = np.array([centre[0], centre[1], scale * np.cos(angle), scale * np.sin(angle),
                         pixel], dtype=np.float64)
        lut = np.ascontiguousarray(palette_lut(mix, gain=1.0), dtype=np.float64)
        look = np.array([
            0.2 * p[6],  # hue
            0.45 + 0.12 * np.tanh(0.5 * p[7]) + 0.08 * ct[2],  # colour bands per e-fold
            0.5,  # 1 / the rim's width in pixels
            0.08 * np.exp(0.3 * np.tanh(0.5 * p[8])),  # glow
            0.9 + 0.3 * ct[3],  # interior trap bands
            0.5 + 0.2 * p[9],  # interior hue
            4.0,  # how soon the interior's own colour gives way to the rim's near the rim
        ], dtype=np.float64)
        rim_rgb = np.clip(lut[int(255.999 * ((look[0] + 0.85) % 1.0))] * 1.3 + 0.12, 0, 1)
        rim_rgb *= 1.0 + 0.3 * pulse
        x, y = grid(h, w)
        xs = np.ascontiguousarray(x[0], dtype=np.float64)
        ys = np.ascontiguousarray(y[:, 0], dtype=np.float64)
        img = np.empty((h, w, 3), dtype=np.uint8)
        return xs, ys, view, np.array([k.real, k.imag]), look, lut, rim_rgb, img
