"""The StyleGAN2 generator (configs E and F, ADA; skip, resnet and orig architectures).

Parameter and buffer names follow the NVlabs PyTorch releases (``mapping.fc0.weight``,
``synthesis.b64.conv0.affine.bias`` …) because they are what users' tools expect and what the
converted caches store; the code is our own, written from the paper and the format notes.
Weights are stored raw and scaled at run time ("equalised learning rate").
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ._derived import derived
from ._ops import (
    SQRT2,
    assert_shape,
    bias_act,
    fir_filter_2d,
    modulated_conv2d,
    normalize_2nd_moment,
    upsample2d,
)

__all__ = ["FullyConnectedLayer", "MappingNetwork", "SynthesisNetwork", "Generator",
           "NOISE_MODES"]

NOISE_MODES = ("const", "random", "none")
_RESAMPLE_TAPS = (1, 3, 3, 1)


class FullyConnectedLayer(nn.Module):
    """Dense layer with equalised learning rate: weight·lr_multiplier/√in, bias·lr_multiplier."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True,
                 activation: str = "linear", lr_multiplier: float = 1.0,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.lr_multiplier = lr_multiplier
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = (nn.Parameter(torch.full((out_features,), float(bias_init)))
                     if bias else None)
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = derived(self.weight, ("gained", x.dtype),
                    lambda: self.weight.to(x.dtype) * self.weight_gain)
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        x = x.matmul(w.t())
        return bias_act(x, b, activation=self.activation, inplace=True)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"activation={self.activation}")


class MappingNetwork(nn.Module):
    """z (and c) → w, broadcast to ``num_ws`` copies, with optional truncation toward ``w_avg``.

    Conditional models either embed c and normalise z and the embedding separately (``embed``,
    ADA and later) or multiply c by a matrix and normalise the concatenation as one vector
    (``label_concat``, the original TF StyleGAN2 and StyleGAN1 forks such as WikiArt).
    """

    def __init__(self, *, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None,
                 num_layers: int = 8, embed_features: int | None = None,
                 layer_features: int | None = None, activation: str = "lrelu",
                 lr_multiplier: float = 0.01, label_concat: bool = False,
                 normalize_latents: bool = True, last_activation: bool = True) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        self.label_concat = bool(label_concat and c_dim)
        self.normalize_latents = normalize_latents
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0 or self.label_concat:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        in_features = z_dim + (z_dim if self.label_concat else embed_features)
        features = [in_features] + [layer_features] * (num_layers - 1) + [w_dim]
        self.embed = FullyConnectedLayer(c_dim, embed_features) if embed_features else None
        if self.label_concat:
            self.label_weight = nn.Parameter(torch.randn(c_dim, z_dim))
        for idx in range(num_layers):
            act = activation if (last_activation or idx < num_layers - 1) else "linear"
            self.add_module(f"fc{idx}", FullyConnectedLayer(
                features[idx], features[idx + 1], activation=act,
                lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, *,
                truncation_psi: float = 1.0, truncation_cutoff: int | None = None) -> torch.Tensor:
        x = None
        if self.label_concat:
            y = c.to(z.dtype) @ self.label_weight.to(z.dtype)
            x = torch.cat([z, y], dim=1)
            if self.normalize_latents:
                x = normalize_2nd_moment(x)
        else:
            if self.z_dim:
                assert_shape(z, [None, self.z_dim])
                x = normalize_2nd_moment(z) if self.normalize_latents else z
            if self.c_dim:
                assert_shape(c, [None, self.c_dim])
                y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
                x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            x = truncate(x, self.w_avg, truncation_psi, truncation_cutoff)
        return x

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
                f"num_ws={self.num_ws}, label_concat={self.label_concat}")


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float,
             cutoff: int | None) -> torch.Tensor:
    """Pull ``ws`` [B, num_ws, w_dim] toward ``w_avg`` by ``psi`` on the first ``cutoff`` layers."""
    w_avg = w_avg.to(ws.dtype)
    if ws.ndim == 2:
        return w_avg.lerp(ws, psi)
    if cutoff is None:
        return w_avg.lerp(ws, psi)
    ws = ws.clone()
    ws[:, :cutoff] = w_avg.lerp(ws[:, :cutoff], psi)
    return ws


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution (optionally upsampling ×2), noise, bias, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, resolution: int,
                 kernel_size: int = 3, up: int = 1, use_noise: bool = True,
                 activation: str = "lrelu", conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.activation = resolution, up, activation
        self.use_noise, self.conv_clamp = use_noise, conv_clamp
        self.padding = kernel_size // 2
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("resample_filter", fir_filter_2d(_RESAMPLE_TAPS))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, noise_mode: str = "const",
                gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution,
                                device=x.device, dtype=x.dtype) * self.noise_strength.to(x.dtype)
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const.to(x.dtype) * self.noise_strength.to(x.dtype)
        x = modulated_conv2d(x, self.weight, styles, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, noise=noise)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, activation=self.activation, gain=SQRT2 * gain, inplace=True,
                        clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"resolution={self.resolution}, up={self.up}")


class ToRGBLayer(nn.Module):
    """1×1 modulated convolution to image channels, without demodulation."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.conv_clamp = in_channels, out_channels, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp, inplace=True)


class SkipLayer(nn.Module):
    """The resnet architecture's 1×1 shortcut: FIR-upsample ×2, then a plain 1×1 convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.register_buffer("resample_filter", fir_filter_2d(_RESAMPLE_TAPS))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, *, gain: float = 1.0) -> torch.Tensor:
        x = upsample2d(x, self.resample_filter)
        x = torch.nn.functional.conv2d(x, derived(
            self.weight, ("gained", x.dtype), lambda: (self.weight * self.weight_gain).to(x.dtype)))
        return x * gain


class SynthesisBlock(nn.Module):
    """One resolution: (const or up-conv), conv, and the RGB output for this resolution."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, resolution: int,
                 img_channels: int, is_last: bool, architecture: str = "skip",
                 conv_clamp: float | None = None, use_noise: bool = True) -> None:
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.architecture, self.is_last, self.conv_clamp = architecture, is_last, conv_clamp
        self.num_conv = 0
        self.num_torgb = 0
        layer = dict(w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp,
                     use_noise=use_noise)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, **layer)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim,
                                    conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = SkipLayer(in_channels, out_channels)
        self.register_buffer("resample_filter", fir_filter_2d(_RESAMPLE_TAPS))

    def forward(self, x, img, ws, *, noise_mode: str = "const"):
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.to(ws.dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))  # the shortcut is never clamped
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter))
            img = img + y if img is not None else y
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}"


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] → image [B, img_channels, R, R], one block per resolution."""

    def __init__(self, *, w_dim: int, img_resolution: int, img_channels: int,
                 channel_base: int = 32768, channel_max: int = 512,
                 architecture: str = "skip", conv_clamp: float | None = None,
                 num_fp16_res: int = 0, use_noise: bool = True,
                 channels: list[int] | None = None) -> None:
        super().__init__()
        log2 = int(round(math.log2(img_resolution)))
        if img_resolution < 4 or 2 ** log2 != img_resolution:
            raise ValueError(f"img_resolution={img_resolution} must be a power of two >= 4")
        if architecture not in ("skip", "resnet", "orig"):
            raise ValueError(f"architecture={architecture!r} must be skip, resnet or orig")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.architecture = architecture
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        if channels is None:  # the NVlabs rule; loaded networks pass what their weights say
            channels = [min(channel_base // res, channel_max) for res in self.block_resolutions]
        if len(channels) != len(self.block_resolutions):
            raise ValueError(f"channels={channels} must give one count per resolution "
                             f"{self.block_resolutions}")
        self.channels = [int(ch) for ch in channels]
        channels = dict(zip(self.block_resolutions, self.channels, strict=True))
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res],
                                   w_dim=w_dim, resolution=res, img_channels=img_channels,
                                   is_last=res == img_resolution, architecture=architecture,
                                   conv_clamp=conv_clamp, use_noise=use_noise)
            self.num_ws += block.num_conv
            if res == img_resolution:
                self.num_ws += block.num_torgb
            self.add_module(f"b{res}", block)

    def forward(self, ws: torch.Tensor, *, noise_mode: str = "const") -> torch.Tensor:
        assert_shape(ws, [None, self.num_ws, self.w_dim])
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode={noise_mode!r} must be one of {NOISE_MODES}")
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb),
                           noise_mode=noise_mode)
            w_idx += block.num_conv
        return img

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"img_resolution={self.img_resolution}, architecture={self.architecture}")


class Generator(nn.Module):
    """z, c → image, with the interface of the NVlabs releases.

    ``G(z, c, truncation_psi=1, truncation_cutoff=None, noise_mode='const')`` returns NCHW float
    images in about [-1, 1]. ``config`` is the plain dict that rebuilds this network.
    """

    def __init__(self, *, z_dim: int, c_dim: int, w_dim: int, img_resolution: int,
                 img_channels: int = 3, mapping_kwargs: dict | None = None,
                 **synthesis_kwargs: Any) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution,
                                          img_channels=img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                      **(mapping_kwargs or {}))
        self.config = self._config()

    def _config(self) -> dict:
        """Every hyperparameter, in full, read back from the modules (the cache stores it)."""
        m, syn = self.mapping, self.synthesis
        fc0 = m.fc0
        mapping_kwargs = dict(num_layers=m.num_layers, lr_multiplier=fc0.lr_multiplier,
                              layer_features=fc0.out_features if m.num_layers > 1 else None,
                              embed_features=m.embed.out_features if m.embed else None,
                              label_concat=m.label_concat, activation=fc0.activation,
                              normalize_latents=m.normalize_latents)
        b4 = syn.b4
        return dict(arch="sg2", z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim,
                    img_resolution=self.img_resolution, img_channels=self.img_channels,
                    mapping_kwargs=mapping_kwargs, channels=list(syn.channels),
                    architecture=syn.architecture, conv_clamp=b4.conv_clamp,
                    use_noise=b4.conv1.use_noise)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, *,
                truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "const") -> torch.Tensor:
        if c is None:
            c = torch.zeros(z.shape[0], self.c_dim, device=z.device, dtype=z.dtype)
        ws = self.mapping(z, c, truncation_psi=truncation_psi,
                          truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
                f"img_resolution={self.img_resolution}, num_ws={self.num_ws}")
