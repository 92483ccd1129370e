"""Shared parts of the built-in styles: latent projections, cues, palettes, grids, scaling.

Every built-in style reads the 512-d latent through fixed random projections (so a small step
in ``z`` is a small change of every parameter, and unrelated ``z`` give unrelated images).

The director's cues (:data:`sonicdreams.direction.CUES`) are read with :func:`frame_cues`:
the hits come soft-saturated (:func:`swell`: a strong hit at ``pulse_react`` 0.5 is about
0.67, at 2 about 1.3, never more than 2, so an intense look is strong but never broken) and the
colour comes from the scene's palette (:func:`cue_palette`), a ring from deep shadow (0) to
bright highlight (0.5). Pitch only nudges a style's texture (:func:`class_mix`,
:func:`class_nudge`): a blend of many hues by weight is grey-brown mud.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from ..._compiled import lazy_kernel
from ..._jobs import cores
from ..._sampling import sampling
from ..base import check_batch

__all__ = [
    "Z_DIM",
    "axes",
    "sampling",
    "upsample",
    "FrameCues",
    "frame_cues",
    "swell",
    "knee",
    "accent",
    "cue_palette",
    "class_nudge",
    "C_DIM",
    "ProceduralStyle",
    "latent_params",
    "class_mix",
    "grid",
    "resize_rgb",
]

Z_DIM = 512
C_DIM = 12


@lru_cache(maxsize=64)
def _projection(key: str, n_params: int, z_dim: int) -> npt.NDArray[np.float32]:
    # A fixed matrix per style and purpose: the same z means the same picture, forever.
    rng = np.random.default_rng(zlib.crc32(f"{key}:{n_params}:{z_dim}".encode()))
    w = rng.standard_normal((z_dim, n_params)).astype(np.float32)
    return w / np.sqrt(z_dim, dtype=np.float32)


def latent_params(z: npt.NDArray[np.float32], n_params: int, *, key: str) -> np.ndarray:
    """``n_params`` numbers per latent, each about N(0, 1) for z ~ N(0, 1) [shape=(..., n)]."""
    return np.asarray(z, dtype=np.float32) @ _projection(key, n_params, z.shape[-1])


def swell(x: float) -> float:
    """A hit cue (0 at rest, about 1 for a strong hit at ``pulse_react`` 0.5) → how far a
    reaction goes: about linear for small hits, 0.67 at 1, 1.33 at 4, never above 2."""
    x = max(0.0, float(x)) if np.isfinite(x) else 0.0
    return x / (1.0 + 0.5 * x)


def accent(x: float, knee: float = 0.45) -> float:
    """A swelled hit with its weak end pressed down (``x³/(x² + knee²)``, an expander): strong
    hits keep most of their size, the many weak ones (ghost notes, hats leaking into a band)
    fade, so the picture rests between the beats and reads the strong ones as events."""
    x = max(0.0, float(x))
    return x * x * x / (x * x + knee * knee)


@dataclass(frozen=True, slots=True)
class FrameCues:
    """One frame's cues, ready to draw: hits soft-saturated by :func:`swell`, the rest as
    the director gave them (clipped to their ranges)."""

    kick: float
    snare: float
    hat: float
    hit: float
    beat: float
    """Every percussive onset (the director's ``hit``), swelled: what the eye reads as "the
    beat" — drive the whole-frame swell (exposure, glow) with it."""
    energy: float
    flow: float
    hue: float
    mix: float
    variant_a: float
    variant_b: float
    intensity: float
    palette_a: int
    palette_b: int
    surge: float = 0.0
    """A phase that steps forward on each hit and never comes back (the director's
    ``surge``): styles turn their view by it (flow: drifts the dye), so a hit moves the
    picture with no decay to undo it."""

    def variant(self, n: int) -> tuple[int, int]:
        """The scene's discrete choice out of ``n`` (symmetry, camera) before and after the
        transition; blend the two pictures by ``mix``."""
        return (min(n - 1, int(self.variant_a * n)), min(n - 1, int(self.variant_b * n)))


def _finite(x: float, lo: float, hi: float, default: float) -> float:
    x = float(x)
    return min(hi, max(lo, x)) if np.isfinite(x) else default


def frame_cues(cue: npt.NDArray[np.float32]) -> FrameCues:
    """Read a row of cues (see :data:`sonicdreams.direction.CUES`)."""
    from ...direction import CUE

    def get(name: str) -> float:
        return float(cue[CUE[name]])

    return FrameCues(
        kick=swell(get("kick")), snare=swell(get("snare")), hat=swell(get("hat")),
        hit=swell(get("hit")),
        beat=swell(1.3 * max(0.0, get("hit"))),
        energy=_finite(get("energy"), 0.0, 1.0, 0.5),
        flow=_finite(get("flow"), -1e5, 1e5, 0.0), hue=_finite(get("hue"), -1.0, 1.0, 0.0),
        mix=_finite(get("mix"), 0.0, 1.0, 0.0),
        variant_a=_finite(get("variant_a"), 0.0, 0.999999, 0.0),
        variant_b=_finite(get("variant_b"), 0.0, 0.999999, 0.0),
        intensity=_finite(get("intensity"), 0.3, 2.0, 1.0),
        palette_a=int(_finite(get("palette_a"), 0, 1e6, 0)),
        palette_b=int(_finite(get("palette_b"), 0, 1e6, 0)),
        surge=_finite(get("surge"), -1e7, 1e7, 0.0))


def cue_palette(cue: npt.NDArray[np.float32] | FrameCues) -> npt.NDArray[np.float32]:
    """The frame's palette: float32 [shape=(256, 3)] in [0, 1], a ring (0 shadow, 0.5
    highlight, 1 shadow again), moving from the scene's palette to the next one's."""
    from ...direction import palette_mix

    f = cue if isinstance(cue, FrameCues) else frame_cues(cue)
    return np.ascontiguousarray(palette_mix(f.palette_a, f.palette_b, f.mix), dtype=np.float32)


def class_nudge(c: npt.NDArray[np.float32], texture: npt.NDArray[np.float32]) -> np.ndarray:
    """The class vector as a small nudge of a style's texture: ``texture`` [shape=(12, n)]
    weighted by the classes relative to the strongest (zeros for a flat or empty vector)."""
    w = np.nan_to_num(np.clip(np.asarray(c, dtype=np.float64), 0.0, 1e6))
    top = w.max() if w.size else 0.0
    if top <= 1e-9:
        return np.zeros(texture.shape[1], dtype=np.float32)
    w = w / top
    w = w - w.mean()  # a flat chroma (noise) nudges nothing
    return (w @ texture / np.sqrt(12.0)).astype(np.float32)


def class_mix(c: npt.NDArray[np.float32], *, sharpness: float = 3.0) -> npt.NDArray[np.float32]:
    """Class vector → non-negative weights summing to 1 (equal weights when all are zero).

    Raising to ``sharpness`` lets the strongest classes dominate: a chromagram usually has
    several pitches near 1, and an even mix of many palettes is a muddy grey.
    """
    w = np.clip(np.asarray(c, dtype=np.float32), 0.0, None)
    w = (w / np.maximum(w.max(axis=-1, keepdims=True), 1e-6)) ** np.float32(sharpness)
    total = w.sum(axis=-1, keepdims=True)
    uniform = np.full_like(w, 1.0 / w.shape[-1])
    return np.where(total > 1e-6, w / np.maximum(total, 1e-6), uniform)


@lru_cache(maxsize=32)
def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates: y in (-1, 1) top to bottom, x scaled by the aspect ratio."""
    scale = 2.0 / height
    y = (np.arange(height, dtype=np.float32) + 0.5) * scale - 1.0
    x = (np.arange(width, dtype=np.float32) + 0.5 - width / 2) * scale
    xx, yy = np.meshgrid(x, y)
    xx.setflags(write=False)
    yy.setflags(write=False)
    return xx, yy


def axes(size: tuple[int, int], work: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The x and y coordinates (float32, as :func:`grid`'s for a frame of ``size``) of the
    pixel centres of a ``work`` grid over the same picture, placed as a bilinear sampler of
    that grid at the frame's pixel centres expects them (``(i + 0.5)·work / size − 0.5``)."""
    (h, w), (hw, ww) = size, work
    scale = 2.0 / h
    ys = ((np.arange(hw, dtype=np.float64) + 0.5) * (h / hw)) * scale - 1.0
    xs = ((np.arange(ww, dtype=np.float64) + 0.5) * (w / ww) - w / 2) * scale
    return xs.astype(np.float32), ys.astype(np.float32)


def _upsample_py(plane, rows, cols, out):
    """``plane`` (float32, rows × columns) sampled bilinearly at the pixels of ``out``;
    ``rows``, ``cols``: the :func:`sampling` of its height and width."""
    h, w = out.shape[0], out.shape[1]
    ws = plane.shape[1]
    y0s, y1s, ays = rows
    x0, x1, ax = cols
    row = np.empty(ws, dtype=np.float32)
    for i in range(h):
        y0, y1, ay = y0s[i], y1s[i], ays[i]
        for q in range(ws):
            row[q] = plane[y0, q] + ay * (plane[y1, q] - plane[y0, q])
        for j in range(w):
            out[i, j] = row[x0[j]] + ax[j] * (row[x1[j]] - row[x0[j]])
    return out


def upsample(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A smooth plane of a coarse grid (float32) sampled bilinearly at the pixels of a frame
    of ``size`` over the same picture (see :func:`axes`)."""
    (h, w), (hs, ws) = size, plane.shape
    return _upsample()(np.ascontiguousarray(plane, dtype=np.float32), sampling(h, hs),
                       sampling(w, ws), np.empty(size, dtype=np.float32))


def resize_rgb(img: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """Bilinear resize of an RGB frame to (height, width) with Pillow (SIMD, releases the GIL)."""
    if img.shape[:2] == tuple(size):
        return img
    from PIL import Image

    out = Image.fromarray(img).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(out)


_SHARE_FLOOR = 128 * 128  # (see ProceduralStyle.work_share)


class ProceduralStyle:
    """Base of the built-in styles: validation, batching over threads, the contract's fields.

    Subclasses set ``name`` and ``description`` and implement ``frame(z, c)`` for one latent
    ``z`` [shape=(512,)] and class vector ``c`` [shape=(12,)], returning uint8 (H, W, 3).
    """

    name: str = ""
    description: str = ""
    z_dim: int = Z_DIM
    c_dim: int = C_DIM
    directed = True
    """It draws the director's cues (see :mod:`sonicdreams.direction`): ``render(z, c, cues)``."""

    work_pixels = 512 * 512
    """About how many pixels the style's smooth parts are computed at (its fast path)."""
    work_share: float | None = None
    """At most this share of the output's pixels, if set (never under 128² pixels): a small
    frame's grid is coarser too (the fields of a 512² frame need no more than those of a
    1080p one per feature)."""

    def __init__(self, size: tuple[int, int] = (512, 512), *, reference: bool = False) -> None:
        h, w = (int(size[0]), int(size[1]))
        if h < 2 or w < 2 or h > 8192 or w > 8192:
            from ...errors import SettingsError

            raise SettingsError(f"size={size!r} must be (height, width) between 2 and 8192")
        self.size = (h, w)
        self.reference = bool(reference)
        """Draw every part at the output's own pixels (julia: every pixel of its grid), the slow
        path the fast one is held to."""
        self.batch_size = max(1, min(8, os.cpu_count() or 1)) * 2
        # Frames are pure functions of (z, c): calls may run side by side.
        self.concurrent_calls = max(1, min(8, os.cpu_count() or 1))
        self.fresh_frames = True  # render() returns a new array: the pipeline may write in it

    def __repr__(self) -> str:
        ref = ", reference=True" if self.reference else ""
        return f"{type(self).__name__}(size={self.size}{ref})"

    def work_size(self, size: tuple[int, int] | None = None) -> tuple[int, int]:
        """Where the smooth parts of a frame of ``size`` (the output's) are computed: about
        ``work_pixels`` pixels (and no more than ``work_share`` of the frame's), never more
        than the frame; the frame itself for a reference."""
        from ._noise import budget_size

        size = self.size if size is None else size
        if self.reference:
            return tuple(size)
        pixels = self.work_pixels
        if self.work_share is not None:
            pixels = min(pixels, max(_SHARE_FLOOR, round(self.work_share * size[0] * size[1])))
        return budget_size(size, pixels)

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> npt.NDArray[np.uint8]:
        raise NotImplementedError

    def warm_up(self) -> None:
        """Draw one frame, to compile (or read back) the style's kernels before the render
        needs them (see :mod:`sonicdreams._warm`)."""
        self.render(np.zeros((1, self.z_dim), np.float32), np.zeros((1, self.c_dim), np.float32))

    def render(self, z: npt.NDArray[np.float32], c: npt.NDArray[np.float32] | None = None,
               cues: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.uint8]:
        """Frames for a batch, uint8 [shape=(B, height, width, 3)].

        ``cues`` [shape=(B, len(CUES))]: the director's cues of each frame (see
        :data:`sonicdreams.direction.CUES`); without them, a still scene.
        """
        from ...direction import CUES, neutral_cues

        z, c = check_batch(self, z, c)
        if cues is None:
            cues = neutral_cues(z.shape[0])
        cues = np.asarray(cues, dtype=np.float32)
        if cues.shape != (z.shape[0], len(CUES)):
            raise ValueError(f"cues must have shape ({z.shape[0]}, {len(CUES)}), "
                             f"got {cues.shape}")
        out = np.empty((z.shape[0], *self.size, 3), dtype=np.uint8)

        def one(i: int) -> None:
            out[i] = self.frame(z[i], c[i], cues[i])

        workers = min(z.shape[0], cores(), 8)
        if workers == 1:
            for i in range(z.shape[0]):
                one(i)
        else:
            # A pool per batch (~0.1 ms) rather than one for the process: no thread outlives
            # the call, so a cancelled render leaves nothing running.
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix="sonicdreams-style") as pool:
                list(pool.map(one, range(z.shape[0])))
        return out

    @property
    def fingerprint(self) -> str:
        """What decides this style's frames besides their size: its name and code version."""
        from ... import __version__

        return f"builtin|{self.name}|{__version__}" + ("|reference" if self.reference else "")


_upsample = lazy_kernel(_upsample_py)


class KernelStyle(ProceduralStyle):
    """A style drawn by one compiled kernel at about ``work_pixels`` pixels, then resized.

    Subclasses set ``kernel`` (a getter from :func:`lazy_kernel`) and ``work_pixels`` and
    implement ``_kernel_args(z, c, cue, size)``: the kernel's arguments for a frame of ``size``.
    """

    kernel = None

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> npt.NDArray[np.uint8]:
        args = self._kernel_args(z, c, cue, self.work_size())
        return resize_rgb(type(self).kernel()(*args), self.size)

    @staticmethod
    def _kernel_args(z: np.ndarray, c: np.ndarray, cue: np.ndarray,
                     size: tuple[int, int]) -> tuple:
        raise NotImplementedError


def knee(x: float) -> float:
    """A hit cue (0 at rest, about 1 on a strong hit, more at a high pulse_react) → 0 … 1.

    A soft knee below and a soft limit above: faint onsets (below 0.2) and the swells' tails
    give nothing, so the picture is calm between hits instead of twitching at every small
    onset; a strong hit (1) gives about 0.37 and a cue of 4 (pulse_react 2) about 0.8,
    never 1.
    """
    x = max(0.0, float(x) - 0.2)
    g = x * x / (x + 0.3)
    return g / (1.0 + g)
