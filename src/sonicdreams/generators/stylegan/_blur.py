"""A separable FIR filter in one compiled pass per channel (float32 on CPU): StyleGAN2's blur
after each upsampling convolution.

As a depthwise 4×4 convolution the filter is first padded (a copy of the whole map) and then
run by oneDNN at a tenth of its dense speed (one channel per group). Here each output row is a
weighted sum of ``taps`` input rows (whole rows, in SIMD) into a row buffer with the padding
around it, and then a sliding weighted sum along that buffer; a per-channel scale (the
demodulation) comes with the last pass. Threads take channels in turn (:func:`over_channels`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..._compiled import lazy_kernel
from ..._jobs import cores
from ._derived import derived

__all__ = ["ENABLED", "over_channels", "separable", "supported", "blur"]

ENABLED = True  # module switch read by supported() (A/B comparisons, benchmarks)


def over_channels(total: int, run: Callable[[int, int], None]) -> None:
    """``run(c0, c1)`` over ``0..total`` in one slice per thread torch uses (the kernels
    release the GIL)."""
    workers = max(1, min(torch.get_num_threads(), cores(), total))
    if workers == 1:
        run(0, total)
        return
    cuts = np.linspace(0, total, workers + 1).round().astype(int)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sonicdreams-sg") as pool:
        list(pool.map(lambda i: run(int(cuts[i]), int(cuts[i + 1])), range(workers)))


def separable(f: torch.Tensor) -> tuple[np.ndarray, np.ndarray] | None:
    """(fy, fx) with ``f == outer(fy, fx)`` for a 2-D filter of rank one, else ``None``."""
    u, s, vh = np.linalg.svd(f.detach().to(torch.float64).cpu().numpy())
    if s.size > 1 and s[1] > s[0] * 1e-7:
        return None
    root = np.sqrt(s[0])
    return (u[:, 0] * root).astype(np.float32), (vh[0] * root).astype(np.float32)


def supported(x: torch.Tensor, f: torch.Tensor | None) -> bool:
    """Whether :func:`blur` runs ``x`` with ``f``: enabled, float32 on CPU outside autograd,
    ``f`` 2-D of rank one."""
    return (ENABLED and f is not None and f.ndim == 2 and x.device.type == "cpu"
            and x.dtype == torch.float32 and x.ndim == 4
            and not (x.requires_grad and torch.is_grad_enabled())
            and derived(f, "separable", lambda: separable(f)) is not None)


def _blur_py(x, fy, fx, pad_y, pad_x, scale, c0, c1, out):
    """out[c, y, x] = scale[c] · Σ_i Σ_j fy[i] fx[j] x[c, y + i − pad_y, x + j − pad_x]
    (zeros outside ``x``) for channels c0..c1."""
    height, width = x.shape[1], x.shape[2]
    height_out, width_out = out.shape[1], out.shape[2]
    ty, tx = fy.size, fx.size
    row = np.zeros(width_out + tx - 1, np.float32)  # input column i at row[i + pad_x]
    lo = max(0, -pad_x)
    hi = min(width, row.size - pad_x)
    inner = row[lo + pad_x:hi + pad_x]
    # (Loops run over views from 0: an index plus an offset of unknown sign is checked for
    # wrapping around on every read, and the loop is not vectorised.)
    for c in range(c0, c1):
        for y in range(height_out):
            inner[:] = 0.0
            for k in range(ty):
                yy = y + k - pad_y
                if 0 <= yy < height:
                    wk = fy[k]
                    src = x[c, yy, lo:hi]
                    for i in range(inner.size):
                        inner[i] += wk * src[i]
            dst = out[c, y]
            dst[:] = 0.0
            for k in range(tx):
                wk = fx[k] * scale[c]
                src = row[k:k + width_out]
                for i in range(width_out):
                    dst[i] += wk * src[i]


_blur = lazy_kernel(_blur_py)


def blur(x: torch.Tensor, f: torch.Tensor, *, padding: tuple[int, int, int, int],
         gain: float = 1.0, scale: torch.Tensor | None = None) -> torch.Tensor:
    """``upfirdn2d(x, f, padding=padding, gain=gain)`` (a true convolution with ``f``, no
    resampling) times ``scale`` [N, C] when given, for ``x`` [N, C, H, W] (see
    :func:`supported`)."""
    n, channels, height, width = x.shape
    px0, px1, py0, py1 = padding
    fy, fx = derived(f, "separable", lambda: separable(f))
    fy = np.ascontiguousarray(fy[::-1] * np.float32(gain))  # (flipped: a true convolution)
    fx = np.ascontiguousarray(fx[::-1])
    height_out = height + py0 + py1 - fy.size + 1
    width_out = width + px0 + px1 - fx.size + 1
    src = x.detach().contiguous().reshape(n * channels, height, width).numpy()
    factors = (np.ones(n * channels, np.float32) if scale is None
               else scale.detach().to(torch.float32).reshape(-1).contiguous().numpy())
    result = torch.empty(n * channels, height_out, width_out, dtype=torch.float32)
    out = result.numpy()
    kernel = _blur()
    over_channels(n * channels,
                  lambda c0, c1: kernel(src, fy, fx, py0, px0, factors, c0, c1, out))
    return result.reshape(n, channels, height_out, width_out)
