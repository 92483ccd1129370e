"""StyleGAN2 in pure PyTorch and the loaders of every weight format.

The networks are small random ones built by our own code and written in each format by the
writers in ``_formats.py`` (the same globals and layouts the real tools write), so no test
downloads anything. Numerical agreement with the official implementation was checked outside
the repository (see benchmarks/README.md); here the formats must round-trip exactly.
"""

from __future__ import annotations

import itertools
import pickle
import shutil
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _formats import (
    sg2_tf_networks,
    tiny_sg2,
    write_nvlabs_pickle,
    write_rosinality,
)
from _tf_pickle import write_tf_pickle
from sonicdreams.errors import ModelFormatError, StyleError, UnsafeModelError
from sonicdreams.generators.stylegan import StyleGANStyle, assemble, load_stylegan
from sonicdreams.generators.stylegan._ops import upfirdn2d
from sonicdreams.generators.stylegan.loaders import read_weights


@pytest.fixture(autouse=True)
def _no_grad():
    """Inference only: no autograd graphs (set per test, not for the whole session)."""
    with torch.no_grad():
        yield


def _outputs(G, *, seed=1, psi=0.7, cutoff=None, n=3):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)
    c = torch.zeros(n, G.c_dim)
    if G.c_dim:
        c[torch.arange(n), torch.arange(n) % G.c_dim] = 1
    return G(z, c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const")


# ---------------------------------------------------------------------------------------------
# Ops


def _naive_upfirdn(x, f, up, down, pad, gain):
    n, c, h, w = x.shape
    z = torch.zeros(n, c, h * up, w * up, dtype=x.dtype)
    z[:, :, ::up, ::up] = x
    px0, px1, py0, py1 = pad
    z = F.pad(z, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    z = z[:, :, max(-py0, 0):z.shape[2] - max(-py1, 0), max(-px0, 0):z.shape[3] - max(-px1, 0)]
    f2 = torch.outer(f, f) if f.ndim == 1 else f
    f2 = (f2 * gain).flip([0, 1])  # a true convolution
    return F.conv2d(z, f2[None, None].repeat(c, 1, 1, 1), groups=c)[:, :, ::down, ::down]


@pytest.mark.parametrize("up,down,taps,pad", [
    (1, 1, (4, 4), (1, 1, 1, 1)), (2, 1, (4, 4), (2, 1, 2, 1)), (2, 1, (4,), (2, 1, 2, 1)),
    (1, 2, (12,), (5, 5, 5, 5)), (4, 2, (12,), (9, 8, 9, 8)), (2, 2, (6,), (-6, -9, -6, -9)),
    (2, 1, (5, 5), (3, -2, 1, 4)), (1, 1, (3,), (-1, 2, 0, 0)),
])
def test_upfirdn2d_matches_zero_insertion_pad_convolve_subsample(up, down, taps, pad):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 15, 13, dtype=torch.float64, generator=gen)
    f = torch.randn(*taps, dtype=torch.float64, generator=gen)
    out = upfirdn2d(x, f, up=up, down=down, padding=pad, gain=1.7)
    ref = _naive_upfirdn(x, f, up, down, pad, 1.7)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("pad", [(1, 1, 1, 1), (2, 0, -1, 3), (-1, -1, 0, 2)])
def test_compiled_blur_matches_upfirdn2d(pad):
    # StyleGAN2's blur after an upsampling convolution (a rank-one 2-D filter, float32 on
    # CPU) runs as the compiled separable filter, a per-channel scale in its last pass.
    from sonicdreams.generators.stylegan import _blur
    from sonicdreams.generators.stylegan._ops import fir_filter_2d

    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 15, 13, generator=gen)
    f = fir_filter_2d([1, 3, 3, 1])
    f = f * torch.tensor([1.0, 1.2, 0.9, 0.7])[:, None]  # rank one, not symmetric
    scale = torch.rand(2, 3, generator=gen) + 0.5
    assert _blur.supported(x, f)
    ref = _naive_upfirdn(x.double(), f.double(), 1, 1, pad, 4.0)
    ref = ref * scale.double()[:, :, None, None]
    out = _blur.blur(x, f, padding=pad, gain=4.0, scale=scale)
    assert out.shape == ref.shape
    torch.testing.assert_close(out.double(), ref, rtol=0, atol=1e-5)
    assert not _blur.supported(x, torch.eye(3))  # rank three: upfirdn2d's own path
    assert not _blur.supported(x.double(), f)


def test_one_by_one_modulated_convolution_is_the_plain_convolution():
    # ToRGB's 1×1 convolution runs as a matrix product: the same as the per-sample conv.
    from sonicdreams.generators.stylegan._ops import modulated_conv2d

    gen = torch.Generator().manual_seed(2)
    for batch in (1, 3):
        x = torch.randn(batch, 16, 9, 11, generator=gen)
        weight = torch.randn(3, 16, 1, 1, generator=gen)
        styles = torch.randn(batch, 16, generator=gen)
        out = modulated_conv2d(x, weight, styles, demodulate=False)
        ref = torch.cat([F.conv2d(x[i:i + 1], weight * styles[i].reshape(1, -1, 1, 1))
                         for i in range(batch)])
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The network


def test_generator_interface_shapes_and_truncation():
    G = tiny_sg2(res=32, c_dim=4)
    assert (G.z_dim, G.c_dim, G.w_dim, G.img_resolution, G.img_channels) == (32, 4, 32, 32, 3)
    assert G.num_ws == 2 * 5 - 2 and G.mapping.num_ws == G.num_ws
    z = torch.randn(2, 32)
    c = torch.eye(4)[:2]
    ws = G.mapping(z, c)
    assert ws.shape == (2, G.num_ws, 32)
    assert G.synthesis(ws).shape == (2, 3, 32, 32)
    # psi = 0 collapses every latent onto w_avg; a cutoff leaves the later layers alone.
    w0 = G.mapping(z, c, truncation_psi=0.0)
    assert torch.allclose(w0, G.mapping.w_avg.expand_as(w0))
    wc = G.mapping(z, c, truncation_psi=0.0, truncation_cutoff=3)
    assert torch.allclose(wc[:, :3], w0[:, :3]) and torch.allclose(wc[:, 3:], ws[:, 3:])
    # Conditioning and noise modes change the picture; const noise is deterministic.
    a, b = G(z, c), G(z, torch.eye(4)[2:])
    assert (a - b).abs().mean() > 1e-3
    assert torch.equal(G(z, c), G(z, c))
    assert not torch.equal(G(z, c, noise_mode="random"), G(z, c, noise_mode="random"))
    assert (G(z, c, noise_mode="none") - a).abs().mean() > 1e-4


def test_conv_clamp_bounds_every_layer():
    G = tiny_sg2(res=16, conv_clamp=0.05)
    # The image is the sum of three clamped RGB outputs (4, 8, 16), each upsampled by a
    # filter of gain 1: it cannot exceed three times the clamp.
    out = _outputs(G, psi=1)
    assert out.abs().max() <= 3 * 0.05 + 1e-6
    unclamped = tiny_sg2(res=16)
    assert _outputs(unclamped, psi=1).abs().max() > 3 * 0.05


# ---------------------------------------------------------------------------------------------
# Formats round-trip exactly


_NETWORKS = {
    "skip": dict(res=16),
    "conditional": dict(res=32, c_dim=3),
    "resnet": dict(res=32, architecture="resnet"),
    "orig-clamp": dict(res=16, architecture="orig", conv_clamp=0.5),
    "label-concat": dict(res=16, c_dim=5, mapping_kwargs=dict(num_layers=3, label_concat=True)),
}
_FORMATS = ["nvlabs", "tf-v4", "tf-v5", "rosinality", "rosinality-legacy", "state-dict"]


def _applies(net: str, fmt: str) -> bool:
    if fmt.startswith("rosinality"):  # rosinality's generator: unconditional, skip outputs
        return net == "skip"
    return not (fmt == "state-dict" and net == "orig-clamp")  # no place for conv_clamp


@pytest.mark.parametrize("net,fmt", [(n, f) for n in _NETWORKS for f in _FORMATS
                                     if _applies(n, f)])
def test_every_format_loads_to_the_same_network(tmp_path, net, fmt):
    G = tiny_sg2(**_NETWORKS[net])
    path = tmp_path / "weights.bin"  # the format is read from the content, not the name
    if fmt == "nvlabs":
        write_nvlabs_pickle(path, G)
    elif fmt.startswith("tf"):
        write_tf_pickle(path, sg2_tf_networks(G), version=int(fmt[-1]))
    elif fmt.startswith("rosinality"):
        write_rosinality(path, G, legacy_format=fmt.endswith("legacy"))
    else:
        torch.save(G.state_dict(), path)
    weights = read_weights(path)
    assert weights.source_format == {"nvlabs": "pt-nvlabs", "state-dict": "state-dict"}.get(
        fmt, fmt.split("-")[0] if fmt.startswith("rosinality") else "tf-sg2")
    H = assemble(weights)
    assert H.config == G.config
    # (equal to float32 rounding: the images, up to about 3, may differ in their last bits)
    torch.testing.assert_close(_outputs(H), _outputs(G), rtol=0, atol=4e-6)
    torch.testing.assert_close(_outputs(H, psi=0.5, cutoff=2), _outputs(G, psi=0.5, cutoff=2),
                               rtol=0, atol=4e-6)


def test_rosinality_checkpoint_without_latent_avg_estimates_it(tmp_path):
    G = tiny_sg2(res=16)
    write_rosinality(tmp_path / "550000.pt", G, with_latent_avg=False)
    H = assemble(read_weights(tmp_path / "550000.pt"))
    torch.testing.assert_close(_outputs(H, psi=1), _outputs(G, psi=1), rtol=0, atol=1e-6)
    # w_avg is the mean of mapped latents: close to what many samples average to.
    ws = G.mapping(torch.randn(20000, G.z_dim), None)[:, 0]
    assert torch.allclose(H.mapping.w_avg, ws.mean(0), atol=0.05)


def test_tf_pickle_from_a_fork_with_extra_options_loads_with_a_warning(tmp_path):
    G = tiny_sg2(res=16)
    tf = sg2_tf_networks(G, static_kwargs=dict(resolution_w=16, resolution_h=16, impl="cuda",
                                               fused_modconv=True))
    write_tf_pickle(tmp_path / "tpu.pkl", tf)
    H = assemble(read_weights(tmp_path / "tpu.pkl"))  # known fork options: silent
    torch.testing.assert_close(_outputs(H), _outputs(G), rtol=0, atol=1e-6)
    tf = sg2_tf_networks(G, static_kwargs=dict(some_new_option=3))
    write_tf_pickle(tmp_path / "new.pkl", tf)
    with pytest.warns(UserWarning, match="some_new_option"):
        read_weights(tmp_path / "new.pkl")


# ---------------------------------------------------------------------------------------------
# Nothing from a file runs


class _Payload:
    """Pickles as a call to ``func(*args)``: what a malicious weight file contains."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("make", [
    lambda marker: _Payload(__import__("os").system, f"touch {marker}"),
    lambda marker: _Payload(eval, f"open({str(marker)!r}, 'w')"),
    lambda marker: _Payload(exec, f"open({str(marker)!r}, 'w')"),
    lambda marker: _Payload(__import__("subprocess").call, ["touch", str(marker)]),
    lambda marker: _Payload(getattr, _Payload(__import__, "os"), "system"),
    lambda marker: {"G_ema": _Payload(__import__("os").system, f"touch {marker}")},
    lambda marker: (_Payload(shutil.rmtree, str(marker)),),
], ids=["os.system", "eval", "exec", "subprocess", "getattr", "inside-G_ema", "in-tuple"])
def test_malicious_pickles_are_refused_and_nothing_runs(tmp_path, make):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    with open(path, "wb") as f:
        pickle.dump(make(marker), f, protocol=4)
    with pytest.raises(UnsafeModelError, match=r": refused: the file asks to run [\w.]+ — it is "
                                               r"not a model; nothing was executed$"):
        read_weights(path)
    assert not marker.exists()


def test_malicious_torch_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"g_ema": {}, "x": _Payload(__import__("os").system, f"touch {marker}")},
               tmp_path / "evil.pt")
    with pytest.raises(UnsafeModelError, match="refused: the file asks to run os.system — "):
        read_weights(tmp_path / "evil.pt")
    assert not marker.exists()


def test_embedded_sources_are_never_executed(tmp_path):
    # The writers embed source that would raise SystemExit if a loader ran it (NVlabs' own
    # loaders exec it); here a marker file proves it too.
    marker = tmp_path / "ran"
    G = tiny_sg2(res=16)
    src = f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n"
    write_nvlabs_pickle(tmp_path / "g.pkl", G, module_src=src)
    H = assemble(read_weights(tmp_path / "g.pkl"))
    assert not marker.exists()
    torch.testing.assert_close(_outputs(H), _outputs(G), rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Files that are not weights


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title>", "web page"),
    (b"\n  <html><body>Not Found</body></html>", "web page"),
    (b"\xfd7zXZ\x00\x00\x04", "xz"),
    (b"\x1f\x8b\x08\x00", "gzip"),
    (b"just some text that is not a model\n", "not a StyleGAN weight file"),
    (bytes(range(256)) * 4, "not a StyleGAN weight file"),
    (pickle.dumps([1, 2, 3]), "list, not a StyleGAN network"),
    (pickle.dumps({"a": 1}), "not a StyleGAN generator"),
], ids=["empty", "html", "html-ws", "xz", "gzip", "text", "random", "list", "dict"])
def test_non_weight_files_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError, match=message):
        read_weights(path)


@pytest.mark.parametrize("fmt", ["nvlabs", "tf", "rosinality"])
def test_truncated_downloads_get_a_clear_error(tmp_path, fmt):
    G = tiny_sg2(res=16)
    path = tmp_path / "w"
    {"nvlabs": lambda: write_nvlabs_pickle(path, G),
     "tf": lambda: write_tf_pickle(path, sg2_tf_networks(G)),
     "rosinality": lambda: write_rosinality(path, G)}[fmt]()
    data = path.read_bytes()
    for cut in (len(data) // 3, len(data) - 100):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFormatError, match=r"is truncated: .*; download it again$"):
            read_weights(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelFormatError, match="no such weight file"):
        read_weights(tmp_path / "nope.pkl")
    with pytest.raises(ModelFormatError, match="directory"):
        read_weights(tmp_path)
    with pytest.raises(StyleError, match="no such weight file"):
        load_stylegan(tmp_path / "nope.pkl")
    with pytest.raises(StyleError, match="neither a weight file nor"):
        load_stylegan("not a style name")


def test_weights_that_contradict_their_network_are_refused(tmp_path):
    G = tiny_sg2(res=16)
    state = G.state_dict()
    state["synthesis.b8.conv1.weight"] = state["synthesis.b8.conv1.weight"][:, :-1]
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ModelFormatError, match="synthesis.b8.conv1.weight"):
        assemble(read_weights(tmp_path / "bad.pt"))


# ---------------------------------------------------------------------------------------------
# Loading: cache and device


def test_converted_cache_is_used_on_the_second_load(tmp_path, monkeypatch):
    monkeypatch.setenv("SONICDREAMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SONICDREAMS_MODELS", str(tmp_path / "models"))
    G = tiny_sg2(res=16, c_dim=2)
    write_tf_pickle(tmp_path / "g.pkl", sg2_tf_networks(G))
    first = load_stylegan(tmp_path / "g.pkl", device="cpu")
    cached = list((tmp_path / "models" / "converted").glob("*.safetensors"))
    assert len(cached) == 1
    import sonicdreams.generators.stylegan.load as load_module

    def no_conversion(path):
        raise AssertionError("converted again although it is cached")

    monkeypatch.setattr(load_module, "read_weights", no_conversion)
    second = load_stylegan(tmp_path / "g.pkl", device="cpu")
    torch.testing.assert_close(_outputs(second), _outputs(first), rtol=0, atol=0)
    # A damaged cache entry is rebuilt from the original file.
    cached[0].write_bytes(b"garbage")
    monkeypatch.undo()
    monkeypatch.setenv("SONICDREAMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SONICDREAMS_MODELS", str(tmp_path / "models"))
    third = load_stylegan(tmp_path / "g.pkl", device="cpu")
    torch.testing.assert_close(_outputs(third), _outputs(first), rtol=0, atol=0)


def test_load_stylegan_interface(tmp_path):
    G = tiny_sg2(res=16)
    write_nvlabs_pickle(tmp_path / "g.pkl", G)
    H = load_stylegan(str(tmp_path / "g.pkl"))
    assert not H.training and not any(p.requires_grad for p in H.parameters())
    for name in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "num_ws",
                 "mapping", "synthesis"):
        assert hasattr(H, name)
    assert next(H.parameters()).device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_stylegan_style_renders_uint8_frames():
    G = tiny_sg2(res=16, c_dim=3)
    style = StyleGANStyle(G, truncation_psi=0.7, batch_size=3)
    assert (style.z_dim, style.c_dim, style.size) == (32, 3, (16, 16))
    z = np.random.default_rng(0).standard_normal((3, 32)).astype(np.float32)
    c = np.eye(3, dtype=np.float32)
    frames = style.render(z, c)
    assert frames.shape == (3, 16, 16, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, style.render(z, c))
    ref = G(torch.from_numpy(z), torch.from_numpy(c), truncation_psi=0.7)
    ref = (ref * 127.5 + 128).round().clamp(0, 255).permute(0, 2, 3, 1).to(torch.uint8).numpy()
    assert np.array_equal(frames, ref)
    assert frames.std() > 5  # a picture, not a flat colour


def test_cli_styles_and_render_with_a_weight_file(tmp_path, excerpt):
    import subprocess

    from sonicdreams.video import probe_video

    G = tiny_sg2(res=32)
    write_nvlabs_pickle(tmp_path / "mine.pkl", G)
    out = tmp_path / "v.mp4"
    run = subprocess.run([sys.executable, "-m", "sonicdreams", "render", str(excerpt), "-o",
                          str(out), "--style", str(tmp_path / "mine.pkl"), "--duration", "1",
                          "--fps", "24", "--truncation-psi", "0.7", "--quiet"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    info = probe_video(out)
    assert info.size == (32, 32) and info.n_frames == 24
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"<html>quota exceeded</html>")
    run = subprocess.run([sys.executable, "-m", "sonicdreams", "render", str(excerpt), "-o",
                          str(tmp_path / "w.mp4"), "--style", str(bad), "--duration", "1"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "web page" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "w.mp4").exists()


def test_formats_agree_with_each_other_on_random_inputs(tmp_path):
    # Every pair of formats gives the same frames for the same network.
    G = tiny_sg2(res=16, seed=7)
    write_nvlabs_pickle(tmp_path / "a", G)
    write_tf_pickle(tmp_path / "b", sg2_tf_networks(G))
    write_rosinality(tmp_path / "c", G)
    nets = [assemble(read_weights(tmp_path / n)) for n in "abc"]
    for A, B in itertools.combinations(nets, 2):
        torch.testing.assert_close(_outputs(A, seed=3), _outputs(B, seed=3), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["T", "R"])
def test_stylegan3_through_the_pickle_loader_and_the_cache(tmp_path, monkeypatch, kind):
    from sonicdreams.generators.stylegan import sg3_config

    extra = dict(conv_kernel=1, use_radial_filters=True) if kind == "R" else {}
    config = sg3_config.new_config(z_dim=16, c_dim=2, w_dim=16, img_resolution=32, channel_base=256,
                            channel_max=16, mapping_kwargs=dict(num_layers=2), **extra)
    G = sg3_config.new_generator(config, seed=3).eval()
    write_nvlabs_pickle(tmp_path / "sg3.pkl", G)
    weights = read_weights(tmp_path / "sg3.pkl")
    assert weights.config["arch"] == "sg3" and weights.source_format == "pt-nvlabs"
    torch.testing.assert_close(_outputs(assemble(weights)), _outputs(G), rtol=0, atol=1e-6)
    monkeypatch.setenv("SONICDREAMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SONICDREAMS_MODELS", str(tmp_path / "models"))
    first = load_stylegan(tmp_path / "sg3.pkl", device="cpu")
    second = load_stylegan(tmp_path / "sg3.pkl", device="cpu")  # from the safetensors cache
    assert len(list(tmp_path.glob("**/converted/*.safetensors"))) == 1
    torch.testing.assert_close(_outputs(second), _outputs(first), rtol=0, atol=0)
    torch.testing.assert_close(_outputs(second), _outputs(G), rtol=0, atol=1e-6)


def test_precision_choice_and_bf16_frames_stay_close(monkeypatch):
    import sonicdreams.generators.stylegan.style as style_module
    from sonicdreams.generators.stylegan import sg3_config

    cpu = torch.device("cpu")
    G2 = tiny_sg2(res=16)
    config = sg3_config.new_config(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, channel_base=128,
                            channel_max=8, mapping_kwargs=dict(num_layers=2))
    G3 = sg3_config.new_generator(config, seed=1).eval()
    autocast = style_module.autocast_dtype
    assert autocast("auto", cpu, G2) is None  # StyleGAN2 on a CPU stays exact
    assert autocast("fp32", cpu, G3) is None and autocast("bf16", cpu, G2) is torch.bfloat16
    assert autocast("auto", cpu, G3) is None  # StyleGAN3's float32 path is the faster one
    assert autocast("auto", torch.device("cuda"), G3) is torch.float16
    z = np.random.default_rng(2).standard_normal((2, 16)).astype(np.float32)
    exact = StyleGANStyle(G3, precision="fp32").render(z)
    fast = StyleGANStyle(G3, precision="bf16").render(z)
    assert fast.dtype == np.uint8 and fast.shape == exact.shape
    assert np.abs(fast.astype(int) - exact.astype(int)).mean() < 3  # levels of 255


def test_letterboxed_networks_are_cropped_to_their_picture():
    from sonicdreams.generators.catalog import lookup

    assert lookup("lsun cars").crop == (64, 0, 384, 512)  # LSUN cars: 512x384 in 512x512
    G = tiny_sg2(res=32)
    z = np.random.default_rng(4).standard_normal((2, 32)).astype(np.float32)
    full = StyleGANStyle(G).render(z)
    cropped = StyleGANStyle(G, crop=(4, 0, 24, 32))
    assert cropped.size == (24, 32)
    assert np.array_equal(cropped.render(z), full[:, 4:28])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message for a machine without CUDA")
def test_asking_for_a_missing_gpu_is_a_clear_error(tmp_path):
    from sonicdreams.errors import SettingsError

    write_nvlabs_pickle(tmp_path / "g.pkl", tiny_sg2(res=16))
    with pytest.raises(SettingsError, match="no CUDA GPU"):
        load_stylegan(tmp_path / "g.pkl", device="cuda")


@pytest.mark.parametrize("up, demodulate", [(1, True), (2, True), (1, False)])
def test_one_sample_folds_its_styles_into_the_weight_with_the_same_result(up, demodulate):
    # A batch of one whose activations outnumber the weight scales the weight instead of the
    # activations: the same modulated convolution, to float32 rounding.
    from sonicdreams.generators.stylegan._ops import fir_filter_2d, modulated_conv2d

    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 8, 32, 32, generator=g)
    weight = torch.randn(16, 8, 3, 3, generator=g)
    styles = torch.randn(2, 8, generator=g)
    f = fir_filter_2d([1, 3, 3, 1])
    kw = dict(demodulate=demodulate, up=up, padding=1, resample_filter=f)
    both = modulated_conv2d(x, weight, styles, **kw)
    for i in range(2):
        one = modulated_conv2d(x[i:i + 1], weight, styles[i:i + 1], **kw)
        torch.testing.assert_close(one, both[i:i + 1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 2])
def test_wide_modulated_convolutions_run_as_winograd_with_the_same_result(batch):
    # 128 channels and more: float32 on CPU takes the Winograd path, styles and demodulation
    # folded into its passes; the result is the plain per-sample modulated convolution's.
    from sonicdreams.generators.stylegan import _winograd
    from sonicdreams.generators.stylegan._ops import modulated_conv2d

    g = torch.Generator().manual_seed(5)
    x = torch.randn(batch, 128, 16, 16, generator=g)
    weight = torch.randn(128, 128, 3, 3, generator=g)
    styles = torch.randn(batch, 128, generator=g)
    assert _winograd.supported(x, weight)
    ours = modulated_conv2d(x, weight, styles, padding=1)
    w = weight[None] * styles[:, None, :, None, None]
    w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    ref = torch.cat([F.conv2d(x[i:i + 1], w[i], padding=1) for i in range(batch)])
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)
