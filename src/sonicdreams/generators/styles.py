"""Styles by name: ``list_styles()`` and ``load_style()``.

Today: the built-in procedural styles. Weights-based styles (StyleGAN catalogue, files) and the
original's callable contract plug in here too.
"""

from __future__ import annotations

import difflib

from ..errors import StyleError
from .base import Generator
from .builtin import BUILTIN_STYLES, DEFAULT_STYLE, StyleInfo, list_builtin, load_builtin

__all__ = ["list_styles", "load_style", "DEFAULT_STYLE", "StyleInfo"]


def list_styles() -> list[StyleInfo]:
    """Every style that can be named, with a one-line description."""
    return list_builtin()


def load_style(name: str, *, size: tuple[int, int] = (512, 512)) -> Generator:
    """A generator for the style ``name`` (case-insensitive) rendering frames of ``size``.

    Raises
    ------
    StyleError
        If no style has that name (the message suggests close names).
    """
    if not isinstance(name, str) or not name.strip():
        raise StyleError(f"style={name!r} must be the name of a style; see `sonicdreams styles`")
    key = name.strip().lower()
    if key in BUILTIN_STYLES:
        return load_builtin(key, size=size)
    known = [s.name for s in list_styles()]
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known styles: {', '.join(known)}"
    raise StyleError(f"unknown style {name!r}{hint}")
