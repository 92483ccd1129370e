"""``kaleidoscope``: pieces of coloured glass seen through 6 to 12 mirrors.

The picture is folded into a wedge and mirrored around the centre, as a real kaleidoscope's
mirrors do. Inside the wedge lies a mosaic of glass pieces (two sets of bands of warped fractal
noise, crossed, with anti-aliased lead lines between them, light gathering at their rims) and
rings around the centre, lit from behind.

- The latent slides and turns the glass, sets how finely it is cut and how it is warped. A
  mosaic is all sharp edges, so each unit of the latent moves it by less than a piece: a small
  step of the latent changes little, and random latents still land many pieces apart.
- Pulse pushes every latent dimension alike, so the latent's mean is the pulse: each beat
  zooms into the glass, twists the mirrors and brightens the light.
- The classes pick the palette and nudge the cut of the glass; the strongest pitch class picks
  the number of mirrors (around the circle of fifths, so related keys differ by one mirror).
  When it changes, the new symmetry opens from the centre like an iris. The number of mirrors
  never depends on the latent: a step in a discrete order would be a jump.
"""

from __future__ import annotations

import numpy as np

from ._noise import (
    TEX_SIZE,
    budget_size,
    lookup,
    noise_texture,
    palette_table,
    row_blocks,
    sample_noise,
    smoothstep,
)
from ._toolkit import (
    ProceduralStyle,
    class_mix,
    grid,
    latent_params,
    palette_lut,
    resize_rgb,
)

__all__ = ["Kaleidoscope"]

_N_PARAMS = 12
_MOVE = 0.07  # how far one unit of the latent moves the glass (see the module's docstring)
_SPIN = 0.05  # radians the mirrors turn per unit of the latent
_MIN_ORDER, _MAX_ORDER = 6, 12
# Mirrors per pitch class, by its place on the circle of fifths (C G D A E B F# C# G# D# A# F
# get 6 7 8 9 10 11 12 11 10 9 8 7): keys a fifth apart differ by one mirror.
_CLASS_ORDER = np.array([12 - abs(6 - (7 * k) % 12) for k in range(12)], dtype=np.float32)
_ORDER_SHARPNESS = 6.0  # the strongest class sets the order; near-ties open the iris
_IRIS = 0.5  # the part of each step from one order to the next spent opening the iris
_IRIS_EDGE = 0.2  # half the width of the iris's soft edge
_LEAD = 0.06  # half the width of a lead line, in pieces
# Each class nudges the mosaic a little (besides its palette), so pitch also shows as texture.
_CLASS_TEXTURE = np.random.default_rng(13).standard_normal((12, 3)).astype(np.float32)


def _pixel_slope(f: np.ndarray) -> np.ndarray:
    """|df/dx| + |df/dy| per pixel (a shader's fwidth), never below a tiny floor."""
    g = np.zeros_like(f)
    if f.shape[1] > 1:
        np.subtract(f[:, 1:], f[:, :-1], out=g[:, :-1])
        g[:, -1] = g[:, -2]
        np.abs(g, out=g)
    if f.shape[0] > 1:
        gy = np.empty_like(f)
        np.subtract(f[1:], f[:-1], out=gy[:-1])
        gy[-1] = gy[-2]
        np.abs(gy, out=gy)
        g += gy
    np.maximum(g, np.float32(1e-4), out=g)
    return g


def _to_edge(frac: np.ndarray) -> np.ndarray:
    """How far (in pieces, 0 to 0.5) a position ``frac`` (0..1) in a piece is from its edge."""
    d = np.abs(frac - np.float32(0.5))
    np.subtract(np.float32(0.5), d, out=d)
    return d


class Kaleidoscope(ProceduralStyle):
    name = "kaleidoscope"
    description = "mirrored mosaics of coloured glass with 6 to 12-fold symmetry, tinted by pitch"
    work_pixels = 384 * 384  # computed at about this many pixels, then scaled

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> np.ndarray:
        h, w = budget_size(self.size, self.work_pixels)
        r, theta, backlight = self._tables(h, w)
        p = np.clip(latent_params(z, _N_PARAMS, key=self.name), -6.0, 6.0)
        pulse = float(np.tanh(3.0 * np.mean(z, dtype=np.float64)))
        mix = class_mix(c)
        table = palette_table(palette_lut(mix, gain=255.0))
        look = (p, pulse, mix @ _CLASS_TEXTURE, table)

        order = float(np.clip(class_mix(c, sharpness=_ORDER_SHARPNESS) @ _CLASS_ORDER,
                              _MIN_ORDER, _MAX_ORDER))
        low = min(int(np.floor(order)), _MAX_ORDER - 1)
        fade = min(1.0, max(0.0, (order - low - 0.5 * (1.0 - _IRIS)) / _IRIS))
        if fade >= 1.0:
            low, fade = low + 1, 0.0
        # Between two orders, the new one shows inside a circle growing with the fade.
        radius = fade * (float(r[0, 0]) + 3 * _IRIS_EDGE) - _IRIS_EDGE
        box = self._window(h, w, radius + _IRIS_EDGE) if fade > 0.0 else None

        img = np.empty((h, w, 3), dtype=np.uint8)
        for r0, r1 in row_blocks(h, w):
            rows = self._mosaic(r, theta, backlight, (r0, r1), (0, w), low, *look)
            if box is not None and box[0].start < r1 and box[0].stop > r0:
                b0, b1 = max(r0, box[0].start), min(r1, box[0].stop)
                cols = box[1]
                new = self._mosaic(r, theta, backlight, (b0, b1), (cols.start, cols.stop),
                                   low + 1, *look)
                inner = smoothstep(radius + _IRIS_EDGE, radius - _IRIS_EDGE, r[b0:b1, cols])
                old = rows[b0 - r0:b1 - r0, cols]
                new -= old
                new *= inner[..., None]
                old += new
            np.minimum(rows, np.float32(255.0), out=rows)
            img[r0:r1] = rows[..., :3]
        return resize_rgb(img, self.size)

    def _tables(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Radius, angle and the light behind the glass per pixel (cached per size)."""
        cache = getattr(self, "_table_cache", None)
        if cache is None or cache[0] != (h, w):
            x, y = grid(h, w)
            r = np.hypot(x, y)
            backlight = (0.55 + 0.9 * np.exp(-1.2 * r * r)).astype(np.float32)
            cache = self._table_cache = ((h, w), r, np.arctan2(y, x), backlight)
        return cache[1], cache[2], cache[3]

    @staticmethod
    def _window(h: int, w: int, radius: float) -> tuple[slice, slice] | None:
        """The rows and columns that hold the disc of ``radius`` around the centre."""
        if radius <= 0.0:
            return None
        half = radius * h / 2  # grid units to pixels: the height spans 2 units
        r0, r1 = max(0, int(np.floor(h / 2 - half))), min(h, int(np.ceil(h / 2 + half)))
        c0, c1 = max(0, int(np.floor(w / 2 - half))), min(w, int(np.ceil(w / 2 + half)))
        if r1 - r0 < 2 or c1 - c0 < 2:
            return None
        return slice(r0, r1), slice(c0, c1)

    @staticmethod
    def _mosaic(r_all: np.ndarray, theta_all: np.ndarray, backlight_all: np.ndarray,
                rows: tuple[int, int], cols: tuple[int, int], order: int, p: np.ndarray,
                pulse: float, ct: np.ndarray, table: np.ndarray) -> np.ndarray:
        """The glass seen through ``order`` mirrors in rows and columns [first, end) of the
        frame, float32 RGB and a spare channel [shape=(rows, cols, 4)]."""
        f32 = np.float32
        # One more row below (where there is one), for the slopes of the band coordinates.
        r0, r1 = rows
        extra = 1 if r1 < r_all.shape[0] else 0
        win = slice(r0, r1 + extra), slice(*cols)
        r, theta = r_all[win], theta_all[win]
        # Fold the angle into one wedge, mirrored: the same glass seen in every wedge.
        sector = f32(2.0 * np.pi / order)
        a = np.mod(theta + f32(_SPIN * p[0] + 0.25 * pulse), sector)
        a -= sector * f32(0.5)
        np.abs(a, out=a)
        fx = r * np.cos(a)
        fy = r * np.sin(a)

        scale = f32(TEX_SIZE * 0.16 * np.exp(0.3 * np.tanh(_MOVE * p[1]) - 0.15 * pulse))
        turn = f32(0.7 * _MOVE * p[2])
        ca, sa = np.cos(turn) * scale, np.sin(turn) * scale
        slide = f32(TEX_SIZE * 0.1 * _MOVE)
        u = ca * fx - sa * fy + slide * f32(p[3])
        v = sa * fx + ca * fy + slide * f32(p[4])

        smooth = noise_texture(3, 2.0, cutoff=24.0)
        detail = noise_texture(4, 1.6, cutoff=32.0)
        warp = f32(TEX_SIZE * 0.05 * (1.0 + 0.4 * np.tanh(_MOVE * p[5] + 0.6 * ct[0])))
        q = sample_noise(smooth, u * f32(0.6) + slide * f32(p[6]),
                         v * f32(0.6) + slide * f32(p[7]))
        n = sample_noise(detail, u + warp * q.real, v + warp * q.imag)

        # Two band coordinates; their whole numbers are the edges of the pieces.
        bands = f32(1.8 + 0.6 * np.tanh(_MOVE * p[8] + 0.6 * ct[1]))
        ring_freq = f32(np.pi * (5.0 + 3.0 * np.tanh(_MOVE * p[9] + 0.6 * ct[2])))
        ring = np.sin(r * ring_freq - f32(_MOVE * p[10]))
        ring *= f32(0.6)
        A = n.real * bands
        A += ring
        B = n.imag * bands
        # How fast each changes per pixel, to draw the lead anti-aliased (a line thinner than a
        # pixel would flicker at every small move).
        ga = _pixel_slope(A)
        gb = _pixel_slope(B)
        ia = np.floor(A)
        ib = np.floor(B)
        A -= ia  # position inside the piece, 0..1 each way
        B -= ib
        t = ia * f32(0.31)
        t += ib * f32(0.17)
        t += f32(0.25 * p[11])
        col = lookup(table, t)  # one colour per piece

        # Dark lead between the pieces, about 1.6 pixels of soft edge.
        da = _to_edge(A)
        db = _to_edge(B)
        lead = (da - f32(_LEAD)) / ga
        np.minimum(lead, (db - f32(_LEAD)) / gb, out=lead)
        lead = smoothstep(-0.8, 0.8, lead)
        # Light gathers at the rims of the pieces and shines through each unevenly; some
        # pieces are darker glass.
        np.minimum(da, db, out=da)
        light = smoothstep(0.3, 0.06, da)
        light *= f32(0.45)
        light += f32(0.8) + f32(0.12) * q.real
        tint = ia * f32(0.4142)
        tint += ib * f32(0.7320)
        tint -= np.floor(tint)
        light *= f32(0.55) + f32(0.7) * tint
        light *= lead
        light *= backlight_all[win]
        light *= f32(1.0 + 0.45 * pulse)
        col *= light[..., None]
        return col[:col.shape[0] - extra]
