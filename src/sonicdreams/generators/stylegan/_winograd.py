"""Winograd (Toom-Cook) convolution for 3×3, stride-1 convolutions with a shared weight.

``conv3x3(x, weight, padding=p)`` returns what ``F.conv2d(x, weight, padding=p)`` returns for
``x`` [N, C, H, W] and ``weight`` [O, C, 3, 3] (cross-correlation, as PyTorch defines it), with
F(4×4, 3×3): the output is cut into 4×4 tiles, each read from a 6×6 input tile, and the 3×3
kernel becomes 36 elementwise products in the transform domain. Summed over the input channels
these are 36 independent matrix products [O, C] @ [C, tiles], i.e. 36 × O × C multiply-adds per
4×4 outputs instead of 144 × O × C: a quarter of the direct convolution's work, plus the
transforms (two small dense products of their own, memory-bound).

The transform matrices are derived below from the interpolation points (no tables): the output
transform Aᵀ and the kernel transform G evaluate polynomials at the points (and at ∞), and the
input transform Bᵀ is the unique solution of ``Aᵀ[(G g) ⊙ (Bᵀ d)] = correlate(d, g)``.

The transformed weight is cached per weight tensor (identity, storage and in-place version), so
at inference the kernel transform runs once; under autograd (a weight that requires grad with
grad enabled) it is recomputed every call and nothing is cached. Only used for float32 on CPU by
the callers (see :func:`supported`); the maths is dtype/device agnostic.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["ENABLED", "conv3x3", "supported", "transform_weight", "winograd_matrices"]

ENABLED = True  # module-level switch read by the callers (benchmarks, A/B comparisons)

_M = 4  # output tile (per axis)
_R = 3  # kernel size
_T = _M + _R - 1  # input tile (per axis)
_POINTS = (0.0, 1.0, -1.0, 2.0, -2.0)  # finite interpolation points (plus ∞)
# Channel counts below which oneDNN's direct convolution is as fast (measured on a 2-core
# Zen 4; see tests/test_winograd.py and the module notes in sg3.py).
MIN_IN_CHANNELS = 64
MIN_OUT_CHANNELS = 64


def winograd_matrices(m: int = _M, r: int = _R, points=_POINTS
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Aᵀ [m, n], G [n, r], Bᵀ [n, n]) of F(m, r), n = m + r − 1, in float64.

    ``points`` are the n − 1 finite interpolation points; the last row/column is the point at
    infinity (the leading coefficient). Row j of G is scaled by 1 / Π_{l≠j}(p_j − p_l) so that
    Bᵀ has small integer entries for integer points.
    """
    n = m + r - 1
    p = np.asarray(points, dtype=np.float64)
    if p.shape != (n - 1,) or len(set(p.tolist())) != n - 1:
        raise ValueError(f"F({m}, {r}) needs {n - 1} distinct finite points, got {points}")
    at = np.zeros((m, n))
    at[:, : n - 1] = p[None, :] ** np.arange(m)[:, None]
    at[m - 1, n - 1] = 1.0
    scale = np.array([np.prod([pj - pl for pl in p if pl != pj]) for pj in p])
    g = np.zeros((n, r))
    g[: n - 1] = p[:, None] ** np.arange(r)[None, :] / scale[:, None]
    g[n - 1, r - 1] = 1.0
    # y_i = Σ_k g_k d_{i+k} for all g, d  ⇔  Σ_j Aᵀ[i,j] G[j,k] Bᵀ[j,l] = [l = i + k].
    # The coefficient row of (i, k) depends on i + k only: one n×n system per power s = i + k.
    coef = np.zeros((n, n))  # coef[s, j] = Aᵀ[i, j] G[j, k] for any i + k = s
    for s in range(n):
        i, k = min(s, m - 1), s - min(s, m - 1)
        coef[s] = at[i] * g[:, k]
    bt = np.linalg.solve(coef, np.eye(n))  # Bᵀ[:, l] solves coef @ b = e_l
    bt[np.abs(bt) < 1e-12] = 0.0
    return at, g, bt


def _kron_matrices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    at, g, bt = winograd_matrices()
    # 2-D transforms of a tile flattened row-major: (P ⊗ P) vec(X) = vec(P X Pᵀ).
    return np.kron(at, at), np.kron(g, g), np.kron(bt, bt)


_AT2, _G2, _BT2 = _kron_matrices()  # [16, 36], [36, 9], [36, 36]
_consts: dict = {}


def _const(name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    key = (name, dtype, device)
    t = _consts.get(key)
    if t is None:
        src = {"at": _AT2, "g": _G2, "bt": _BT2}[name]
        with torch.inference_mode(False):
            t = _consts[key] = torch.as_tensor(src, dtype=dtype, device=device)
    return t


def supported(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`conv3x3` is the faster choice here: enabled, float32 on CPU outside
    autocast, a 3×3 kernel and enough channels for the 36 matrix products to pay."""
    return (ENABLED and x.dtype == torch.float32 and weight.dtype == torch.float32
            and x.device.type == "cpu" and weight.device.type == "cpu" and x.ndim == 4
            and weight.ndim == 4 and tuple(weight.shape[2:]) == (_R, _R)
            and weight.shape[1] == x.shape[1] and weight.shape[1] >= MIN_IN_CHANNELS
            and weight.shape[0] >= MIN_OUT_CHANNELS
            and not torch.is_autocast_enabled("cpu"))


def _version(t: torch.Tensor) -> int:
    try:
        return t._version
    except RuntimeError:  # inference tensors have no version counter (they cannot change)
        return -1


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """The transformed kernel U [36, O, C] of ``weight`` [O, C, 3, 3] (not cached)."""
    o, c = weight.shape[:2]
    g2 = _const("g", weight.dtype, weight.device)
    return (g2 @ weight.reshape(o * c, _R * _R).t()).reshape(_T * _T, o, c)


_weight_cache: dict = {}  # data_ptr → (weakref to the weight, version, dtype, device, shape, U)


def _cached_transform(weight: torch.Tensor) -> torch.Tensor:
    if weight.requires_grad and torch.is_grad_enabled():
        return transform_weight(weight)  # autograd: differentiable, never cached
    key = weight.data_ptr()
    sig = (_version(weight), weight.dtype, weight.device, tuple(weight.shape),
           tuple(weight.stride()), weight.storage_offset())
    entry = _weight_cache.get(key)
    if entry is not None and entry[0]() is weight and entry[1] == sig:
        return entry[2]
    with torch.inference_mode(False), torch.no_grad():  # usable outside inference mode later
        u = transform_weight(weight.detach())
    for k in [k for k, v in _weight_cache.items() if v[0]() is None]:  # drop dead weights
        del _weight_cache[k]
    _weight_cache[key] = (weakref.ref(weight), sig, u)
    return u


def conv3x3(x: torch.Tensor, weight: torch.Tensor, *, padding: int = 0) -> torch.Tensor:
    """``F.conv2d(x, weight, padding=padding)`` for a 3×3 kernel, stride 1, via F(4×4, 3×3).

    ``x`` [N, C, H, W], ``weight`` [O, C, 3, 3], ``padding`` a non-negative int (zeros on every
    side). Returns [N, O, H + 2p − 2, W + 2p − 2] (a cropped view of a tile-aligned buffer
    where the output size is not a multiple of 4).
    """
    n, c, h, w = x.shape
    o = weight.shape[0]
    if tuple(weight.shape[1:]) != (c, _R, _R):
        raise ValueError(f"weight {list(weight.shape)} does not fit input {list(x.shape)}")
    p = int(padding)
    if p < 0:
        raise ValueError(f"padding={padding} must be non-negative")
    ho, wo = h + 2 * p - _R + 1, w + 2 * p - _R + 1
    if ho <= 0 or wo <= 0:
        raise ValueError(f"input {list(x.shape)} with padding {p} is smaller than the kernel")
    th, tw = -(-ho // _M), -(-wo // _M)
    # Pad so every 6×6 tile is in range: rows 0 .. 4·th + 1 of the padded input.
    hp, wp = th * _M + _R - 1, tw * _M + _R - 1
    xp = F.pad(x, [p, wp - w - p, p, hp - h - p]).contiguous()
    sn, sc, sh, sw = xp.stride()
    tiles = xp.as_strided((c, n, th, tw, _T, _T), (sc, sn, _M * sh, _M * sw, sh, sw))
    d = tiles.reshape(c * n * th * tw, _T * _T)  # gathers the overlapping tiles (a copy)
    v = _const("bt", x.dtype, x.device) @ d.t()  # [36, C·P], P = N·th·tw
    u = _cached_transform(weight).to(x.dtype)  # [36, O, C]
    mprod = torch.bmm(u, v.view(_T * _T, c, n * th * tw))  # [36, O, P]
    y = _const("at", x.dtype, x.device) @ mprod.view(_T * _T, o * n * th * tw)  # [16, O·P]
    y = y.view(_M, _M, o, n, th, tw).permute(3, 2, 4, 0, 5, 1)  # [N, O, th, 4, tw, 4]
    out = x.new_empty(n, o, th * _M, tw * _M)
    out.view(n, o, th, _M, tw, _M).copy_(y)
    if th * _M == ho and tw * _M == wo:
        return out
    return out[:, :, :ho, :wo]  # the last row/column of tiles may stick out: crop (a view)
