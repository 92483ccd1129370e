"""StyleGAN3 configs: read from an NVlabs pickle's records, or designed afresh from the paper.

``config_from_record`` turns the unpickled ``G_ema`` record into the plain config that
:meth:`.sg3.Generator.from_config` builds; ``new_config``/``new_generator`` design a fresh
network (layer schedule, Kaiser-windowed low-pass filters, Fourier features) for tests and
experiments. Filter design needs scipy; loading does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .sg2 import FullyConnectedLayer
from .sg3 import Generator

__all__ = ["config_from_record", "new_config", "design_lowpass_filter", "new_generator"]


def _plain(value: Any) -> Any:
    """numpy scalars/arrays, tensors and tuples → JSON-serialisable Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, torch.Tensor):
        return _plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


def _shape(value: Any) -> list[int] | None:
    return None if value is None else [int(s) for s in value.shape]


def config_from_record(G: Any) -> dict:
    """The config of an unpickled NVlabs StyleGAN3 ``G_ema`` record tree (see ``unpickle``).

    Reads the generator's plain attributes and ``_init_kwargs``, the mapping's layer count and
    learning-rate multiplier, and each synthesis layer's stored attributes and buffer shapes.
    """
    from ...errors import ModelFormatError

    modules = G.modules
    mapping, synthesis = modules.get("mapping"), modules.get("synthesis")
    if mapping is None or synthesis is None or synthesis.modules.get("input") is None:
        raise ModelFormatError("this network has no StyleGAN3 synthesis input; it is not SG3")
    init_kwargs = dict(G.attr("_init_kwargs") or {})
    fc0 = mapping.modules.get("fc0")
    lr_mul = None
    if fc0 is not None:
        lr_mul = fc0.attr("lr_multiplier", fc0.attr("bias_gain"))
    mapping_kwargs = dict(num_layers=int(mapping.attr("num_layers", 2)),
                          lr_multiplier=float(0.01 if lr_mul is None else lr_mul))
    inp = synthesis.modules["input"]
    size = np.broadcast_to(np.asarray(inp.attr("size")), [2])
    input_spec = dict(channels=int(inp.attr("channels")), size=_plain(size),
                      sampling_rate=float(inp.attr("sampling_rate")),
                      bandwidth=float(inp.attr("bandwidth")))
    layer_names = list(synthesis.attr("layer_names") or
                       [n for n in synthesis.modules if n.startswith("L")])
    layers = []
    for name in layer_names:
        rec = synthesis.modules[name]
        buffers = rec.state.get("_buffers") or {}
        clamp = rec.attr("conv_clamp")
        spec = dict(
            name=name,
            in_channels=int(rec.attr("in_channels")),
            out_channels=int(rec.attr("out_channels")),
            in_size=_plain(np.broadcast_to(np.asarray(rec.attr("in_size")), [2])),
            out_size=_plain(np.broadcast_to(np.asarray(rec.attr("out_size")), [2])),
            conv_kernel=int(rec.attr("conv_kernel")),
            is_torgb=bool(rec.attr("is_torgb")),
            up_factor=int(rec.attr("up_factor")),
            down_factor=int(rec.attr("down_factor")),
            padding=_plain(list(rec.attr("padding"))),
            conv_clamp=None if clamp is None else float(clamp),
            up_filter_shape=_shape(buffers.get("up_filter")),
            down_filter_shape=_shape(buffers.get("down_filter")),
        )
        for key in _INFO_KEYS:  # design values, informative only
            if rec.attr(key) is not None:
                spec[key] = _plain(rec.attr(key))
        layers.append(spec)
    w_dim = int(G.attr("w_dim"))
    synthesis_spec = dict(input_kwargs=input_spec, layers=layers,
                          output_scale=float(synthesis.attr("output_scale", 0.25)))
    kwargs_info = {k: _plain(v) for k, v in init_kwargs.items()
                   if k not in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
                   and isinstance(_plain(v), (int, float, bool, str, type(None), list, dict))}
    return dict(arch="sg3", z_dim=int(G.attr("z_dim")), c_dim=int(G.attr("c_dim")),
                w_dim=w_dim, img_resolution=int(G.attr("img_resolution")),
                img_channels=int(G.attr("img_channels")), mapping_kwargs=mapping_kwargs,
                synthesis=synthesis_spec, init_kwargs=kwargs_info)


_INFO_KEYS = ("in_sampling_rate", "out_sampling_rate", "tmp_sampling_rate", "in_cutoff",
              "out_cutoff", "in_half_width", "out_half_width", "is_critically_sampled",
              "use_fp16", "down_radial", "up_taps", "down_taps", "magnitude_ema_beta")


def new_config(*, z_dim: int, c_dim: int, w_dim: int, img_resolution: int,
               img_channels: int = 3, channel_base: int = 32768, channel_max: int = 512,
               num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
               first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3,
               margin_size: int = 10, output_scale: float = 0.25, num_fp16_res: int = 4,
               conv_kernel: int = 3, use_radial_filters: bool = False,
               conv_clamp: float | None = 256, filter_size: int = 6,
               lrelu_upsampling: int = 2, mapping_kwargs: dict | None = None,
               magnitude_ema_beta: float = 0.999) -> dict:
    """The config of a fresh StyleGAN3 following the paper's layer schedule.

    Config T is the default; config R is ``conv_kernel=1, use_radial_filters=True`` with
    ``channel_base`` and ``channel_max`` doubled. Cutoffs and stopbands grow geometrically from
    ``first_cutoff``/``first_stopband`` to the output Nyquist rate over the first
    ``num_layers − num_critical`` layers; each layer samples at the smallest power of two above
    twice its stopband (at most ``img_resolution``) plus a margin of ``margin_size`` samples on
    every side; the last ``num_critical`` layers are critically sampled and the last two crop
    the margin. Channels are ``channel_base / 2 / cutoff`` capped at ``channel_max``.
    """
    mapping_kwargs = {"num_layers": 2, "lr_multiplier": 0.01, **(mapping_kwargs or {})}
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels

    layers = []
    for idx in range(num_layers + 1):
        prev = max(idx - 1, 0)
        is_torgb = idx == num_layers
        critical = idx >= num_layers - num_critical
        kernel = 1 if is_torgb else conv_kernel
        in_sr, out_sr = float(sampling_rates[prev]), float(sampling_rates[idx])
        tmp_sr = max(in_sr, out_sr) * (1 if is_torgb else lrelu_upsampling)
        up = int(np.rint(tmp_sr / in_sr))
        down = int(np.rint(tmp_sr / out_sr))
        up_taps = filter_size * up if up > 1 and not is_torgb else 1
        down_taps = filter_size * down if down > 1 and not is_torgb else 1
        radial = bool(use_radial_filters and not critical)
        in_size, out_size = int(sizes[prev]), int(sizes[idx])
        pad_total = (out_size - 1) * down + 1 - (in_size + kernel - 1) * up
        pad_total += up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2
        pad_hi = pad_total - pad_lo
        out_ch = int(channels[idx])
        layers.append(dict(
            name=f"L{idx}_{out_size}_{out_ch}",
            in_channels=int(channels[prev]), out_channels=out_ch,
            in_size=[in_size, in_size], out_size=[out_size, out_size],
            conv_kernel=kernel, is_torgb=is_torgb, up_factor=up, down_factor=down,
            padding=[pad_lo, pad_hi, pad_lo, pad_hi],
            conv_clamp=None if conv_clamp is None else float(conv_clamp),
            up_filter_shape=None if up_taps == 1 else [up_taps],
            down_filter_shape=(None if down_taps == 1 else
                               [down_taps, down_taps] if radial else [down_taps]),
            in_sampling_rate=in_sr, out_sampling_rate=out_sr, tmp_sampling_rate=tmp_sr,
            in_cutoff=float(cutoffs[prev]), out_cutoff=float(cutoffs[idx]),
            in_half_width=float(half_widths[prev]), out_half_width=float(half_widths[idx]),
            is_critically_sampled=critical,
            use_fp16=bool(sampling_rates[idx] * 2 ** num_fp16_res > img_resolution),
            down_radial=radial, up_taps=up_taps, down_taps=down_taps,
            magnitude_ema_beta=float(magnitude_ema_beta),
        ))
    synthesis = dict(
        input_kwargs=dict(channels=int(channels[0]), size=[int(sizes[0])] * 2,
                   sampling_rate=float(sampling_rates[0]), bandwidth=float(cutoffs[0])),
        layers=layers, output_scale=float(output_scale))
    init_kwargs = dict(channel_base=channel_base, channel_max=channel_max, num_layers=num_layers,
                       num_critical=num_critical, first_cutoff=first_cutoff,
                       first_stopband=first_stopband, last_stopband_rel=last_stopband_rel,
                       margin_size=margin_size, output_scale=output_scale,
                       num_fp16_res=num_fp16_res, conv_kernel=conv_kernel,
                       use_radial_filters=use_radial_filters, conv_clamp=conv_clamp,
                       filter_size=filter_size, lrelu_upsampling=lrelu_upsampling,
                       magnitude_ema_beta=magnitude_ema_beta)
    return _plain(dict(arch="sg3", z_dim=z_dim, c_dim=c_dim, w_dim=w_dim,
                       img_resolution=img_resolution, img_channels=img_channels,
                       mapping_kwargs=mapping_kwargs, synthesis=synthesis,
                       init_kwargs=init_kwargs))


def design_lowpass_filter(*, numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> torch.Tensor | None:
    """A Kaiser-windowed low-pass FIR filter (``None`` for a single tap).

    Separable filters are ``scipy.signal.firwin``; the radial 2-D filter of config R is the
    jinc (circularly symmetric ideal low-pass) with a separable Kaiser window, normalised to
    unit DC gain.
    """
    import scipy.signal
    import scipy.special

    if numtaps == 1:
        return None
    if not radial:
        f = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(f, dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f *= np.outer(window, window)
    f /= np.sum(f)
    return torch.as_tensor(f, dtype=torch.float32)


def new_generator(config: dict, *, seed: int = 0) -> Generator:
    """A fresh, randomly initialised StyleGAN3 for ``config`` (from :func:`new_config`).

    Parameters are drawn as at the start of training (unit-normal weights, zero biases, style
    biases of one, an identity input transform); the buffers are built as the paper describes:
    Fourier frequencies uniform in direction with a radial density that falls off beyond the
    input bandwidth, uniform phases, and the designed resampling filters. Needs scipy.
    """
    gen = torch.Generator().manual_seed(int(seed))
    G = Generator.from_config(config)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("affine.weight") and name.startswith("synthesis.input"):
                p.zero_()
            elif name.endswith("weight"):
                lr_mul = 1.0
                module = G.get_submodule(name.rsplit(".", 1)[0])
                if isinstance(module, FullyConnectedLayer):
                    lr_mul = module.lr_multiplier
                p.copy_(torch.randn(p.shape, generator=gen) / lr_mul)
            elif name.endswith("affine.bias"):
                p.fill_(1.0)
            else:
                p.zero_()
        inp = G.synthesis.input
        inp.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        freqs = torch.randn(inp.channels, 2, generator=gen)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        inp.freqs.copy_(freqs * inp.bandwidth)
        inp.phases.copy_(torch.rand(inp.channels, generator=gen) - 0.5)
        inp.transform.copy_(torch.eye(3))
        G.mapping.w_avg.zero_()
        for spec, name in zip(config["synthesis"]["layers"], G.synthesis.layer_names,
                              strict=True):
            layer = getattr(G.synthesis, name)
            layer.magnitude_ema.fill_(1.0)
            tmp_sr = spec["tmp_sampling_rate"]
            if layer.up_filter is not None:
                layer.up_filter.copy_(design_lowpass_filter(
                    numtaps=spec["up_taps"], cutoff=spec["in_cutoff"],
                    width=spec["in_half_width"] * 2, fs=tmp_sr))
            if layer.down_filter is not None:
                layer.down_filter.copy_(design_lowpass_filter(
                    numtaps=spec["down_taps"], cutoff=spec["out_cutoff"],
                    width=spec["out_half_width"] * 2, fs=tmp_sr,
                    radial=bool(spec["down_radial"])))
    return G.eval().requires_grad_(False)
