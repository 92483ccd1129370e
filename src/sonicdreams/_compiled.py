"""Compiled kernels: numba on first use, cached in sonicdreams' cache folder.

A kernel is written as a plain Python function (``*_py``, which tests and machines without
numba run as is) and wrapped with :func:`lazy_kernel`: numba is imported and the function
compiled only when a render first needs it, so a demo compiles only what it draws. The
machine code is kept in ``numba/`` under :func:`~sonicdreams.paths.cache_root` (a wheel's
own folder is often read-only, and a user's cache is where people look for what a tool
keeps); numba checks the source's hash, so an upgrade compiles again. Compiling is logged
(``sonicdreams.compile``) and announced through :func:`on_compile` listeners: the CLI shows
a line while it waits.
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
    """Where compiled kernels are kept: ``numba/`` in the cache, or ``None`` (caching off:
    numba's own places are used, a ``__pycache__`` beside the source)."""
    from .paths import cache_root

    root = cache_root()
    return None if root is None else root / "numba"


def on_compile(listener: Callable[[str, bool], None]) -> Callable[[], None]:
    """Call ``listener(name, done)`` when a kernel starts (``False``) and ends (``True``)
    compiling. Returns a function that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def _install_locator() -> None:
    """Put sonicdreams' kernels in :func:`cache_folder` (numba's documented hook: a locator
    class at the front of ``CacheImpl._locator_classes``; it answers only for functions
    in this package, so other libraries' caches stay where numba keeps them)."""
    global _ready
    with _installed:
        if _ready:
            return
        from numba.core import caching

        class Locator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
            def __init__(self, py_func, py_file) -> None:
                self._py_file = py_file
                self._lineno = py_func.__code__.co_firstlineno
                self._cache_path = str(cache_folder() / self.get_suitable_cache_subpath(py_file))

            def get_cache_path(self) -> str:
                return self._cache_path

            @classmethod
            def from_function(cls, py_func, py_file):
                try:
                    ours = Path(py_file).resolve().is_relative_to(_PACKAGE)
                except (OSError, ValueError):
                    ours = False
                if not ours or cache_folder() is None:
                    return None
                return super().from_function(py_func, py_file)

        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # (older numba)
        impl._locator_classes.insert(0, Locator)
        _ready = True


def njit(py_func, **options):
    """``numba.njit(cache=True, nogil=True, **options)(py_func)``, the cache in
    :func:`cache_folder`: a numba dispatcher (kernels may call each other)."""
    import numba

    _install_locator()
    return numba.njit(cache=True, nogil=True, **options)(py_func)


def lazy_kernel(py_func, **options):
    """A getter of ``py_func`` compiled by :func:`njit` (fastmath, numpy's error model), made
    on its first call; ``py_func`` itself where numba is missing.

    Importing numba is slow, so a kernel is compiled when a render first needs it. Until its
    first call has finished, the getter hands out a wrapper that compiles (or loads) under a
    lock, so a batch's threads, which all ask at once, compile once, and tells the
    :func:`on_compile` listeners; then the dispatcher itself.
    """
    options = {"fastmath": True, "error_model": "numpy", **options}
    kernel = py_func.__name__.removesuffix("_py").lstrip("_")
    name = f"{py_func.__module__.rsplit('.', 1)[-1]}.{kernel}"  # e.g. cppn.paint
    made: list = []  # [the dispatcher (or py_func)] once its first call has finished
    lock = threading.Lock()

    def first_call(*args):
        with lock:
            if made:
                return made[0](*args)
            try:
                dispatcher = njit(py_func, **options)
            except ImportError:  # pragma: no cover - numba comes with librosa
                made.append(py_func)
                return py_func(*args)
            t = time.perf_counter()
            for listener in list(_listeners):
                listener(name, False)
            try:
                result = dispatcher(*args)
            finally:
                for listener in list(_listeners):
                    listener(name, True)
            hits = sum(dispatcher.stats.cache_hits.values())
            log.debug("%s %s in %.2f s", "loaded" if hits else "compiled", name,
                      time.perf_counter() - t)
            made.append(dispatcher)
            return result

    def get():
        return made[0] if made else first_call

    return get
