"""Generate the parameter reference from :class:`RenderSettings` (never edited by hand).

``python -m sonicdreams._docs > docs/parameters.md``; a test checks the file is current.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from fractions import Fraction

from .settings import RenderSettings

__all__ = ["parameters_markdown"]

_TITLES = {"input": "Input", "generator": "StyleGAN generator", "motion": "Motion",
           "classes": "Classes", "effects": "Effects", "output": "Output"}


def _shown(value) -> str:
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return str(value)
    return f"{value}"


def parameters_markdown() -> str:
    lines = [
        "# Parameters",
        "",
        "Every option of sonicdreams, generated from `RenderSettings`. Each works the same as",
        "a Python keyword (`render(..., speed_fpm=6)`), a command-line flag",
        "(`--speed-fpm 6`) and a key in a TOML config file (`speed_fpm = 6`). Options marked",
        "LSD are Lucid Sonic Dreams' `hallucinate` parameters with their original names.",
        "",
    ]
    group = None
    for f in fields(RenderSettings):
        meta = f.metadata
        if meta["group"] != group:
            group = meta["group"]
            lines += ["", f"## {_TITLES.get(group, group)}", "",
                      "| option | flag | default | LSD | meaning |",
                      "|---|---|---|---|---|"]
        default = f.default if f.default is not MISSING else None
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool) or f.name.endswith("_percussive"):
            flag += f" / --no-{f.name.replace('_', '-')}"
        if f.name in ("width", "height"):
            flag = "--size WxH"
        lines.append(f"| `{f.name}` | `{flag}` | {_shown(default)} | "
                     f"{'✓' if meta['lsd'] else ''} | {meta['help']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(parameters_markdown(), end="")
