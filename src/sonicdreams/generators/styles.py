"""Styles by name: ``list_styles()`` and ``load_style()``.

Today: the built-in procedural styles. Weights-based styles (StyleGAN catalogue, files) and the
original's callable contract plug in here too.
"""

from __future__ import annotations

import difflib

from ..errors import StyleError
from .base import Generator
from .builtin import BUILTIN_STYLES, DEFAULT_STYLE, StyleInfo, list_builtin, load_builtin
from .catalog import StyleRecord

__all__ = ["list_styles", "load_style", "catalog_entry", "list_catalog", "DEFAULT_STYLE",
           "StyleInfo"]


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


def catalog_entry(name: str) -> StyleRecord | None:
    """The StyleGAN catalogue record called ``name``, or ``None`` if there is none.

    Case-insensitive; accepts the original Lucid Sonic Dreams names exactly as it printed them
    (``"abstract photos"``, ``"faces (ffhq config-f)"``), the lists' own spelling and the
    cache slug (``"faces-ffhq-config-f"``). Built-in style names are not in the catalogue.
    """
    from .catalog import lookup

    return lookup(name)


def list_catalog() -> list[StyleRecord]:
    """Every StyleGAN style that can be downloaded by name (see :mod:`.catalog`)."""
    from .catalog import catalog

    return list(catalog())
