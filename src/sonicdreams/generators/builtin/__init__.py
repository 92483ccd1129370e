"""Procedural styles that need no weights and no torch: the embedded default."""

from __future__ import annotations

from dataclasses import dataclass

from ._toolkit import ProceduralStyle
from .cppn import CPPN
from .flow import Flow
from .julia import Julia
from .kaleidoscope import Kaleidoscope
from .nebula import Nebula

__all__ = ["StyleInfo", "BUILTIN_STYLES", "DEFAULT_STYLE", "list_builtin", "load_builtin"]

BUILTIN_STYLES: dict[str, type[ProceduralStyle]] = {
    cls.name: cls for cls in (CPPN, Nebula, Kaleidoscope, Flow, Julia)
}
DEFAULT_STYLE = "cppn"


@dataclass(frozen=True, slots=True)
class StyleInfo:
    """A style a user can pick by name."""

    name: str
    description: str
    kind: str = "builtin"


def list_builtin() -> list[StyleInfo]:
    return [StyleInfo(name, cls.description) for name, cls in BUILTIN_STYLES.items()]


def load_builtin(name: str, *, size: tuple[int, int] = (512, 512),
                 reference: bool = False) -> ProceduralStyle:
    """The built-in style ``name`` drawing frames of ``size``; ``reference`` draws every part at
    the output's own pixels (slow: what the fast path is measured against)."""
    return BUILTIN_STYLES[name](size=size, reference=reference)
