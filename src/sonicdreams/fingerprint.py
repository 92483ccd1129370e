"""Fingerprints: everything that decides a render's frames (or its soundtrack), hashed.

A finished segment is reused only when the fingerprint it was made with equals the one the
current render computes. A fingerprint is a set of named *parts* (the song, the clip, the
style and its weights, the seed, …), so when one changes the render can say which.

Python callables (a function style, a custom effect) have no stable identity across runs:
their parts are *opaque*, and segments made with them are reused only when the user says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fingerprint", "digest_of", "file_digest", "describe_changes", "library_versions",
           "PART_NAMES"]

PART_NAMES = {
    "song": "another song",
    "clip": "another clip or frame rate",
    "audio": "other audio files (stems)",
    "settings": "other settings",
    "style": "another style or weights",
    "effects": "other custom effects",
    "seed": "another seed",
    "size": "another size",
    "encoder": "other encoder settings",
    "soundtrack": "another soundtrack",
    "versions": "another version of sonicdreams or its libraries",
}
"""What it means, in words, when a part differs."""


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, hex (read in 1 MiB blocks: any size in little memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digest_of(value: Any) -> str:
    """A short, stable hash of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def library_versions() -> dict[str, str]:
    """Versions of the code that shapes every render (a StyleGAN style adds torch's to its
    own fingerprint): the same whatever else the process has imported."""
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    out = {"sonicdreams": __version__}
    for name in ("numpy", "scipy", "soxr", "av", "numba"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "?"
    return out


@dataclass(frozen=True)
class Fingerprint:
    """Named parts, each a digest of what it covers; ``opaque`` names Python callables."""

    parts: Mapping[str, str]
    opaque: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, values: Mapping[str, Any], opaque: tuple[str, ...] = ()) -> Fingerprint:
        return cls({name: digest_of(value) for name, value in values.items()}, opaque)

    def for_range(self, a: int, b: int) -> str:
        """The fingerprint of frames ``[a, b)``."""
        return digest_of({"parts": dict(self.parts), "range": [a, b]})

    def changed(self, parts: Mapping[str, str] | Any) -> list[str]:
        """The names of the parts that differ from ``parts`` (all of them if unreadable)."""
        if not isinstance(parts, Mapping):
            return list(self.parts)
        return [name for name in self.parts if parts.get(name) != self.parts[name]] + \
            [name for name in parts if name not in self.parts]

    def to_dict(self) -> dict[str, Any]:
        return {"parts": dict(self.parts), "opaque": list(self.opaque)}


def describe_changes(names: list[str]) -> str:
    """``["seed", "size"]`` → ``"another seed, another size"``."""
    return ", ".join(PART_NAMES.get(name, name) for name in names) or "other settings"
