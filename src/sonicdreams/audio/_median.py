"""Running median along the last axis, the hot loop of harmonic/percussive separation.

``scipy.ndimage.median_filter`` re-sorts every window; for a window of 31 this keeps a sorted
window and moves one value in and one out per step, which is about 7x faster, and it releases
the GIL so the two HPSS filters run on two cores. Results equal scipy's (mode="reflect").
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["median_filter_rows"]

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None


def _median_rows_py(x: np.ndarray, k: int, out: np.ndarray) -> np.ndarray:
    n_rows, n = x.shape
    h = k // 2
    buf = np.empty(k, dtype=x.dtype)
    pad = np.empty(n + 2 * h, dtype=x.dtype)
    for r in range(n_rows):
        row = x[r]
        # Symmetric reflection (d c b a | a b c d | d c b a), as scipy's mode="reflect".
        for i in range(n + 2 * h):
            m = (i - h) % (2 * n)
            if m >= n:
                m = 2 * n - 1 - m
            pad[i] = row[m]
        for i in range(k):
            buf[i] = pad[i]
        buf.sort()
        out[r, 0] = buf[h]
        for i in range(1, n):
            old = pad[i - 1]
            new = pad[i - 1 + k]
            lo = 0
            hi = k
            while lo < hi:  # leftmost position of `old` in the sorted window
                mid = (lo + hi) >> 1
                if buf[mid] < old:
                    lo = mid + 1
                else:
                    hi = mid
            j = lo
            if new >= old:
                while j + 1 < k and buf[j + 1] < new:
                    buf[j] = buf[j + 1]
                    j += 1
            else:
                while j > 0 and buf[j - 1] > new:
                    buf[j] = buf[j - 1]
                    j -= 1
            buf[j] = new
            out[r, i] = buf[h]
    return out


if numba is not None:
    from .._compiled import njit

    _median_rows = njit(_median_rows_py)
else:  # pragma: no cover
    _median_rows = None


def median_filter_rows(x: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    """Median of each row over a centred window of odd ``size`` (edges reflected).

    Equals ``scipy.ndimage.median_filter(x, size=(1, size), mode="reflect")``: a row is
    extended as ``d c b a | a b c d | d c b a``, repeatedly when the window is longer than
    the row. (scipy itself reads past its buffer when the window is much longer than a row,
    e.g. 2 values and a window of 17 or more; this does not.) ``x`` is ``[shape=(rows, n)]``
    or one row ``[shape=(n,)]``, free of NaN (spectrogram magnitudes are).
    """
    if not isinstance(size, (int, np.integer)) or size < 1 or size % 2 != 1:
        raise ValueError(f"size={size} must be a positive odd integer")
    x = np.asarray(x)
    if x.ndim == 1:
        return median_filter_rows(x[None, :], size)[0]
    if x.ndim != 2:
        raise ValueError(f"x must have shape (rows, n) or (n,), got {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.shape[1] <= 1 or size == 1:
        return x.copy()  # one value reflected is that value everywhere
    run = _median_rows if _median_rows is not None else _median_rows_py
    return run(x, int(size), np.empty_like(x))
