"""Winograd (Toom-Cook) convolution for 3×3, stride-1 convolutions with a shared weight.

``conv3x3(x, weight, padding=p)`` returns what ``F.conv2d(x, weight, padding=p)`` returns for
``x`` [N, C, H, W] and ``weight`` [O, C, 3, 3] (cross-correlation, as PyTorch defines it), by
F(m×m, 3×3) with m = 4 or 6 (:data:`TILE`): the output is cut into m×m tiles, each read from an
n×n input tile (n = m + 2), and in the transform domain the 3×3 kernel becomes n² elementwise
products. Summed over the input channels these are n² independent matrix products
[O, C] @ [C, tiles]: n² · O · C multiply-adds per m² outputs instead of 9 · m² · O · C, i.e.
36/144 = 1/4 of the direct convolution's work for F(4×4) and 64/324 ≈ 1/5 for F(6×6), plus the
transforms (memory-bound: two passes of n-point products each way, per tile row and column).

The transform matrices are derived here from the interpolation points (no tables): the output
transform Aᵀ and the kernel transform G evaluate polynomials at the points (and at ∞), and the
input transform Bᵀ is the unique solution of ``Aᵀ[(G g) ⊙ (Bᵀ d)] = correlate(d, g)``. The
points 0, ±1, ±2 (and ±1/2 for F(6×6)) keep float32 rounding errors around 1e-5 of the output
scale (F(6×6) about 1.6× F(4×4)'s; the direct convolution's are about 3e-7).

The transformed weight is cached per weight tensor (identity, in-place version, dtype, device),
so at inference the kernel transform runs once; under autograd (anything requiring grad with
grad enabled) nothing is cached and the convolution runs as one differentiable expression. The
callers use it for float32 on CPU only (see :func:`supported`); the maths is dtype/device
agnostic.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
import torch.nn.functional as F

from ._derived import derived

__all__ = ["ENABLED", "TILE", "clear_workspace", "conv3x3", "supported", "transform_weight",
           "winograd_matrices"]

ENABLED = True  # module switch read by supported() (A/B comparisons, benchmarks)
TILE = 6  # output tile per axis of the fast path: 4 (F(4×4, 3×3)) or 6 (F(6×6, 3×3))
BAND_TILES = 512  # output tiles per band of the fast path (rows of tiles × tiles per row)
# Fewest input and output channels for which supported() picks the Winograd path: the matrix
# products save work ∝ C·O per tile, the transforms cost ∝ C + O. Measured on a 2-core Zen 4
# (F(6×6), maps of 150² to 278², against oneDNN's direct convolution): 512 → 512 2.2–2.6×,
# 181 → 128 1.3–1.9×, 128 → 128 1.3–1.6×, 112 → 112 1.2×; below about 100 channels the
# ratio swings between runs from 0.5× to 1.6×, so those stay with F.conv2d.
MIN_CHANNELS = 112

_R = 3  # kernel size
POINTS = {4: (0.0, 1.0, -1.0, 2.0, -2.0),
          6: (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5)}  # finite interpolation points (plus ∞)


def winograd_matrices(m: int = 4, r: int = _R, points=None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Aᵀ [m, n], G [n, r], Bᵀ [n, n]) of F(m, r), n = m + r − 1, in float64.

    ``points`` are the n − 1 finite interpolation points (default :data:`POINTS`\\ [m]); the
    last row/column is the point at infinity (the leading coefficient). Row j of G is scaled by
    1 / Π_{l≠j}(p_j − p_l), which leaves Bᵀ with small entries.
    """
    n = m + r - 1
    p = np.asarray(POINTS[m] if points is None else points, dtype=np.float64)
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
    # The coefficients of (i, k) depend on i + k only: one n×n system, s = i + k = 0 .. n − 1.
    coef = np.zeros((n, n))  # coef[s, j] = Aᵀ[i, j] G[j, k] for any i + k = s
    for s in range(n):
        i = min(s, m - 1)
        coef[s] = at[i] * g[:, s - i]
    bt = np.linalg.solve(coef, np.eye(n))  # column l of Bᵀ solves coef @ b = e_l
    exact = np.round(bt * 1024) / 1024  # the entries are dyadic for these points: snap
    bt = np.where(np.abs(bt - exact) < 1e-9, exact, bt)
    return at, g, bt


_consts: dict = {}


def _const(m: int, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Aᵀ ("at"), Bᵀ ("bt") or G ⊗ G ("g2") of F(m, 3) as a tensor."""
    key = (m, name, dtype, device)
    t = _consts.get(key)
    if t is None:
        at, g, bt = winograd_matrices(m)
        src = {"at": at, "bt": bt, "g2": np.kron(g, g)}[name]
        with torch.inference_mode(False):
            t = _consts[key] = torch.as_tensor(src, dtype=dtype, device=device)
    return t


def supported(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`conv3x3` is the faster choice for ``F.conv2d(x, weight)``: enabled,
    float32 on CPU outside autocast and autograd, a 3×3 kernel, and enough channels for the
    matrix products to pay for the transforms."""
    return (ENABLED and x.dtype == torch.float32 and weight.dtype == torch.float32
            and x.device.type == "cpu" and weight.device.type == "cpu" and x.ndim == 4
            and weight.ndim == 4 and tuple(weight.shape[2:]) == (_R, _R)
            and weight.shape[1] == x.shape[1] and min(weight.shape[:2]) >= MIN_CHANNELS
            and not torch.is_autocast_enabled("cpu")
            and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)))


def transform_weight(weight: torch.Tensor, tile: int = 4) -> torch.Tensor:
    """The transformed kernel U = G w Gᵀ of ``weight`` [O, C, 3, 3] (not cached), as
    [n², O, C] with the n × n frequencies in column-major order (b · n + a for row frequency a
    and column frequency b), the order :func:`conv3x3` transforms its tiles in."""
    o, c = weight.shape[:2]
    n = tile + _R - 1
    g2 = _const(tile, "g2", weight.dtype, weight.device)  # [n², 9]
    wt = weight.transpose(2, 3).reshape(o * c, _R * _R)  # taps in column-major order
    return (g2 @ wt.t()).reshape(n * n, o, c)


def _cached_transform(weight: torch.Tensor, tile: int) -> torch.Tensor:
    return derived(weight, ("winograd", tile),
                   lambda: transform_weight(weight.double(), tile).to(weight.dtype))


def conv3x3(x: torch.Tensor, weight: torch.Tensor, *, padding: int = 0,
            in_scale: torch.Tensor | None = None, out_scale: torch.Tensor | None = None,
            tile: int | None = None) -> torch.Tensor:
    """``F.conv2d(x, weight, padding=padding)`` for a 3×3 kernel, stride 1, via Winograd.

    ``x`` [N, C, H, W], ``weight`` [O, C, 3, 3], ``padding`` a non-negative int (zeros on every
    side). Returns a new contiguous [N, O, H + 2p − 2, W + 2p − 2] tensor. Optional per-sample
    channel scales are folded into passes that run anyway: ``in_scale`` [N, C] multiplies the
    input and ``out_scale`` [N, O] the output (a modulated convolution's styles and
    demodulation): the result is then ``F.conv2d(x · in_scale, weight, …) · out_scale``.
    ``tile`` is the output tile m of F(m×m, 3×3), 4 or 6 (default :data:`TILE`).

    Without autograd the work runs in bands of tile rows through per-thread scratch buffers,
    reused between calls (no page faults on fresh allocations; a band's transforms stay near
    the caches). Under autograd it runs as one differentiable expression.
    """
    if x.ndim != 4 or weight.ndim != 4 or tuple(weight.shape[1:]) != (x.shape[1], _R, _R):
        raise ValueError(f"weight {list(weight.shape)} does not fit input {list(x.shape)}")
    m = TILE if tile is None else int(tile)
    if m not in POINTS:
        raise ValueError(f"tile={tile} must be one of {sorted(POINTS)}")
    nb, c, h, w = x.shape
    o = weight.shape[0]
    p = int(padding)
    if p < 0:
        raise ValueError(f"padding={padding} must be non-negative")
    ho, wo = h + 2 * p - _R + 1, w + 2 * p - _R + 1
    if ho <= 0 or wo <= 0:
        raise ValueError(f"input {list(x.shape)} with padding {p} is smaller than the kernel")
    if in_scale is not None:
        in_scale = in_scale.to(x.dtype).reshape(nb, c, 1, 1)
    if out_scale is not None:
        out_scale = out_scale.to(x.dtype).reshape(nb, o, 1, 1)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                       for t in (x, weight, in_scale, out_scale)):
        if in_scale is not None:
            x = x * in_scale
        y = _conv3x3_autograd(x, weight, p, ho, wo, m)
        return y if out_scale is None else y * out_scale

    n = m + _R - 1
    u = _cached_transform(weight, m).to(x.dtype)  # [n², O, C]
    th, tw = -(-ho // m), -(-wo // m)  # tiles per column and row
    wp = tw * m + _R - 1  # padded width: every tile column in range
    rows = max(1, min(th, BAND_TILES // tw))  # tile rows per band
    big = n * n * max(c, o) * rows * tw
    band_in = _workspace("in", c * (rows * m + _R - 1) * wp, x)
    buf_a = _workspace("a", big, x)
    buf_b = _workspace("b", big, x)
    bt = _const(m, "bt", x.dtype, x.device)
    at = _const(m, "at", x.dtype, x.device)
    out = x.new_empty(nb, o, ho, wo)
    for b in range(nb):
        xs = x[b] if in_scale is None else (x[b], in_scale[b])
        ys = None if out_scale is None else out_scale[b].unsqueeze(-1)  # [O, 1, 1, 1]
        for r0 in range(0, th, rows):
            nt = min(rows, th - r0)
            q = nt * tw  # tiles in this band
            xb = _pad_band(xs, band_in, y0=r0 * m - p, rows=nt * m + _R - 1, x0=p, width=wp)
            sc, sh, sw = xb.stride()
            # Input transform Bᵀ d B: gather the overlapping n×n tiles, each tile row
            # contiguous [k, C, tile, l] (buf_a); transform along l, the columns, into
            # [b, k, C, tile] (buf_b), then along k, the rows, into [b, a, C, tile] (buf_a).
            d = buf_a[: n * n * c * q].view(n, c, nt, tw, n)
            d.copy_(xb.as_strided((n, c, nt, tw, n), (sh, sc, m * sh, m * sw, sw)))
            tmp = buf_b[: n * n * c * q].view(n, n * c * q)
            torch.mm(bt, d.view(n * c * q, n).t(), out=tmp)
            v = buf_a[: n * n * c * q].view(n, n, c * q)
            torch.bmm(bt.expand(n, n, n), tmp.view(n, n, c * q), out=v)
            # n² products [O, C] @ [C, q] (buf_b).
            mp = buf_b[: n * n * o * q].view(n * n, o, q)
            torch.bmm(u, v.view(n * n, c, q), out=mp)
            # Output transform Aᵀ M A: along b into [j, a, O, tile] (buf_a), then along a
            # into [j, i, O, tile] (back into buf_b).
            tmp = buf_a[: m * n * o * q].view(m, n * o * q)
            torch.mm(at, mp.view(n, n * o * q), out=tmp)
            y = buf_b[: m * m * o * q].view(m, m, o * q)
            torch.bmm(at.expand(m, m, n), tmp.view(m, n, o * q), out=y)
            _scatter(out[b], y.view(m, m, o, nt, tw), r0=r0, ho=ho, scale=ys)
    return out


_local = threading.local()


def _workspace(name: str, numel: int, like: torch.Tensor) -> torch.Tensor:
    """A flat scratch tensor of at least ``numel`` elements, kept for this thread's next call."""
    spaces = getattr(_local, "spaces", None)
    if spaces is None:
        spaces = _local.spaces = {}
    key = (name, like.dtype, like.device)
    buf = spaces.get(key)
    if buf is None or buf.numel() < numel:
        spaces.pop(key, None)
        with torch.inference_mode(False):  # writable inside and outside inference mode
            buf = spaces[key] = torch.empty(numel, dtype=like.dtype, device=like.device)
    return buf


def clear_workspace() -> None:
    """Free this thread's scratch buffers (otherwise kept and reused by the next call)."""
    _local.spaces = {}


def _pad_band(x, buf: torch.Tensor, *, y0: int, rows: int, x0: int,
              width: int) -> torch.Tensor:
    """Rows ``y0 .. y0 + rows`` of ``x`` [C, H, W] placed at column ``x0`` of a zero [C, rows,
    width] tensor in ``buf`` (rows outside ``x`` are zeros): one band of the padded input.
    ``x`` may be a pair (x, scale [C, 1, 1]); the band then holds ``x · scale``."""
    x, scale = x if isinstance(x, tuple) else (x, None)
    c, h, w = x.shape
    xb = buf[: c * rows * width].view(c, rows, width)
    lo, hi = max(y0, 0), min(y0 + rows, h)
    if hi <= lo:
        return xb.zero_()
    top, bottom = lo - y0, y0 + rows - hi
    if top:
        xb[:, :top].zero_()
    if bottom:
        xb[:, rows - bottom:].zero_()
    mid = xb[:, top: rows - bottom]
    if x0:
        mid[:, :, :x0].zero_()
    if width > x0 + w:
        mid[:, :, x0 + w:].zero_()
    if scale is None:
        mid[:, :, x0: x0 + w].copy_(x[:, lo:hi])
    else:
        torch.mul(x[:, lo:hi], scale, out=mid[:, :, x0: x0 + w])
    return xb


def _scatter(out: torch.Tensor, y: torch.Tensor, *, r0: int, ho: int,
             scale: torch.Tensor | None) -> None:
    """Write the output tiles ``y`` [m (j), m (i), O, nt, tw] of tile rows r0 .. r0 + nt into
    ``out`` [O, Ho, Wo] (times ``scale`` [O, 1, 1, 1] if given), cropping the tiles that stick
    out past the bottom or right edge."""
    m, o, nt = y.shape[0], y.shape[2], y.shape[3]
    wo = out.shape[2]
    full_cols = wo // m
    rem_cols = wo - full_cols * m
    full_rows = max(0, min(nt, (ho - r0 * m) // m))
    parts = [(0, full_rows, m)]
    if full_rows < nt:  # the last tile row, cropped
        parts.append((full_rows, nt, ho - (r0 + full_rows) * m))
    for t0, t1, height in parts:
        if t1 <= t0 or height <= 0:
            continue
        y0 = (r0 + t0) * m
        dst = out[:, y0: y0 + (t1 - t0) * height].view(o, t1 - t0, height, wo)
        src = y[:, :height, :, t0:t1].permute(2, 3, 1, 4, 0)  # [O, nt', height, tw, m]
        if full_cols:
            _put(dst[..., : full_cols * m].unflatten(-1, (full_cols, m)),
                 src[:, :, :, :full_cols], None if scale is None else scale.unsqueeze(-1))
        if rem_cols:
            _put(dst[..., full_cols * m:], src[:, :, :, full_cols, :rem_cols], scale)


def _put(dst: torch.Tensor, src: torch.Tensor, scale: torch.Tensor | None) -> None:
    if scale is None:
        dst.copy_(src)
    else:
        torch.mul(src, scale, out=dst)


def _conv3x3_autograd(x: torch.Tensor, weight: torch.Tensor, p: int, ho: int, wo: int,
                      m: int) -> torch.Tensor:
    """The same maths as one differentiable expression (no scratch buffers, no caching)."""
    nb, c, h, w = x.shape
    o = weight.shape[0]
    n = m + _R - 1
    th, tw = -(-ho // m), -(-wo // m)
    hp, wp = th * m + _R - 1, tw * m + _R - 1
    xp = F.pad(x, [p, wp - w - p, p, hp - h - p]).contiguous()
    sn, sc, sh, sw = xp.stride()
    d = xp.as_strided((n, n, c, nb, th, tw), (sh, sw, sc, sn, m * sh, m * sw))
    bt = _const(m, "bt", x.dtype, x.device)
    at = _const(m, "at", x.dtype, x.device)
    v = torch.einsum("ak,bl,klq->baq", bt, bt, d.reshape(n, n, -1))  # Bᵀ d B, column-major
    u = _cached_transform(weight, m).to(x.dtype)  # [n², O, C]
    mp = torch.bmm(u, v.reshape(n * n, c, nb * th * tw))  # [n², O, P]
    y = torch.einsum("ia,jb,baq->ijq", at, at, mp.view(n, n, -1))  # Aᵀ M A: [m, m, O·P]
    y = y.view(m, m, o, nb, th, tw).permute(3, 2, 4, 0, 5, 1)  # [N, O, th, m, tw, m]
    return y.reshape(nb, o, th * m, tw * m)[:, :, :ho, :wo]
