"""StyleGAN (v1) TensorFlow pickles ↔ our :class:`~.sg1.Generator`.

``from_tf`` reads the unpickled ``Gs`` network (variables, static keyword arguments) into a
config and a state dict; ``to_tf_variables``/``to_tf_static_kwargs`` are the inverse, used by
the tests to write files in the TF layout.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np
import torch

from ...errors import ModelFormatError, SonicDreamsWarning
from .sg1 import ACTIVATIONS, Generator, SynthesisLayer, _blur_kernel

__all__ = ["from_tf", "to_tf_variables", "to_tf_static_kwargs"]


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
