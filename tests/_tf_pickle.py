"""Write NVlabs TensorFlow network pickles (``dnnlib.tflib.network.Network``) without TF or dnnlib.

The file holds the tuple ``(G, D, Gs)``. Each network pickles as the global
``dnnlib.tflib.network.Network`` created with NEWOBJ and filled by BUILD with its state dict, as
the real ``Network.__getstate__`` writes it: ``version, name, static_kwargs, components,
build_module_src, build_func_name, variables`` (version 5 adds the input/output names and
shapes; version 2, ProGAN's ``tfutil.Network``, has no ``components``). numpy arrays keep the
``numpy.core.multiarray`` names that files written before numpy 2 carry.

A network is described by a plain nested dict::

    {"name": "Gs", "build_func_name": "G_style", "static_kwargs": {...},
     "variables": {"dlatent_avg": array, ...},          # or a list of (name, array)
     "components": {"synthesis": {...}, "mapping": {...}}}
"""

from __future__ import annotations

import copyreg
import pickle
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_tf_pickle", "tf_network"]

_NEVER_RUN_SRC = "raise SystemExit('embedded network source must never be executed')\n"


class _Network:
    """Pickles as ``dnnlib.tflib.network.Network`` (see :class:`_Pickler`)."""

    def __init__(self, state: dict) -> None:
        self._state = state

    def __reduce_ex__(self, protocol: int):
        return (copyreg.__newobj__, (_Network,), self._state)


def _numpy_globals() -> dict[int, tuple[str, str]]:
    try:
        from numpy._core import multiarray as ma
    except ImportError:  # numpy 1.x already uses the old names
        return {}
    return {id(ma._reconstruct): ("numpy.core.multiarray", "_reconstruct"),
            id(ma.scalar): ("numpy.core.multiarray", "scalar")}


class _Pickler(pickle._Pickler):  # the Python pickler lets us name globals freely
    def __init__(self, file, protocol: int, module: str, name: str) -> None:
        super().__init__(file, protocol=protocol)
        self._renames = {id(_Network): (module, name), **_numpy_globals()}

    def save_global(self, obj: Any, name: str | None = None) -> None:
        target = self._renames.get(id(obj))
        if target is None:
            return super().save_global(obj, name)
        module, qualname = target
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode("ascii"))
        self.memoize(obj)


def tf_network(spec: dict, *, version: int = 4) -> _Network:
    """A picklable network from a nested plain-dict description (see the module docstring)."""
    variables = spec.get("variables", {})
    if isinstance(variables, dict):
        variables = list(variables.items())
    variables = [(str(k), v if np.isscalar(v) else np.asarray(v)) for k, v in variables]
    state: dict[str, Any] = dict(version=version, name=spec.get("name", "Gs"),
                                 static_kwargs=dict(spec.get("static_kwargs", {})))
    if version >= 3:
        state["components"] = {k: tf_network(v, version=version)
                               for k, v in spec.get("components", {}).items()}
    state["build_module_src"] = spec.get("build_module_src", _NEVER_RUN_SRC)
    state["build_func_name"] = spec.get("build_func_name", "")
    state["variables"] = variables
    if version >= 5:
        state.update(input_shapes=spec.get("input_shapes", [[None, 512]]),
                     output_shapes=spec.get("output_shapes", [[None, 3, 1024, 1024]]),
                     input_names=spec.get("input_names", ["latents_in"]),
                     output_names=spec.get("output_names", ["images_out"]))
    return _Network(state)


def write_tf_pickle(path: str | Path, gs_state: dict, *, version: int = 4, protocol: int = 4,
                    d_state: dict | None = None, module: str = "dnnlib.tflib.network",
                    name: str = "Network") -> Path:
    """Write ``(G, D, Gs)`` to ``path``; G is ``gs_state`` renamed 'G', D a tiny discriminator.

    ``version`` is the state-dict version (SG1: 3, SG2: 4, ADA-TF: 5, ProGAN: 2);
    ``protocol`` the pickle protocol (NVlabs wrote HIGHEST_PROTOCOL, 4 on Python 3.6/3.7).
    ``module``/``name`` give the class global (ProGAN: ``tfutil``/``Network``).
    """
    path = Path(path)
    g_state = dict(gs_state, name="G")
    gs_state = dict(gs_state, name=gs_state.get("name", "Gs"))
    if d_state is None:
        d_state = dict(name="D", build_func_name="D_basic",
                       variables={"Output/weight": np.zeros((4, 1), np.float32)})
    nets = tuple(tf_network(s, version=version) for s in (g_state, d_state, gs_state))
    with open(path, "wb") as f:
        _Pickler(f, protocol, module, name).dump(nets)
    return path
