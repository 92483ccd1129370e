"""On-disk cache of :class:`~sonicdreams.audio.features.Analysis` results.

Entries are keyed by the file's content (SHA-256) plus every setting that changes the result,
stored as ``.npz`` without pickles, and written atomically (temporary name, then
``os.replace``). A damaged entry is ignored and rebuilt.

Location: :func:`sonicdreams.paths.cache_root` (``$SONICDREAMS_CACHE``; ``off`` disables it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from ..fingerprint import file_digest

__all__ = ["cache_dir", "file_digest", "entry_key", "load_entry", "save_entry"]

log = logging.getLogger(__name__)

CACHE_VERSION = 6  # 4: chroma is zero in digital silence; 5, 6: onset bands


def cache_dir() -> Path | None:
    """The cache root, or ``None`` when caching is switched off (see :mod:`sonicdreams.paths`)."""
    from ..paths import cache_root

    return cache_root()


def entry_key(digest: str, **settings) -> str:
    """A short stable name for the entry of ``digest`` analysed with ``settings``."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("scipy", "soxr"):  # the FFTs and the resampler the analysis uses
        try:
            versions[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover
            versions[name] = "?"
    payload = json.dumps({"v": CACHE_VERSION, **versions, "digest": digest, **settings},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:40]


def _entry_path(root: Path, key: str) -> Path:
    return root / "features" / f"{key}.npz"


def load_entry(root: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays stored under ``key``, or ``None`` if missing or unreadable."""
    path = _entry_path(root, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except Exception as err:  # any damage: a truncated zip, a bad header, garbage bytes
        log.warning("ignoring damaged cache entry %s (%s); it will be rebuilt", path, err)
        return None


def save_entry(root: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Store ``arrays`` under ``key`` atomically; a failure to write only logs a warning."""
    path = _entry_path(root, key)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as err:
        log.warning("could not write the feature cache at %s (%s)", path, err)
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
