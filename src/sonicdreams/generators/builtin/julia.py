"""``julia``: Julia sets of z² + c with smooth escape-time colouring, lit along their rims.

Each pixel is a starting point ``w`` of the map ``w → w² + k`` (``k`` is the fractal's complex
parameter; the contract's ``c`` is the class vector). Points that run away are coloured by how
fast they do, counted continuously (the fractional escape time, so no bands): far from the set
they are a dark but saturated glow of the palette's lower half (brightest at the frame's
centre, darkest in its corners), closer in they climb towards its highlight. Points that stay
are the set's interior, in the palette's middle tones, shaded by how close their orbit passes
to the origin (an orbit trap). The set's rim glows: a distance estimate tells how many pixels
away the set is, and within a pixel or two every point takes the rim's colour, so the detail
finer than a pixel (a Julia set has detail at every scale) glows instead of flickering. Small
frames are computed at twice their side and scaled down, so thin filaments do not shimmer as
they move; every frame draws the set's rim at (at least) its own pixels: only the smooth
blocks between are filled from a lattice of computed points (see ``Julia._draw``). Highlights
roll off below white keeping their hue, so a swell saturates instead of washing out.

What drives what (see :data:`sonicdreams.direction.CUES`):

- **Scene** (``variant_a``/``variant_b``, ``mix``): where ``k`` sits along the main cardioid of
  the Mandelbrot set (rabbits, spirals, dendrites, seahorses), the view's turn and zoom; in a
  transition both scenes' sets are drawn and crossfaded (``mix``, smoothed once more), so the
  picture never cuts. The palette (``palette_a``/``palette_b``) is the scene's.
- **Latent** ``z``: a small walk of ``k`` around the scene's place, the zoom, turn and centre
  (kept small, so the set's share of the frame, and with it the mix of colours, stays steady
  within a scene).
- **flow**: a slow continuous turn of the view and a slow sway of ``k``. **surge** (a step on
  every hit that never comes back): the view turns a little further on each hit.
- **hit** (every percussive onset): exposure and the halo around the set swell (the whole
  frame brightens, then decays with the cue). Every band's cue passes a soft knee: faint
  onsets and the swells' tails give nothing, so quiet frames stay still.
  **kick**: the halo widens and the view leans in a little. **snare**: the colours climb
  towards the palette's highlight and the rim flares. **hat**: a faint shimmer of the escape
  bands.
- **hue**: shifts the colours along the palette. **energy**: the halo's resting width.
- The classes ``c`` nudge ``k``, the colour bands and the interior's texture a little.
"""

from __future__ import annotations

import numpy as np

from ..._compiled import lazy_kernel
from ...direction import CUE, palette_mix
from ._toolkit import (
    ProceduralStyle,
    class_mix,
    grid,
    knee,
    latent_params,
    resize_rgb,
)

__all__ = ["Julia"]

_N_PARAMS = 10
_MAX_ITER = 96  # escape-time iterations; beyond this a point counts as inside the set
_BAILOUT2 = 256.0  # squared escape radius (a large one makes the fractional count smooth)
_LATENT = 0.4  # how far the latent moves all it drives (p): a scene keeps its colours
_PATH = 0.05  # radians along the cardioid one unit of p moves k
_SURGE = 0.16  # radians the view turns per unit of surge (a strong hit: about 0.08)
_SPIN = 0.05  # radians the view turns per unit of p
_FLOW_SPIN = 0.3  # radians the view turns per unit of flow: a steady turn, never still
_FAMILY = (1.1, 5.2)  # the range of cardioid angles the scenes' variants spread k over
_KNEE = 0.8  # above this a pixel's brightest channel rolls off softly towards 1
_SUPERSAMPLE = 2.0  # compute at up to this many times the output's side (within the budget)
# Each class nudges k, the colour bands and the interior (the palette is the scene's).
_CLASS_TEXTURE = np.random.default_rng(17).standard_normal((12, 4)).astype(np.float32)


def _points_py(xs, ys, view, k, look, lut, rim_rgb, rgb, dist):
    """The colours of the points (``xs[n]``, ``ys[n]``) into ``rgb`` (float32 [N, 3] in 0..1)
    and how far each is from the set, in pixels, into ``dist`` (0 inside the set).

    ``view``: (centre re, centre im, scale·cos, scale·sin, pixel size in the plane); ``k``:
    (re, im); ``look``: (hue, colour bands, 1 / rim width in pixels, glow, interior bands,
    interior position, interior fade, exposure, band phase, colour push, background's place,
    background glow); ``lut``: palette [256, 3] in 0..1; ``rim_rgb``: the rim's colour (3,).
    """
    cre, cim, a, b, pixel = view[0], view[1], view[2], view[3], view[4]
    kre, kim = k[0], k[1]
    hue, bands, rim_px, glow, trap_gain, in_pos, in_mix = (look[0], look[1], look[2], look[3],
                                                           look[4], look[5], look[6])
    expo, phase, push, bg, bg_glow = look[7], look[8], look[9], look[10], look[11]
    for p in range(xs.shape[0]):
        x, y = xs[p], ys[p]
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
            d = np.sqrt(r2) * log_r / max(dz, 1e-30) / pixel  # to the set, in pixels
            near = 1.0 - np.exp(-nu * glow)
            # The background is lit: a dark but saturated glow of the palette's lower half,
            # brightest at the frame's centre, climbing towards the highlight near the set;
            # faint bands.
            tone = (hue + push + bg + 0.24 * near * near
                    + 0.04 * np.sin(6.283185307 * (bands * np.log(nu) + phase)))
            lit = 0.35 + bg_glow * np.exp(-0.8 * (x * x + y * y))
            shade = lit + (1.0 - lit) * near
            # Within a pixel or two of the set the colour becomes the rim's own: the set's
            # finest detail, smaller than a pixel, glows instead of flickering.
            edge = np.exp(-d * rim_px)
        else:
            d = 0.0
            tone = (hue + push + in_pos
                    + 0.09 * np.sin(6.283185307 * trap_gain * np.sqrt(np.sqrt(trap))))
            shade = 0.6 + 0.4 * np.exp(-6.0 * trap)
            # How far the orbit's end moves when its start moves by a pixel: deep inside the
            # set, hardly at all; near the rim, it is chaotic and shows the rim.
            wobble = np.sqrt(dr * dr + di * di) * pixel
            edge = 1.0 - np.exp(-wobble * in_mix)
        tone -= np.floor(tone)
        idx = int(tone * 255.999)
        cr = (lut[idx, 0] * shade * (1.0 - edge) + rim_rgb[0] * edge) * expo
        cg = (lut[idx, 1] * shade * (1.0 - edge) + rim_rgb[1] * edge) * expo
        cb = (lut[idx, 2] * shade * (1.0 - edge) + rim_rgb[2] * edge) * expo
        # Highlights roll off below white, keeping their hue (all channels scaled alike), so
        # a bright swell saturates instead of washing out.
        top = max(cr, max(cg, cb))
        if top > _KNEE:
            roll = (_KNEE + (1.0 - _KNEE) * np.tanh((top - _KNEE) / (1.0 - _KNEE))) / top
            cr *= roll
            cg *= roll
            cb *= roll
        rgb[p, 0] = cr
        rgb[p, 1] = cg
        rgb[p, 2] = cb
        dist[p] = d
    return rgb


def _fill_py(lattice, rows_at, row_t, cols_at, col_t, out):
    """``out`` (float32 rows × columns × 3) bilinear between the ``lattice`` points (float32
    [shape=(rows, columns, 3)]): each pixel's lattice row and column below it and its
    weights towards the next ones."""
    h, w = out.shape[0], out.shape[1]
    for i in range(h):
        a, t = rows_at[i], row_t[i]
        for j in range(w):
            b, u = cols_at[j], col_t[j]
            for ch in range(3):
                top = lattice[a, b, ch] + u * (lattice[a, b + 1, ch] - lattice[a, b, ch])
                bottom = lattice[a + 1, b, ch] + u * (lattice[a + 1, b + 1, ch]
                                                      - lattice[a + 1, b, ch])
                out[i, j, ch] = top + t * (bottom - top)
    return out


_points = lazy_kernel(_points_py)
_fill = lazy_kernel(_fill_py)
_STEP_PX = 4  # the lattice's spacing (the fast path: see Julia._draw)
# A block whose corners are closer than this to the set is drawn pixel by pixel: the distance
# estimate is within a factor of 2 of the true distance, so a point of the set inside a block
# (at most 4·√2 pixels from a corner) reads below 2·4·√2 ≈ 11.3 at that corner.
_NEAR_PX = 3.0 * _STEP_PX
_SMOOTH = 6.0 / 255.0  # … and one whose corners differ by more than this in any channel


def _lattice(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lattice lines every ``_STEP_PX`` pixels (and the last pixel) over ``n`` pixels; for each
    pixel, the line at or before it and its weight towards the next."""
    lines = np.unique(np.append(np.arange(0, n, _STEP_PX), n - 1))
    at = np.clip(np.searchsorted(lines, np.arange(n), side="right") - 1, 0,
                 max(len(lines) - 2, 0))
    span = np.maximum(lines[np.minimum(at + 1, len(lines) - 1)] - lines[at], 1)
    return lines, at.astype(np.int64), ((np.arange(n) - lines[at]) / span).astype(np.float32)


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


def _ease(m: float) -> float:
    m = min(1.0, max(0.0, float(m)))
    return m * m * (3.0 - 2.0 * m)


class Julia(ProceduralStyle):
    name = "julia"
    description = "ornate Julia-set fractals with glowing rims that flare on the beat"
    work_pixels = 512 * 512  # frames up to a quarter of this are drawn at twice their side

    def work_size(self, size: tuple[int, int] | None = None) -> tuple[int, int]:
        """The grid a frame of ``size`` is drawn on: twice its side where that fits in
        ``work_pixels`` (thin filaments do not shimmer as they move), else its own."""
        h, w = self.size if size is None else size
        scale = _SUPERSAMPLE if _SUPERSAMPLE ** 2 * h * w <= self.work_pixels else 1.0
        return int(h * scale), int(w * scale)

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> np.ndarray:
        size = self.work_size()
        mix = _ease(np.nan_to_num(float(cue[CUE["mix"]])))
        if 0.0 < mix < 1.0 and cue[CUE["variant_a"]] != cue[CUE["variant_b"]]:
            # Between two scenes' sets: both drawn, crossfaded (a set's shape can change
            # quickly between two places on the cardioid; a crossfade never jumps).
            rgb = self._draw(self._kernel_args(z, c, cue, size, scene=0))
            rgb += np.float32(mix) * (self._draw(self._kernel_args(z, c, cue, size, scene=1))
                                      - rgb)
        else:
            rgb = self._draw(self._kernel_args(z, c, cue, size, scene=int(mix >= 1.0)))
        img = (np.clip(rgb, 0.0, 1.0) * np.float32(255.0)).astype(np.uint8)
        return resize_rgb(img, self.size)

    def _draw(self, args: tuple) -> np.ndarray:
        """A frame's colours (float32 rows × columns × 3) from :meth:`_kernel_args`.

        The reference computes every pixel. The fast path computes a lattice every
        ``_STEP_PX`` pixels, fills each block between four lattice points bilinearly where that
        is the picture (the glow far from the set, the set's calm inside: corners of the
        same kind within ``_SMOOTH`` of each other and, outside, farther than ``_NEAR_PX``
        from the set by the distance estimate) and computes every pixel of the other blocks
        (the rim, its filaments, the bands): the same picture at a fraction of the points.
        """
        xs, ys, *params = args
        h, w = len(ys), len(xs)
        points = _points()
        if self.reference:
            rgb = np.empty((h * w, 3), dtype=np.float32)
            points(np.tile(xs, h), np.repeat(ys, w), *params, rgb,
                   np.empty(h * w, dtype=np.float32))
            return rgb.reshape(h, w, 3)
        rows, rows_at, row_t = _lattice(h)
        cols, cols_at, col_t = _lattice(w)
        n, m = len(rows), len(cols)
        lattice = np.empty((n * m, 3), dtype=np.float32)
        dist = np.empty(n * m, dtype=np.float32)
        points(np.tile(xs[cols], n), np.repeat(ys[rows], m), *params, lattice, dist)
        lattice, dist = lattice.reshape(n, m, 3), dist.reshape(n, m)
        corners = np.stack([lattice[:-1, :-1], lattice[:-1, 1:], lattice[1:, :-1],
                            lattice[1:, 1:]])
        d = np.stack([dist[:-1, :-1], dist[:-1, 1:], dist[1:, :-1], dist[1:, 1:]])
        near, far = d.min(axis=0), d.max(axis=0)
        refine = ((corners.max(axis=0) - corners.min(axis=0)).max(axis=-1) > _SMOOTH) | \
            ((far > 0) & (near < _NEAR_PX))  # outside near the set, or across its rim
        out = _fill()(lattice, rows_at, row_t, cols_at, col_t,
                      np.empty((h, w, 3), dtype=np.float32))
        iy, ix = np.nonzero(refine[np.ix_(rows_at, cols_at)])
        if len(iy):
            exact = np.empty((len(iy), 3), dtype=np.float32)
            points(xs[ix], ys[iy], *params, exact, np.empty(len(iy), dtype=np.float32))
            out[iy, ix] = exact
        return out

    @staticmethod
    def _kernel_args(z: np.ndarray, c: np.ndarray, cue: np.ndarray,
                     size: tuple[int, int], scene: int = 0) -> tuple:
        """The arguments of ``_points_py`` for a frame of ``size`` (its grid's x per column
        and y per row in place of the points, no outputs),
        with the set of the scene ``scene`` (0: ``variant_a``, 1: ``variant_b``)."""
        h, w = size
        p = _LATENT * np.clip(
            latent_params(z, _N_PARAMS, key=Julia.name), -6.0, 6.0).astype(np.float64)
        ct = (class_mix(c) @ _CLASS_TEXTURE).astype(np.float64)
        cue = np.nan_to_num(np.asarray(cue, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        # Every band lights the frame (kicks and snares most), as the ear hears one pulse.
        hit = knee(cue[CUE["hit"]])
        kick = knee(cue[CUE["kick"]])
        snare = knee(cue[CUE["snare"]])
        hat = knee(cue[CUE["hat"]])
        energy = min(1.0, max(0.0, cue[CUE["energy"]]))
        mix = _ease(cue[CUE["mix"]])

        # The scene's family of sets: each variant a place on the cardioid.
        lo, hi = _FAMILY
        variant = float(cue[CUE["variant_b" if scene else "variant_a"]]) % 1.0
        fam = lo + (hi - lo) * variant
        flow = float(cue[CUE["flow"]])
        # The flow sways k along the cardioid and breathes the zoom: the set morphs smoothly,
        # faster when the music is fuller.
        t = fam + _PATH * np.tanh(0.5 * p[0]) * 2.0 + 0.05 * ct[0] + 0.04 * np.sin(0.4 * flow)
        point, normal = _cardioid(t)
        k = point + normal * (0.03 + 0.02 * np.tanh(0.5 * p[1]) + 0.005 * ct[1])

        # The scene's camera: its turn, how close it stands and which tones fill the set.
        turn = variant
        camera = np.cos(14.45 * variant)
        scale = 1.25 * np.exp(-0.12 * np.tanh(0.35 * p[2]) + 0.3 * camera
                              + 0.05 * np.sin(0.27 * flow) - 0.03 * kick)
        # The hits turn the view (a lurch that keeps the section's colours in the frame).
        angle = (-0.45 + _SPIN * p[3] + _FLOW_SPIN * flow + _SURGE * float(cue[CUE["surge"]])
                 + 1.3 * turn)
        centre = 0.15 * np.tanh(0.25 * p[4]), 0.15 * np.tanh(0.25 * p[5])
        pixel = scale * 2.0 / h
        view = np.array([centre[0], centre[1], scale * np.cos(angle), scale * np.sin(angle),
                         pixel], dtype=np.float64)
        lut = np.ascontiguousarray(
            palette_mix(cue[CUE["palette_a"]], cue[CUE["palette_b"]], float(mix)),
            dtype=np.float64)
        hue = float(cue[CUE["hue"]]) + 0.04 * np.tanh(0.5 * p[6])
        look = np.array([
            hue,
            0.45 + 0.1 * np.tanh(0.5 * p[7]) + 0.05 * ct[2],  # escape bands per e-fold
            0.5,  # 1 / the rim's width in pixels
            # The halo around the set: wider with the song's energy, swelling on each hit.
            0.05 * np.exp(0.25 * np.tanh(0.5 * p[8]) + 0.4 * energy)
            * (1.0 + 2.0 * hit + kick),
            0.9 + 0.2 * ct[3],  # interior trap bands
            0.2 + 0.03 * np.tanh(0.5 * p[9]) - 0.06 * camera,  # interior's place in the palette
            4.0,  # how soon the interior's own colour gives way to the rim's near the rim
            0.9 + 0.4 * hit,  # exposure
            0.1 * hat,  # the escape bands' phase: a faint shimmer on the hats
            0.05 * snare,  # colours climb towards the highlight on a snare
            0.1,  # the background's place in the palette (dark, saturated)
            0.4,  # how much brighter the background glows at the frame's centre
        ], dtype=np.float64)
        rim_rgb = np.clip(lut[int(255.999 * ((hue + 0.38) % 1.0))] * (0.95 + 0.35 * snare),
                          0.0, 1.0)
        x, y = grid(h, w)
        xs = np.ascontiguousarray(x[0], dtype=np.float64)
        ys = np.ascontiguousarray(y[:, 0], dtype=np.float64)
        return xs, ys, view, np.array([k.real, k.imag]), look, lut, rim_rgb
