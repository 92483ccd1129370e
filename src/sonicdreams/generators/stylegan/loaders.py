"""Every StyleGAN weight format, read without executing anything from the file.

Formats are told apart by content, never by file name:

* TensorFlow pickles ``(G, D, Gs)`` of StyleGAN (v1), StyleGAN2 and StyleGAN2-ADA (TF),
  including forks with extra keyword arguments (TPU ``resolution_w/_h``, DiffAugment ``impl``)
  and LabelConcat conditional models (WikiArt);
* NVlabs PyTorch pickles ``{G, D, G_ema, …}`` of stylegan2-ada-pytorch and stylegan3;
* rosinality ``.pt`` checkpoints (``g_ema``), and plain state dicts in NVlabs naming.

Each reader returns :class:`NetworkWeights`: a plain config that rebuilds the network with our
own modules, and its state dict in NVlabs naming.
"""

from __future__ import annotations

import argparse
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import ModelFormatError, SonicDreamsWarning, UnsafeModelError
from ..verify import verify_model_file
from .unpickle import Record, TFNetwork, safe_load, torch_refusal

__all__ = ["NetworkWeights", "read_weights", "build_generator", "state_dict_from_record",
           "sg2_config_from_state", "describe_head"]


@dataclass(frozen=True)
class NetworkWeights:
    """A generator's hyperparameters and weights, ready for :func:`build_generator`."""

    config: dict
    """Plain, JSON-serialisable hyperparameters; ``config['arch']`` is sg1, sg2 or sg3."""
    state: dict[str, torch.Tensor]
    """Parameters and buffers by name (NVlabs naming for sg2/sg3)."""
    source_format: str
    """tf-sg1, tf-sg2, pt-nvlabs, rosinality or state-dict."""


def build_generator(config: dict) -> torch.nn.Module:
    """A fresh generator module (random weights) with the hyperparameters in ``config``."""
    arch = config.get("arch")
    kwargs = {k: v for k, v in config.items() if k != "arch"}
    if arch == "sg2":
        from .sg2 import Generator

        return Generator(**kwargs)
    if arch == "sg3":
        from .sg3 import Generator as SG3

        return SG3.from_config(config)
    if arch == "sg1":
        from .sg1 import Generator as SG1

        return SG1.from_config(config)
    raise ModelFormatError(f"unknown network architecture {arch!r} in a converted config")


# ---------------------------------------------------------------------------------------------
# Sniffing


def describe_head(head: bytes) -> str | None:
    """What a file that is not a weight file is, judged from its first bytes (or None)."""
    text = head.lstrip().lower()
    if not head:
        return "an empty file (a download that never started?)"
    if text.startswith((b"<!doctype", b"<html", b"<head", b"<?xml", b"<body")):
        return ("a web page, not weights: the download returned an HTML page (a quota, login "
                "or 'file not found' page); download the file again in a browser")
    if text.startswith((b"{", b"[")):
        return "a JSON/text document, not weights (an error message from the server?)"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "an xz-compressed file: decompress it first (`unxz FILE`)"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip-compressed file: decompress it first (`gunzip FILE`)"
    if head.startswith(b"Rar!") or head.startswith(b"7z\xbc\xaf"):
        return "an archive: extract the weight file from it first"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 (Keras) file, which is not a StyleGAN format sonicdreams reads"
    return None


def read_weights(path: str | Path) -> NetworkWeights:
    """Read any supported weight file (see the module docstring).

    Raises
    ------
    ModelFormatError
        The file is not weights (HTML page, truncated, compressed, unknown layout).
    UnsafeModelError
        The file asks to run code outside the allow-list; nothing was executed.

    The file's structure is checked first (``generators.verify.verify_model_file``), so a
    truncated, lying or malicious file never reaches the unpickler.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such weight file") from None
    except IsADirectoryError:
        raise ModelFormatError(f"{path} is a directory, not a weight file") from None
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    what = describe_head(head)
    if what:
        raise ModelFormatError(f"{path} is {what}")
    if not head.startswith((b"\x80", b"PK\x03\x04")):
        raise ModelFormatError(
            f"{path} is not a StyleGAN weight file (not a pickle or a PyTorch checkpoint; "
            f"it starts with {head[:8]!r})")
    if verify_model_file(path) != "pickle":
        return _from_torch_file(path)
    with open(path, "rb") as f:
        obj = _unpickle(f, path)
    return _from_pickled(obj, path)


def _unpickle(f, path: Path) -> Any:
    try:
        return safe_load(f)
    except UnsafeModelError as exc:
        raise UnsafeModelError(f"{path}: {exc}") from None
    except (EOFError, pickle.UnpicklingError, ValueError, IndexError, TypeError,
            AttributeError, KeyError, OverflowError, MemoryError, RuntimeError) as exc:
        size = path.stat().st_size
        raise ModelFormatError(
            f"{path} ({size:,} bytes) is complete but could not be read as a weight pickle "
            f"({_reason(exc)}); it is damaged: download it again") from None


def _reason(exc: BaseException) -> str:
    """The first line of an error from torch or pickle, minus any advice to disable safety."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    return type(exc).__name__ if not text or "weights_only" in text else text[:200]


# ---------------------------------------------------------------------------------------------
# Pickles


def _from_pickled(obj: Any, path: Path) -> NetworkWeights:
    if isinstance(obj, tuple) and obj and all(isinstance(o, TFNetwork) for o in obj):
        return _from_tf(obj[-1], path)  # (G, D, Gs): Gs is the averaged generator
    if isinstance(obj, TFNetwork):
        return _from_tf(obj, path)
    if isinstance(obj, dict):
        for key in ("G_ema", "Gs", "G"):
            if isinstance(obj.get(key), Record):
                return _from_record(obj[key], path)
            if isinstance(obj.get(key), TFNetwork):
                return _from_tf(obj[key], path)
        return _from_checkpoint_dict(obj, path)
    if isinstance(obj, Record):
        return _from_record(obj, path)
    raise ModelFormatError(
        f"{path} is a pickle, but of {type(obj).__name__}, not a StyleGAN network "
        "(expected a TensorFlow (G, D, Gs) tuple or an NVlabs dict with G_ema)")


def state_dict_from_record(record: Record, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten an NVlabs module record the way ``nn.Module.state_dict()`` would."""
    out: dict[str, torch.Tensor] = {}
    state = record.state
    for name, value in (state.get("_parameters") or {}).items():
        if value is not None:
            out[prefix + name] = _tensor(value)
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in skip:
            out[prefix + name] = _tensor(value)
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, Record):
            out.update(state_dict_from_record(child, prefix + name + "."))
    return out


def _tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float32) if value.is_floating_point() \
            else value.detach().cpu()
    return torch.as_tensor(np.asarray(value))


def _from_record(G: Record, path: Path) -> NetworkWeights:
    modules = G.modules
    synthesis = modules.get("synthesis")
    if not isinstance(synthesis, Record) or not isinstance(modules.get("mapping"), Record):
        raise ModelFormatError(
            f"{path}: the network {G.class_name or '?'} has no mapping and synthesis networks; "
            "it is not a StyleGAN generator")
    state = state_dict_from_record(G)
    if isinstance(synthesis.modules.get("input"), Record):
        from .sg3_config import config_from_record

        return NetworkWeights(config_from_record(G), state, "pt-nvlabs")
    mapping = modules["mapping"]
    fc0 = mapping.modules.get("fc0")
    b4 = synthesis.modules.get("b4")
    conv1 = b4.modules.get("conv1") if isinstance(b4, Record) else None
    hints = dict(
        lr_multiplier=_float(fc0.attr("bias_gain")) if isinstance(fc0, Record) else None,
        activation=fc0.attr("activation") if isinstance(fc0, Record) else None,
        conv_clamp=conv1.attr("conv_clamp") if isinstance(conv1, Record) else None,
    )
    return NetworkWeights(sg2_config_from_state(state, **hints), state, "pt-nvlabs")


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# ---------------------------------------------------------------------------------------------
# StyleGAN2 hyperparameters from weight shapes


def sg2_config_from_state(state: dict[str, torch.Tensor], *, lr_multiplier: float | None = None,
                          activation: str | None = None,
                          conv_clamp: float | None = None) -> dict:
    """StyleGAN2 hyperparameters read off the shapes of an NVlabs-named state dict."""
    fcs = sorted(int(m.group(1)) for k in state
                 if (m := re.fullmatch(r"mapping\.fc(\d+)\.weight", k)))
    if not fcs or "synthesis.b4.const" not in state:
        raise ModelFormatError("these weights have no mapping.fc0 or synthesis.b4.const: "
                               "not a StyleGAN2 generator")
    num_layers = len(fcs)
    w_dim = state[f"mapping.fc{num_layers - 1}.weight"].shape[0]
    in0 = state["mapping.fc0.weight"].shape[1]
    label_concat = "mapping.label_weight" in state
    if label_concat:
        c_dim, z_dim = state["mapping.label_weight"].shape
        embed_features = None
    elif "mapping.embed.weight" in state:
        embed_features, c_dim = state["mapping.embed.weight"].shape
        z_dim = in0 - embed_features
    else:
        c_dim, z_dim, embed_features = 0, in0, None
    resolutions = sorted({int(m.group(1)) for k in state
                          if (m := re.match(r"synthesis\.b(\d+)\.", k))})
    res = resolutions[-1]
    if resolutions != [2 ** i for i in range(2, res.bit_length())]:
        raise ModelFormatError(f"the synthesis blocks {resolutions} do not form a 4…{res} "
                               "pyramid; the weights are incomplete")
    channels = [state["synthesis.b4.const"].shape[0]] + [
        state[f"synthesis.b{r}.conv1.weight"].shape[0] for r in resolutions[1:]]
    if any(f"synthesis.b{r}.skip.weight" in state for r in resolutions):
        architecture = "resnet"
    elif len(resolutions) == 1 or any(f"synthesis.b{r}.torgb.weight" in state
                                      for r in resolutions[:-1]):
        architecture = "skip"
    else:
        architecture = "orig"
    mapping_kwargs: dict[str, Any] = dict(num_layers=num_layers,
                                          lr_multiplier=lr_multiplier or 0.01)
    if num_layers > 1:
        mapping_kwargs["layer_features"] = state["mapping.fc0.weight"].shape[0]
    if embed_features is not None:
        mapping_kwargs["embed_features"] = embed_features
    if label_concat:
        mapping_kwargs["label_concat"] = True
    if activation and activation != "lrelu":
        mapping_kwargs["activation"] = activation
    return dict(arch="sg2", z_dim=int(z_dim), c_dim=int(c_dim), w_dim=int(w_dim),
                img_resolution=res,
                img_channels=int(state[f"synthesis.b{res}.torgb.weight"].shape[0]),
                mapping_kwargs=mapping_kwargs, channels=[int(c) for c in channels],
                architecture=architecture,
                conv_clamp=None if conv_clamp is None else float(conv_clamp),
                use_noise="synthesis.b4.conv1.noise_strength" in state)


# ---------------------------------------------------------------------------------------------
# TensorFlow pickles

_TF_KNOWN_SG2_KWARGS = {
    "latent_size", "label_size", "dlatent_size", "resolution", "num_channels",
    "mapping_layers", "mapping_fmaps", "mapping_lrmul", "mapping_nonlinearity", "label_fmaps",
    "fmap_base", "fmap_max", "fmap_decay", "fmap_min", "architecture", "nonlinearity",
    "resample_kernel", "use_noise", "num_fp16_res", "conv_clamp", "dtype", "fused_modconv",
    "truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val",
    "style_mixing_prob", "structure", "conditioning", "randomize_noise", "is_template_graph",
    "components", "w_avg_beta", "dlatent_avg_beta", "resolution_w", "resolution_h", "impl",
    "normalize_latents", "return_dlatents", "mapping_func", "synthesis_func", "is_training",
    "is_validation", "force_clean_graph", "use_instance_norm",
}


def _from_tf(Gs: TFNetwork, path: Path) -> NetworkWeights:
    name = Gs.build_func_name
    synthesis = Gs.components.get("synthesis")
    if name == "G_paper":
        raise ModelFormatError(f"{path} is a ProGAN network, not StyleGAN; it cannot be used")
    if not isinstance(synthesis, TFNetwork) or not isinstance(Gs.components.get("mapping"),
                                                              TFNetwork):
        raise ModelFormatError(f"{path}: the TensorFlow network {Gs.state.get('name')!r} "
                               f"({name or 'unknown kind'}) has no mapping and synthesis parts; "
                               "it is not a StyleGAN generator (is it a discriminator?)")
    synth_vars = synthesis.variables
    if name == "G_style" or any("StyleMod/" in k for k in synth_vars):
        from .sg1_tf import from_tf

        config, state = from_tf(Gs)
        return NetworkWeights(config, state, "tf-sg1")
    if any(k.startswith("ToRGB_lod") for k in synth_vars):
        raise ModelFormatError(
            f"{path} is a StyleGAN2 config A-D network (progressive 'revised' synthesis), "
            "which no released StyleGAN2 tool runs; use a config E or F network")
    return _from_tf_sg2(Gs, path)


def _from_tf_sg2(Gs: TFNetwork, path: Path) -> NetworkWeights:
    kwargs = Gs.static_kwargs
    unknown = sorted(set(kwargs) - _TF_KNOWN_SG2_KWARGS)
    if unknown:
        warnings.warn(f"{path.name}: ignoring unfamiliar network options {', '.join(unknown)}; "
                      "the architecture is read from the weights", SonicDreamsWarning,
                      stacklevel=3)
    rw, rh = kwargs.get("resolution_w"), kwargs.get("resolution_h")
    if rw is not None and rh is not None and int(rw) != int(rh):
        raise ModelFormatError(f"{path} is a non-square ({rw}x{rh}) network, which is not "
                               "supported")
    m = Gs.components["mapping"].variables
    s = Gs.components["synthesis"].variables
    own = Gs.variables
    t = _as_torch
    state: dict[str, torch.Tensor] = {}
    if "dlatent_avg" in own:
        state["mapping.w_avg"] = t(own["dlatent_avg"])
    i = 0
    while f"Dense{i}/weight" in m:
        state[f"mapping.fc{i}.weight"] = t(m[f"Dense{i}/weight"]).T.contiguous()
        state[f"mapping.fc{i}.bias"] = t(m[f"Dense{i}/bias"])
        i += 1
    if i == 0:
        raise ModelFormatError(f"{path}: the mapping network has no Dense layers")
    if "LabelEmbed/weight" in m:
        state["mapping.embed.weight"] = t(m["LabelEmbed/weight"]).T.contiguous()
        state["mapping.embed.bias"] = t(m["LabelEmbed/bias"])
    if "LabelConcat/weight" in m:
        state["mapping.label_weight"] = t(m["LabelConcat/weight"])
    if "mapping.w_avg" not in state:
        state["mapping.w_avg"] = torch.zeros(state[f"mapping.fc{i - 1}.weight"].shape[0])
    try:
        state["synthesis.b4.const"] = t(s["4x4/Const/const"])[0]
    except KeyError:
        raise ModelFormatError(f"{path}: the synthesis network has no 4x4/Const") from None
    res_scopes = sorted({int(mm.group(1)) for k in s
                         if (mm := re.match(r"(\d+)x\1/", k))})

    def conv(dst: str, src: str, res_log2: int, noise_idx: int | None, flip: bool) -> None:
        w = s[f"{src}/weight"]
        if flip:
            w = w[::-1, ::-1]
        state[f"{dst}.weight"] = t(np.ascontiguousarray(w)).permute(3, 2, 0, 1).contiguous()
        state[f"{dst}.affine.weight"] = t(s[f"{src}/mod_weight"]).T.contiguous()
        state[f"{dst}.affine.bias"] = t(s[f"{src}/mod_bias"]) + 1
        state[f"{dst}.bias"] = t(s[f"{src}/bias"])
        if f"{src}/noise_strength" in s:
            state[f"{dst}.noise_strength"] = t(s[f"{src}/noise_strength"]).reshape([])
            state[f"{dst}.noise_const"] = t(s[f"noise{noise_idx}"])[0, 0]

    def torgb(dst: str, src: str) -> None:
        state[f"{dst}.weight"] = t(s[f"{src}/weight"]).permute(3, 2, 0, 1).contiguous()
        state[f"{dst}.affine.weight"] = t(s[f"{src}/mod_weight"]).T.contiguous()
        state[f"{dst}.affine.bias"] = t(s[f"{src}/mod_bias"]) + 1
        state[f"{dst}.bias"] = t(s[f"{src}/bias"])

    for res in res_scopes:
        r = res.bit_length() - 1
        scope = f"{res}x{res}"
        if res == 4:
            conv("synthesis.b4.conv1", "4x4/Conv", r, 0, False)
        else:
            conv(f"synthesis.b{res}.conv0", f"{scope}/Conv0_up", r, 2 * r - 5, True)
            conv(f"synthesis.b{res}.conv1", f"{scope}/Conv1", r, 2 * r - 4, False)
            if f"{scope}/Skip/weight" in s:
                w = np.ascontiguousarray(s[f"{scope}/Skip/weight"][::-1, ::-1])
                state[f"synthesis.b{res}.skip.weight"] = t(w).permute(3, 2, 0, 1).contiguous()
        if f"{scope}/ToRGB/weight" in s:
            torgb(f"synthesis.b{res}.torgb", f"{scope}/ToRGB")
    lrmul = kwargs.get("mapping_lrmul", 0.01)
    act = kwargs.get("mapping_nonlinearity", "lrelu")
    clamp = kwargs.get("conv_clamp")
    config = sg2_config_from_state(state, lr_multiplier=float(lrmul), activation=act,
                                   conv_clamp=clamp)
    return NetworkWeights(config, state, "tf-sg2")


def _as_torch(value: Any) -> torch.Tensor:
    return torch.from_numpy(np.array(value, dtype=np.float32))


# ---------------------------------------------------------------------------------------------
# PyTorch checkpoints (rosinality, plain state dicts)


def _from_torch_file(path: Path) -> NetworkWeights:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's text advises disabling safety: say ours
        raise UnsafeModelError(f"{path}: {torch_refusal(exc)}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelFormatError(
            f"{path} could not be read as a PyTorch checkpoint ({_reason(exc)}); it is "
            "damaged: download it again") from None
    if not isinstance(obj, dict):
        raise ModelFormatError(f"{path} holds a {type(obj).__name__}, not a generator's weights")
    return _from_checkpoint_dict(obj, path)


def _from_checkpoint_dict(obj: dict, path: Path) -> NetworkWeights:
    if isinstance(obj.get("g_ema"), dict):
        args = obj.get("args")
        if getattr(args, "arch", None) == "swagan":
            raise ModelFormatError(f"{path} is a SWAGAN (wavelet) checkpoint, which is not "
                                   "supported; use a StyleGAN2 checkpoint")
        state = _rename_rosinality(obj["g_ema"], obj.get("latent_avg"))
        return NetworkWeights(sg2_config_from_state(state), state, "rosinality")
    if "style.1.weight" in obj:
        state = _rename_rosinality(obj, obj.get("latent_avg"))
        return NetworkWeights(sg2_config_from_state(state), state, "rosinality")
    if "synthesis.b4.const" in obj or "mapping.fc0.weight" in obj:
        state = {k: _tensor(v) for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if "synthesis.input.weight" in state:
            raise ModelFormatError(f"{path} is a bare StyleGAN3 state dict; its hyperparameters "
                                   "are not in the file. Use the NVlabs .pkl instead")
        return NetworkWeights(sg2_config_from_state(state), state, "state-dict")
    keys = ", ".join(sorted(map(str, obj))[:8])
    raise ModelFormatError(f"{path} holds a dict with keys {keys}…, not a StyleGAN generator "
                           "(expected g_ema, G_ema or the tensors of one)")


def _rename_rosinality(g: dict, latent_avg: Any) -> dict[str, torch.Tensor]:
    """rosinality's ``Generator`` names → NVlabs names (a pure rename/reshape, no flips)."""
    state: dict[str, torch.Tensor] = {}
    convs: dict[str, str] = {}
    noises: dict[int, torch.Tensor] = {}
    n_to_rgbs = sum(1 for k in g if re.fullmatch(r"to_rgbs\.\d+\.bias", k))
    res_log2 = n_to_rgbs + 2
    for key, value in g.items():
        if not isinstance(value, torch.Tensor):
            continue
        value = value.detach().to(torch.float32)
        if m := re.fullmatch(r"style\.(\d+)\.(weight|bias)", key):
            state[f"mapping.fc{int(m.group(1)) - 1}.{m.group(2)}"] = value
        elif key == "input.input":
            state["synthesis.b4.const"] = value[0]
        elif m := re.fullmatch(r"noises\.noise_(\d+)", key):
            noises[int(m.group(1))] = value[0, 0]
        elif m := re.fullmatch(r"(conv1|convs\.(\d+))\.(.+)", key):
            if m.group(1) == "conv1":
                dst = "synthesis.b4.conv1"
            else:
                idx = int(m.group(2))
                dst = f"synthesis.b{2 ** (idx // 2 + 3)}.conv{idx % 2}"
            convs[dst] = ""
            _rename_layer(state, dst, m.group(3), value)
        elif m := re.fullmatch(r"(to_rgb1|to_rgbs\.(\d+))\.(.+)", key):
            res = 4 if m.group(1) == "to_rgb1" else 2 ** (int(m.group(2)) + 3)
            _rename_layer(state, f"synthesis.b{res}.torgb", m.group(3), value)
    for i, noise in noises.items():
        if i == 0:
            dst = "synthesis.b4.conv1"
        else:
            k = (i - 1) // 2
            dst = f"synthesis.b{2 ** (k + 3)}.conv{(i - 1) % 2}"
        state[f"{dst}.noise_const"] = noise
    if latent_avg is not None:
        state["mapping.w_avg"] = torch.as_tensor(latent_avg, dtype=torch.float32).reshape(-1)
    if "synthesis.b4.const" not in state or res_log2 < 2:
        raise ModelFormatError("this rosinality checkpoint has no input.input constant")
    return state


def _rename_layer(state: dict, dst: str, rest: str, value: torch.Tensor) -> None:
    if rest == "conv.weight":
        state[f"{dst}.weight"] = value[0]
    elif rest == "conv.modulation.weight":
        state[f"{dst}.affine.weight"] = value
    elif rest == "conv.modulation.bias":
        state[f"{dst}.affine.bias"] = value
    elif rest in ("activate.bias", "bias"):
        state[f"{dst}.bias"] = value.reshape(-1)
    elif rest == "noise.weight":
        state[f"{dst}.noise_strength"] = value.reshape([])
    # blur/upsample kernels are rebuilt from the filter taps

