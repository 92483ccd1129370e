"""Generate the parameter reference from :class:`RenderSettings` (never edited by hand).

``python -m sonicdreams._docs > docs/parameters.md``; a test checks the file is current.
"""

from __future__ import annotations

from dataclasses import fields

from .settings import RenderSettings, _shown, is_flag

__all__ = ["parameters_markdown"]

_TITLES = {"input": "Input", "look": "Look", "generator": "StyleGAN generator",
           "motion": "Motion",
           "classes": "Classes", "effects": "Effects", "output": "Output"}


def parameters_markdown() -> str:
    lines = [
        "# Parameters",
        "",
        "Every option of sonicdreams, generated from `RenderSettings`. Each works the same as",
        "a Python keyword (`render(..., speed_fpm=6)`), a command-line flag",
        "(`--speed-fpm 6`) and a key in a TOML config file (`speed_fpm = 6`). Options marked",
        "LSD are Lucid Sonic Dreams' `hallucinate` parameters with their original names.",
        "A range in brackets includes the bound and one in parentheses excludes it;",
        "values outside it are refused with an error that names the option.",
        "",
    ]
    group = None
    for f in fields(RenderSettings):
        meta = f.metadata
        if meta["group"] != group:
            group = meta["group"]
            lines += ["", f"## {_TITLES.get(group, group)}", "",
                      "| option | flag | default | range | LSD | meaning |",
                      "|---|---|---|---|---|---|"]
        flag = "--" + f.name.replace("_", "-")
        if is_flag(f):
            flag += f" / --no-{f.name.replace('_', '-')}"
        if f.name in ("width", "height"):
            flag = "--size WxH"
        if not meta["cli"]:
            flag = "config file"
        span = f"`{meta['span']}`" if meta["span"] else ""
        meaning = meta["help"]
        if meta["looks"]:
            meaning += " (" + ", ".join(f"{look}: {_shown(value)}" for look, value in
                                        meta["looks"].items() if look != "default") + ")"
        lines.append(f"| `{f.name}` | `{flag}` | {meta['default_text']} | {span} | "
                     f"{'✓' if meta['lsd'] else ''} | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(parameters_markdown(), end="")
