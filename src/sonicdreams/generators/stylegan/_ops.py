"""Tensor operations the StyleGAN generators share, in plain PyTorch (no compiled extensions).

Written from the papers (Karras et al. 2019, 2020, 2021) and the weight-format notes; the
semantics of each op are those the released weights were trained with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import _blur, _winograd
from ._derived import derived

__all__ = [
    "SQRT2",
    "normalize_2nd_moment",
    "bias_act",
    "fir_filter_2d",
    "upfirdn2d",
    "upsample2d",
    "modulated_conv2d",
    "assert_shape",
]

SQRT2 = math.sqrt(2.0)


def assert_shape(tensor: torch.Tensor, shape: list[int | None]) -> None:
    """Raise ``ValueError`` unless ``tensor`` has ``shape`` (``None`` matches any size)."""
    if tensor.ndim != len(shape) or any(want is not None and got != want
                                        for got, want in zip(tensor.shape, shape, strict=True)):
        raise ValueError(f"expected a tensor of shape {shape}, got {list(tensor.shape)}")


def normalize_2nd_moment(x: torch.Tensor, *, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit root-mean-square along ``dim`` (the "pixel norm" of the latents)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def bias_act(x: torch.Tensor, bias: torch.Tensor | None = None, *, activation: str = "linear",
             gain: float | None = None, clamp: float | None = None,
             alpha: float = 0.2, inplace: bool = False) -> torch.Tensor:
    """Add ``bias`` along dim 1, apply the activation, scale by ``gain``, clamp to ``±clamp``.

    ``gain`` defaults to √2 for (leaky) ReLU and 1 for linear, which keeps activations at unit
    variance; StyleGAN trained with exactly this order of operations. ``inplace=True`` lets
    the function overwrite ``x`` (for a tensor the caller has just made and will not reuse).
    """
    if activation not in ("linear", "relu", "lrelu"):
        raise ValueError(f"activation={activation!r} must be 'linear', 'relu' or 'lrelu'")
    if bias is not None:
        b = bias.reshape([1, -1] + [1] * (x.ndim - 2)).to(x.dtype)
        x = x.add_(b) if inplace else x + b
    elif not inplace:
        x = x.clone()
    # From here on x is our own tensor: update it in place (a large saving at high resolution).
    if activation == "lrelu":
        F.leaky_relu_(x, alpha)
    elif activation == "relu":
        F.relu_(x)
    gain = (1.0 if activation == "linear" else SQRT2) if gain is None else gain
    if gain != 1:
        x.mul_(gain)
    if clamp is not None and clamp >= 0:
        x.clamp_(-clamp, clamp)
    return x


def fir_filter_2d(taps: list[float] | tuple[float, ...], *, normalize: bool = True) -> torch.Tensor:
    """The separable 2-D FIR filter ``outer(taps, taps)`` (normalised to sum 1)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    return f


def _pad4(padding) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return (padding,) * 4
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return padding  # (x0, x1, y0, y1)


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, *, up: int | tuple[int, int] = 1,
              down: int | tuple[int, int] = 1, padding=0, gain: float = 1.0,
              flip_filter: bool = False) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative: crop), convolve with ``f``, downsample.

    ``x`` is [N, C, H, W]; ``f`` is a 2-D filter [fh, fw], a 1-D filter [taps] applied along both
    axes (separably), or ``None`` (identity). ``padding`` is ``(x0, x1, y0, y1)``. The filter is
    applied as a true convolution (flipped) unless ``flip_filter``; ``gain`` scales the result of
    the whole 2-D filter. Upsampling runs polyphase (a strided transposed convolution) so no work
    is spent on the inserted zeros.
    """
    upx, upy = (up, up) if isinstance(up, int) else up
    downx, downy = (down, down) if isinstance(down, int) else down
    px0, px1, py0, py1 = _pad4(padding)
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32)
    f = f.to(dtype=x.dtype, device=x.device)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))  # true convolution

    n, c, h, w = x.shape
    if f.ndim == 1:
        g = math.sqrt(gain)
        x = _fir_axis(x, f * g, axis=3, up=upx, down=downx, pad=(px0, px1))
        x = _fir_axis(x, f * g, axis=2, up=upy, down=downy, pad=(py0, py1))
        return x

    if upx == 1 and upy == 1:
        x = _pad_crop(x, (px0, px1, py0, py1))
        x = F.conv2d(x, (f * gain)[None, None].repeat(c, 1, 1, 1), groups=c)
    else:
        x = _upfir_2d(x, f * gain, upx=upx, upy=upy, pad=(px0, px1, py0, py1))
    if downx > 1 or downy > 1:
        x = x[:, :, ::downy, ::downx]
    return x


def _pad_crop(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Zero-pad by the positive entries of ``(x0, x1, y0, y1)``, crop by the negative ones."""
    px0, px1, py0, py1 = pad
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    h, w = x.shape[2], x.shape[3]
    return x[:, :, max(-py0, 0):h - max(-py1, 0), max(-px0, 0):w - max(-px1, 0)]


def _upfir_2d(x, f, *, upx, upy, pad):
    """Zero-insert by (upy, upx), pad, convolve with 2-D ``f`` (already flipped) — polyphase."""
    px0, px1, py0, py1 = pad
    n, c, h, w = x.shape
    fh, fw = f.shape
    # Zero insertion followed by correlation with f equals a transposed conv with stride `up`
    # whose kernel is f flipped back; the pads then trim or extend that output.
    weight = f.flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    full = F.conv_transpose2d(x, weight, stride=(upy, upx), groups=c)
    # `full` covers positions -(fh-1) .. (h*up-1) of the zero-inserted grid (length h*up + fh - 1
    # minus (up - 1) trailing zeros); express the requested window in those coordinates.
    out_h = h * upy + py0 + py1 - fh + 1
    out_w = w * upx + px0 + px1 - fw + 1
    start_y = fh - 1 - py0
    start_x = fw - 1 - px0
    full_h, full_w = full.shape[2], full.shape[3]
    lo_y, lo_x = max(start_y, 0), max(start_x, 0)
    hi_y, hi_x = min(start_y + out_h, full_h), min(start_x + out_w, full_w)
    out = full[:, :, lo_y:hi_y, lo_x:hi_x]
    pad_t, pad_l = lo_y - start_y, lo_x - start_x
    pad_b = out_h - pad_t - out.shape[2]
    pad_r = out_w - pad_l - out.shape[3]
    if pad_t or pad_l or pad_b or pad_r:
        out = F.pad(out, [pad_l, pad_r, pad_t, pad_b])
    return out


def _fir_axis(x, f, *, axis, up, down, pad):
    """One axis of a separable upfirdn: ``f`` is 1-D and already flipped."""
    p0, p1 = pad
    c = x.shape[1]
    taps = f.shape[0]
    if axis == 3:
        kshape = (1, taps)
    else:
        kshape = (taps, 1)
    if up > 1:
        weight = f.flip([0]).reshape(kshape)[None, None].repeat(c, 1, 1, 1)
        stride = (1, up) if axis == 3 else (up, 1)
        full = F.conv_transpose2d(x, weight, stride=stride, groups=c)
        length = x.shape[axis] * up
        out_len = length + p0 + p1 - taps + 1
        start = taps - 1 - p0
        full_len = full.shape[axis]
        lo, hi = max(start, 0), min(start + out_len, full_len)
        out = full.narrow(axis, lo, hi - lo)
        before, after = lo - start, out_len - (lo - start) - (hi - lo)
        if before or after:
            out = F.pad(out, [before, after, 0, 0] if axis == 3 else [0, 0, before, after])
    else:
        out = _pad_crop(x, (p0, p1, 0, 0) if axis == 3 else (0, 0, p0, p1))
        weight = f.reshape(kshape)[None, None].repeat(c, 1, 1, 1)
        if down > 1:
            stride = (1, down) if axis == 3 else (down, 1)
            return F.conv2d(out, weight, stride=stride, groups=c)
        return F.conv2d(out, weight, groups=c)
    if down > 1:
        out = out[:, :, :, ::down] if axis == 3 else out[:, :, ::down, :]
    return out


def upsample2d(x: torch.Tensor, f: torch.Tensor, *, up: int = 2) -> torch.Tensor:
    """Upsample by ``up`` with the FIR filter ``f`` [fh, fw] (gain up² keeps the brightness)."""
    fw = f.shape[-1]
    p0 = (fw + up - 1) // 2
    p1 = (fw - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *,
                     demodulate: bool = True, up: int = 1, padding: int = 0,
                     resample_filter: torch.Tensor | None = None,
                     noise: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN2's modulated convolution, batched as one shared-weight convolution.

    ``x`` [B, I, H, W], ``weight`` [O, I, k, k], ``styles`` [B, I]. The input is scaled by the
    styles, convolved, and each output channel rescaled by its demodulation coefficient — the
    same result as convolving with per-sample weights, at the cost of one dense convolution.
    With ``up=2`` the convolution is transposed (stride 2) and followed by the FIR filter.
    ``noise`` is added after demodulation.
    """
    b = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    dcoefs = None
    if demodulate:
        # Σ_{i,k} (W[o,i,k]·s[b,i])² = Σ_i s[b,i]² · Σ_k W[o,i,k]²: a small matrix product
        # instead of materialising the per-sample weights [B, O, I, k, k].
        wsq = derived(weight, "square sums", lambda: weight.float().square().sum(dim=[2, 3]))
        dcoefs = (styles.float().square() @ wsq.t() + 1e-8).rsqrt()  # [B, O]
    if up == 1 and kh == kw == 3:
        if _winograd.supported(x, weight):  # float32 on CPU: the scales folded into its passes
            x = _winograd.conv3x3(x, weight, padding=padding, in_scale=styles.to(x.dtype),
                                  out_scale=None if dcoefs is None else dcoefs.to(x.dtype))
            if noise is not None:
                x.add_(noise.to(x.dtype))
            return x
    if b == 1 and x.numel() > weight.numel():
        # One sample whose activations outnumber the weights (the high-resolution layers):
        # scaling the weight by s and d is the same and far cheaper than scaling x twice.
        weight = weight.to(x.dtype) * styles.to(x.dtype).reshape(1, -1, 1, 1)
        if dcoefs is not None:
            weight = weight * dcoefs.to(x.dtype).reshape(-1, 1, 1, 1)
        dcoefs = None
    else:
        x = x * styles.to(x.dtype).reshape(b, -1, 1, 1)
        weight = weight.to(x.dtype)
    if up == 1 and kh == kw == 1 and padding == 0:
        # (a 1×1 convolution is a matrix product; oneDNN runs the 64 → 3 of a ToRGB layer at
        # a fifth of that speed)
        x = torch.matmul(weight.reshape(out_ch, in_ch), x.reshape(b, in_ch, -1)
                         ).reshape(b, out_ch, *x.shape[2:])
    elif up == 1:
        x = F.conv2d(x, weight, padding=padding)
    else:
        # Transposed conv (no kernel flip), then the FIR filter with pad 1 and gain up².
        x = F.conv_transpose2d(x, weight.transpose(0, 1).contiguous(), stride=up)
        fw = resample_filter.shape[-1]
        pad_total = fw - up - (kw - 1) + 2 * padding  # net crop so the output is H·up
        p0 = (pad_total + 1) // 2
        p1 = pad_total // 2
        if _blur.supported(x, resample_filter):  # float32 on CPU: the scale in its last pass
            x = _blur.blur(x, resample_filter, padding=(p0, p1, p0, p1), gain=up * up,
                           scale=dcoefs)
            dcoefs = None
        else:
            x = upfirdn2d(x, resample_filter, padding=(p0, p1, p0, p1), gain=up * up)
    if dcoefs is not None:
        x.mul_(dcoefs.to(x.dtype).reshape(b, -1, 1, 1))
    if noise is not None:
        x.add_(noise.to(x.dtype))
    return x
