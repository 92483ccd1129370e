"""Writers for every StyleGAN weight format, used by the tests to make files from our own networks.

They write what the real tools write — the same globals, containers and layouts — so that the
loaders are tested on byte-level formats, without downloads and without NVlabs code.
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import torch


def tiny_sg2(*, res: int = 16, c_dim: int = 0, z_dim: int = 32, seed: int = 0, **kwargs):
    """A small random StyleGAN2 (our own code) with non-trivial biases, noise and w_avg."""
    from sonicdreams.generators.stylegan.sg2 import Generator

    torch.manual_seed(seed)
    kwargs.setdefault("channel_base", 256)
    kwargs.setdefault("channel_max", 32)
    G = Generator(z_dim=z_dim, c_dim=c_dim, w_dim=z_dim, img_resolution=res,
                  mapping_kwargs=kwargs.pop("mapping_kwargs", dict(num_layers=2)), **kwargs)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.copy_(torch.randn([]) * 0.3)
            elif name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.2)
        G.mapping.w_avg.copy_(torch.randn_like(G.mapping.w_avg))
    return G.eval()


@contextlib.contextmanager
def fake_modules(*names: str):
    """Register empty modules under ``names`` so pickle can name their globals, then remove them."""
    added = []
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            mod = ".".join(parts[:i])
            if mod not in sys.modules:
                sys.modules[mod] = types.ModuleType(mod)
                added.append(mod)
    try:
        yield [sys.modules[n] for n in names]
    finally:
        for mod in added:
            sys.modules.pop(mod, None)


# ---------------------------------------------------------------------------------------------
# TensorFlow pickles (written by _tf_pickle.write_tf_pickle)


def sg2_tf_networks(G, *, static_kwargs=None) -> dict:
    """Our StyleGAN2 module as a TF ``Gs`` network description for ``write_tf_pickle`` (the
    inverse of the loader's mapping)."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in G.state_dict().items()}
    m: dict[str, np.ndarray] = {}
    i = 0
    while f"mapping.fc{i}.weight" in sd:
        m[f"Dense{i}/weight"] = sd[f"mapping.fc{i}.weight"].T
        m[f"Dense{i}/bias"] = sd[f"mapping.fc{i}.bias"]
        i += 1
    if "mapping.embed.weight" in sd:
        m["LabelEmbed/weight"] = sd["mapping.embed.weight"].T
        m["LabelEmbed/bias"] = sd["mapping.embed.bias"]
    if "mapping.label_weight" in sd:
        m["LabelConcat/weight"] = sd["mapping.label_weight"]
    s: dict[str, np.ndarray] = {"4x4/Const/const": sd["synthesis.b4.const"][None]}

    def conv(src: str, dst: str, flip: bool) -> None:
        w = sd[f"{src}.weight"].transpose(2, 3, 1, 0)
        s[f"{dst}/weight"] = w[::-1, ::-1] if flip else w
        s[f"{dst}/mod_weight"] = sd[f"{src}.affine.weight"].T
        s[f"{dst}/mod_bias"] = sd[f"{src}.affine.bias"] - 1
        s[f"{dst}/bias"] = sd[f"{src}.bias"]
        if f"{src}.noise_strength" in sd:
            s[f"{dst}/noise_strength"] = sd[f"{src}.noise_strength"]

    noise_idx = 0
    for res in G.synthesis.block_resolutions:
        scope = f"{res}x{res}"
        if res == 4:
            conv("synthesis.b4.conv1", "4x4/Conv", False)
            layers = ["conv1"]
        else:
            conv(f"synthesis.b{res}.conv0", f"{scope}/Conv0_up", True)
            conv(f"synthesis.b{res}.conv1", f"{scope}/Conv1", False)
            layers = ["conv0", "conv1"]
            if f"synthesis.b{res}.skip.weight" in sd:
                s[f"{scope}/Skip/weight"] = sd[f"synthesis.b{res}.skip.weight"].transpose(
                    2, 3, 1, 0)[::-1, ::-1]
        for layer in layers:
            key = f"synthesis.b{res}.{layer}.noise_const"
            if key in sd:
                s[f"noise{noise_idx}"] = sd[key][None, None]
            noise_idx += 1
        if f"synthesis.b{res}.torgb.weight" in sd:
            s[f"{scope}/ToRGB/weight"] = sd[f"synthesis.b{res}.torgb.weight"].transpose(2, 3, 1, 0)
            s[f"{scope}/ToRGB/mod_weight"] = sd[f"synthesis.b{res}.torgb.affine.weight"].T
            s[f"{scope}/ToRGB/mod_bias"] = sd[f"synthesis.b{res}.torgb.affine.bias"] - 1
            s[f"{scope}/ToRGB/bias"] = sd[f"synthesis.b{res}.torgb.bias"]
    cfg = G.config
    kwargs = dict(latent_size=G.z_dim, dlatent_size=G.w_dim, label_size=G.c_dim,
                  resolution=G.img_resolution, num_channels=G.img_channels,
                  mapping_layers=cfg["mapping_kwargs"].get("num_layers", 8),
                  architecture=cfg.get("architecture", "skip"))
    if cfg.get("conv_clamp") is not None:
        kwargs["conv_clamp"] = cfg["conv_clamp"]
    kwargs.update(static_kwargs or {})
    own = {"dlatent_avg": sd["mapping.w_avg"], "lod": np.float32(0)}
    return dict(name="Gs", build_func_name="G_main", static_kwargs=kwargs, variables=own,
                components={"mapping": dict(name="G_mapping", build_func_name="G_mapping",
                                            variables=m),
                            "synthesis": dict(name="G_synthesis",
                                              build_func_name="G_synthesis_stylegan2",
                                              variables=s)})


# ---------------------------------------------------------------------------------------------
# NVlabs PyTorch pickles (torch_utils.persistence)


def write_nvlabs_pickle(path: Path, G: torch.nn.Module, *, extra: dict | None = None,
                        module_src: str = "raise SystemExit('this source must never run')\n"
                        ) -> None:
    """Write ``{G, D, G_ema, augment_pipe, training_set_kwargs}`` as the NVlabs tools do.

    Every module pickles as ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with
    its ``__dict__`` as ``meta['state']`` and embedded source that must never be executed.
    """
    with fake_modules("torch_utils.persistence", "dnnlib.util") as (persistence, util):
        def _reconstruct_persistent_obj(meta):  # pragma: no cover - never called when loading
            raise AssertionError("a loader executed pickled code")

        _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
        _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
        persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
        easy = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
        util.EasyDict = easy

        class _Pickler(pickle.Pickler):
            def reducer_override(self, obj):
                if isinstance(obj, torch.nn.Module) and not isinstance(obj, torch.nn.Parameter):
                    state = dict(obj.__dict__)
                    state["_init_kwargs"] = easy(getattr(obj, "config", None) or {})
                    state["_init_args"] = ()
                    meta = dict(type="class", version=6, module_src=module_src,
                                class_name=type(obj).__name__, state=state)
                    return (_reconstruct_persistent_obj, (meta,))
                return NotImplemented

        content = dict(G=G, D=None, G_ema=G, augment_pipe=None,
                       training_set_kwargs=easy(resolution=G.img_resolution))
        content.update(extra or {})
        with open(path, "wb") as f:
            _Pickler(f, protocol=4).dump(content)


# ---------------------------------------------------------------------------------------------
# rosinality checkpoints


def rosinality_state(G) -> dict[str, torch.Tensor]:
    """Our StyleGAN2 module's weights in rosinality's ``Generator`` naming."""
    sd = {k: v.detach().clone() for k, v in G.state_dict().items()}
    out: dict[str, torch.Tensor] = {}
    i = 0
    while f"mapping.fc{i}.weight" in sd:
        out[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"]
        i += 1
    out["input.input"] = sd["synthesis.b4.const"][None]

    def layer(src: str, dst: str, with_noise: bool) -> None:
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None]
        out[f"{dst}.conv.modulation.weight"] = sd[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = sd[f"{src}.affine.bias"]
        if with_noise:
            out[f"{dst}.noise.weight"] = sd[f"{src}.noise_strength"].reshape(1)
            out[f"{dst}.activate.bias"] = sd[f"{src}.bias"]
        else:
            out[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(1, -1, 1, 1)

    layer("synthesis.b4.conv1", "conv1", True)
    layer("synthesis.b4.torgb", "to_rgb1", False)
    noise = 0
    out[f"noises.noise_{noise}"] = sd["synthesis.b4.conv1.noise_const"][None, None]
    for k, res in enumerate(G.synthesis.block_resolutions[1:]):
        for j in (0, 1):
            layer(f"synthesis.b{res}.conv{j}", f"convs.{2 * k + j}", True)
            noise += 1
            out[f"noises.noise_{noise}"] = sd[f"synthesis.b{res}.conv{j}.noise_const"][None, None]
        out[f"convs.{2 * k}.conv.blur.kernel"] = torch.ones(4, 4)
        layer(f"synthesis.b{res}.torgb", f"to_rgbs.{k}", False)
        out[f"to_rgbs.{k}.upsample.kernel"] = torch.ones(4, 4)
    return out


def write_rosinality(path: Path, G, *, with_latent_avg: bool = True, train_ckpt: bool = True,
                     legacy_format: bool = False) -> None:
    """A ``train.py`` checkpoint (``g_ema`` + ``args``) or a ``convert_weight.py`` one."""
    g_ema = rosinality_state(G)
    if train_ckpt:
        args = argparse.Namespace(size=G.img_resolution, latent=G.z_dim, n_mlp=8,
                                  channel_multiplier=2, arch="stylegan2")
        ckpt = dict(g=g_ema, d={}, g_ema=g_ema, g_optim={}, d_optim={}, args=args,
                    ada_aug_p=0.0)
    else:
        ckpt = dict(g_ema=g_ema)
    if with_latent_avg:
        ckpt["latent_avg"] = G.mapping.w_avg.detach().clone()
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy_format)
