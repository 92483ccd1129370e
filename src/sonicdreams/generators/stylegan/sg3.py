"""The StyleGAN3 ("alias-free") generator, configs T and R, in plain PyTorch.

Written from the paper (Karras et al. 2021, "Alias-Free Generative Adversarial Networks") and
the weight-format notes. Parameter and buffer names follow the NVlabs release
(``synthesis.input.freqs``, ``synthesis.L3_52_512.up_filter`` …) so that converted weights load
with ``load_state_dict(strict=True)``.

Every hyperparameter the forward pass needs, per layer, is in a plain JSON-serialisable
``config`` (``Generator.config``). It is read from a pickle by :func:`config_from_record`, or
designed from the paper's schedule by :func:`new_config`; ``Generator.from_config(config)``
rebuilds the network without scipy. The resampling filters and the Fourier features are buffers
(stored in the weights); :func:`new_generator` designs them for a fresh, randomly initialised
network (this one path needs scipy).

Speed: the alias-free nonlinearity upsamples each feature map ×2 (×4 where the sampling rate
doubles), applies a leaky ReLU and downsamples again. In float32 on CPU one compiled kernel
streams each channel through all of it a few rows at a time (``_flrelu``: the 4×-sized
intermediate stays in cache; 1.5× the whole network's speed at 256²). Elsewhere (autograd,
GPUs, bfloat16, 2-D filters) every resampling step is a banded linear map along one axis, run
as blocks of small dense matrix products (one GEMM per axis), so no work is spent on the zeros
a naive upsampler inserts and no per-channel depthwise convolution is needed; 2-D (radial)
filters of config R run as a short sum of separable terms (their singular value
decomposition). The modulated 3×3 convolutions of config T apply the
styles to the input and the demodulation to the output, so one weight serves the whole batch;
in float32 on CPU the wide ones run as Winograd F(6×6, 3×3) convolutions (``_winograd``, about
2× oneDNN's direct convolution at 512 channels), elsewhere as ``F.conv2d``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import _flrelu, _winograd
from ._derived import derived, tensor_version
from ._ops import SQRT2, assert_shape
from .sg2 import FullyConnectedLayer, MappingNetwork

__all__ = [
    "SynthesisInput",
    "SynthesisLayer",
    "SynthesisNetwork",
    "Generator",
    "filtered_lrelu",
    "upfirdn2d_banded",
]

_BLOCK_UP = 64  # outputs per block of an upsampling axis product (reads ~32 + taps/2 inputs)
_BLOCK_DOWN = 32  # outputs per block of a ×2 downsampling product (reads ~64 + taps inputs)
_DENSE_MAX = 96  # axes up to this many inputs run as one dense product
_SVD_RTOL = 1e-7  # singular values of a 2-D filter below this fraction of the largest are dropped


# ---------------------------------------------------------------------------------------------
# Resampling


def _axis_matrix(length: int, f: torch.Tensor, *, up: int, down: int, pad0: int, pad1: int,
                 gain: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The [out_len, length] matrix of one axis of upfirdn (zero-insert, pad, convolve, ÷down).

    Output o reads input i through tap t = i·up + pad0 − o·down of the zero-inserted, padded
    signal; a true convolution uses the filter reversed, so the weight is f[taps − 1 − t].
    """
    taps = f.shape[0]
    out_len = (length * up + pad0 + pad1 - taps) // down + 1
    if out_len <= 0:
        raise ValueError(f"resampling leaves no samples (length={length}, up={up}, "
                         f"down={down}, padding=({pad0}, {pad1}), taps={taps})")
    o = torch.arange(out_len, device=device).unsqueeze(1)
    i = torch.arange(length, device=device).unsqueeze(0)
    t = i * up + pad0 - o * down
    valid = (t >= 0) & (t < taps)
    fr = f.to(device=device, dtype=dtype).flip(0) * gain
    return torch.where(valid, fr[t.clamp(0, taps - 1)], torch.zeros((), dtype=dtype,
                                                                     device=device))


def _axis_plan(length: int, f: torch.Tensor, *, up: int, down: int, pad0: int, pad1: int,
               gain: float, dtype: torch.dtype, device: torch.device
               ) -> tuple[int, list[tuple[int, int, int, int, torch.Tensor]]]:
    """Output length and the blocks (r0, r1, c0, c1, matrix) of one axis map.

    A short axis is one dense product (no copies); a long one is cut into row blocks that each
    read only the inputs c0..c1 their outputs depend on.
    """
    mat = _axis_matrix(length, f, up=up, down=down, pad0=pad0, pad1=pad1, gain=gain,
                       dtype=dtype, device=device)
    out_len = mat.shape[0]
    taps = f.shape[0]
    if length <= _DENSE_MAX:
        return out_len, [(0, out_len, 0, length, mat)]
    block = _BLOCK_UP if up > 1 else _BLOCK_DOWN
    blocks = []
    for r0 in range(0, out_len, block):
        r1 = min(r0 + block, out_len)
        # inputs that reach outputs r0..r1-1: 0 <= i·up + pad0 − o·down <= taps − 1
        c0 = max(0, -((pad0 - r0 * down) // up))
        c1 = min(length, ((r1 - 1) * down - pad0 + taps - 1) // up + 1)
        blocks.append((r0, r1, c0, c1, mat[r0:r1, c0:max(c1, c0)].contiguous()))
    return out_len, blocks


def _fir_axis(x: torch.Tensor, f: torch.Tensor, *, dim: int, up: int, down: int, pad0: int,
              pad1: int, gain: float, cache: dict | None = None) -> torch.Tensor:
    """One axis of upfirdn on ``x`` [N, C, H, W]; ``dim`` is -1 (width) or -2 (height).

    The axis map is a banded matrix, applied as dense products (see :func:`_axis_plan`): no
    padding, zero insertion or depthwise convolution. ``cache`` keeps the plans between calls
    (keyed by the filter's identity and in-place version, so reloading weights invalidates it).
    """
    length = x.shape[dim]
    key = (dim, length, up, down, pad0, pad1, gain, id(f), f.data_ptr(), tensor_version(f),
           x.dtype, x.device)
    plan = cache.get(key) if cache is not None else None
    if plan is None:
        with torch.inference_mode(False), torch.no_grad():  # cacheable outside inference mode
            plan = _axis_plan(length, f, up=up, down=down, pad0=pad0, pad1=pad1, gain=gain,
                              dtype=x.dtype, device=x.device)
        if cache is not None:
            cache[key] = plan
    out_len, blocks = plan
    if len(blocks) == 1:
        m = blocks[0][4]
        return torch.matmul(x, m.t()) if dim == -1 else torch.matmul(m, x)
    if dim == -1:
        out = x.new_empty(*x.shape[:-1], out_len)
    else:
        out = x.new_empty(*x.shape[:-2], out_len, x.shape[-1])
    for r0, r1, c0, c1, m in blocks:
        dst = out[..., r0:r1] if dim == -1 else out[..., r0:r1, :]
        if c1 <= c0:
            dst.zero_()
        elif dim == -1:
            dst.copy_(torch.matmul(x[..., c0:c1], m.t()))
        else:
            dst.copy_(torch.matmul(m, x[..., c0:c1, :]))
    return out


def _separable_terms(f: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Write a filter as a sum of outer products ``fy ⊗ fx`` (one term for a 1-D filter)."""
    if f.ndim == 1:
        return [(f, f)]
    u, s, vh = torch.linalg.svd(f.to(torch.float64))
    keep = s > s[0] * _SVD_RTOL
    terms = []
    for i in torch.nonzero(keep).flatten().tolist():
        scale = s[i].sqrt()
        terms.append(((u[:, i] * scale).to(f.dtype), (vh[i] * scale).to(f.dtype)))
    return terms


def upfirdn2d_banded(x: torch.Tensor, f: torch.Tensor | None, *, up: int = 1, down: int = 1,
                     padding: tuple[int, int, int, int] | list[int] = (0, 0, 0, 0),
                     gain: float = 1.0, cache: dict | None = None) -> torch.Tensor:
    """upfirdn2d (zero-insert, pad, true convolution, subsample) for ``x`` [N, C, H, W].

    ``f`` is 1-D (applied along both axes), 2-D [fh, fw] or ``None`` (a single unit tap);
    ``padding`` is ``(x0, x1, y0, y1)``; ``gain`` scales the result. Upsampling resamples the
    narrower axis first, downsampling the height first, so the larger intermediate is avoided.
    ``cache`` (any dict, owned by the caller) keeps the resampling matrices between calls.
    """
    px0, px1, py0, py1 = (int(p) for p in padding)
    if f is None:
        f = torch.ones(1, dtype=x.dtype, device=x.device)
    if f.ndim == 2 and cache is not None:
        key = ("svd", id(f), f.data_ptr(), tensor_version(f))
        terms = cache.get(key)
        if terms is None:
            with torch.inference_mode(False), torch.no_grad():
                terms = cache[key] = _separable_terms(f)
    else:
        terms = _separable_terms(f)
    out = None
    for fy, fx in terms:
        if up > 1:
            y = _fir_axis(x, fx, dim=-1, up=up, down=down, pad0=px0, pad1=px1, gain=1.0,
                          cache=cache)
            y = _fir_axis(y, fy, dim=-2, up=up, down=down, pad0=py0, pad1=py1, gain=gain,
                          cache=cache)
        else:
            y = _fir_axis(x, fy, dim=-2, up=up, down=down, pad0=py0, pad1=py1, gain=1.0,
                          cache=cache)
            y = _fir_axis(y, fx, dim=-1, up=up, down=down, pad0=px0, pad1=px1, gain=gain,
                          cache=cache)
        out = y if out is None else out.add_(y)
    return out


def filtered_lrelu(x: torch.Tensor, *, up_filter: torch.Tensor | None,
                   down_filter: torch.Tensor | None, bias: torch.Tensor | None, up: int = 1,
                   down: int = 1, padding: tuple[int, int, int, int] | list[int] = (0, 0, 0, 0),
                   gain: float = SQRT2, slope: float = 0.2, clamp: float | None = None,
                   cache: dict | None = None) -> torch.Tensor:
    """The alias-free nonlinearity: bias, upsample, leaky ReLU, clamp, downsample.

    Semantics (all on [N, C, H, W]): add ``bias``; zero-insert ×``up``, pad by ``padding``
    (x0, x1, y0, y1), convolve with ``up_filter`` and multiply by up²; leaky ReLU with
    ``slope``, times ``gain``, clamp to ±``clamp``; convolve with ``down_filter`` and keep every
    ``down``-th sample. A layer with slope 1 and gain 1 is linear (ToRGB). ``cache`` (a dict
    owned by the caller) keeps the resampling matrices between calls.
    """
    resamples_up = up_filter is not None or up > 1 or any(int(p) for p in padding)
    resamples_down = down_filter is not None or down > 1
    if (resamples_up and resamples_down and _flrelu.supported(x, up=up, down=down)
            and all(f is None or f.ndim == 1 for f in (up_filter, down_filter))):
        plan = _stream_plan(x, up_filter, down_filter, up=up, down=down, padding=padding,
                            cache=cache)
        return _flrelu.filtered_lrelu(x, bias, plan, slope=slope, gain=gain, clamp=clamp)
    if bias is not None:
        x = x + bias.to(x.dtype).reshape(1, -1, 1, 1)
    if resamples_up:
        x = upfirdn2d_banded(x, up_filter, up=up, padding=padding, gain=float(up * up),
                             cache=cache)
    elif bias is None:
        x = x.clone()
    if x.requires_grad and torch.is_grad_enabled():  # autograd needs the intermediates
        if slope != 1:
            x = F.leaky_relu(x, slope)
        if gain != 1:
            x = x * gain
        if clamp is not None and clamp >= 0:
            x = x.clamp(-clamp, clamp)
    else:  # x is a fresh intermediate: work in place
        if slope != 1:
            x = F.leaky_relu(x, slope, inplace=True)
        if gain != 1:
            x = x.mul_(gain)
        if clamp is not None and clamp >= 0:
            x = x.clamp_(-clamp, clamp)
    if resamples_down:
        x = upfirdn2d_banded(x, down_filter, down=down, cache=cache)
    return x


def _stream_plan(x: torch.Tensor, up_filter: torch.Tensor | None,
                 down_filter: torch.Tensor | None, *, up: int, down: int,
                 padding: tuple[int, int, int, int] | list[int], cache: dict | None):
    """The four banded axis maps of :func:`_flrelu.filtered_lrelu` for ``x``'s size (cached
    like :func:`_fir_axis`'s plans)."""
    px0, px1, py0, py1 = (int(p) for p in padding)
    height, width = x.shape[-2:]
    key = ("stream", height, width, up, down, px0, px1, py0, py1,
           *((None,) if f is None else (id(f), f.data_ptr(), tensor_version(f))
             for f in (up_filter, down_filter)))
    plan = cache.get(key) if cache is not None else None
    if plan is None:
        ones = torch.ones(1)
        fu = ones if up_filter is None else up_filter
        fd = ones if down_filter is None else down_filter
        with torch.inference_mode(False), torch.no_grad():
            common = dict(dtype=torch.float32, device=torch.device("cpu"))
            yu = _axis_matrix(height, fu, up=up, down=1, pad0=py0, pad1=py1,
                              gain=float(up * up), **common)
            yd = _axis_matrix(yu.shape[0], fd, up=1, down=down, pad0=0, pad1=0, gain=1.0,
                              **common)
            x_up, x_first = _flrelu.phases(fu, up=up, pad0=px0)
            width_up = width * up + px0 + px1 - fu.shape[0] + 1
            plan = _flrelu.Plan(
                x_up=x_up, x_first=x_first, width_up=width_up, y_up=_flrelu.band(yu),
                y_down=_flrelu.band(yd),
                x_down=fd.detach().to(torch.float32).cpu().flip(0).numpy().copy(), down=down,
                width_out=(width_up - fd.shape[0]) // down + 1)
        if cache is not None:
            cache[key] = plan
    return plan


# ---------------------------------------------------------------------------------------------
# Modules


class SynthesisInput(nn.Module):
    """Fourier features: ``channels`` sinusoids of fixed frequency, rotated and translated by w.

    ``freqs`` [C, 2] and ``phases`` [C] are drawn once (buffers); ``transform`` [3, 3] is a
    user-settable extra transform of the input plane (identity by default). ``affine`` maps w to
    (cos θ, sin θ, tx, ty). The grid covers ``size`` samples at ``sampling_rate`` samples per
    unit; frequencies near the Nyquist limit fade out above ``bandwidth``.
    """

    def __init__(self, *, w_dim: int, channels: int, size: list[int] | int,
                 sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = [int(s) for s in np.broadcast_to(np.asarray(size), [2])]  # [width, height]
        self.sampling_rate = float(sampling_rate)
        self.bandwidth = float(bandwidth)
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4)
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", torch.zeros(channels, 2))
        self.register_buffer("phases", torch.zeros(channels))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        assert_shape(w, [None, self.w_dim])
        b = w.shape[0]
        t = self.affine(w)  # [B, 4]
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        eye = torch.eye(3, device=w.device, dtype=w.dtype).unsqueeze(0).repeat(b, 1, 1)
        rot = eye.clone()
        rot[:, 0, 0] = t[:, 0]
        rot[:, 0, 1] = -t[:, 1]
        rot[:, 1, 0] = t[:, 1]
        rot[:, 1, 1] = t[:, 0]
        shift = eye
        shift[:, 0, 2] = -t[:, 2]
        shift[:, 1, 2] = -t[:, 3]
        transforms = rot @ shift @ self.transform.to(w.dtype).unsqueeze(0)
        freqs = self.freqs.to(w.dtype).unsqueeze(0)  # [1, C, 2]
        phases = self.phases.to(w.dtype).unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]  # [B, C, 2]
        half = self.sampling_rate / 2
        amplitudes = 1 - (freqs.norm(dim=2) - self.bandwidth) / (half - self.bandwidth)
        amplitudes = amplitudes.clamp(0, 1)
        width, height = self.size
        theta = torch.zeros(1, 2, 3, device=w.device, dtype=w.dtype)
        theta[0, 0, 0] = 0.5 * width / self.sampling_rate
        theta[0, 1, 1] = 0.5 * height / self.sampling_rate
        grid = F.affine_grid(theta, [1, 1, height, width], align_corners=False)  # [1, H, W, 2]
        x = torch.einsum("hwj,bcj->bhwc", grid[0], freqs) + phases[:, None, None, :]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None, :]
        weight = self.weight.to(w.dtype) / math.sqrt(self.channels)
        x = x @ weight.t()  # [B, H, W, C]
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


class SynthesisLayer(nn.Module):
    """Modulated convolution followed by the filtered (alias-free) leaky ReLU.

    Attributes mirror the config entry: ``in_channels``, ``out_channels``, ``in_size`` and
    ``out_size`` ([width, height] in samples), ``conv_kernel`` (3 for T, 1 for R and ToRGB),
    ``is_torgb`` (linear output, no demodulation), ``up_factor``/``down_factor`` of the
    nonlinearity, ``padding`` (x0, x1, y0, y1) applied with the upsampling, ``conv_clamp``.
    Buffers: ``magnitude_ema`` (the running input magnitude, which normalises the input),
    ``up_filter`` and ``down_filter`` (``None`` where a layer does not resample).
    """

    def __init__(self, *, w_dim: int, in_channels: int, out_channels: int,
                 in_size: list[int], out_size: list[int], conv_kernel: int, is_torgb: bool,
                 up_factor: int, down_factor: int, padding: list[int],
                 conv_clamp: float | None, up_filter_shape: list[int] | None,
                 down_filter_shape: list[int] | None, **_info: Any) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size = [int(s) for s in in_size]
        self.out_size = [int(s) for s in out_size]
        self.conv_kernel = int(conv_kernel)
        self.is_torgb = bool(is_torgb)
        self.up_factor, self.down_factor = int(up_factor), int(down_factor)
        self.padding = [int(p) for p in padding]
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel,
                                               self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("up_filter", None if up_filter_shape is None
                             else torch.zeros(up_filter_shape))
        self.register_buffer("down_filter", None if down_filter_shape is None
                             else torch.zeros(down_filter_shape))
        self._resample_cache: dict = {}  # resampling matrices, rebuilt when a filter changes

    def _apply(self, fn, recurse=True):  # .to()/.half() replace the filters: drop the plans
        self._resample_cache.clear()
        return super()._apply(fn, recurse)

    def _conv_weight(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The convolution weight in ``dtype`` and, unless ToRGB, the squared-weight sums
        [O, I] of demodulation. The (normalised) weight is pre-scaled per output channel to
        unit mean square. Cached per weight version outside autograd, so a Winograd layer
        finds the same weight tensor (and its cached transform) on every call."""
        return derived(self.weight, ("normalised", dtype),
                       lambda: self._normalized_weight(dtype))

    def _normalized_weight(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        weight = self.weight.to(dtype)
        if self.is_torgb:
            return weight, None
        weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        return weight, weight.square().sum(dim=[2, 3])  # [O, I]

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.in_channels, self.in_size[1], self.in_size[0]])
        styles = self.affine(w)  # [B, in_channels]
        weight, wsq = self._conv_weight(x.dtype)
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel ** 2)
            dcoefs = None
        else:
            # Pre-normalised weight (per output channel) and styles, then demodulate.
            styles = styles * styles.square().mean().rsqrt()
            dcoefs = (styles.square() @ wsq.t() + 1e-8).rsqrt()  # [B, O]
        input_gain = self.magnitude_ema.to(x.dtype).rsqrt()
        # Per-sample weights w·s·d·g equal: scale the input by s·g, convolve with the shared
        # weight, scale by d.
        if self.conv_kernel == 3 and _winograd.supported(x, weight):
            # float32 on CPU: Winograd F(6×6, 3×3), the scales folded into its own passes.
            x = _winograd.conv3x3(x, weight, padding=self.conv_kernel - 1,
                                  in_scale=styles * input_gain, out_scale=dcoefs)
        else:
            x = x * (styles * input_gain).unsqueeze(2).unsqueeze(3)
            x = F.conv2d(x, weight, padding=self.conv_kernel - 1)
            if dcoefs is not None:
                x = x * dcoefs.unsqueeze(2).unsqueeze(3)
        gain, slope = (1.0, 1.0) if self.is_torgb else (SQRT2, 0.2)
        x = filtered_lrelu(x, up_filter=self.up_filter, down_filter=self.down_filter,
                           bias=self.bias, up=self.up_factor, down=self.down_factor,
                           padding=self.padding, gain=gain, slope=slope, clamp=self.conv_clamp,
                           cache=self._resample_cache)
        assert_shape(x, [None, self.out_channels, self.out_size[1], self.out_size[0]])
        return x

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"in_size={self.in_size}, out_size={self.out_size}, "
                f"conv_kernel={self.conv_kernel}, is_torgb={self.is_torgb}, "
                f"up_factor={self.up_factor}, down_factor={self.down_factor}, "
                f"padding={self.padding}")


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] → image: Fourier input (ws[0]) and one layer per further w."""

    def __init__(self, *, w_dim: int, img_resolution: int, img_channels: int,
                 input_kwargs: dict, layers: list[dict], output_scale: float = 0.25) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.output_scale = float(output_scale)
        self.num_ws = len(layers) + 1
        self.input = SynthesisInput(w_dim=w_dim, **input_kwargs)
        self.layer_names = []
        for spec in layers:
            layer = SynthesisLayer(w_dim=w_dim, **{k: v for k, v in spec.items() if k != "name"})
            name = spec.get("name") or f"L{len(self.layer_names)}_{layer.out_size[0]}_" \
                                       f"{layer.out_channels}"
            self.layer_names.append(name)
            self.add_module(name, layer)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        assert_shape(ws, [None, self.num_ws, self.w_dim])
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:], strict=True):
            x = getattr(self, name)(x, w)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, output_scale={self.output_scale:g}")


class Generator(nn.Module):
    """z, c → image, with the interface of the NVlabs releases (no noise inputs).

    Build it from a config: ``Generator.from_config(config)`` (or ``Generator(**config)``; the
    ``arch`` key is accepted and checked). ``G(z, c, truncation_psi=1, truncation_cutoff=None,
    noise_mode='const')`` returns NCHW float images in about [-1, 1]; ``noise_mode`` is accepted
    for interface parity and ignored. ``config`` is the JSON-serialisable dict that rebuilds the
    network (see :func:`new_config` for its keys).
    """

    def __init__(self, *, z_dim: int, c_dim: int, w_dim: int, img_resolution: int,
                 img_channels: int, synthesis: dict, mapping_kwargs: dict | None = None,
                 arch: str = "sg3", init_kwargs: dict | None = None) -> None:
        super().__init__()
        if arch != "sg3":
            raise ValueError(f"arch={arch!r} must be 'sg3' for this generator")
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution,
                                          img_channels=img_channels, **synthesis)
        self.num_ws = self.synthesis.num_ws
        mapping_kwargs = dict(mapping_kwargs or {})
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                      num_layers=int(mapping_kwargs.get("num_layers", 2)),
                                      lr_multiplier=float(mapping_kwargs.get("lr_multiplier",
                                                                             0.01)))
        self.config = dict(arch="sg3", z_dim=z_dim, c_dim=c_dim, w_dim=w_dim,
                           img_resolution=img_resolution, img_channels=img_channels,
                           mapping_kwargs=mapping_kwargs, synthesis=synthesis,
                           init_kwargs=dict(init_kwargs or {}))

    @classmethod
    def from_config(cls, config: dict) -> Generator:
        """The network ``config`` describes (random parameters, zero filters until loaded)."""
        return cls(**config)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, *,
                truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "const") -> torch.Tensor:
        del noise_mode  # StyleGAN3 has no noise inputs
        if c is None:
            c = torch.zeros(z.shape[0], self.c_dim, device=z.device, dtype=z.dtype)
        ws = self.mapping(z, c, truncation_psi=truncation_psi,
                          truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws)

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
                f"img_resolution={self.img_resolution}, num_ws={self.num_ws}")


