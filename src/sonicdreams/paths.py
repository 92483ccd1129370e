"""Where sonicdreams keeps what it caches, decided in this one place; and how a file the user
asked for appears: whole, or not at all (:func:`write_atomic`).

* ``$SONICDREAMS_CACHE`` moves the cache (analyses, converted generators); ``off``, ``0``,
  ``none``, ``false``, ``no`` or an empty value switch caching off.
* ``$SONICDREAMS_MODELS`` moves downloaded weights; without it they live in ``models/`` under
  the cache (or under the user cache when caching is off: weights are needed either way).
* Otherwise the user cache folder: ``~/.cache/sonicdreams`` on Linux (``$XDG_CACHE_HOME``),
  ``~/Library/Caches/sonicdreams`` on macOS, ``%LOCALAPPDATA%\\sonicdreams\\Cache`` on
  Windows.

The environment is read, never written: a library call leaves it as it found it. Functions
that use the cache take a ``cache=False`` argument to skip it for one call.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["cache_root", "models_dir", "user_cache_dir", "write_atomic"]

_OFF = {"", "0", "off", "none", "false", "no"}


def user_cache_dir() -> Path:
    """The platform's per-user cache folder for sonicdreams."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "sonicdreams" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "sonicdreams"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sonicdreams"


def cache_root() -> Path | None:
    """The cache folder, or ``None`` when caching is switched off."""
    env = os.environ.get("SONICDREAMS_CACHE")
    if env is None:
        return user_cache_dir()
    if env.strip().lower() in _OFF:
        return None
    return Path(env).expanduser()


def models_dir() -> Path:
    """The folder downloaded weights are kept in."""
    env = os.environ.get("SONICDREAMS_MODELS")
    if env and env.strip():
        return Path(env).expanduser()
    return (cache_root() or user_cache_dir()) / "models"


def write_atomic(path: Path, write: Callable[[str], object]) -> None:
    """Create ``path`` only when complete: write to a temporary name beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True) if str(path.parent) else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a user's file gets normal permissions
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
