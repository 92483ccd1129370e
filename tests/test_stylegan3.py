"""StyleGAN3 (configs T and R) in pure PyTorch: layout, behaviour and the resampling maths."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

import torch.nn.functional as F  # noqa: E402

from sonicdreams.generators.stylegan import sg3, sg3_config  # noqa: E402
from sonicdreams.generators.stylegan.unpickle import Record  # noqa: E402

SMALL = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=32, channel_base=256, channel_max=16)


def _small(config: str = "T", **overrides) -> sg3.Generator:
    kwargs = dict(SMALL, **overrides)
    if config == "R":
        kwargs.update(conv_kernel=1, use_radial_filters=True)
    return sg3_config.new_generator(sg3_config.new_config(**kwargs), seed=1)


# ---------------------------------------------------------------------------------------------
# Schedule


def test_t1024_schedule_matches_the_paper_table():
    cfg = sg3_config.new_config(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024)
    layers = cfg["synthesis"]["layers"]
    assert [sp["out_size"][0] for sp in layers] == [
        36, 36, 52, 52, 84, 148, 148, 276, 276, 532, 1044, 1044, 1044, 1024, 1024]
    assert [sp["out_channels"] for sp in layers] == [
        512] * 7 + [323, 203, 128, 81, 51, 32, 32, 3]
    assert {tuple(sp["padding"]) for sp in layers[:-1]} <= {
        (9, 8, 9, 8), (-6, -9, -6, -9), (-11, -12, -11, -12)}
    assert layers[13]["padding"] == [-11, -12, -11, -12]
    assert [(sp["up_factor"], sp["down_factor"]) for sp in layers][-1] == (1, 1)
    assert layers[-1]["up_filter_shape"] is None and layers[-1]["down_filter_shape"] is None
    assert cfg["synthesis"]["input_kwargs"]["size"] == [36, 36]
    json.dumps(cfg)


def test_r_config_uses_radial_down_filters_except_critical_layers():
    cfg = sg3_config.new_config(z_dim=8, c_dim=0, w_dim=8, img_resolution=64, channel_base=2048,
                         channel_max=64, conv_kernel=1, use_radial_filters=True)
    shapes = [sp["down_filter_shape"] for sp in cfg["synthesis"]["layers"]]
    assert shapes[:12] == [[12, 12]] * 12
    assert shapes[12:] == [[12], [12], None]
    assert all(sp["conv_kernel"] == 1 for sp in cfg["synthesis"]["layers"])


# ---------------------------------------------------------------------------------------------
# Generator behaviour


@pytest.mark.parametrize("config", ["T", "R"])
def test_fresh_generator_shapes_and_determinism(config):
    G = _small(config)
    assert G.num_ws == 16 and G.synthesis.num_ws == 16
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        img = G(z, None, truncation_psi=0.7)
        again = G(z, None, truncation_psi=0.7, noise_mode="random")  # no noise in SG3
        ws = G.mapping(z, None)
        direct = G.synthesis(ws)
    assert img.shape == (2, 3, 32, 32) and img.dtype == torch.float32
    assert torch.isfinite(img).all()
    assert torch.equal(img, again)
    assert ws.shape == (2, G.num_ws, G.w_dim)
    assert torch.allclose(direct, G(z, None))
    assert not torch.allclose(img[0], img[1])
    G2 = _small(config)
    with torch.inference_mode():
        assert torch.equal(G2(z, None, truncation_psi=0.7), img)


def test_truncation_pulls_toward_w_avg():
    G = _small("T")
    with torch.no_grad():
        G.mapping.w_avg.copy_(torch.randn(G.w_dim, generator=torch.Generator().manual_seed(3)))
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        ws0 = G.mapping(z, None, truncation_psi=0)
        ws1 = G.mapping(z, None, truncation_psi=1)
        ws_half = G.mapping(z, None, truncation_psi=0.5)
        ws_cut = G.mapping(z, None, truncation_psi=0, truncation_cutoff=4)
        img0 = G(z, None, truncation_psi=0)
    assert torch.allclose(ws0, G.mapping.w_avg.expand_as(ws0))
    assert torch.allclose(ws_half, (ws0 + ws1) / 2, atol=1e-6)
    assert torch.allclose(ws_cut[:, :4], ws0[:, :4]) and torch.allclose(ws_cut[:, 4:], ws1[:, 4:])
    assert torch.allclose(img0[0], img0[1], atol=1e-5) and torch.allclose(img0[0], img0[2],
                                                                           atol=1e-5)


def test_conditional_generator_depends_on_c():
    G = _small("T", c_dim=4)
    assert "mapping.embed.weight" in G.state_dict()
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5)).repeat(2, 1)
    c = torch.eye(4)[:2]
    with torch.inference_mode():
        img = G(z, c)
    assert img.shape == (2, 3, 32, 32)
    assert not torch.allclose(img[0], img[1])


@pytest.mark.parametrize("config", ["T", "R"])
def test_state_dict_round_trip_through_config(config):
    G = _small(config)
    with torch.no_grad():
        for name, buf in G.named_buffers():
            if name.endswith("magnitude_ema"):
                buf.fill_(1.7)
    names = set(G.state_dict())
    assert {"synthesis.input.freqs", "synthesis.input.phases", "synthesis.input.transform",
            "synthesis.input.weight", "synthesis.input.affine.weight", "mapping.w_avg",
            "mapping.fc0.weight", "mapping.fc1.bias"} <= names
    last = G.synthesis.layer_names[-1]
    assert last == "L14_32_3"
    assert f"synthesis.{last}.up_filter" not in names  # ToRGB does not resample
    config_json = json.loads(json.dumps(G.config))
    H = sg3.Generator.from_config(config_json)
    H.load_state_dict(G.state_dict(), strict=True)
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(6))
    with torch.inference_mode():
        assert torch.allclose(G(z, None), H.eval()(z, None), atol=1e-6)


def _as_record(module: torch.nn.Module, class_name: str) -> Record:
    """An unpickled-NVlabs-style record of one of our modules (its __dict__, children wrapped)."""
    state = dict(vars(module))
    state["_modules"] = {name: _as_record(child, type(child).__name__)
                         for name, child in module._modules.items()}
    return Record(dict(class_name=class_name, state=state, module_src="class SynthesisInput"))


def test_config_from_record_rebuilds_the_network():
    from sonicdreams.generators.stylegan.loaders import state_dict_from_record

    G = _small("R", c_dim=3)
    record = _as_record(G, "Generator")
    config = sg3_config.config_from_record(record)
    json.dumps(config)
    state = state_dict_from_record(record)
    assert set(state) == set(G.state_dict())
    H = sg3.Generator.from_config(config).eval()
    H.load_state_dict(state, strict=True)
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(7))
    c = torch.eye(3)[:2]
    with torch.inference_mode():
        assert torch.allclose(G(z, c, truncation_psi=0.6), H(z, c, truncation_psi=0.6),
                              atol=1e-6)


# ---------------------------------------------------------------------------------------------
# The filtered leaky ReLU against a direct implementation


def _naive_filtered_lrelu(x, fu, fd, b, up, down, padding, gain, slope, clamp):
    """Zero-insert, pad, full 2-D convolution, leaky ReLU, clamp, full convolution, subsample."""
    n, c, h, w = x.shape
    x = x + b.reshape(1, -1, 1, 1)
    z = x.new_zeros(n, c, h * up, w * up)
    z[:, :, ::up, ::up] = x
    px0, px1, py0, py1 = padding
    z = F.pad(z, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    z = z[:, :, max(-py0, 0):z.shape[2] - max(-py1, 0), max(-px0, 0):z.shape[3] - max(-px1, 0)]
    fu2 = torch.outer(fu, fu) if fu.ndim == 1 else fu
    k = (fu2 * up * up).flip([0, 1])[None, None].repeat(c, 1, 1, 1)  # true convolution
    z = F.conv2d(z, k, groups=c)
    z = F.leaky_relu(z, slope) * gain
    z = z.clamp(-clamp, clamp)
    fd2 = torch.outer(fd, fd) if fd.ndim == 1 else fd
    k = fd2.flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    z = F.conv2d(z, k, groups=c)
    return z[:, :, ::down, ::down]


@pytest.mark.parametrize("up,taps_up,radial,padding,size", [
    (2, 12, False, (11, 10, 11, 10), 20),
    (4, 24, False, (-2, -5, -2, -5), 22),
    (2, 12, True, (11, 10, 11, 10), 15),
    (2, 12, False, (-9, -10, -9, -10), 26),
    (2, 12, False, (3, 7, 5, 1), 130),  # long enough for the blocked path
    (4, 24, True, (-6, -9, -6, -9), 34),
])
def test_filtered_lrelu_matches_direct_computation(up, taps_up, radial, padding, size):
    gen = torch.Generator().manual_seed(size)
    x = torch.randn(2, 3, size, size + 3, generator=gen, dtype=torch.float64) * 3
    b = torch.randn(3, generator=gen, dtype=torch.float64)
    fu = sg3_config.design_lowpass_filter(numtaps=taps_up, cutoff=4, width=6, fs=32).double()
    fu = fu + torch.randn(taps_up, generator=gen, dtype=torch.float64) * 0.01  # asymmetric
    fd = sg3_config.design_lowpass_filter(numtaps=12, cutoff=5, width=8, fs=32,
                                          radial=radial).double()
    fd = fd + torch.randn(fd.shape, generator=gen, dtype=torch.float64) * 0.01
    kwargs = dict(up=up, down=2, padding=padding, gain=math.sqrt(2), slope=0.2, clamp=2.5)
    want = _naive_filtered_lrelu(x, fu, fd, b, **kwargs)
    cache: dict = {}
    got = sg3.filtered_lrelu(x, up_filter=fu, down_filter=fd, bias=b, cache=cache, **kwargs)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-9, rtol=0)
    again = sg3.filtered_lrelu(x, up_filter=fu, down_filter=fd, bias=b, cache=cache, **kwargs)
    assert torch.equal(again, got)


@pytest.mark.parametrize("up,down,padding,size", [
    (2, 2, (11, 10, 11, 10), 20),  # the critically sampled layers
    (4, 2, (-6, -9, -6, -9), 34),  # a layer that doubles the sampling rate
    (2, 2, (-11, -12, -11, -12), 40),  # the last layer's crop: the first tap past the start
    (2, 1, (3, 7, 5, 1), 17),  # two output phases, uneven padding
    (4, 4, (0, 0, 0, 0), 9),
    (4, 1, (2, 1, 0, 3), 8),  # four output phases
])
def test_compiled_filtered_lrelu_matches_direct_computation(up, down, padding, size,
                                                            monkeypatch):
    # float32 on CPU streams each channel through the compiled kernel (upsampled columns
    # kept phase by phase); the result is the direct computation's, to float32 rounding.
    from sonicdreams.generators.stylegan import _flrelu

    gen = torch.Generator().manual_seed(size)
    x = torch.randn(2, 5, size, size + 3, generator=gen) * 3
    b = torch.randn(5, generator=gen)
    fu = sg3_config.design_lowpass_filter(numtaps=6 * up, cutoff=4, width=6, fs=32)
    fu = fu + torch.randn(fu.shape, generator=gen) * 0.01  # asymmetric
    fd = sg3_config.design_lowpass_filter(numtaps=12, cutoff=5, width=8, fs=32)
    fd = fd + torch.randn(fd.shape, generator=gen) * 0.01
    kwargs = dict(up=up, down=down, padding=padding, gain=math.sqrt(2), slope=0.2, clamp=2.5)
    calls = []
    kernel = _flrelu._stream
    monkeypatch.setattr(_flrelu, "_stream", lambda: calls.append(1) or kernel())
    want = _naive_filtered_lrelu(x.double(), fu.double(), fd.double(), b.double(), **kwargs)
    got = sg3.filtered_lrelu(x, up_filter=fu, down_filter=fd, bias=b, cache={}, **kwargs)
    assert calls, "the compiled kernel was not used"
    assert got.dtype == torch.float32 and got.shape == want.shape
    torch.testing.assert_close(got.double(), want, rtol=0, atol=2e-5)
    monkeypatch.setattr(_flrelu, "ENABLED", False)  # the PyTorch path it stands for
    plain = sg3.filtered_lrelu(x, up_filter=fu, down_filter=fd, bias=b, cache={}, **kwargs)
    assert len(calls) == 1
    torch.testing.assert_close(got, plain, rtol=0, atol=2e-5)


def test_compiled_filtered_lrelu_plain_python_kernel_agrees():
    # The kernel's plain-Python form (what runs without numba) computes the same values.
    from sonicdreams.generators.stylegan import _flrelu

    gen = torch.Generator().manual_seed(4)
    x = torch.randn(1, 2, 12, 14, generator=gen)
    fu = sg3_config.design_lowpass_filter(numtaps=24, cutoff=4, width=6, fs=32)
    fd = sg3_config.design_lowpass_filter(numtaps=12, cutoff=5, width=8, fs=32)
    kwargs = dict(up=4, down=2, padding=(-2, -5, 3, 1), cache={})
    plan = sg3._stream_plan(x, fu, fd, **kwargs)
    compiled = _flrelu.filtered_lrelu(x, None, plan, slope=0.2, gain=1.4, clamp=1.0)
    saved = _flrelu._stream
    try:
        _flrelu._stream = lambda: _flrelu._stream_py
        python = _flrelu.filtered_lrelu(x, None, plan, slope=0.2, gain=1.4, clamp=1.0)
    finally:
        _flrelu._stream = saved
    torch.testing.assert_close(python, compiled, rtol=0, atol=1e-6)


def test_filtered_lrelu_linear_torgb_is_bias_and_clamp():
    x = torch.randn(1, 3, 8, 8) * 400
    b = torch.tensor([1.0, -2.0, 3.0])
    y = sg3.filtered_lrelu(x, up_filter=None, down_filter=None, bias=b, gain=1, slope=1,
                           clamp=256)
    assert torch.equal(y, (x + b.reshape(1, 3, 1, 1)).clamp(-256, 256))
