"""What the studio page shows, derived from the one settings declaration.

Every control of the page comes from :func:`option_schema`: a new option declared in
:mod:`sonicdreams.settings` appears in the studio without page edits. Options the page sets
in a control of its own (the style gallery, the look, the palette, the scenes, the render
form) or that name files or machines are left out of the generic groups.
"""

from __future__ import annotations

import math
from typing import Any

from ..settings import LOOKS, RenderSettings, _plain, default_of, option_fields

__all__ = ["option_schema", "page_lists", "page_values", "changed_values", "GROUPS",
           "OWN_CONTROLS", "RENDER_FORM", "FROM_BROWSER_NOT", "SIZE_PRESETS", "FORMATS",
           "FPS_CHOICES", "LOOK_TEXT"]

GROUPS = {"look": "Sections", "motion": "Motion", "classes": "Classes (pitch)",
          "effects": "Effects"}
"""The groups shown as control panels, in order, with their titles. (Not the StyleGAN
group: the studio draws the built-in styles only; weights files are the command line's.)"""

OWN_CONTROLS = frozenset({"style", "look", "palette", "scenes"})
RENDER_FORM = frozenset({"width", "height", "fps", "start", "duration"})

SIZE_PRESETS = ({"name": "16:9", "width": 1280, "height": 720},
                {"name": "9:16", "width": 720, "height": 1280},
                {"name": "1:1", "width": 1024, "height": 1024})
FORMATS = ("mp4", "webm", "mov", "gif")
FPS_CHOICES = (24, 25, 30, 60)
LOOK_TEXT = {"default": "directed by the music, gentle effects",
             "calm": "slower, softer pulses",
             "intense": "hard hits, more keyframes",
             "original": "exactly as Lucid Sonic Dreams (no direction)"}


def _kind(check, default: Any) -> tuple[str, dict[str, Any]]:
    """The control a validator asks for: (kind, extra fields)."""
    inner = getattr(check, "inner", check)
    if getattr(inner, "choices", None):
        return "choice", {"choices": list(dict.fromkeys(inner.choices))}
    bounds = getattr(inner, "bounds", None)
    if bounds is not None:
        lo, hi, lo_open, integer = bounds
        step = 1 if integer else _step(lo, hi)
        return ("integer" if integer else "number"), {
            "min": lo, "max": hi, "step": step, "min_open": bool(lo_open)}
    if isinstance(default, bool) or default is None and getattr(inner, "__name__", "") == "_bool":
        return "bool", {}
    return "text", {}  # typed as on the command line (lists: a,b,c)


def _step(lo: float | None, hi: float | None) -> float:
    if lo is None or hi is None:
        return 0.1
    span = hi - lo
    return 10 ** math.floor(math.log10(span / 100)) if span > 0 else 0.01


def option_schema() -> dict[str, Any]:
    """The groups of options with their controls, for the page."""
    groups = []
    for group, title in GROUPS.items():
        rows = []
        for f in option_fields(group):
            if f.name in OWN_CONTROLS | RENDER_FORM | FROM_BROWSER_NOT:
                continue
            meta = f.metadata
            check = meta["check"]
            kind, extra = _kind(check, default_of(f))
            rows.append({
                "name": f.name, "help": meta["help"], "kind": kind,
                "optional": hasattr(check, "inner") or default_of(f) is None,
                "span": meta["span"], "default": _plain(default_of(f)),
                "default_text": meta["default_text"],
                "looks": ({k: _plain(v) for k, v in meta["looks"].items()}
                          if meta["looks"] else None),
                "choices": None, "min": None, "max": None, "step": None, **extra,
            })
        groups.append({"name": group, "title": title, "options": rows})
    return {"groups": groups}


def page_lists() -> dict[str, Any]:
    """Everything else the page picks from: styles, palettes, looks, presets, defaults."""
    from ..direction.palettes import PALETTES
    from ..generators.builtin import list_builtin
    from ..settings import _SCENE_KEYS

    return {
        "styles": [{"name": s.name, "description": s.description} for s in list_builtin()],
        "palettes": [{"name": p.name, "description": p.description,
                      "stops": ["#{:02x}{:02x}{:02x}".format(*stop) for stop in p.stops]}
                     for p in PALETTES],
        "looks": [{"name": name, "description": LOOK_TEXT.get(name, "")} for name in LOOKS],
        "scene_keys": {k: v for k, v in _SCENE_KEYS.items()
                       if k in ("style", "palette", "pulse_react", "motion_react",
                                "intensity", "transition_s")},
        "formats": list(FORMATS),
        "size_presets": list(SIZE_PRESETS),
        "fps_choices": list(FPS_CHOICES),
        "defaults": RenderSettings().to_dict(),
    }


FROM_BROWSER_NOT = frozenset({"pulse_audio", "motion_audio", "class_audio", "contrast_audio",
                              "flash_audio", "output_audio", "backend", "ray_address",
                              "save_frames", "segment_seconds", "device"})
"""Options a page may not set: they name files or machines of the server's."""


def page_values(values: Any) -> dict[str, Any]:
    """The settings a page sent, checked: known option names only, none that name a file
    or a machine, built-in styles only (a page never names a path on this machine)."""
    from ..errors import SettingsError
    from ..generators.builtin import BUILTIN_STYLES
    from ..settings import RenderSettings, _unknown

    if not isinstance(values, dict):
        raise SettingsError("settings must be a table of option names and values")
    known = {f.name for f in option_fields()}
    out = {}
    for name, value in values.items():
        if not isinstance(name, str) or name not in known:
            raise SettingsError(_unknown(str(name), known))
        if name in FROM_BROWSER_NOT:
            raise SettingsError(f"{name} cannot be set from the studio page; use the command "
                                "line (sonicdreams render --help)")
        if isinstance(value, str) and name in _typed():  # a text box: read as the CLI reads
            value = _typed()[name](value) if value.strip() else None
        out[name] = value
    # The styles as the settings read them (a scene row may be a table or a list of pairs),
    # checked before anything loads one: validating a style never opens a file.
    s = RenderSettings.create(out)
    for style in [s.style, *(dict(row).get("style") for row in s.scenes or ())]:
        if style is not None and (not isinstance(style, str)
                                  or style.strip().lower() not in BUILTIN_STYLES):
            raise SettingsError(f"style={str(style)[:80]!r} must be one of "
                                f"{', '.join(BUILTIN_STYLES)} (weights files: use the "
                                "command line)")
    return out


def changed_values(s) -> dict[str, Any]:
    """What ``s`` sets apart from its look's values: what a page holds after an import."""
    from ..settings import RenderSettings

    base = RenderSettings(look=s.look)
    keep = {"style", "look", "palette", "scenes"}
    out = {}
    for f in option_fields():
        value = getattr(s, f.name)
        if f.name in FROM_BROWSER_NOT:
            continue
        if f.name in keep or value != getattr(base, f.name):
            out[f.name] = _plain(value)
    if out.get("scenes") is not None:
        out["scenes"] = [dict(row) for row in s.scenes]
    for name in set(out) & set(_typed()):  # as typed: a seed past 2**53 stays exact in JS
        value = out[name]
        out[name] = (None if value is None else ",".join(str(v) for v in value)
                     if isinstance(value, list) else str(value))
    return out


def _typed() -> dict[str, Any]:
    """The options of text boxes, each with its reader of the typed text."""
    from functools import partial

    from .._cli_render import _cli_value

    out = {}
    for f in option_fields():
        if f.name in OWN_CONTROLS | RENDER_FORM | FROM_BROWSER_NOT:
            continue
        if f.metadata["group"] in GROUPS and _kind(f.metadata["check"], default_of(f))[0] == "text":
            out[f.name] = partial(_cli_value, name=f.name, check=f.metadata["check"],
                                  is_list=f.metadata["is_list"])
    return out
