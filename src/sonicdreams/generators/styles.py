"""Styles by name: ``list_styles()`` and ``load_style()``.

A style is a built-in procedural generator (no weights), a StyleGAN style from the catalogue
(downloaded once), or a weight file in any supported format.
"""

from __future__ import annotations

import difflib
import os

from ..errors import StyleError
from .base import Generator
from .builtin import BUILTIN_STYLES, DEFAULT_STYLE, StyleInfo, list_builtin, load_builtin
from .catalog import StyleRecord

__all__ = ["list_styles", "load_style", "check_style", "catalog_entry", "list_catalog",
           "is_weights_path", "DEFAULT_STYLE", "StyleInfo"]


def list_styles() -> list[StyleInfo]:
    """Every style that can be named, with a one-line description."""
    return list_builtin()


_WEIGHT_SUFFIXES = (".pkl", ".pt", ".pth", ".ckpt", ".safetensors")


def is_weights_path(style: str | os.PathLike) -> bool:
    """Whether ``style`` names a weight file rather than a style (it exists or looks like one)."""
    text = os.fspath(style)
    return (os.path.exists(text) and not os.path.isdir(text)) or \
        text.lower().endswith(_WEIGHT_SUFFIXES)


def load_style(name: str | os.PathLike, *, size: tuple[int, int] = (512, 512),
               truncation_psi: float = 1.0, noise_mode: str = "const", device: str = "auto",
               precision: str = "auto", batch_size: int | None = None,
               cache: bool = True) -> Generator:
    """A generator for ``name``: a built-in style, a catalogue style, or a weight file.

    Built-in styles render at ``size``; StyleGAN styles render at their own resolution
    (``truncation_psi``, ``noise_mode``, ``device``, ``precision`` and ``batch_size`` apply to
    them) and need the ``gan`` extra. Catalogue styles are downloaded once, then cached;
    ``cache=False`` skips the converted-weights cache.

    Raises
    ------
    StyleError
        If no style has that name (the message suggests close names), or torch is missing.
    """
    name = check_style(name)
    if name.lower() in BUILTIN_STYLES:
        return load_builtin(name.lower(), size=size)
    from .stylegan import stylegan_style

    return stylegan_style(name, device=device, truncation_psi=truncation_psi,
                          noise_mode=noise_mode, precision=precision, batch_size=batch_size,
                          cache=cache)


def check_style(name: str | os.PathLike) -> str:
    """``name`` stripped if it names a style that can be loaded here, without loading it.

    Raises :class:`StyleError` for an unknown name (suggesting close ones), a weight file that
    does not exist or is not a file, or a StyleGAN style without PyTorch installed.
    """
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str) or not name.strip():
        raise StyleError(f"style={name!r} must be the name of a style; see `sonicdreams styles`")
    name = name.strip()
    key = name.lower()
    if key in BUILTIN_STYLES:
        return name
    if is_weights_path(name) or catalog_entry(name) is not None:
        if is_weights_path(name) and catalog_entry(name) is None:
            if os.path.isdir(name):
                raise StyleError(f"style {name!r} is a folder, not a weight file")
            if not os.path.exists(name):
                raise StyleError(f"style {name!r}: no such weight file")
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            raise StyleError(f"style {name!r} is a StyleGAN network, which needs PyTorch: "
                             "pip install 'sonicdreams[gan]'")
        return name
    known = [s.name for s in list_styles()] + [r.name for r in list_catalog()]
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = (f"; did you mean {', '.join(close)}?" if close else
            "; see `sonicdreams styles` for every name")
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
