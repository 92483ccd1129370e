"""Compiled kernels: numba on first use, cached in sonicdreams' cache folder.

A kernel is written as a plain Python function (``*_py``, which tests and machines without
numba run as is) and wrapped with :func:`lazy_kernel`: numba is imported and the function
compiled only when a render first needs it, so a demo compiles only what it draws. The
machine code is kept in ``numba/`` under :func:`~sonicdreams.paths.cache_root` (a wheel's
own folder is often read-only, and a user's cache is where people look for what a tool
keeps); numba checks the source's hash, so an upgrade compiles again. Where the cache is off
(or ``NUMBA_CACHE_DIR`` is set, or numba's internals have moved) numba's own places are used.
Each real compile (not a load from the cache) is logged (``sonicdreams.compile``) and
announced to the :func:`on_compile` listeners: the CLI says so while it waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["lazy_kernel", "njit", "cache_folder", "on_compile"]

log = logging.getLogger("sonicdreams.compile")
_PACKAGE = Path(__file__).resolve().parent
_installed = threading.Lock()
_listeners: list[Callable[[str, bool], None]] = []
_ready = False


def cache_folder() -> Path | None:
    """Where compiled kernels are kept: ``numba/`` in the cache, or ``None`` (caching off)."""
    from .paths import cache_root

    root = cache_root()
    return None if root is None else root / "numba"


def on_compile(listener: Callable[[str, bool], None]) -> Callable[[], None]:
    """Call ``listener(name, done)`` when one of sonicdreams' kernels starts (``False``) and
    ends (``True``) compiling, on the compiling thread. Returns a function that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def _ours(py_file: str) -> bool:
    try:
        return Path(py_file).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False


def _kernel_name(py_func) -> str:
    kernel = py_func.__name__.removesuffix("_py").lstrip("_")
    return f"{py_func.__module__.rsplit('.', 1)[-1]}.{kernel}"  # e.g. cppn.paint


def _install() -> None:
    """Once per process: a cache locator for sonicdreams' kernels at the front of numba's
    list (it answers only for functions in this package: other libraries' caches stay where
    numba keeps them) and a listener of numba's ``numba:compile`` events."""
    global _ready
    with _installed:
        if _ready:
            return
        _ready = True
        from numba.core import config, event

        try:
            from numba.core import caching

            class Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
                def __init__(self, py_func, py_file, folder: Path) -> None:
                    self._py_file = py_file
                    self._lineno = py_func.__code__.co_firstlineno
                    self._cache_path = str(folder / self.get_suitable_cache_subpath(py_file))

                def get_cache_path(self) -> str:
                    return self._cache_path

                @classmethod
                def from_function(cls, py_func, py_file):
                    folder = cache_folder()
                    if folder is None or config.CACHE_DIR or not _ours(py_file):
                        return None
                    self = cls(py_func, py_file, folder)
                    try:
                        self.ensure_cache_path()
                    except OSError:
                        return None  # (not writable: numba's own places)
                    return self

            impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # (older numba)
            impl._locator_classes.insert(0, Locator)
        except (AttributeError, ImportError, TypeError) as e:  # numba's internals moved
            log.warning("compiled kernels are cached where numba keeps them (%s)", e)

        class Compiling(event.Listener):
            def on_start(self, ev) -> None:
                self._tell(ev, False)

            def on_end(self, ev) -> None:
                self._tell(ev, True)

            @staticmethod
            def _tell(ev, done: bool) -> None:
                py_func = getattr(ev.data.get("dispatcher"), "py_func", None)
                if py_func is None or not _ours(py_func.__code__.co_filename):
                    return
                name = _kernel_name(py_func)
                log.debug("%s %s at %.3f", "compiled" if done else "compiling", name,
                          time.perf_counter())
                for listener in list(_listeners):
                    listener(name, done)

        event.register("numba:compile", Compiling())


def njit(py_func, **options):
    """``numba.njit(cache=True, nogil=True, **options)(py_func)``, the cache in
    :func:`cache_folder`: a numba dispatcher (kernels may call each other)."""
    import numba

    _install()
    return numba.njit(cache=True, nogil=True, **options)(py_func)


def lazy_kernel(py_func, **options):
    """A getter of ``py_func`` compiled by :func:`njit` (fastmath, numpy's error model), made
    on the getter's first call; ``py_func`` itself where numba is missing.

    Importing numba is slow, so a kernel is made when a render first needs it (and compiled,
    or loaded from the cache, on its first call: numba's own lock makes a batch's threads,
    which all call at once, compile it once).
    """
    options = {"fastmath": True, "error_model": "numpy", **options}
    made: list = []
    lock = threading.Lock()

    def get():
        if not made:
            with lock:
                if not made:
                    try:
                        made.append(njit(py_func, **options))
                    except ImportError:  # pragma: no cover - numba is a dependency
                        made.append(py_func)
        return made[0]

    return get
