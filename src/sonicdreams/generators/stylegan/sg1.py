"""The StyleGAN (v1) generator (Karras et al. 2019), in plain PyTorch (TF pickles: ``sg1_tf``).

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
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
