"""The StyleGAN (v1) generator (Karras et al. 2019), in plain PyTorch, and its TF-pickle converter.

Written from the paper and the weight-format notes (``stylegan-formats.md`` §9); no NVlabs code.
Parameters hold the raw TensorFlow values in PyTorch layouts, and the equalised-learning-rate
coefficients are applied at run time, exactly as the TF graph does:

* weights are scaled by ``gain · lr_multiplier / √fan_in`` (√2 for the mapping and 3×3 convs,
  1 for the style affines and ToRGB), biases by ``lr_multiplier`` (0.01 in the mapping only);
* activations (leaky ReLU 0.2 or ReLU) have **no** output gain, also after the last mapping layer;
* each synthesis layer ends with noise → bias → activation → (pixel norm) → instance norm
  (eps 1e-8) → style ``x · (s_scale + 1) + s_shift``;
* ``Conv0_up`` is nearest ×2 then a 3×3 conv below 128 px, and one transposed conv with the
  4-shift-summed kernel from 128 px up (``fused_scale='auto'``), followed by a [1, 2, 1] blur.

Names are ours: ``mapping.fc{i}``, ``mapping.label_weight``, ``mapping.w_avg``,
``synthesis.b4.const``, ``synthesis.b{R}.layer{0,1}.{weight, noise_strength, noise_const, bias,
affine.weight, affine.bias}``, ``synthesis.torgb.{weight, bias}``.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ModelFormatError, SonicDreamsWarning
from ._ops import assert_shape, bias_act, normalize_2nd_moment, upfirdn2d
from .sg2 import NOISE_MODES, truncate

__all__ = [
    "EqualizedLinear",
    "MappingNetwork",
    "SynthesisLayer",
    "SynthesisBlock",
    "ToRGB",
    "SynthesisNetwork",
    "Generator",
    "from_tf",
    "to_tf_variables",
    "to_tf_static_kwargs",
]

ACTIVATIONS = ("lrelu", "relu")
LAYER_KINDS = ("const", "conv", "up", "up_fused")
FUSED_SCALE_MIN_RESOLUTION = 128  # 'auto': fused up-conv when the output side is >= this
_EPS = 1e-8
_SQRT2 = math.sqrt(2.0)


def _check_activation(name: str, value: str) -> str:
    if value not in ACTIVATIONS:
        raise ValueError(f"{name}={value!r} must be one of {ACTIVATIONS}")
    return value


def _fmap_channels(resolution: int, *, fmap_base: int, fmap_decay: float,
                   fmap_max: int) -> int:
    """TF ``nf(log2(R) - 1)`` = min(int(fmap_base / 2^(stage · decay)), fmap_max)."""
    stage = int(round(math.log2(resolution))) - 1
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


def _blur_kernel(taps) -> torch.Tensor | None:
    """The normalised 2-D blur kernel for TF ``blur_filter`` (1-D taps → outer product)."""
    if taps is None:
        return None
    f = np.asarray(taps, dtype=np.float64)
    if f.size == 0:
        return None
    if f.ndim == 1:
        f = f[:, None] * f[None, :]
    if f.ndim != 2:
        raise ValueError(f"blur_filter={taps!r} must be a 1-D or 2-D list of taps")
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


def _nearest_up_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour ×2, then a 3×3 'SAME' conv; ``weight`` [O, I, 3, 3] already scaled."""
    x = F.interpolate(x, scale_factor=2.0, mode="nearest")
    return F.conv2d(x, weight, padding=weight.shape[-1] // 2)


def _fused_up_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """TF's fused ``upscale2d_conv2d``: stride-2 transposed conv with the 4-shift-summed kernel.

    ``weight`` [O, I, 3, 3] (already scaled) is zero-padded to 5×5 and its four 4×4 windows are
    summed (no ×¼); the result runs as ``conv_transpose2d(stride=2, padding=1)`` — the same
    indexing as TF's ``conv2d_transpose`` with 'SAME' padding, so no flip. This equals
    :func:`_nearest_up_conv` with the kernel rotated by 180°.
    """
    w = F.pad(weight, [1, 1, 1, 1])
    w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]
    return F.conv_transpose2d(x, w.transpose(0, 1), stride=2, padding=1)


class EqualizedLinear(nn.Module):
    """Dense layer as SG1's ``dense`` + ``apply_bias`` + activation (no output gain).

    ``weight`` [out, in] is the raw TF value (transposed); at run time it is multiplied by
    ``gain · lr_multiplier / √in`` (``lr_multiplier`` alone when ``use_wscale`` is off) and the
    bias by ``lr_multiplier``.
    """

    def __init__(self, in_features: int, out_features: int, *, gain: float = 1.0,
                 lr_multiplier: float = 1.0, use_wscale: bool = True,
                 activation: str = "linear") -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.gain, self.lr_multiplier, self.use_wscale = gain, lr_multiplier, use_wscale
        self.activation = activation
        he_std = gain / math.sqrt(in_features)
        init_std = 1.0 / lr_multiplier if use_wscale else he_std / lr_multiplier
        self.weight_gain = he_std * lr_multiplier if use_wscale else lr_multiplier
        self.bias_gain = lr_multiplier
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * init_std)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.matmul((self.weight.to(x.dtype) * self.weight_gain).t())
        b = self.bias.to(x.dtype)
        if self.bias_gain != 1:
            b = b * self.bias_gain
        return bias_act(x, b, activation=self.activation, gain=1.0)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"gain={self.gain:.4g}, lr_multiplier={self.lr_multiplier:g}, "
                f"activation={self.activation}")


class MappingNetwork(nn.Module):
    """z (and c) → w broadcast to ``num_ws`` layers, with optional truncation toward ``w_avg``.

    Conditional networks multiply c by ``label_weight`` [c_dim, label_features] (no bias, no
    scaling) and concatenate it to z; the pixel norm then runs over the whole vector.
    """

    def __init__(self, *, z_dim: int, c_dim: int, w_dim: int, num_ws: int,
                 num_layers: int = 8, layer_features: int | None = None,
                 label_features: int | None = None, activation: str = "lrelu",
                 lr_multiplier: float = 0.01, normalize_latents: bool = True,
                 use_wscale: bool = True) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers={num_layers} must be >= 1")
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers  # Dense layers, each followed by the activation
        self.layer_features = w_dim if layer_features is None else layer_features
        self.label_features = (z_dim if label_features is None else label_features) if c_dim else 0
        self.activation = _check_activation("activation", activation)
        self.lr_multiplier = lr_multiplier
        self.normalize_latents = normalize_latents  # pixel norm on concat(z, c·label_weight)
        self.use_wscale = use_wscale
        if c_dim:
            self.label_weight = nn.Parameter(torch.randn(c_dim, self.label_features))
        features = ([z_dim + self.label_features] + [self.layer_features] * (num_layers - 1)
                    + [w_dim])
        for idx in range(num_layers):
            self.add_module(f"fc{idx}", EqualizedLinear(
                features[idx], features[idx + 1], gain=_SQRT2, lr_multiplier=lr_multiplier,
                use_wscale=use_wscale, activation=activation))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, *,
                truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        assert_shape(z, [None, self.z_dim])
        x = z
        if self.c_dim:
            if c is None:
                raise ValueError(f"this network is conditional: c must be [batch, {self.c_dim}]")
            assert_shape(c, [z.shape[0], self.c_dim])
            x = torch.cat([x, c.to(z.dtype).matmul(self.label_weight.to(z.dtype))], dim=1)
        if self.normalize_latents:
            x = normalize_2nd_moment(x, eps=_EPS)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            ws = truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)
        return ws

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
                f"num_ws={self.num_ws}, num_layers={self.num_layers}, "
                f"lr_multiplier={self.lr_multiplier:g}, activation={self.activation}")


class SynthesisLayer(nn.Module):
    """One SG1 synthesis layer: const, 3×3 conv, or ×2 up-conv + blur; then the epilogue.

    ``kind``: ``'const'`` (the 4×4 input; the block holds the constant), ``'conv'``, ``'up'``
    (nearest ×2 then conv) or ``'up_fused'`` (transposed conv). Each layer owns one noise map
    (``noise_const`` [R, R], TF ``noise{i}``) and one w (``ws[:, i]``).
    """

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, resolution: int,
                 kind: str, activation: str = "lrelu", use_wscale: bool = True,
                 use_noise: bool = True, use_styles: bool = True, use_pixel_norm: bool = False,
                 use_instance_norm: bool = True, blur_filter=(1, 2, 1)) -> None:
        super().__init__()
        if kind not in LAYER_KINDS:
            raise ValueError(f"kind={kind!r} must be one of {LAYER_KINDS}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.w_dim, self.resolution, self.kind = w_dim, resolution, kind
        self.activation = _check_activation("activation", activation)
        self.use_noise, self.use_styles = use_noise, use_styles
        self.use_pixel_norm, self.use_instance_norm = use_pixel_norm, use_instance_norm
        if kind != "const":
            fan_in = in_channels * 9
            self.weight_gain = _SQRT2 / math.sqrt(fan_in) if use_wscale else 1.0
            init_std = 1.0 if use_wscale else _SQRT2 / math.sqrt(fan_in)
            self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3) * init_std)
        blur = _blur_kernel(blur_filter) if kind in ("up", "up_fused") else None
        if blur is not None:
            self.register_buffer("blur_filter", blur, persistent=False)
        else:
            self.blur_filter = None
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros(out_channels))
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if use_styles:
            self.affine = EqualizedLinear(w_dim, 2 * out_channels, gain=1.0,
                                          use_wscale=use_wscale)

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        f = self.blur_filter
        fh, fw = f.shape
        py0, px0 = (fh - 1) // 2, (fw - 1) // 2  # TF 'SAME': the extra pad goes after
        return upfirdn2d(x, f, padding=(px0, fw - 1 - px0, py0, fh - 1 - py0), flip_filter=True)

    def forward(self, x: torch.Tensor, w: torch.Tensor, *,
                noise_mode: str = "const") -> torch.Tensor:
        if self.kind != "const":
            assert_shape(x, [None, self.in_channels, None, None])
            weight = self.weight.to(x.dtype) * self.weight_gain
            if self.kind == "conv":
                x = F.conv2d(x, weight, padding=1)
            elif self.kind == "up":
                x = _nearest_up_conv(x, weight)
            else:
                x = _fused_up_conv(x, weight)
            if self.blur_filter is not None:
                x = self._blur(x)
        assert_shape(x, [None, self.out_channels, self.resolution, self.resolution])
        # The epilogue, in TF's order. `x` is a fresh tensor here (conv output or the tiled
        # const), so the steps update it in place: at 1024 px each full pass costs ~10 ms.
        if self.kind == "const":
            x = x.clone()
        bias = self.bias.to(x.dtype).reshape(1, -1, 1, 1)
        if self.use_noise and noise_mode != "none":
            if noise_mode == "random":
                noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution,
                                    device=x.device, dtype=x.dtype)
            else:
                noise = self.noise_const.to(x.dtype)[None, None]
            x = torch.addcmul(x, noise, self.noise_strength.to(x.dtype).reshape(1, -1, 1, 1))
        x = x.add_(bias)
        x = F.leaky_relu_(x, 0.2) if self.activation == "lrelu" else F.relu_(x)
        if self.use_pixel_norm:
            x = normalize_2nd_moment(x, dim=1, eps=_EPS)
        scale = shift = None
        if self.use_styles:
            style = self.affine(w).reshape(w.shape[0], 2, self.out_channels, 1, 1)
            scale, shift = style[:, 0] + 1, style[:, 1]
        if self.use_instance_norm:
            x = x.sub_(x.mean(dim=(2, 3), keepdim=True))
            # mean of squares via the norm: no temporary (var_mean is ~2x slower on CPU)
            var = torch.linalg.vector_norm(x, dim=(2, 3), keepdim=True).square_()
            rstd = var.div_(x.shape[2] * x.shape[3]).add_(_EPS).rsqrt_()
            if scale is None:
                return x.mul_(rstd)
            return torch.addcmul(shift, x, rstd * scale)  # (x - μ)/σ · (s + 1) + t
        if scale is not None:
            return torch.addcmul(shift, x, scale)
        return x

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"resolution={self.resolution}, kind={self.kind}, activation={self.activation}")


class SynthesisBlock(nn.Module):
    """One resolution: two layers (4×4: const + conv; above: up-conv + conv)."""

    def __init__(self, in_channels: int, out_channels: int, *, resolution: int,
                 fused: bool = False, **layer_kwargs: Any) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.fused = resolution, fused
        if resolution == 4:
            self.const = nn.Parameter(torch.ones(out_channels, 4, 4))
            kind0 = "const"
        else:
            kind0 = "up_fused" if fused else "up"
        self.layer0 = SynthesisLayer(in_channels, out_channels, resolution=resolution,
                                     kind=kind0, **layer_kwargs)
        self.layer1 = SynthesisLayer(out_channels, out_channels, resolution=resolution,
                                     kind="conv", **layer_kwargs)

    def forward(self, x: torch.Tensor | None, ws: torch.Tensor, *,
                noise_mode: str = "const") -> torch.Tensor:
        if self.resolution == 4:
            x = self.const.to(ws.dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        x = self.layer0(x, ws[:, 0], noise_mode=noise_mode)
        return self.layer1(x, ws[:, 1], noise_mode=noise_mode)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, fused={self.fused}"


class ToRGB(nn.Module):
    """SG1's ``ToRGB_lod0``: linear 1×1 conv (weight × 1/√C) plus bias."""

    def __init__(self, in_channels: int, out_channels: int, *, use_wscale: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.weight_gain = 1.0 / math.sqrt(in_channels) if use_wscale else 1.0
        init_std = 1.0 if use_wscale else 1.0 / math.sqrt(in_channels)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1) * init_std)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight.to(x.dtype) * self.weight_gain)
        return x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}"


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] → image [B, img_channels, R, R]; layer i uses ``ws[:, i]``."""

    def __init__(self, *, w_dim: int, img_resolution: int, img_channels: int,
                 channels: list[int], activation: str = "lrelu", use_wscale: bool = True,
                 use_noise: bool = True, use_styles: bool = True, use_pixel_norm: bool = False,
                 use_instance_norm: bool = True, fused_scale: bool | str = "auto",
                 blur_filter=(1, 2, 1)) -> None:
        super().__init__()
        log2 = int(round(math.log2(img_resolution))) if img_resolution > 0 else 0
        if img_resolution < 4 or 2 ** log2 != img_resolution:
            raise ValueError(f"img_resolution={img_resolution} must be a power of two >= 4")
        if fused_scale not in ("auto", True, False):
            raise ValueError(f"fused_scale={fused_scale!r} must be 'auto', True or False")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.fused_scale = fused_scale
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        if len(channels) != len(self.block_resolutions):
            raise ValueError(f"channels={channels} must give one count per resolution "
                             f"{self.block_resolutions}")
        self.channels = [int(ch) for ch in channels]
        self.num_ws = 2 * len(self.block_resolutions)
        layer_kwargs = dict(w_dim=w_dim, activation=activation, use_wscale=use_wscale,
                            use_noise=use_noise, use_styles=use_styles,
                            use_pixel_norm=use_pixel_norm, use_instance_norm=use_instance_norm,
                            blur_filter=blur_filter)
        prev = 0
        for res, ch in zip(self.block_resolutions, self.channels, strict=True):
            fused = (fused_scale is True
                     or (fused_scale == "auto" and res >= FUSED_SCALE_MIN_RESOLUTION))
            self.add_module(f"b{res}", SynthesisBlock(prev, ch, resolution=res,
                                                      fused=fused and res > 4, **layer_kwargs))
            prev = ch
        self.torgb = ToRGB(prev, img_channels, use_wscale=use_wscale)

    def forward(self, ws: torch.Tensor, *, noise_mode: str = "const") -> torch.Tensor:
        assert_shape(ws, [None, self.num_ws, self.w_dim])
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode={noise_mode!r} must be one of {NOISE_MODES}")
        x = None
        for i, res in enumerate(self.block_resolutions):
            x = getattr(self, f"b{res}")(x, ws[:, 2 * i:2 * i + 2], noise_mode=noise_mode)
        return self.torgb(x)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"img_resolution={self.img_resolution}, fused_scale={self.fused_scale!r}")


class Generator(nn.Module):
    """The StyleGAN (v1) generator: ``G(z, c)`` → NCHW float images in about [-1, 1].

    Parameters
    ----------
    z_dim, c_dim, w_dim : int
        Latent, label and intermediate-latent widths (TF ``latent_size``, ``label_size``,
        ``dlatent_size``).
    img_resolution, img_channels : int
        Output side (a power of two >= 4) and channel count.
    mapping_kwargs : dict or None
        For :class:`MappingNetwork`: ``num_layers`` (8), ``layer_features`` (w_dim),
        ``label_features`` (z_dim), ``activation`` ('lrelu'), ``lr_multiplier`` (0.01),
        ``normalize_latents`` (True).
    channels : list of int or None
        Feature maps per resolution 4, 8, …, img_resolution; None computes them from
        ``fmap_base``/``fmap_decay``/``fmap_max`` with TF's ``nf`` rule.
    activation : {'lrelu', 'relu'}
        Synthesis non-linearity (no output gain).
    use_wscale, use_noise, use_styles, use_pixel_norm, use_instance_norm : bool
        The TF switches of the same names (defaults as released).
    fused_scale : {'auto', True, False}
        Fused transposed up-conv (``'auto'``: from 128 px up) or nearest ×2 + conv.
    blur_filter : sequence of float or None
        Taps of the blur after each up-conv (None: no blur).

    ``config`` is the JSON-serialisable dict that rebuilds the module
    (:meth:`from_config`).
    """

    def __init__(self, *, z_dim: int = 512, c_dim: int = 0, w_dim: int = 512,
                 img_resolution: int = 1024, img_channels: int = 3,
                 mapping_kwargs: dict | None = None, channels: list[int] | None = None,
                 fmap_base: int = 8192, fmap_decay: float = 1.0, fmap_max: int = 512,
                 activation: str = "lrelu", use_wscale: bool = True, use_noise: bool = True,
                 use_styles: bool = True, use_pixel_norm: bool = False,
                 use_instance_norm: bool = True, fused_scale: bool | str = "auto",
                 blur_filter: list[float] | tuple[float, ...] | None = (1, 2, 1)) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        if channels is None:
            log2 = int(round(math.log2(max(img_resolution, 1))))
            channels = [_fmap_channels(2 ** i, fmap_base=fmap_base, fmap_decay=fmap_decay,
                                       fmap_max=fmap_max) for i in range(2, log2 + 1)]
        blur = None if blur_filter is None else np.asarray(blur_filter, dtype=float).tolist()
        blur = blur or None
        synthesis_kwargs = dict(channels=[int(c) for c in channels], activation=activation,
                                use_wscale=bool(use_wscale), use_noise=bool(use_noise),
                                use_styles=bool(use_styles), use_pixel_norm=bool(use_pixel_norm),
                                use_instance_norm=bool(use_instance_norm),
                                fused_scale=fused_scale, blur_filter=blur)
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution,
                                          img_channels=img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        mapping_kwargs = dict(mapping_kwargs or {})
        mapping_kwargs.setdefault("use_wscale", bool(use_wscale))
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim,
                                      num_ws=self.num_ws, **mapping_kwargs)
        m = self.mapping
        resolved_mapping = dict(num_layers=m.num_layers, layer_features=m.layer_features,
                                label_features=m.label_features or None,
                                activation=m.activation, lr_multiplier=float(m.lr_multiplier),
                                normalize_latents=bool(m.normalize_latents),
                                use_wscale=bool(m.use_wscale))
        self.config = dict(arch="sg1", z_dim=int(z_dim), c_dim=int(c_dim), w_dim=int(w_dim),
                           img_resolution=int(img_resolution), img_channels=int(img_channels),
                           mapping_kwargs=resolved_mapping, **synthesis_kwargs)

    @classmethod
    def from_config(cls, config: dict) -> Generator:
        """A fresh (randomly initialised) generator from :attr:`config`."""
        if config.get("arch", "sg1") != "sg1":
            raise ValueError(f"config arch={config.get('arch')!r} is not 'sg1'")
        return cls(**{k: v for k, v in config.items() if k != "arch"})

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, *,
                truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "const") -> torch.Tensor:
        if c is None and self.c_dim:
            c = torch.zeros(z.shape[0], self.c_dim, device=z.device, dtype=z.dtype)
        ws = self.mapping(z, c, truncation_psi=truncation_psi,
                          truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
                f"img_resolution={self.img_resolution}, img_channels={self.img_channels}, "
                f"num_ws={self.num_ws}")


# ---------------------------------------------------------------------------------------------
# TensorFlow pickles (NVlabs/stylegan ``G_style`` networks)

_TF_DEFAULTS: dict[str, Any] = dict(
    latent_size=512, dlatent_size=512, label_size=0, mapping_layers=8, mapping_fmaps=512,
    mapping_lrmul=0.01, mapping_nonlinearity="lrelu", normalize_latents=True, use_wscale=True,
    resolution=1024, num_channels=3, fmap_base=8192, fmap_decay=1.0, fmap_max=512,
    use_styles=True, const_input_layer=True, use_noise=True, use_pixel_norm=False,
    use_instance_norm=True, nonlinearity="lrelu", fused_scale="auto", blur_filter=[1, 2, 1],
)
# Keys that only steer training, graph building or the TF run() defaults: no effect on our math.
_TF_SILENT = frozenset({
    "structure", "dtype", "truncation_psi", "truncation_cutoff", "randomize_noise",
    "resolution_w", "resolution_h", "impl", "dlatent_avg_beta", "style_mixing_prob",
    "dlatent_broadcast", "is_training", "is_validation", "is_template_graph", "components",
    "force_clean_graph", "return_dlatents", "mapping_func", "synthesis_func", "num_gpus",
})

# layouts: how a TF array maps to our tensor
_SAME, _DENSE, _CONV, _CONST, _NOISE = "same", "dense", "conv", "const", "noise"


def _tf_table(G: Generator) -> list[tuple[str, str, str, str]]:
    """(our state key, TF network 'Gs'|'mapping'|'synthesis', TF variable name, layout)."""
    rows = [("mapping.w_avg", "Gs", "dlatent_avg", _SAME)]
    m = G.mapping
    if m.c_dim:
        rows.append(("mapping.label_weight", "mapping", "LabelConcat/weight", _SAME))
    for i in range(m.num_layers):
        rows.append((f"mapping.fc{i}.weight", "mapping", f"Dense{i}/weight", _DENSE))
        rows.append((f"mapping.fc{i}.bias", "mapping", f"Dense{i}/bias", _SAME))
    s = G.synthesis
    for bi, res in enumerate(s.block_resolutions):
        block = getattr(s, f"b{res}")
        if res == 4:
            rows.append(("synthesis.b4.const", "synthesis", "4x4/Const/const", _CONST))
            scopes = ("4x4/Const", "4x4/Conv")
        else:
            scopes = (f"{res}x{res}/Conv0_up", f"{res}x{res}/Conv1")
        for j, scope in enumerate(scopes):
            layer: SynthesisLayer = getattr(block, f"layer{j}")
            ours = f"synthesis.b{res}.layer{j}."
            if layer.kind != "const":
                rows.append((ours + "weight", "synthesis", f"{scope}/weight", _CONV))
            if layer.use_noise:
                rows.append((ours + "noise_const", "synthesis", f"noise{2 * bi + j}", _NOISE))
                rows.append((ours + "noise_strength", "synthesis", f"{scope}/Noise/weight", _SAME))
            rows.append((ours + "bias", "synthesis", f"{scope}/bias", _SAME))
            if layer.use_styles:
                rows.append((ours + "affine.weight", "synthesis", f"{scope}/StyleMod/weight",
                             _DENSE))
                rows.append((ours + "affine.bias", "synthesis", f"{scope}/StyleMod/bias", _SAME))
    rows.append(("synthesis.torgb.weight", "synthesis", "ToRGB_lod0/weight", _CONV))
    rows.append(("synthesis.torgb.bias", "synthesis", "ToRGB_lod0/bias", _SAME))
    return rows


def _tf_shape(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    if layout == _DENSE:
        return (shape[1], shape[0])
    if layout == _CONV:
        return (shape[2], shape[3], shape[1], shape[0])
    if layout == _CONST:
        return (1, *shape)
    if layout == _NOISE:
        return (1, 1, *shape)
    return tuple(shape)


def _from_tf_array(a: np.ndarray, layout: str) -> torch.Tensor:
    a = np.asarray(a, dtype=np.float32)
    if layout == _DENSE:
        a = a.T
    elif layout == _CONV:
        a = a.transpose(3, 2, 0, 1)
    elif layout == _CONST:
        a = a[0]
    elif layout == _NOISE:
        a = a[0, 0]
    return torch.from_numpy(np.ascontiguousarray(a))


def _to_tf_array(t: torch.Tensor, layout: str) -> np.ndarray:
    a = t.detach().to("cpu", torch.float32).numpy()
    if layout == _DENSE:
        a = a.T
    elif layout == _CONV:
        a = a.transpose(2, 3, 1, 0)
    elif layout == _CONST:
        a = a[None]
    elif layout == _NOISE:
        a = a[None, None]
    return np.ascontiguousarray(a)


def _tf_variable_shapes(G: Generator) -> dict[str, dict[str, tuple[int, ...]]]:
    """Every variable a TF ``G_style`` pickle of this network holds, with its shape.

    Besides our tensors: the ``lod`` scalars of Gs and synthesis, and ``ToRGB_lod{n}`` for
    n >= 1 (used only while a network grows). Works on a ``meta``-device module.
    """
    shapes: dict[str, dict[str, tuple[int, ...]]] = {"Gs": {}, "mapping": {}, "synthesis": {}}
    params = dict(G.named_parameters())
    params.update(G.named_buffers())
    for key, net, name, layout in _tf_table(G):
        shapes[net][name] = _tf_shape(tuple(params[key].shape), layout)
    shapes["Gs"]["lod"] = ()
    shapes["synthesis"]["lod"] = ()
    s = G.synthesis
    for n, ch in enumerate(s.channels[::-1][1:], start=1):  # n = log2(res) - log2(R)
        shapes["synthesis"][f"ToRGB_lod{n}/weight"] = (1, 1, ch, s.img_channels)
        shapes["synthesis"][f"ToRGB_lod{n}/bias"] = (s.img_channels,)
    return shapes


def to_tf_variables(G: Generator) -> dict[str, dict[str, np.ndarray]]:
    """``G``'s weights as the variables of a TF ``G_style`` pickle (the inverse of :func:`from_tf`).

    Returns ``{'Gs': {...}, 'mapping': {...}, 'synthesis': {...}}``, each mapping TF names
    (``dlatent_avg``, ``Dense0/weight``, ``8x8/Conv0_up/StyleMod/weight``, ``noise3`` …) to
    float32 arrays in TF layouts. Also writes the ``lod`` scalars (0) and zero-filled
    ``ToRGB_lod{n}`` (n >= 1) so the variable set is that of a released network; they do not
    affect the output at lod 0.
    """
    state = G.state_dict()
    out: dict[str, dict[str, np.ndarray]] = {"Gs": {}, "mapping": {}, "synthesis": {}}
    for key, net, name, layout in _tf_table(G):
        out[net][name] = _to_tf_array(state[key], layout)
    for net, shapes in _tf_variable_shapes(G).items():
        for name, shape in shapes.items():
            if name not in out[net]:
                out[net][name] = (np.float32(0.0) if shape == ()
                                  else np.zeros(shape, dtype=np.float32))
    return out


def to_tf_static_kwargs(G: Generator) -> dict[str, Any]:
    """The ``static_kwargs`` a TF ``G_style`` network with ``G``'s hyperparameters would carry."""
    cfg, m = G.config, G.config["mapping_kwargs"]
    if m["use_wscale"] != cfg["use_wscale"]:
        raise ValueError("TF StyleGAN has one use_wscale for mapping and synthesis")
    kwargs = dict(
        num_channels=cfg["img_channels"], resolution=cfg["img_resolution"],
        label_size=cfg["c_dim"], latent_size=cfg["z_dim"], dlatent_size=cfg["w_dim"],
        mapping_layers=m["num_layers"], mapping_fmaps=m["layer_features"],
        mapping_lrmul=m["lr_multiplier"], mapping_nonlinearity=m["activation"],
        normalize_latents=m["normalize_latents"], use_wscale=cfg["use_wscale"],
        nonlinearity=cfg["activation"], use_noise=cfg["use_noise"],
        use_styles=cfg["use_styles"], use_pixel_norm=cfg["use_pixel_norm"],
        use_instance_norm=cfg["use_instance_norm"], fused_scale=cfg["fused_scale"],
        blur_filter=cfg["blur_filter"], structure="auto",
    )
    return kwargs


def _scalar(value: Any) -> float:
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


def _net_vars(net: Any, what: str) -> dict[str, np.ndarray]:
    try:
        return dict(net.variables)
    except Exception as exc:  # noqa: BLE001 - any malformed record
        raise ModelFormatError(f"the TensorFlow {what} network has no readable variables "
                               f"({exc})") from None


def _kwarg_flag(kw: dict, name: str) -> bool:
    value = kw.get(name, _TF_DEFAULTS[name])
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return bool(value)
    raise ModelFormatError(f"static kwarg {name}={value!r} must be a boolean")


def from_tf(Gs: Any) -> tuple[dict, dict[str, torch.Tensor]]:
    """Config and state dict of :class:`Generator` from an unpickled TF ``Gs`` (``G_style``).

    ``Gs`` is the :class:`~sonicdreams.generators.stylegan.unpickle.TFNetwork` record of the
    averaged generator. Shapes decide resolution, channels, mapping depth, z/w widths and the
    label size; ``static_kwargs`` (with NVlabs' defaults) decide the switches the shapes cannot
    show (activation, norms, fused up-conv, blur, learning-rate multiplier).

    Raises
    ------
    ModelFormatError
        For ProGAN or StyleGAN2 networks, a network stopped while growing (lod != 0),
        non-square outputs, or variables this architecture does not have.
    """
    build = str(getattr(Gs, "build_func_name", "") or "")
    if build == "G_paper" or "tfutil" in build:
        raise ModelFormatError("this is a ProGAN network (G_paper), not StyleGAN; "
                               "it cannot be used")
    if build == "G_main":
        raise ModelFormatError("this is a StyleGAN2 network (G_main), not StyleGAN (v1)")
    components = getattr(Gs, "components", None) or {}
    mapping, synthesis = components.get("mapping"), components.get("synthesis")
    if mapping is None or synthesis is None:
        raise ModelFormatError(
            f"the TensorFlow network ({build or 'unknown kind'}) has no mapping and synthesis "
            "parts; it is not a StyleGAN generator")
    syn_build = str(getattr(synthesis, "build_func_name", "") or "")
    if syn_build.startswith("G_synthesis_stylegan"):
        raise ModelFormatError(f"this is a StyleGAN2 network ({syn_build}), not StyleGAN (v1)")
    gs_vars = _net_vars(Gs, "Gs")
    map_vars = _net_vars(mapping, "mapping")
    syn_vars = _net_vars(synthesis, "synthesis")
    if build != "G_style" and not any("/StyleMod/" in k for k in syn_vars):
        raise ModelFormatError(
            f"unknown TensorFlow generator layout (build function {build or 'missing'!r}, "
            "no StyleMod variables): not a StyleGAN (v1) G_style network")

    kw: dict[str, Any] = {}
    for net in (synthesis, mapping, Gs):  # the top-level network's kwargs win
        kw.update(dict(getattr(net, "static_kwargs", None) or {}))
    unknown = sorted(k for k in kw if k not in _TF_DEFAULTS and k not in _TF_SILENT)
    if unknown:
        warnings.warn(f"ignoring unknown StyleGAN settings in the weight file: "
                      f"{', '.join(unknown)}; the architecture is read from the weights",
                      SonicDreamsWarning, stacklevel=2)
    rw, rh = kw.get("resolution_w"), kw.get("resolution_h")
    if rw is not None and rh is not None and int(rw) != int(rh):
        raise ModelFormatError(f"non-square networks are not supported "
                               f"(resolution_w={rw}, resolution_h={rh})")

    for where, variables in (("Gs", gs_vars), ("synthesis", syn_vars)):
        if "lod" in variables and _scalar(variables["lod"]) != 0:
            raise ModelFormatError(
                f"this network was saved while growing ({where} lod="
                f"{_scalar(variables['lod']):g}); only finished networks (lod=0) are supported")
    if not _kwarg_flag(kw, "const_input_layer") or "4x4/Dense/weight" in syn_vars:
        raise ModelFormatError("StyleGAN networks without the constant input "
                               "(const_input_layer=False) are not supported")

    # -- shapes -----------------------------------------------------------------------------
    def need(variables: dict, name: str, ndim: int) -> np.ndarray:
        if name not in variables:
            raise ModelFormatError(f"the StyleGAN network has no variable {name!r}")
        arr = np.asarray(variables[name])
        if arr.ndim != ndim:
            raise ModelFormatError(f"variable {name!r} has shape {list(arr.shape)}, "
                                   f"expected {ndim} dimensions")
        return arr

    sizes = set()
    for name in syn_vars:
        hit = re.match(r"^(\d+)x(\d+)/", name)
        if hit:
            h, w = int(hit.group(1)), int(hit.group(2))
            if h != w:
                raise ModelFormatError(f"non-square networks are not supported ({name!r})")
            sizes.add(h)
    const = need(syn_vars, "4x4/Const/const", 4)
    if const.shape[2] != const.shape[3] or const.shape[2] != 4:
        raise ModelFormatError(f"non-square or unusual constant input {list(const.shape)}")
    img_resolution = max(sizes)
    log2 = int(round(math.log2(img_resolution)))
    if 2 ** log2 != img_resolution or sorted(sizes) != [2 ** i for i in range(2, log2 + 1)]:
        raise ModelFormatError(f"unexpected resolutions {sorted(sizes)} in the synthesis network")
    if "resolution" in kw and int(kw["resolution"]) != img_resolution:
        raise ModelFormatError(f"static kwarg resolution={kw['resolution']} disagrees with the "
                               f"weights ({img_resolution} px)")
    channels = [int(const.shape[1])] + [
        int(need(syn_vars, f"{r}x{r}/Conv1/weight", 4).shape[3])
        for r in (2 ** i for i in range(3, log2 + 1))]
    img_channels = int(need(syn_vars, "ToRGB_lod0/weight", 4).shape[3])

    num_layers = 0
    while f"Dense{num_layers}/weight" in map_vars:
        num_layers += 1
    if num_layers == 0:
        raise ModelFormatError("the mapping network has no Dense0/weight")
    dense0 = need(map_vars, "Dense0/weight", 2)
    w_dim = int(need(map_vars, f"Dense{num_layers - 1}/weight", 2).shape[1])
    c_dim = label_features = 0
    if "LabelConcat/weight" in map_vars:
        c_dim, label_features = (int(n) for n in need(map_vars, "LabelConcat/weight", 2).shape)
    elif int(kw.get("label_size", 0) or 0):
        raise ModelFormatError(f"label_size={kw['label_size']} but the mapping network has no "
                               "LabelConcat/weight")
    z_dim = int(dense0.shape[0]) - label_features
    if "latent_size" in kw and int(kw["latent_size"]) != z_dim:
        raise ModelFormatError(f"static kwarg latent_size={kw['latent_size']} disagrees with "
                               f"the weights (z_dim {z_dim})")

    for name in ("mapping_nonlinearity", "nonlinearity"):
        if kw.get(name, "lrelu") not in ACTIVATIONS:
            raise ModelFormatError(f"static kwarg {name}={kw[name]!r} is not one of "
                                   f"{ACTIVATIONS}")
    fused_scale = kw.get("fused_scale", "auto")
    if isinstance(fused_scale, (np.bool_, bool)):
        fused_scale = bool(fused_scale)
    if fused_scale not in ("auto", True, False):
        raise ModelFormatError(f"static kwarg fused_scale={fused_scale!r} must be 'auto', "
                               "True or False")
    blur = kw.get("blur_filter", _TF_DEFAULTS["blur_filter"])
    try:
        blur = None if blur is None else np.asarray(blur, dtype=float).tolist()
        _blur_kernel(blur)
    except (TypeError, ValueError):
        raise ModelFormatError(f"static kwarg blur_filter={blur!r} is not a list of taps") from None
    use_wscale = _kwarg_flag(kw, "use_wscale")
    config = dict(
        arch="sg1", z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
        img_channels=img_channels,
        mapping_kwargs=dict(
            num_layers=num_layers,
            layer_features=int(dense0.shape[1]) if num_layers > 1 else w_dim,
            label_features=label_features or None,
            activation=str(kw.get("mapping_nonlinearity", "lrelu")),
            lr_multiplier=float(kw.get("mapping_lrmul", _TF_DEFAULTS["mapping_lrmul"])),
            normalize_latents=_kwarg_flag(kw, "normalize_latents"), use_wscale=use_wscale),
        channels=channels, activation=str(kw.get("nonlinearity", "lrelu")),
        use_wscale=use_wscale,
        use_noise="4x4/Conv/Noise/weight" in syn_vars,
        use_styles="4x4/Conv/StyleMod/weight" in syn_vars,
        use_pixel_norm=_kwarg_flag(kw, "use_pixel_norm"),
        use_instance_norm=_kwarg_flag(kw, "use_instance_norm"),
        fused_scale=fused_scale, blur_filter=blur or None,
    )

    # -- tensors ----------------------------------------------------------------------------
    with torch.device("meta"):
        G = Generator.from_config(config)
    config = G.config
    expected = dict(G.named_parameters())
    expected.update(G.named_buffers())
    sources = {"Gs": gs_vars, "mapping": map_vars, "synthesis": syn_vars}
    used: dict[str, set[str]] = {"Gs": set(), "mapping": set(), "synthesis": set()}
    state: dict[str, torch.Tensor] = {}
    for key, net, name, layout in _tf_table(G):
        want = _tf_shape(tuple(expected[key].shape), layout)
        if name not in sources[net]:
            if key == "mapping.w_avg":
                warnings.warn("the network has no dlatent_avg (average w): truncation will pull "
                              "toward zero instead", SonicDreamsWarning, stacklevel=2)
                state[key] = torch.zeros(w_dim)
                continue
            raise ModelFormatError(f"the StyleGAN network has no variable {net}/{name}")
        arr = np.asarray(sources[net][name])
        if tuple(arr.shape) != want:
            raise ModelFormatError(f"variable {net}/{name} has shape {list(arr.shape)}, "
                                   f"expected {list(want)}")
        used[net].add(name)
        state[key] = _from_tf_array(arr, layout)
    known_extra = _tf_variable_shapes(G)
    for net, variables in sources.items():
        extra = sorted(n for n in variables if n not in used[net] and n not in known_extra[net])
        if extra:
            shown = ", ".join(extra[:5]) + (" …" if len(extra) > 5 else "")
            raise ModelFormatError(f"unknown StyleGAN layout: unexpected {net} variables "
                                   f"{shown}")
    return config, state
