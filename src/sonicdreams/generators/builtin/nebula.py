"""``nebula``: glowing gas clouds from domain-warped fractal noise, in the scene's palette.

Fractal noise is read at coordinates pushed around by more noise, twice (domain warping): the
result folds into billowing clouds with dark dust lanes, and the zero lines of a warped noise
make thin glowing filaments. The gas is lit from one side (its slope brightens or darkens it),
its densest parts burn white, and a star field shines through the dark.

What drives what:

- **scene** (``variant_a/b``, blended by ``mix``) and **latent**: the view (where in the noise,
  how close, turned how far), how hard the gas is warped, how dense and filamented it is, where
  its bright heart lies and the light's direction; the latent moves them gently.
- **palette**: empty space sits in the palette's shadow, dense gas climbs to its highlight;
  ``hue`` (pitch) shifts the positions a little. A soft knee keeps bright gas coloured.
- **beat** (every band's hits): the whole cloud flares and climbs towards the highlight.
- **kick**: the view (and the stars) push in. **snare**: the filaments flare and the warp
  stirs. **hat**: the stars twinkle.
- **surge** (a step on every hit that never comes back): the view turns a little on each hit.
- **flow**: the gas drifts and the view turns slowly; the class vector nudges the warp.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..._compiled import lazy_kernel
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
    accent,
    class_nudge,
    cue_palette,
    frame_cues,
    grid,
    latent_params,
    sampling,
)

__all__ = ["Nebula"]

_N_PARAMS = 16
_SCENE = 1.0  # how far the scene (its variant) places the view and shapes the gas
_SURGE = 0.055  # radians the view turns per unit of surge (a strong hit: about 0.03)
_FLOW_SPIN = 0.05  # radians the view turns per unit of flow (a slow turn of the gas)
_MOVE = 0.45  # how far the latent moves them: calm motion next to the hits
_SPIN = 0.2  # radians the view turns per unit of the latent
_RELIEF = 2  # pixels over which the gas's slope is taken (a halo of rows around each block)
_PLANES = 9  # the smooth planes a frame is painted from (see _paint_py)
_MAX_STARS = 40000
_PIXELS_PER_STAR = 700  # about one star per this many pixels of the frame
# Each class shifts the warp a little (besides its palette), so pitch also shows as texture.
_CLASS_TEXTURE = np.random.default_rng(11).standard_normal((12, 3)).astype(np.float32)


@lru_cache(maxsize=64)
def _scene_params(variant: float) -> np.ndarray:
    """A scene's place in the noise and the shape of its gas (the latent then moves them)."""
    return np.random.default_rng([int(variant * 2**31), 78]).standard_normal(_N_PARAMS)


class Nebula(ProceduralStyle):
    name = "nebula"
    description = "glowing nebulae of warped gas and filaments among stars"
    work_pixels = 320 * 320  # smooth by nature: computed at about this many pixels, then scaled

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> np.ndarray:
        h, w = self.work_size()
        f = frame_cues(cue)
        kick, snare, hat = accent(f.kick), accent(f.snare), accent(f.hat, 0.6)
        beat = accent(f.beat)
        beat = 0.9 * np.tanh(beat / 0.9)  # the loudest hits swell, never cut
        base = (1.0 - f.mix) * _scene_params(f.variant_a) + f.mix * _scene_params(f.variant_b)
        p = _SCENE * base + _MOVE * np.clip(latent_params(z, _N_PARAMS, key=self.name),
                                            -6.0, 6.0)
        ct = class_nudge(c, _CLASS_TEXTURE)
        table = palette_table(cue_palette(f))
        x, y = grid(h, w)

        # The view: texel coordinates of each pixel (turned, zoomed, placed by the scene and
        # the latent, drifting with the flow, pushed in by the kick).
        scale = TEX_SIZE * 0.2 * np.exp(0.35 * np.tanh(0.6 * p[0]) - 0.1 * kick)
        # The hits turn the view (a lurch that keeps the section's colours in the frame).
        angle = _SPIN * p[1] + _FLOW_SPIN * f.flow + _SURGE * f.surge
        view = np.float32([np.cos(angle) * scale, np.sin(angle) * scale])
        off = np.float32(TEX_SIZE * 0.06) * p[2:8].astype(np.float32)
        off[0:2] += np.float32(5.0 * f.flow)  # the gas's slow drift
        off[4:6] -= np.float32(3.0 * f.flow)
        look = dict(
            view=view, off=off, table=table,
            warp1=np.float32(TEX_SIZE * 0.07 * (1 + 0.4 * np.tanh(0.6 * p[8] + 0.5 * ct[0]))),
            warp2=np.float32(TEX_SIZE * 0.05 * (1 + 0.4 * np.tanh(0.6 * p[9] + 0.5 * ct[1]))
                             * (1.0 + 0.15 * snare)),
            density=np.float32(0.3 * np.tanh(0.6 * p[10]) - 0.05),
            sharp=np.float32(10.0 + 4.0 * np.tanh(0.6 * p[11] + 0.5 * ct[2])),
            heart=(np.float32(0.6 * np.tanh(0.5 * p[12])), np.float32(0.5 * np.tanh(0.5 * p[13]))),
            light=(float(np.cos(p[14])), float(np.sin(p[14]))),
            hue=np.float32(0.08 * np.tanh(p[15]) + f.hue + 0.03 * snare),
            gain=np.float32(1.0 + 0.08 * beat),  # the beat: the whole cloud flares (below a flash)
            lift=np.float32(0.02 * beat),  # … and climbs towards the palette's highlight
            flare=np.float32(1.0 + 1.6 * snare),  # the snare: filaments flare
        )
        planes = np.empty((_PLANES, h, w), dtype=np.float32)
        for r0, r1 in row_blocks(h, w):
            # Each block of rows is computed with a halo of rows for the slope of the gas.
            a0, a1 = max(0, r0 - _RELIEF), min(h, r1 + _RELIEF)
            planes[:, r0:r1] = self._rows(x[a0:a1], y[a0:a1], r0 - a0, a1 - r1, **look)
        # The gas and its colours are smooth: computed on the coarser grid; the filaments'
        # thin lines are drawn at the output's own pixels from the smooth fields whose zero
        # lines they are (a bilinear read keeps the kink of |field| at zero).
        (out_h, out_w) = self.size
        img = _paint()(planes, sampling(out_h, h), sampling(out_w, w), np.float32(look["sharp"]),
                       np.empty((out_h, out_w, 3), dtype=np.uint8))
        return self._stars(img, p, kick, hat)

    @staticmethod
    def _rows(x, y, top, bottom, *, view, off, table, warp1, warp2, density, sharp,
              heart, light, hue, gain, lift, flare) -> np.ndarray:
        """The smooth planes of rows of the frame (see :func:`_paint_py`), float32
        [shape=(_PLANES, rows, columns)], for grid rows with ``top`` and ``bottom`` halo rows."""
        f32 = np.float32
        u = view[0] * x - view[1] * y
        v = view[1] * x + view[0] * y
        smooth = noise_texture(1, 2.1, cutoff=24.0)
        detail = noise_texture(2, 1.5, cutoff=56.0)

        # Domain warping: noise q moves where r is read, r moves where the gas n is read.
        q = sample_noise(smooth, u * f32(0.7) + off[0], v * f32(0.7) + off[1])
        qr, qi = q.real, q.imag
        r = sample_noise(smooth, u * f32(1.2) + warp1 * qr + off[2],
                         v * f32(1.2) + warp1 * qi + off[3])
        rr, ri = r.real, r.imag
        n = sample_noise(detail, u + warp2 * rr + off[4],
                         v + warp2 * ri + off[5])

        # A bright heart somewhere near the middle keeps frames from going all dark.
        dx = x - heart[0]
        dy = y - heart[1]
        dx *= dx
        dy *= dy
        dx += dy
        dx *= f32(-1.5)
        cloud = np.exp(dx)
        cloud *= f32(0.9)
        cloud += n.real * f32(0.6)
        cloud += qr * f32(0.5)
        cloud += density
        gas = smoothstep(-0.7, 1.3, cloud)  # 0 in empty space, 1 in the core

        # Light from one side: the slope of the gas towards it brightens or darkens the gas.
        relief = _slope(gas, top, bottom, *light)
        inner = slice(top, gas.shape[0] - bottom)
        gas, qr, qi, rr, ri, strand = (a[inner] for a in (gas, qr, qi, rr, ri, n.imag))
        relief *= f32(2.0)
        relief += f32(1.0)
        np.clip(relief, 0.25, 2.5, out=relief)

        edge = gas * (f32(1.0) - gas)
        edge *= f32(4.0)
        dust = smoothstep(0.3, 1.2, strand * f32(0.7) + rr * f32(0.5) - qi * f32(0.3))

        # Where the gas sits in the palette: empty space in the shadow, dense gas climbing to
        # the highlight (dust lanes hold it back), the warp's eddies shifting it a little.
        dust *= f32(-0.55)
        dust += f32(1.0)
        t = gas * dust
        t *= f32(0.44)
        t += lift * gas
        t += qi * f32(0.03)
        t += hue
        np.clip(t, 0.0, 0.5, out=t)
        planes = np.empty((_PLANES, *gas.shape), dtype=np.float32)
        col = lookup(table, t)  # the gas's own colour
        col2 = lookup(table, t * f32(0.5) + f32(0.2))  # filaments: the palette's mid colours
        relief *= f32(0.35)
        relief += f32(0.65)
        relief *= gain
        haze = smoothstep(-1.0, 1.5, qi) * f32(0.05)  # a faint glow of the filaments' colour
        for ch in range(3):
            planes[ch] = col[..., ch] * relief + col2[..., ch] * haze
            planes[3 + ch] = col2[..., ch] * (f32(0.9) * flare)
        planes[6], planes[7], planes[8] = ri, strand, edge
        return planes

    def _star_catalogue(self):
        cat = getattr(self, "_catalogue", None)
        if cat is None:
            h, w = self.size
            half = 1.25 * np.hypot(1.0, w / h)  # the box of stars covers any turn and zoom
            count = int(min(_MAX_STARS, h * h * (2 * half) ** 2 / (4 * _PIXELS_PER_STAR)))
            rng = np.random.default_rng(5)
            pos = rng.uniform(-half, half, (_MAX_STARS, 2)).astype(np.float32)[:count]
            mag = (rng.random(_MAX_STARS) ** 5).astype(np.float32)[:count]
            warm = rng.random(_MAX_STARS).astype(np.float32)[:count, None]
            tint = ((1.0 - warm) * np.float32([0.75, 0.85, 1.0])
                    + warm * np.float32([1.0, 0.88, 0.72]))
            phase = rng.uniform(0, 2 * np.pi, _MAX_STARS).astype(np.float32)[:count]
            cat = self._catalogue = (np.float32(half), pos, mag, tint, phase)
        return cat

    def _stars(self, img: np.ndarray, p: np.ndarray, kick: float, hat: float) -> np.ndarray:
        """A fixed star field, drawn at full size, turning and zooming with the view (less:
        it is farther away). Stars only show where the gas is darker than they are."""
        half, pos, mag, tint, phase = self._star_catalogue()
        if len(pos) == 0:
            return img
        img = img if img.flags.writeable else img.copy()
        h, w = self.size
        drift = np.float32(0.05) * p[2:4].astype(np.float32)
        world = np.mod(pos + drift + half, 2 * half) - half
        zoom = np.float32(np.exp(0.2 * np.tanh(0.6 * p[0]) - 0.04 * kick))
        angle = np.float32(-_SPIN * p[1])
        ca, sa = np.cos(angle) * zoom, np.sin(angle) * zoom
        sx = ca * world[:, 0] - sa * world[:, 1]
        sy = sa * world[:, 0] + ca * world[:, 1]
        # Each star is spread over its 2×2 nearest pixels by its sub-pixel position, so a
        # slowly moving star glides instead of hopping from pixel to pixel.
        fx = sx * np.float32(h / 2) + np.float32(w / 2 - 0.5)
        fy = sy * np.float32(h / 2) + np.float32(h / 2 - 0.5)
        col = np.floor(fx).astype(np.int32)
        row = np.floor(fy).astype(np.int32)
        ax = (fx - col)[:, None]
        ay = (fy - row)[:, None]
        twinkle = (0.7 + 0.2 * np.sin(phase + np.float32(3.0) * p[1])) * np.float32(1.0 + 0.5 * hat)
        value = np.minimum((40.0 + 215.0 * mag * twinkle)[:, None] * tint, 255.0)
        big = mag > 0.3  # the brightest stars get a cross
        taps = [(0, 0, 1.0, slice(None))] + [(dr, dc, 0.35, big) for dr, dc in
                                               ((1, 0), (-1, 0), (0, 1), (0, -1))]
        for dr, dc, k, sel in taps:
            for oy, ox in ((0, 0), (0, 1), (1, 0), (1, 1)):
                wgt = (ay[sel] if oy else 1 - ay[sel]) * (ax[sel] if ox else 1 - ax[sel])
                rr, cc = row[sel] + dr + oy, col[sel] + dc + ox
                vv = value[sel] * (np.float32(k) * wgt)
                inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
                rr, cc, vv = rr[inside], cc[inside], vv[inside].astype(np.uint8)
                img[rr, cc] = np.maximum(img[rr, cc], vv)
        return img


def _paint_py(planes, rows_at, cols_at, sharp, out):
    """Colour a frame into ``out`` (uint8 rows × columns × 3) from the smooth ``planes``
    (float32, a grid as fine as ``out`` or coarser over the same picture), read bilinearly:
    0–2 the gas's lit colour (and the filaments' faint haze), 3–5 the filaments' colour, 6
    the warp field whose zero lines are the filaments, 7 the gas's field whose zero lines are
    its wisps, 8 how much gas edge is there. The filaments ``exp(−sharp·|field|)·(edge +
    0.15)`` and the wisps ``0.4·exp(−8·|field|)·edge`` are drawn at every pixel; a soft knee
    keeps the brightest gas coloured. Row by row, in loops of their own (SIMD)."""
    h, w = out.shape[0], out.shape[1]
    n, ws = planes.shape[0], planes.shape[2]
    f32 = np.float32
    y0s, y1s, ays = rows_at
    x0, x1, ax = cols_at
    rows = np.empty((n, ws), dtype=np.float32)
    px = np.empty((n, w), dtype=np.float32)
    glow = np.empty(w, dtype=np.float32)
    for i in range(h):
        y0, y1, ay = y0s[i], y1s[i], ays[i]
        for k in range(n):
            a, b, r = planes[k, y0], planes[k, y1], rows[k]
            for q in range(ws):
                r[q] = a[q] + ay * (b[q] - a[q])
        for k in range(n):
            r, p = rows[k], px[k]
            for j in range(w):
                p[j] = r[x0[j]] + ax[j] * (r[x1[j]] - r[x0[j]])
        for j in range(w):
            edge = px[8, j]
            glow[j] = (np.exp(-sharp * abs(px[6, j])) * (edge + f32(0.15))
                       + f32(0.4) * np.exp(f32(-8.0) * abs(px[7, j])) * edge)
        line = out[i]
        for ch in range(3):
            base, tint = px[ch], px[3 + ch]
            for j in range(w):
                v = base[j] + tint[j] * glow[j]
                x = min(max(f32(5.0) * (v - f32(0.8)), f32(0.0)), f32(3.0))
                x2 = x * x  # (tanh as a rational curve, within 2 % of it)
                v = min(v, f32(0.8)) + f32(0.2) * x * (f32(27.0) + x2) / (f32(27.0) + f32(9.0) * x2)
                line[j, ch] = np.uint8(max(v, f32(0.0)) * f32(255.0))
    return out


_paint = lazy_kernel(_paint_py)


def _slope(a: np.ndarray, top: int, bottom: int, cx: float, cy: float) -> np.ndarray:
    """How much ``a`` rises over ``_RELIEF`` pixels towards (cx, cy), for the rows of ``a``
    without its ``top`` and ``bottom`` halo rows (edges of the frame repeated)."""
    d = _RELIEF
    padded = np.pad(a, ((d - top, d - bottom), (d, d)), mode="edge")
    h, w = padded.shape[0] - 2 * d, padded.shape[1] - 2 * d
    gx = padded[d:d + h, 2 * d:] - padded[d:d + h, :w]
    gy = padded[2 * d:, d:d + w] - padded[:h, d:d + w]
    gx *= np.float32(0.5 * cx)
    gy *= np.float32(0.5 * cy)
    gx += gy
    return gx
