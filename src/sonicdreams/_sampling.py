"""Where the pixels of a line read a coarser line over the same picture: one place for the
styles' painters, their upsampling and the flash limiter's maps."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["sampling"]


@lru_cache(maxsize=32)
def sampling(n: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where ``n`` pixels read a coarser line of ``n_in`` over the same picture, bilinearly:
    each pixel's two neighbours on it (uint32: a kernel indexing with them skips numba's test
    for negative indices) and the second one's weight (float32), at
    ``(i + 0.5)·n_in / n − 0.5`` (as the styles' ``_toolkit.axes`` places a coarse grid),
    clamped at the ends."""
    at = np.clip((np.arange(n) + 0.5) * (n_in / n) - 0.5, 0.0, n_in - 1.0)
    lo = at.astype(np.uint32)
    hi = np.minimum(lo + 1, n_in - 1).astype(np.uint32)
    frac = (at - lo).astype(np.float32)
    for a in (lo, hi, frac):
        a.setflags(write=False)
    return lo, hi, frac
