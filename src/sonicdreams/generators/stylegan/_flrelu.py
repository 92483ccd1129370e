"""StyleGAN3's filtered leaky ReLU in one compiled pass per channel (float32 on CPU).

The nonlinearity upsamples a feature map along x then y, applies the leaky ReLU and
downsamples along y then x (see :func:`.sg3.filtered_lrelu`). As whole-map products each step
writes a map up to 4× the input's size and reads it back from memory; here one channel streams
through all four steps a row at a time: an input row is resampled along x into a ring of rows,
the rows that one upsampled row needs are combined (the leaky ReLU applied while it is in
cache), the upsampled rows that one output row needs are combined again, and that row is
resampled along x into the output. The rings hold a few rows (kilobytes), so the 4×-sized
intermediate never leaves the cache. Threads take channels in turn.

Along y an output row is a weighted sum of ``taps`` input rows from ``start[o]`` (:func:`band`;
the zeros an upsampler inserts are left out of the weights): sums of whole rows, in SIMD.
Along x each output sample would read its own few inputs (a gather per sample, 4× slower); so
the upsampled columns are kept phase by phase: output ``o = up·j + p`` is column ``j`` of phase
``p``, and for every ``j`` it is the same ``taps`` weights of inputs ``j + d`` (zeros outside
the row: the padding). A phase is then a sliding weighted sum, contiguous in ``j``; the rows
along y mix columns one by one, so the order of the columns does not matter to them; and the
×``down`` downsampler reads each of its taps from one phase, again contiguously.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..._compiled import lazy_kernel
from ._blur import over_channels

__all__ = ["ENABLED", "Plan", "band", "phases", "supported", "filtered_lrelu"]

ENABLED = True  # module switch read by supported() (A/B comparisons, benchmarks)


def band(matrix: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(start [out], weights [out, taps]) of a banded [out, in] matrix: row ``o`` is
    ``weights[o]`` placed at columns ``start[o]…start[o] + taps − 1`` (zeros elsewhere)."""
    m = matrix.detach().to(torch.float32).cpu().numpy()
    n_in = m.shape[1]
    nonzero = m != 0
    any_ = nonzero.any(axis=1)
    # (a row of zeros starts where the row before it does: starts keep rising)
    first = np.maximum.accumulate(np.where(any_, nonzero.argmax(axis=1), 0))
    last = np.where(any_, n_in - 1 - nonzero[:, ::-1].argmax(axis=1), 0)
    taps = min(n_in, int((last - first + 1)[any_].max(initial=1)))
    start = np.minimum(first, n_in - taps).astype(np.int64)
    cols = start[:, None] + np.arange(taps)[None, :]
    weights = np.ascontiguousarray(np.take_along_axis(m, cols, axis=1), dtype=np.float32)
    return start, weights


def phases(f: torch.Tensor, *, up: int, pad0: int) -> tuple[np.ndarray, int]:
    """(weights [up, taps], first) of a ×``up`` upsampler with filter ``f`` and padding
    ``pad0`` before the row: output ``up·j + p`` is Σ_k weights[p, k] · input[j + first + k].

    (Output ``o`` reads input ``i`` through tap ``i·up + pad0 − o`` of the reversed filter;
    with ``o = up·j + p`` and ``i = j + d`` the tap is ``up·d + pad0 − p``, whatever ``j``.)
    """
    fr = f.detach().to(torch.float64).cpu().flip(0).numpy()
    taps = fr.size
    lo = min(-((pad0 - p) // up) for p in range(up))  # smallest d with a tap ≥ 0
    hi = max((taps - 1 + p - pad0) // up for p in range(up))
    weights = np.zeros((up, hi - lo + 1), np.float32)
    for p in range(up):
        for d in range(lo, hi + 1):
            t = up * d + pad0 - p
            if 0 <= t < taps:
                weights[p, d - lo] = fr[t]
    return weights, lo


@dataclasses.dataclass(frozen=True, eq=False)
class Plan:
    """The resampling of one layer's size (see the module notes and :func:`filtered_lrelu`).

    ``x_up`` [up, taps] reads from ``x_first`` (:func:`phases`) into ``phase_len`` columns a
    phase, the upsampled row being ``width_up`` samples; ``y_up`` and ``y_down`` are the y
    maps as :func:`band` gives them (the upsampling gain in ``y_up``); ``x_down`` is the
    reversed down filter, read every ``down`` samples into ``width_out`` outputs.
    """

    x_up: np.ndarray
    x_first: int
    width_up: int
    y_up: tuple[np.ndarray, np.ndarray]
    y_down: tuple[np.ndarray, np.ndarray]
    x_down: np.ndarray
    down: int
    width_out: int

    @property
    def phase_len(self) -> int:
        return -(-self.width_up // self.x_up.shape[0])


def _stream_py(x, bias, xu_w, x_first, phase_len, yu_start, yu_w, yd_start, yd_w, xd_w, down,
               width_out, slope, gain, clamp, c0, c1, out):
    """Channels c0..c1 of ``x`` [C, H, W] → ``out`` [C, Hd, width_out] (see the module notes):
    a row is copied into ``padded`` from input ``x_first`` on (zeros before it where that is
    negative), so phase column ``j``'s tap ``k`` reads ``padded[j + k]``."""
    x_lead = max(0, -x_first)
    x_skip = max(0, x_first)
    width = x.shape[2] - x_skip
    up, kxu = xu_w.shape
    kyu = yu_w.shape[1]
    hd, kyd = yd_w.shape
    kxd = xd_w.size
    cols = up * phase_len
    group = up // down  # output phases: the downsampled row comes out as ``group`` of them
    group_len = -(-width_out // group)
    # The starts rise, so the rows one output reads are the last ``taps`` made: a ring of
    # ``taps`` rows holds them. (Rows carry slack after the last phase: the down filter of an
    # output past the row's end reads there, and its value is never kept.)
    slack = kxd // up + 2
    uring = np.zeros((kyu, cols + slack), np.float32)
    vring = np.zeros((kyd, cols + slack), np.float32)
    row = np.zeros(cols + slack, np.float32)
    padded = np.zeros(phase_len + kxu + x_lead + width, np.float32)
    grouped = np.empty(group * group_len, np.float32)
    # (Loops run over views from 0: an index plus an offset of unknown sign is checked for
    # wrapping around on every read, and the loop is not vectorised.)
    row_in = padded[x_lead:x_lead + width]
    for c in range(c0, c1):
        b = bias[c]
        made_u = 0  # input rows resampled along x so far (row h lives at uring[h % kyu])
        made_v = 0  # upsampled rows made so far (row r lives at vring[r % kyd])
        for q in range(hd):
            while made_v < yd_start[q] + kyd:
                r = made_v
                while made_u < yu_start[r] + kyu:
                    src = x[c, made_u, x_skip:]
                    for i in range(width):
                        row_in[i] = src[i] + b
                    for p in range(up):
                        dst = uring[made_u % kyu, p * phase_len:(p + 1) * phase_len]
                        dst[:] = 0.0
                        for k in range(kxu):
                            wk = xu_w[p, k]
                            src = padded[k:k + phase_len]
                            for j in range(phase_len):
                                dst[j] += wk * src[j]
                    made_u += 1
                dst = vring[r % kyd, :cols]
                dst[:] = 0.0
                for k in range(kyu):
                    wk = yu_w[r, k]
                    src = uring[(yu_start[r] + k) % kyu]
                    for j in range(cols):
                        dst[j] += wk * src[j]
                for j in range(cols):
                    v = dst[j]
                    v = (v if v > 0 else v * slope) * gain
                    if clamp >= 0:
                        v = min(max(v, -clamp), clamp)
                    dst[j] = v
                made_v += 1
            row[:cols] = 0.0
            for k in range(kyd):
                wk = yd_w[q, k]
                src = vring[(yd_start[q] + k) % kyd]
                for j in range(cols):
                    row[j] += wk * src[j]
            # Output o = group·a + g reads upsampled sample down·o + t = up·a + (down·g + t):
            # phase (down·g + t) % up, column a + (down·g + t) // up.
            for g in range(group):
                dst = grouped[g * group_len:(g + 1) * group_len]
                dst[:] = 0.0
                for t in range(kxd):
                    m = down * g + t
                    at = (m % up) * phase_len + m // up
                    src = row[at:at + group_len]
                    wt = xd_w[t]
                    for a in range(group_len):
                        dst[a] += wt * src[a]
            dst = out[c, q]
            for g in range(group):
                src = grouped[g * group_len:(g + 1) * group_len]
                for a in range(min(group_len, (width_out - g + group - 1) // group)):
                    dst[group * a + g] = src[a]


_stream = lazy_kernel(_stream_py)


def supported(x: torch.Tensor, *, up: int, down: int) -> bool:
    """Whether :func:`filtered_lrelu` runs ``x``: enabled, float32 on CPU outside autograd,
    ``down`` dividing ``up``."""
    return (ENABLED and x.device.type == "cpu" and x.dtype == torch.float32 and x.ndim == 4
            and up % down == 0 and not (x.requires_grad and torch.is_grad_enabled()))


def filtered_lrelu(x: torch.Tensor, bias: torch.Tensor | None, plan: Plan, *, slope: float,
                   gain: float, clamp: float | None) -> torch.Tensor:
    """Bias, upsample (x, then y), leaky ReLU × ``gain`` clamped to ±``clamp``, downsample
    (y, then x) of ``x`` [N, C, H, W] float32 by ``plan``."""
    n, channels, height, width = x.shape
    src = x.detach().contiguous().reshape(n * channels, height, width).numpy()
    if bias is None:
        b = np.zeros(n * channels, np.float32)
    else:
        b = np.tile(bias.detach().to(torch.float32).cpu().numpy(), n)
    height_out = plan.y_down[0].size
    result = torch.empty(n * channels, height_out, plan.width_out, dtype=torch.float32)
    out = result.numpy()
    args = (plan.x_up, plan.x_first, plan.phase_len, *plan.y_up, *plan.y_down, plan.x_down,
            plan.down, plan.width_out, np.float32(slope), np.float32(gain),
            np.float32(-1.0 if clamp is None or clamp < 0 else clamp))
    kernel = _stream()
    over_channels(n * channels, lambda c0, c1: kernel(src, b, *args, c0, c1, out))
    return result.reshape(n, channels, height_out, plan.width_out)
