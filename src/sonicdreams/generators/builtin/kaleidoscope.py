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

from ...direction import CUE, palette_mix
from ._noise import (
    TEX_SIZE,
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
    knee,
    latent_params,
    resize_rgb,
)

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


def _order(variant: float) -> int:
    """A scene's number of mirrors (6 … 12) from its variant."""
    v = float(variant) % 1.0
    return _MIN_ORDER + min(_MAX_ORDER - _MIN_ORDER, int(v * (_MAX_ORDER - _MIN_ORDER + 1)))


def _cut(variant: float) -> float:
    """How a scene cuts its glass (-1 … 1: coarser or finer, another set of colours)."""
    return float(np.sin(2 * np.pi * 3.7 * (float(variant) % 1.0)))


class Kaleidoscope(ProceduralStyle):
    name = "kaleidoscope"
    description = "mirrored mosaics of coloured glass with 6 to 12-fold symmetry, tinted by pitch"
    work_pixels = 384 * 384  # computed at about this many pixels, then scaled

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> np.ndarray:
        h, w = self.work_size()
        r, theta, backlight = self._tables(h, w)
        p = np.clip(latent_params(z, _N_PARAMS, key=self.name), -6.0, 6.0)
        cue = np.nan_to_num(np.asarray(cue, dtype=np.float64), nan=0.0, posinf=0.0,
                            neginf=0.0)
        mix = min(1.0, max(0.0, float(cue[CUE["mix"]])))
        mix = mix * mix * (3.0 - 2.0 * mix)
        lut = palette_mix(cue[CUE["palette_a"]], cue[CUE["palette_b"]], mix) * np.float32(255)
        hits = (knee(cue[CUE["hit"]]),
                knee(cue[CUE["kick"]]), knee(cue[CUE["snare"]]), knee(cue[CUE["hat"]]))
        look = (p, hits, float(cue[CUE["flow"]]), float(cue[CUE["surge"]]), float(cue[CUE["hue"]]),
                class_mix(c) @ _CLASS_TEXTURE, palette_table(lut))

        # The scene's symmetry; in a transition the next one opens from the centre (an iris
        # growing with the mix, filling the frame when the mix reaches 1).
        order_a = _order(cue[CUE["variant_a"]])
        order_b = _order(cue[CUE["variant_b"]])
        cut_a, cut_b = _cut(cue[CUE["variant_a"]]), _cut(cue[CUE["variant_b"]])
        if order_a == order_b and cut_a == cut_b:
            mix = 0.0
        radius = mix * (float(r[0, 0]) + 3 * _IRIS_EDGE) - _IRIS_EDGE
        box = self._window(h, w, radius + _IRIS_EDGE) if mix > 0.0 else None
        if mix >= 1.0:
            order_a, cut_a, box = order_b, cut_b, None

        img = np.empty((h, w, 3), dtype=np.uint8)
        for r0, r1 in row_blocks(h, w):
            rows = self._mosaic(r, theta, backlight, (r0, r1), (0, w), order_a, cut_a, *look)
            if box is not None and box[0].start < r1 and box[0].stop > r0:
                b0, b1 = max(r0, box[0].start), min(r1, box[0].stop)
                cols = box[1]
                new = self._mosaic(r, theta, backlight, (b0, b1), (cols.start, cols.stop),
                                   order_b, cut_b, *look)
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
                rows: tuple[int, int], cols: tuple[int, int], order: int, cut: float,
                p: np.ndarray, hits: tuple[float, float, float, float], flow: float, surge: float,
                hue: float, ct: np.ndarray, table: np.ndarray) -> np.ndarray:
        """The glass seen through ``order`` mirrors in rows and columns [first, end) of the
        frame, float32 RGB and a spare channel [shape=(rows, cols, 4)]."""
        f32 = np.float32
        light_hit, kick, snare, hat = hits
        # One more row below (where there is one), for the slopes of the band coordinates.
        r0, r1 = rows
        extra = 1 if r1 < r_all.shape[0] else 0
        win = slice(r0, r1 + extra), slice(*cols)
        r, theta = r_all[win], theta_all[win]
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
        q = sample_noise(smooth, u * f32(0.6) + slide * f32(p[6]),
                         v * f32(0.6) + slide * f32(p[7]))
        n = sample_noise(detail, u + warp * q.real, v + warp * q.imag)

        # Two band coordinates; their whole numbers are the edges of the pieces.
        bands = f32(1.8 + 0.6 * np.tanh(_MOVE * p[8] + _PITCH * ct[1]))
        ring_freq = f32(np.pi * (5.0 + 3.0 * np.tanh(_MOVE * p[9] + 0.5 * _PITCH * ct[2])))
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
        # The latent barely tints and pitch only leans the colours (every piece moves along
        # the palette at once): a section keeps its colours while the glass moves.
        t += f32(0.02 * np.tanh(0.3 * p[11]) + _HUE * hue + 3.1 * cut
                 + _PITCH_SHIFT * np.tanh(ct[3]))
        col = lookup(table, t)  # one place in the palette per piece

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
        light *= f32(0.45 + 0.5 * snare)  # the rims flare on a snare
        light += f32(0.8) + f32(0.12 + 0.25 * hat) * q.real
        tint = ia * f32(0.4142)
        tint += ib * f32(0.7320)
        tint -= np.floor(tint)
        light *= f32(0.55) + f32(0.7) * tint
        light *= lead
        light *= backlight_all[win]
        light *= f32(0.95 + 0.6 * light_hit + 0.15 * kick)
        col *= light[..., None]
        return col[:col.shape[0] - extra]
