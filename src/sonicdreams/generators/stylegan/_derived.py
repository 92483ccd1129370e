"""Tensors computed from a weight alone, kept while the weight lives and is unchanged."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["derived", "tensor_version"]


def tensor_version(t: torch.Tensor) -> int:
    """Its in-place version counter (inference tensors have none: they cannot change)."""
    try:
        return t._version
    except RuntimeError:  # inference tensors have no version counter (they cannot change)
        return -1


_derived: dict = {}  # (id of the weight, what) → (weakref to the weight, its signature, value)


def derived(weight: torch.Tensor, what, make: Callable[[], Any]) -> Any:
    """``make()``, computed from ``weight`` alone (a scaled copy, its squares' sums, a
    transform), kept while ``weight`` lives and is unchanged: weights are constant while
    frames render, and recomputing these cost 5-10 % of a frame. One value per weight and
    ``what`` (a changed weight, or one moved by ``.to()``, replaces it); never cached where
    autograd records (``make`` must stay differentiable)."""
    if weight.requires_grad and torch.is_grad_enabled():
        return make()
    key = (id(weight), what)
    sig = (tensor_version(weight), weight.data_ptr(), weight.dtype, weight.device,
           tuple(weight.shape), tuple(weight.stride()), weight.storage_offset())
    entry = _derived.get(key)
    alive = entry is not None and entry[0]() is weight
    if alive and entry[1] == sig:
        return entry[2]
    with torch.inference_mode(False), torch.no_grad():  # usable outside inference mode later
        value = make()
    ref = entry[0] if alive else weakref.ref(weight)
    if not alive:  # (one finalizer per weight and value: it drops the entry with the weight)
        weakref.finalize(weight, _forget, key, ref)
    _derived[key] = (ref, sig, value)
    return value


def _forget(key: tuple, ref: weakref.ref) -> None:
    entry = _derived.get(key)
    if entry is not None and entry[0] is ref:
        del _derived[key]
