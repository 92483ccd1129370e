"""Reading weight pickles without running anything from them.

A pickle can name any importable function and call it while loading: ``os.system`` is one
opcode away. The NVlabs files also embed their own source code and expect the loader to ``exec``
it. :class:`SafeUnpickler` resolves only an allow-list of globals — tensor and array
reconstructors, plain containers — and replaces the NVlabs classes with inert records that keep
the data (weights, hyperparameters) and drop the code. Any other global raises
:class:`~sonicdreams.errors.UnsafeModelError` before it is imported, let alone called. The names
allowed are :data:`~sonicdreams.generators.verify.PICKLE_GLOBALS`, which the structure check
applies before a file reaches this unpickler.
"""

from __future__ import annotations

import collections
import io
import pickle
import re
from typing import Any

from ...errors import UnsafeModelError
from ..verify import PICKLE_GLOBALS, unsafe_detail

__all__ = ["SafeUnpickler", "safe_load", "Record", "TFNetwork", "AttrDict", "torch_refusal"]


class AttrDict(dict):
    """Stands in for ``dnnlib.util.EasyDict``: a dict whose keys read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Record:
    """Stands in for an NVlabs ``persistent_class`` object (a network or layer).

    Keeps ``class_name`` and the module's ``state`` (its ``__dict__``: ``_parameters``,
    ``_buffers``, ``_modules``, ``_init_kwargs`` and plain attributes). The embedded module
    source is reduced to a length: it is never executed.
    """

    __slots__ = ("class_name", "state", "version", "source_chars", "has_synthesis_input")

    def __init__(self, meta: dict) -> None:
        if not isinstance(meta, dict):
            raise UnsafeModelError("a persistent object in this pickle is not a plain record")
        self.class_name = str(meta.get("class_name", ""))
        self.state = meta.get("state") or {}
        self.version = meta.get("version")
        src = meta.get("module_src") or ""
        self.source_chars = len(src)
        self.has_synthesis_input = "class SynthesisInput" in src

    def __repr__(self) -> str:
        return f"Record({self.class_name})"

    # helpers for walking a record tree
    @property
    def modules(self) -> dict:
        return dict(self.state.get("_modules") or {})

    def attr(self, name: str, default: Any = None) -> Any:
        return self.state.get(name, default)


class TFNetwork:
    """Stands in for ``dnnlib.tflib.network.Network``: keeps the state dict, runs no code."""

    def __setstate__(self, state: dict) -> None:
        if not isinstance(state, dict):
            raise UnsafeModelError("a TensorFlow network in this pickle has no plain state")
        self.state = state

    @property
    def variables(self) -> dict:
        return {str(k): v for k, v in self.state.get("variables", [])}

    @property
    def components(self) -> dict:
        return dict(self.state.get("components") or {})

    @property
    def static_kwargs(self) -> dict:
        return dict(self.state.get("static_kwargs") or {})

    @property
    def build_func_name(self) -> str:
        return str(self.state.get("build_func_name", ""))

    def __repr__(self) -> str:
        return f"TFNetwork({self.state.get('name')!r}, {self.build_func_name})"


def _reconstruct_persistent_obj(meta: dict) -> Record:
    return Record(meta)


def _load_storage_bytes(data: bytes):
    import torch

    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's text advises disabling safety: say ours
        raise UnsafeModelError(torch_refusal(exc)) from None


def torch_refusal(exc: BaseException) -> str:
    """Our words for torch's ``weights_only`` refusal: the global it names, nothing more."""
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    module, _, name = (found.group(1) if found else "").rpartition(".")
    if not name:
        return ("refused: the file asks to run code outside the allow-list — it is not a "
                "model; nothing was executed")
    return unsafe_detail(module, name)


def _allowed() -> dict[tuple[str, str], Any]:
    import numpy as np

    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("builtins", "complex"): complex,
        ("__builtin__", "set"): set,
        ("_codecs", "encode"): _codecs_encode,
        ("numpy", "dtype"): np.dtype,
        ("numpy", "ndarray"): np.ndarray,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): AttrDict,
        ("dnnlib", "EasyDict"): AttrDict,
        ("dnnlib.tflib.network", "Network"): TFNetwork,
        ("tfutil", "Network"): TFNetwork,  # ProGAN: recognised, rejected later by name
    }
    try:  # numpy 2 moved the reconstructors; pickles name either path
        from numpy._core import multiarray as _ma
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray as _ma

    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = _ma._reconstruct
        allowed[(mod, "scalar")] = _ma.scalar
    return allowed


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1'); only that is allowed.
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafeModelError(f"this pickle asks for the text codec {encoding!r}")
    return text.encode(encoding)


_TORCH_REBUILDERS = ("_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_parameter",
                     "_rebuild_parameter_with_state")


class SafeUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only allow-listed globals (see module docstring)."""

    _allow: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key not in PICKLE_GLOBALS:  # one allow-list, shared with the structure check
            raise UnsafeModelError(unsafe_detail(module, name))
        cls = type(self)
        if cls._allow is None:
            cls._allow = _allowed()
        if key in cls._allow:
            return cls._allow[key]
        if module == "torch._utils" and name in _TORCH_REBUILDERS:
            import torch._utils

            return getattr(torch._utils, name)
        if module == "torch.storage" and name == "_load_from_bytes":
            return _load_storage_bytes
        import torch

        return getattr(torch, name)  # the dtypes and torch.Size of PICKLE_GLOBALS

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeModelError(
            "refused: the pickle refers to external objects (persistent ids), which a plain "
            "weight pickle never does — it is not a model; nothing was executed")


def safe_load(file: io.BufferedIOBase) -> Any:
    """Unpickle ``file`` with :class:`SafeUnpickler` (``latin1`` for Python 2 era strings)."""
    return SafeUnpickler(file, encoding="latin1").load()
