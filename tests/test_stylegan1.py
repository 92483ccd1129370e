"""StyleGAN (v1): the PyTorch generator, its TF-pickle converter, and an independent numpy check.

There is no TensorFlow here. Trust comes from (1) a numpy forward pass written directly from the
format notes in TF layouts (NHWC activations, [kh, kw, in, out] kernels, the fused up-conv as an
explicit scatter), compared with the module; (2) pickles written in the real container format
and read back through the safe unpickler; (3) the layout counts of the released 1024 px network.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from _tf_pickle import write_tf_pickle
from sonicdreams.errors import ModelFormatError, SonicDreamsWarning
from sonicdreams.generators.stylegan import sg1, sg1_tf
from sonicdreams.generators.stylegan.unpickle import TFNetwork, safe_load

# ---------------------------------------------------------------------------------------------
# helpers


def _make(seed: int = 0, **kwargs) -> sg1.Generator:
    """A small generator with every tensor random (biases, noise gains and w_avg included)."""
    torch.manual_seed(seed)
    G = sg1.Generator(**kwargs).eval()
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.startswith("mapping.fc") and name.endswith("bias"):
                p.normal_(0, 0.3 / G.mapping.lr_multiplier)
            elif name.endswith(("bias", "noise_strength")):
                p.normal_(0, 0.3)
            elif name.endswith("const"):
                p.normal_(0, 1)
        G.mapping.w_avg.normal_(0, 0.5)
    return G


def _tf_spec(G: sg1.Generator, **static_kwargs) -> dict:
    """The nested-dict description of G as a TF ``G_style`` Gs network."""
    tf_vars = sg1_tf.to_tf_variables(G)
    kwargs = sg1_tf.to_tf_static_kwargs(G)
    kwargs.update(static_kwargs)
    return dict(
        name="Gs", build_func_name="G_style", static_kwargs=kwargs, variables=tf_vars["Gs"],
        components=dict(
            synthesis=dict(name="G_synthesis", build_func_name="G_synthesis",
                           static_kwargs=dict(num_channels=G.img_channels,
                                              resolution=G.img_resolution),
                           variables=tf_vars["synthesis"]),
            mapping=dict(name="G_mapping", build_func_name="G_mapping",
                         static_kwargs=dict(dlatent_broadcast=G.num_ws),
                         variables=tf_vars["mapping"])))


def _roundtrip(tmp_path, spec: dict, *, version: int = 3, **kwargs):
    path = write_tf_pickle(tmp_path / "net.pkl", spec, version=version, **kwargs)
    with open(path, "rb") as f:
        nets = safe_load(f)
    assert isinstance(nets, tuple) and len(nets) == 3
    assert all(isinstance(n, TFNetwork) for n in nets)
    return sg1_tf.from_tf(nets[2])


def _load(config: dict, state: dict) -> sg1.Generator:
    G = sg1.Generator.from_config(json.loads(json.dumps(config)))
    G.load_state_dict(state, strict=True)
    return G.eval()


def _inputs(G, batch: int = 2, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, G.z_dim, generator=gen)
    c = torch.randn(batch, G.c_dim, generator=gen) if G.c_dim else None
    return z, c


# ---------------------------------------------------------------------------------------------
# numpy reference, written from the notes in TF layouts (NHWC), float64


def _act(x, name):
    return np.where(x >= 0, x, 0.2 * x) if name == "lrelu" else np.maximum(x, 0)


def np_conv3x3(x, w):
    """'SAME' 3x3 cross-correlation; x [B,H,W,I], w [3,3,I,O]."""
    _, h, wd, _ = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return sum(xp[:, ky:ky + h, kx:kx + wd, :] @ w[ky, kx] for ky in range(3) for kx in range(3))


def np_nearest_up(x):
    return x.repeat(2, axis=1).repeat(2, axis=2)


def np_fused_up(x, w):
    """TF upscale2d_conv2d (fused): 4-shift kernel sum, then conv2d_transpose stride 2 'SAME'."""
    wp = np.pad(w, ((1, 1), (1, 1), (0, 0), (0, 0)))
    k = wp[1:, 1:] + wp[:-1, 1:] + wp[1:, :-1] + wp[:-1, :-1]  # [4,4,I,O]
    b, h, wd, _ = x.shape
    full = np.zeros((b, 2 * h + 2, 2 * wd + 2, k.shape[3]))
    for ky in range(4):  # out[2h + ky - 1] += x[h] · k[ky]   ('SAME' pads 1 before)
        for kx in range(4):
            full[:, ky:ky + 2 * h:2, kx:kx + 2 * wd:2, :] += x @ k[ky, kx]
    return full[:, 1:1 + 2 * h, 1:1 + 2 * wd, :]


def np_blur(x, taps):
    f = np.asarray(taps, dtype=np.float64)
    f = np.outer(f, f) if f.ndim == 1 else f
    f = f / f.sum()
    kh, kw = f.shape
    _, h, wd, _ = x.shape
    py, px = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (py, kh - 1 - py), (px, kw - 1 - px), (0, 0)))
    return sum(f[ky, kx] * xp[:, ky:ky + h, kx:kx + wd, :] for ky in range(kh)
               for kx in range(kw))


def np_generator(tf_vars: dict, kw: dict, z, c=None, *, psi=1.0, cutoff=None):
    """Gs.run(z, c, truncation_psi, truncation_cutoff, randomize_noise=False), NCHW out."""
    gv, mv, sv = (tf_vars[k] for k in ("Gs", "mapping", "synthesis"))
    f64 = {k: np.asarray(v, dtype=np.float64) for d in (gv, mv, sv) for k, v in d.items()}
    lrmul = kw.get("mapping_lrmul", 0.01)
    # mapping
    x = np.asarray(z, np.float64)
    if "LabelConcat/weight" in mv:
        x = np.concatenate([x, np.asarray(c, np.float64) @ f64["LabelConcat/weight"]], axis=1)
    if kw.get("normalize_latents", True):
        x = x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + 1e-8)
    i = 0
    while f"Dense{i}/weight" in mv:
        w = f64[f"Dense{i}/weight"]
        x = x @ (w * math.sqrt(2) * lrmul / math.sqrt(w.shape[0])) + f64[f"Dense{i}/bias"] * lrmul
        x = _act(x, kw.get("mapping_nonlinearity", "lrelu"))
        i += 1
    res_log2 = int(math.log2(kw["resolution"]))
    num_ws = 2 * res_log2 - 2
    dl = np.repeat(x[:, None, :], num_ws, axis=1)
    if psi != 1:
        avg = f64["dlatent_avg"]
        n = num_ws if cutoff is None else cutoff
        dl[:, :n] = avg + (dl[:, :n] - avg) * psi
    # synthesis
    act = kw.get("nonlinearity", "lrelu")
    blur = kw.get("blur_filter", [1, 2, 1])
    fused_scale = kw.get("fused_scale", "auto")
    batch = dl.shape[0]

    def epilogue(x, i, scope):
        if kw.get("use_noise", True):
            x = x + f64[f"noise{i}"][0, 0][None, :, :, None] * f64[f"{scope}/Noise/weight"]
        x = _act(x + f64[f"{scope}/bias"], act)
        if kw.get("use_pixel_norm", False):
            x = x / np.sqrt(np.mean(x * x, axis=3, keepdims=True) + 1e-8)
        if kw.get("use_instance_norm", True):
            x = x - x.mean(axis=(1, 2), keepdims=True)
            x = x / np.sqrt(np.mean(x * x, axis=(1, 2), keepdims=True) + 1e-8)
        if kw.get("use_styles", True):
            w = f64[f"{scope}/StyleMod/weight"]
            s = dl[:, i] @ (w / math.sqrt(w.shape[0])) + f64[f"{scope}/StyleMod/bias"]
            s = s.reshape(batch, 2, -1)
            x = x * (s[:, 0, None, None, :] + 1) + s[:, 1, None, None, :]
        return x

    def conv_w(name):
        w = f64[name]
        return w * math.sqrt(2) / math.sqrt(w.shape[0] * w.shape[1] * w.shape[2])

    x = np.repeat(f64["4x4/Const/const"].transpose(0, 2, 3, 1), batch, axis=0)
    x = epilogue(x, 0, "4x4/Const")
    x = epilogue(np_conv3x3(x, conv_w("4x4/Conv/weight")), 1, "4x4/Conv")
    for r in range(3, res_log2 + 1):
        scope = f"{2 ** r}x{2 ** r}"
        w = conv_w(f"{scope}/Conv0_up/weight")
        fused = fused_scale is True or (fused_scale == "auto" and 2 ** r >= 128)
        x = np_fused_up(x, w) if fused else np_conv3x3(np_nearest_up(x), w)
        if blur:
            x = np_blur(x, blur)
        x = epilogue(x, 2 * r - 4, f"{scope}/Conv0_up")
        x = epilogue(np_conv3x3(x, conv_w(f"{scope}/Conv1/weight")), 2 * r - 3, f"{scope}/Conv1")
    w = f64["ToRGB_lod0/weight"]
    img = x @ (w[0, 0] / math.sqrt(w.shape[2])) + f64["ToRGB_lod0/bias"]
    return img.transpose(0, 3, 1, 2)


# ---------------------------------------------------------------------------------------------
# reference agreement

REFERENCE_CASES = {
    # 16 px, conditional, default switches, nearest+conv up-sampling
    "cond16": dict(z_dim=8, w_dim=8, c_dim=3, img_resolution=16, fmap_base=32, fmap_max=8,
                   mapping_kwargs=dict(num_layers=3, layer_features=6)),
    # 128 px: the fused transposed up-conv at 128, relu mapping
    "fused128": dict(z_dim=6, w_dim=5, img_resolution=128, channels=[6, 6, 5, 4, 4, 3],
                     mapping_kwargs=dict(num_layers=2, activation="relu")),
    # fused everywhere, relu, no instance norm, no noise, an even (asymmetric-'SAME') blur
    "allfused16": dict(z_dim=4, w_dim=4, img_resolution=16, channels=[5, 4, 3],
                       fused_scale=True, activation="relu", use_instance_norm=False,
                       use_noise=False,
                       blur_filter=(1, 3, 3, 1), mapping_kwargs=dict(num_layers=1)),
    # no styles, no blur, plain up-sampling, pixel norm
    "plain8": dict(z_dim=4, w_dim=4, img_resolution=8, channels=[3, 2], use_styles=False,
                   use_pixel_norm=True,
                   blur_filter=None, fused_scale=False, img_channels=1,
                   mapping_kwargs=dict(num_layers=1, normalize_latents=False)),
}


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
@pytest.mark.parametrize("psi,cutoff", [(1.0, None), (0.6, 3)])
def test_matches_numpy_reference(case, psi, cutoff):
    G = _make(3, **REFERENCE_CASES[case])
    z, c = _inputs(G)
    with torch.inference_mode():
        out = G(z, c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const")
    ref = np_generator(sg1_tf.to_tf_variables(G), sg1_tf.to_tf_static_kwargs(G), z.numpy(),
                       None if c is None else c.numpy(), psi=psi, cutoff=cutoff)
    assert out.shape == (2, G.img_channels, G.img_resolution, G.img_resolution)
    assert np.abs(ref).max() > 0.1  # the comparison is not vacuous
    err = np.abs(out.double().numpy() - ref).max()
    assert err <= 1e-4, f"{case}: max |torch - numpy| = {err:.3g}"
    with torch.inference_mode():  # in float64 the two agree to rounding: same math exactly
        G64, z64 = G.double(), z.double()
        out64 = G64(z64, None if c is None else c.double(), truncation_psi=psi,
                    truncation_cutoff=cutoff)
    assert np.abs(out64.numpy() - ref).max() <= 1e-10


def test_fused_upconv_is_nearest_conv_with_rotated_kernel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 6, 3))  # NHWC, non-square on purpose
    w = rng.standard_normal((3, 3, 3, 4))
    fused = np_fused_up(x, w)
    assert np.abs(fused - np_conv3x3(np_nearest_up(x), w[::-1, ::-1])).max() < 1e-12
    assert np.abs(fused - np_conv3x3(np_nearest_up(x), w)).max() > 1.0  # not the same kernel
    # the torch ops agree with the numpy ones and with each other
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    wt = torch.from_numpy(w.transpose(3, 2, 0, 1).copy())  # TF → torch, no flip
    fused_t = sg1._fused_up_conv(xt, wt).numpy().transpose(0, 2, 3, 1)
    assert np.abs(fused_t - fused).max() < 1e-12
    rotated_t = sg1._nearest_up_conv(xt, wt.flip([2, 3])).numpy().transpose(0, 2, 3, 1)
    assert np.abs(rotated_t - fused).max() < 1e-12


def test_fused_layer_equals_nonfused_layer_with_rotated_weight():
    torch.manual_seed(0)
    kw = dict(w_dim=4, resolution=16, use_noise=False)
    fused = sg1.SynthesisLayer(3, 5, kind="up_fused", **kw)
    plain = sg1.SynthesisLayer(3, 5, kind="up", **kw)
    plain.load_state_dict(fused.state_dict())
    with torch.no_grad():
        plain.weight.copy_(fused.weight.flip([2, 3]))
    x, w = torch.randn(2, 3, 8, 8), torch.randn(2, 4)
    torch.testing.assert_close(fused(x, w), plain(x, w), rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# pickles: write → safe_load → from_tf → identical module

ROUNDTRIP_CASES = {
    "32": dict(z_dim=16, w_dim=16, img_resolution=32, fmap_base=64, fmap_max=16,
               mapping_kwargs=dict(num_layers=2)),
    "32-labels": dict(z_dim=16, w_dim=12, c_dim=4, img_resolution=32, fmap_base=64,
                      fmap_max=16, mapping_kwargs=dict(num_layers=3)),
    "256": dict(z_dim=8, w_dim=8, img_resolution=256, fmap_base=256, fmap_max=16,
                mapping_kwargs=dict(num_layers=2)),
    "256-labels": dict(z_dim=8, w_dim=8, c_dim=4, img_resolution=256, fmap_base=256,
                       fmap_max=16, mapping_kwargs=dict(num_layers=2)),
}


@pytest.mark.parametrize("case", sorted(ROUNDTRIP_CASES))
def test_tf_pickle_roundtrip(tmp_path, case):
    G = _make(7, **ROUNDTRIP_CASES[case])
    config, state = _roundtrip(tmp_path, _tf_spec(G))
    assert config == G.config
    assert set(state) == set(G.state_dict())
    for key, value in G.state_dict().items():
        assert torch.equal(state[key], value), key
    G2 = _load(config, state)
    z, c = _inputs(G)
    with torch.inference_mode():
        for kwargs in (dict(), dict(truncation_psi=0.7, truncation_cutoff=8),
                       dict(noise_mode="none")):
            assert torch.equal(G(z, c, **kwargs), G2(z, c, **kwargs)), kwargs
    if G.img_resolution >= 128:  # the fused path is in use
        assert G2.synthesis.b128.layer0.kind == "up_fused"
        assert G2.synthesis.b64.layer0.kind == "up"


def test_roundtrip_also_matches_reference_at_256(tmp_path):
    G = _make(11, **ROUNDTRIP_CASES["256-labels"])
    spec = _tf_spec(G)
    G2 = _load(*_roundtrip(tmp_path, spec))
    z, c = _inputs(G)
    with torch.inference_mode():
        out = G2(z, c).double().numpy()
    tf_vars = {"Gs": spec["variables"], "mapping": spec["components"]["mapping"]["variables"],
               "synthesis": spec["components"]["synthesis"]["variables"]}
    ref = np_generator(tf_vars, spec["static_kwargs"], z.numpy(), c.numpy())
    assert np.abs(out - ref).max() <= 1e-4


@pytest.mark.parametrize("version,protocol", [(3, 2), (4, 4), (5, 4)])
def test_container_versions(tmp_path, version, protocol):
    G = _make(1, **REFERENCE_CASES["cond16"])
    config, state = _roundtrip(tmp_path, _tf_spec(G), version=version, protocol=protocol)
    assert config == G.config


def test_written_pickle_names_only_the_real_globals(tmp_path):
    import pickletools

    G = _make(1, **REFERENCE_CASES["plain8"])
    path = write_tf_pickle(tmp_path / "net.pkl", _tf_spec(G), version=3)
    data = path.read_bytes()
    strings = [arg for op, arg, _ in pickletools.genops(data) if isinstance(arg, str)]
    assert "dnnlib.tflib.network" in strings and "Network" in strings
    assert "numpy.core.multiarray" in strings and "numpy._core.multiarray" not in strings
    assert "tests" not in " ".join(s for s in strings if "." in s)


# ---------------------------------------------------------------------------------------------
# module behaviour


def test_config_is_json_and_rebuilds():
    G = _make(0, **ROUNDTRIP_CASES["32-labels"])
    config = json.loads(json.dumps(G.config))
    assert config["arch"] == "sg1"
    G2 = sg1.Generator.from_config(config)
    G2.load_state_dict(G.state_dict())
    assert G2.config == G.config
    assert G.num_ws == 2 * int(math.log2(G.img_resolution)) - 2
    for name in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "num_ws"):
        assert getattr(G2, name) == getattr(G, name)


def test_noise_modes_and_truncation():
    G = _make(2, **REFERENCE_CASES["cond16"])
    z, c = _inputs(G)
    with torch.inference_mode():
        const = G(z, c)
        assert torch.equal(const, G(z, c, noise_mode="const"))
        assert not torch.allclose(const, G(z, c, noise_mode="none"))
        r1, r2 = G(z, c, noise_mode="random"), G(z, c, noise_mode="random")
        assert not torch.allclose(r1, r2)
        with pytest.raises(ValueError, match="noise_mode"):
            G(z, c, noise_mode="fixed")
        ws = G.mapping(z, c)
        assert ws.shape == (2, G.num_ws, G.w_dim)
        assert torch.equal(ws, G.mapping(z, c, truncation_psi=1.0, truncation_cutoff=2))
        t = G.mapping(z, c, truncation_psi=0.0, truncation_cutoff=3)
        assert torch.allclose(t[:, :3], G.mapping.w_avg.expand(2, 3, -1))
        assert torch.equal(t[:, 3:], ws[:, 3:])
        half = G.mapping(z, c, truncation_psi=0.5)
        torch.testing.assert_close(half, (ws + G.mapping.w_avg) / 2)
        assert torch.equal(G.synthesis(ws), const)
    with pytest.raises(ValueError, match="conditional"):
        G.mapping(z, None)


def test_released_1024_layout_counts():
    with torch.device("meta"):  # shapes only: no 100 MB of weights
        G = sg1.Generator()
    assert G.num_ws == 18 and G.synthesis.channels == [512] * 4 + [256, 128, 64, 32, 16]
    shapes = sg1_tf._tf_variable_shapes(G)
    assert sum(len(v) for v in shapes.values()) == 145
    assert (len(shapes["Gs"]), len(shapes["mapping"]), len(shapes["synthesis"])) == (2, 16, 127)
    syn = shapes["synthesis"]
    assert syn["128x128/Conv0_up/weight"] == (3, 3, 256, 128)
    assert syn["4x4/Const/StyleMod/weight"] == (512, 1024)
    assert syn["noise17"] == (1, 1, 1024, 1024) and syn["ToRGB_lod8/weight"] == (1, 1, 512, 3)
    n_params = sum(p.numel() for p in G.parameters())
    assert abs(n_params - 26.2e6) < 0.05e6
    mapping = sum(math.prod(s) for s in shapes["mapping"].values())
    assert abs(mapping - 2.10e6) < 0.01e6
    assert G.synthesis.b128.fused and not G.synthesis.b64.fused


# ---------------------------------------------------------------------------------------------
# converter: refusals and tolerance


@pytest.fixture(scope="module")
def tiny():
    return _make(5, **REFERENCE_CASES["cond16"])


def test_rejects_growing_network(tmp_path, tiny):
    spec = _tf_spec(tiny)
    spec["variables"]["lod"] = np.float32(0.5)
    with pytest.raises(ModelFormatError, match="lod=0.5"):
        _roundtrip(tmp_path, spec)
    spec = _tf_spec(tiny)
    spec["components"]["synthesis"]["variables"]["lod"] = np.float32(1.0)
    with pytest.raises(ModelFormatError, match="lod"):
        _roundtrip(tmp_path, spec)


def test_rejects_progan(tmp_path):
    spec = dict(name="Gs", build_func_name="G_paper", static_kwargs=dict(resolution=1024),
                variables={"4x4/Dense/weight": np.zeros((512, 8192), np.float32)})
    with pytest.raises(ModelFormatError, match="ProGAN"):
        _roundtrip(tmp_path, spec, version=2, module="tfutil")


def test_rejects_non_square(tmp_path, tiny):
    with pytest.raises(ModelFormatError, match="square"):
        _roundtrip(tmp_path, _tf_spec(tiny, resolution_w=16, resolution_h=8))


def test_rejects_stylegan2_and_unknown_layouts(tmp_path, tiny):
    spec = _tf_spec(tiny)
    spec["build_func_name"] = "G_main"
    with pytest.raises(ModelFormatError, match="StyleGAN2"):
        _roundtrip(tmp_path, spec)
    G = _make(0, **REFERENCE_CASES["plain8"])  # no StyleMod variables at all
    spec = _tf_spec(G)
    spec["build_func_name"] = "G_something"
    with pytest.raises(ModelFormatError, match="unknown"):
        _roundtrip(tmp_path, spec)
    spec = _tf_spec(tiny)
    spec["components"]["synthesis"]["variables"]["8x8/Extra/weight"] = np.zeros(3, np.float32)
    with pytest.raises(ModelFormatError, match="unexpected synthesis variables 8x8/Extra"):
        _roundtrip(tmp_path, spec)
    spec = _tf_spec(tiny)
    spec["components"]["synthesis"]["variables"]["8x8/Conv1/bias"] = np.zeros(3, np.float32)
    with pytest.raises(ModelFormatError, match="8x8/Conv1/bias"):
        _roundtrip(tmp_path, spec)
    spec = _tf_spec(tiny, const_input_layer=False)
    with pytest.raises(ModelFormatError, match="const_input_layer"):
        _roundtrip(tmp_path, spec)


def test_kwargs_known_ones_silent_unknown_ones_warn(tmp_path, tiny):
    silent = dict(structure="linear", dtype="float32", truncation_psi=0.7, truncation_cutoff=8,
                  randomize_noise=False, resolution_w=16, resolution_h=16, impl="ref",
                  dlatent_avg_beta=0.995, style_mixing_prob=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config, _ = _roundtrip(tmp_path, _tf_spec(tiny, **silent))
    assert config == tiny.config
    with pytest.warns(SonicDreamsWarning, match="my_new_switch"):
        config, _ = _roundtrip(tmp_path, _tf_spec(tiny, my_new_switch=3))
    assert config == tiny.config


def test_kwargs_change_the_math(tmp_path, tiny):
    config, _ = _roundtrip(tmp_path, _tf_spec(tiny, fused_scale=True, nonlinearity="relu",
                                              use_pixel_norm=True, mapping_lrmul=0.1,
                                              blur_filter=None))
    assert config["fused_scale"] is True and config["activation"] == "relu"
    assert config["use_pixel_norm"] and config["blur_filter"] is None
    assert config["mapping_kwargs"]["lr_multiplier"] == 0.1
    spec = _tf_spec(tiny)
    del spec["static_kwargs"]  # shapes alone give the architecture; switches take defaults
    config, _ = _roundtrip(tmp_path, spec)
    assert config == tiny.config


def test_missing_dlatent_avg_warns(tmp_path, tiny):
    spec = _tf_spec(tiny)
    del spec["variables"]["dlatent_avg"]
    with pytest.warns(SonicDreamsWarning, match="dlatent_avg"):
        _, state = _roundtrip(tmp_path, spec)
    assert torch.equal(state["mapping.w_avg"], torch.zeros(tiny.w_dim))
