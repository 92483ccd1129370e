"""Shared parts of the built-in styles: latent projections, class palettes, grids, scaling.

Every built-in style reads the 512-d latent through fixed random projections (so a small step
in ``z`` is a small change of every parameter, and unrelated ``z`` give unrelated images) and
reads the 12-d class vector as a mix of 12 palettes (so pitch shows as colour). Pulse, which
pushes every latent dimension alike, moves the parameters along one fixed direction.
"""

from __future__ import annotations

import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from ..base import check_batch

__all__ = [
    "Z_DIM",
    "C_DIM",
    "ProceduralStyle",
    "latent_params",
    "class_mix",
    "palette_lut",
    "colorize",
    "grid",
    "work_size",
    "resize_rgb",
    "PALETTES",
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


def _cosine_palette(a, b, c, d, n: int = 256) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
    return np.clip(np.asarray(a) + np.asarray(b) * np.cos(2 * np.pi * (np.asarray(c) * t
                                                                       + np.asarray(d))), 0, 1)


# One palette per pitch class (C, C#, D, … B): a + b·cos(2π(c·t + d)) per channel.
_PALETTE_SPECS = (
    ((0.50, 0.50, 0.50), (0.50, 0.50, 0.50), (1.0, 1.0, 1.0), (0.00, 0.33, 0.67)),  # spectrum
    ((0.55, 0.30, 0.20), (0.45, 0.30, 0.20), (1.0, 1.0, 1.0), (0.00, 0.10, 0.20)),  # ember
    ((0.20, 0.40, 0.55), (0.20, 0.35, 0.45), (1.0, 1.0, 1.0), (0.55, 0.50, 0.45)),  # ocean
    ((0.50, 0.50, 0.50), (0.50, 0.50, 0.50), (1.0, 1.0, 0.5), (0.80, 0.90, 0.30)),  # lime
    ((0.55, 0.35, 0.60), (0.45, 0.35, 0.40), (1.0, 1.0, 1.0), (0.90, 0.20, 0.50)),  # orchid
    ((0.50, 0.50, 0.50), (0.50, 0.50, 0.50), (2.0, 1.0, 0.0), (0.50, 0.20, 0.25)),  # candy
    ((0.80, 0.50, 0.40), (0.20, 0.40, 0.20), (2.0, 1.0, 1.0), (0.00, 0.25, 0.25)),  # desert
    ((0.10, 0.45, 0.40), (0.10, 0.40, 0.40), (1.0, 1.0, 1.0), (0.30, 0.50, 0.60)),  # jade
    ((0.60, 0.50, 0.20), (0.40, 0.40, 0.20), (1.0, 1.0, 1.0), (0.00, 0.10, 0.60)),  # gold
    ((0.30, 0.20, 0.50), (0.35, 0.25, 0.45), (1.0, 1.0, 1.0), (0.70, 0.80, 0.95)),  # indigo
    ((0.50, 0.20, 0.30), (0.50, 0.30, 0.30), (1.0, 1.0, 1.0), (0.10, 0.60, 0.70)),  # rose
    ((0.45, 0.50, 0.55), (0.40, 0.45, 0.50), (1.0, 1.0, 1.0), (0.00, 0.05, 0.10)),  # ice
)
PALETTES: npt.NDArray[np.float32] = np.stack(
    [_cosine_palette(*spec) for spec in _PALETTE_SPECS]).astype(np.float32)
"""[shape=(12, 256, 3)] colours in [0, 1], one palette per class."""


def palette_lut(weights: npt.NDArray[np.float32], *, gain: float = 255.0) -> np.ndarray:
    """The class-weighted palette as a lookup table, float32 [shape=(256, 3)] in [0, gain]."""
    return np.tensordot(weights, PALETTES, axes=(0, 0)) * np.float32(gain)


def colorize(t: npt.NDArray[np.float32], lut: np.ndarray,
             shade: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.uint8]:
    """Scalar field ``t`` (wrapped to [0, 1)) through a palette, times an optional ``shade``."""
    idx = (np.mod(t, 1.0) * 255.999).astype(np.uint8)
    rgb = lut[idx]
    if shade is not None:
        rgb *= shade[..., None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


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


def work_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size a smooth style computes at before scaling to ``size``."""
    h, w = size
    scale = min(1.0, max_side / max(h, w))
    return max(2, int(round(h * scale))), max(2, int(round(w * scale)))


def resize_rgb(img: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """Bilinear resize of an RGB frame to (height, width) with Pillow (SIMD, releases the GIL)."""
    if img.shape[:2] == tuple(size):
        return img
    from PIL import Image

    out = Image.fromarray(img).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(out)


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

    def __init__(self, size: tuple[int, int] = (512, 512)) -> None:
        h, w = (int(size[0]), int(size[1]))
        if h < 2 or w < 2 or h > 8192 or w > 8192:
            from ...errors import SettingsError

            raise SettingsError(f"size={size!r} must be (height, width) between 2 and 8192")
        self.size = (h, w)
        self.batch_size = max(1, min(8, os.cpu_count() or 1)) * 2
        # Frames are pure functions of (z, c): calls may run side by side.
        self.concurrent_calls = max(1, min(8, os.cpu_count() or 1))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> npt.NDArray[np.uint8]:
        raise NotImplementedError

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

        workers = min(z.shape[0], os.cpu_count() or 1, 8)
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

        return f"builtin|{self.name}|{__version__}"


def lazy_kernel(py_func):
    """``py_func`` compiled with numba on first call of the returned getter, else ``py_func``.

    Importing numba is slow, so styles compile their kernels only when they first draw; the
    lock makes a batch's threads, which all ask at once, compile once.
    """
    compiled = []
    lock = threading.Lock()

    def get():
        with lock:
            if not compiled:
                try:
                    import numba
                except ImportError:  # pragma: no cover - numba comes with librosa
                    compiled.append(py_func)
                else:
                    compiled.append(numba.njit(cache=True, nogil=True, fastmath=True,
                                               error_model="numpy")(py_func))
        return compiled[0]

    return get


class KernelStyle(ProceduralStyle):
    """A style drawn by one compiled kernel at about ``work_pixels`` pixels, then resized.

    Subclasses set ``kernel`` (a getter from :func:`lazy_kernel`) and ``work_pixels`` and
    implement ``_kernel_args(z, c, cue, size)``: the kernel's arguments for a frame of ``size``.
    """

    kernel = None
    work_pixels = 512 * 512

    def frame(self, z: np.ndarray, c: np.ndarray, cue: np.ndarray) -> npt.NDArray[np.uint8]:
        from ._noise import budget_size

        args = self._kernel_args(z, c, cue, budget_size(self.size, self.work_pixels))
        return resize_rgb(type(self).kernel()(*args), self.size)

    @staticmethod
    def _kernel_args(z: np.ndarray, c: np.ndarray, cue: np.ndarray,
                     size: tuple[int, int]) -> tuple:
        raise NotImplementedError
