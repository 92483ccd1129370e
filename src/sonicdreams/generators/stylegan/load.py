"""``load_stylegan``: any weight file or catalogue name → a ready ``torch.nn.Module``.

Converted generators are cached as safetensors (the averaged generator only, with its config
in the file's metadata), so the second load skips unpickling and conversion.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import torch

from ...errors import ModelFormatError, StyleError
from .loaders import NetworkWeights, build_generator, read_weights

__all__ = ["load_stylegan", "assemble", "converted_cache_dir", "resolve_weights"]

log = logging.getLogger(__name__)

_CACHE_FORMAT = 1


def assemble(weights: NetworkWeights) -> torch.nn.Module:
    """Build the module for ``weights.config`` and load ``weights.state`` into it, checked.

    Buffers a format does not store (resampling filters) keep their built values; a missing
    ``w_avg`` (rosinality checkpoints trained from scratch) is estimated from 10 000 latents.
    """
    G = build_generator(weights.config)
    expected = G.state_dict()
    state = dict(weights.state)
    rebuilt = {k for k in expected if k not in state and k.endswith("resample_filter")}
    estimate_w_avg = "mapping.w_avg" in expected and "mapping.w_avg" not in state
    missing = sorted(set(expected) - set(state) - rebuilt - {"mapping.w_avg"})
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelFormatError(
            "the weights do not match the network they describe"
            + (f"; missing: {', '.join(missing[:5])}" if missing else "")
            + (f"; unexpected: {', '.join(unexpected[:5])}" if unexpected else ""))
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ModelFormatError(f"the weights do not match their network: {key} has shape "
                                   f"{tuple(value.shape)}, expected {tuple(expected[key].shape)}")
    for key in rebuilt:
        state[key] = expected[key]
    if estimate_w_avg:
        state["mapping.w_avg"] = expected["mapping.w_avg"]
    G.load_state_dict(state, strict=True)
    G.eval().requires_grad_(False)
    if estimate_w_avg:
        _estimate_w_avg(G)
    return G


@torch.inference_mode()
def _estimate_w_avg(G: torch.nn.Module, n: int = 10_000) -> None:
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n, G.z_dim, generator=gen)
    c = torch.zeros(n, G.c_dim)
    ws = G.mapping(z, c)
    G.mapping.w_avg.copy_(ws[:, 0].mean(dim=0) if ws.ndim == 3 else ws.mean(dim=0))


def converted_cache_dir() -> Path:
    """Where converted generators are kept (``SONICDREAMS_MODELS``/converted)."""
    from ...paths import models_dir

    return models_dir() / "converted"


def _cache_key(path: Path) -> str:
    st = path.stat()
    ident = f"{_CACHE_FORMAT}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def _load_cached(file: Path) -> torch.nn.Module | None:
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            meta = f.metadata() or {}
            config = json.loads(meta["config"])
            state = {k: f.get_tensor(k) for k in f.keys()}
        return assemble(NetworkWeights(config, state, meta.get("source_format", "cache")))
    except Exception as exc:  # a damaged cache entry is rebuilt, never fatal
        log.warning("ignoring damaged converted cache %s (%s)", file, exc)
        return None


def _save_cached(file: Path, G: torch.nn.Module, source_format: str) -> None:
    from safetensors.torch import save_file

    file.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in G.state_dict().items()}
    meta = {"config": json.dumps(G.config), "source_format": source_format,
            "format": str(_CACHE_FORMAT)}
    fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".part")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=meta)
        os.replace(tmp, file)
    except OSError as exc:  # a read-only cache only costs speed
        log.warning("could not cache the converted generator at %s (%s)", file, exc)
        Path(tmp).unlink(missing_ok=True)


def load_stylegan(path_or_name: str | os.PathLike, *, device: str | torch.device | None = None,
                  cache: bool = True) -> torch.nn.Module:
    """A StyleGAN generator from a weight file or a catalogue style name.

    Parameters
    ----------
    path_or_name : str or path
        A weight file in any supported format (TF pickle, NVlabs pickle, rosinality ``.pt``),
        or a catalogue name such as ``"wikiart"`` (downloaded once, then cached).
    device : str, torch.device or None
        Where the module lives; ``None``: CUDA when available, else the CPU.
    cache : bool
        Keep (and reuse) a converted safetensors copy, which loads much faster.

    Returns
    -------
    torch.nn.Module
        In eval mode, with ``z_dim, c_dim, w_dim, img_resolution, img_channels, num_ws,
        mapping, synthesis`` and ``G(z, c, truncation_psi=1, truncation_cutoff=None,
        noise_mode='const')`` → NCHW float images in about [-1, 1].
    """
    from .device import resolve_device

    device = resolve_device(device)  # a clear error for a GPU that is not there
    path = resolve_weights(path_or_name)
    G = None
    cached = None
    from ...paths import cache_root

    if cache and cache_root() is not None:
        cached = converted_cache_dir() / f"{path.stem[:40]}-{_cache_key(path)}.safetensors"
        if cached.is_file():
            G = _load_cached(cached)
    if G is None:
        weights = read_weights(path)
        G = assemble(weights)
        if cached is not None:
            _save_cached(cached, G, weights.source_format)
    log.info("loaded %s: %s", path, G.extra_repr())
    return G.to(device)


def resolve_weights(path_or_name: str | os.PathLike) -> Path:
    """The weight file for a path or a catalogue name (downloaded into the cache first)."""
    path = Path(os.fspath(path_or_name)).expanduser()
    if path.exists():
        return path
    text = os.fspath(path_or_name)
    if any(sep in text for sep in ("/", os.sep)) or path.suffix.lower() in (
            ".pkl", ".pt", ".pth", ".ckpt", ".safetensors"):
        raise StyleError(f"{text}: no such weight file")
    from ..catalog import lookup

    entry = lookup(text)
    if entry is None:
        raise StyleError(f"{text!r} is neither a weight file nor a StyleGAN style in the "
                         "catalogue; see `sonicdreams styles`")
    from ..download import download

    return download(entry)
