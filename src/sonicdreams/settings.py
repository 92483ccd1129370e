"""Every option of sonicdreams, declared once: name, default, allowed range, help text.

:class:`RenderSettings` is the single source of truth. Its fields carry their help text and
validator in the field metadata; the command line, the config file, the compatibility API and
the documentation table are all derived from it. Options that Lucid Sonic Dreams'
``hallucinate`` had keep its names and defaults.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import SettingsError

__all__ = ["RenderSettings", "option_fields", "PLAN_OPTIONS", "LSD_EFFECTS"]

Check = Callable[[str, Any], Any]


def _number(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
            integer: bool = False) -> Check:
    """A real number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); returns it as float/int."""
    if lo is None and hi is None:
        span = ""
    elif hi is None:
        span = f"{'>' if lo_open else '>='} {lo:g}"
    elif lo is None:
        span = f"<= {hi:g}"
    else:
        span = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
    kind = "an integer" if integer else "a number"

    def check(name: str, value: Any) -> Any:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if ok:
            ok = math.isfinite(float(value))
        if ok and integer:
            ok = float(value).is_integer()
        if ok and lo is not None:
            ok = value > lo if lo_open else value >= lo
        if ok and hi is not None:
            ok = value <= hi
        if not ok:
            text = f"{kind} {span}" if lo is not None or hi is not None else kind
            raise SettingsError(f"{name}={value!r} must be {text}")
        return int(value) if integer else float(value)

    return check


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise SettingsError(f"{name}={value!r} must be True or False")


def _choice(*choices: str) -> Check:
    def check(name: str, value: Any) -> str:
        if isinstance(value, str) and value.lower() in choices:
            return value.lower()
        raise SettingsError(f"{name}={value!r} must be one of {', '.join(choices)}")

    return check


def _optional(inner: Check) -> Check:
    def check(name: str, value: Any) -> Any:
        return None if value is None else inner(name, value)

    return check


def _seed(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < 2**63:
        return int(value)
    raise SettingsError(f"{name}={value!r} must be None or an integer in [0, 2**63)")


def _classes(name: str, value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) and not hasattr(
            value, "__iter__"):
        raise SettingsError(f"{name}={value!r} must be None or a list of class indices")
    items = list(value)
    if not items:
        raise SettingsError(f"{name}=[] must be None or a non-empty list of class indices")
    out = []
    for item in items:
        if not isinstance(item, numbers.Integral) or isinstance(item, bool) or item < 0:
            raise SettingsError(f"{name}: {item!r} is not a class index (an integer >= 0)")
        out.append(int(item))
    return tuple(out)


def _shuffle_seconds(name: str, value: Any) -> float | tuple[float, ...] | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value.lower() == "sections":
            return "sections"
        raise SettingsError(f"{name}={value!r} must be None, a number of seconds > 0, "
                            "a list of times in seconds, or 'sections'")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return _number(0, lo_open=True)(name, value)
    try:
        times = [float(v) for v in value]
    except (TypeError, ValueError):
        raise SettingsError(f"{name}={value!r} must be None, a number of seconds > 0, "
                            "a list of times in seconds, or 'sections'") from None
    if not all(math.isfinite(t) and t >= 0 for t in times):
        raise SettingsError(f"{name}: times must be numbers of seconds >= 0, got {value!r}")
    return tuple(sorted(times))


def option(default: Any, help: str, check: Check, *, group: str, lsd: bool = False,
           metavar: str | None = None) -> Any:
    """Declare an option: a dataclass field whose metadata holds its help and validator."""
    return field(default=default, metadata={"help": help, "check": check, "group": group,
                                            "lsd": lsd, "metavar": metavar})


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """All options, validated on construction (:class:`SettingsError` names the bad one)."""

    # -- motion: how the music moves the generator's latent (noise) vector ------------------
    speed_fpm: float = option(
        12, "keyframes (distinct base images) per minute of audio; 0 or 1 = one fixed base",
        _number(0), group="motion", lsd=True)
    pulse_react: float = option(
        0.5, "strength of the pulse: a push of the latent on loud (percussive) sound; 0-2",
        _number(0, 10), group="motion", lsd=True)
    pulse_percussive: bool = option(
        True, "pulse follows the percussive part of the song", _bool, group="motion", lsd=True)
    pulse_harmonic: bool = option(
        False, "pulse follows the harmonic part (both or neither flag: the full mix)", _bool,
        group="motion", lsd=True)
    motion_react: float = option(
        0.5, "speed of the motion: a random walk of the latent driven by loudness; 0-2",
        _number(0, 10), group="motion", lsd=True)
    motion_percussive: bool = option(
        False, "motion follows the percussive part of the song", _bool, group="motion",
        lsd=True)
    motion_harmonic: bool = option(
        True, "motion follows the harmonic part (both or neither flag: the full mix)", _bool,
        group="motion", lsd=True)
    motion_randomness: float = option(
        0.5, "how unevenly the latent dimensions move (redrawn every 4 s); 0-1",
        _number(0, 1), group="motion", lsd=True)
    truncation: float = option(
        1.0, "spread of the keyframes and bounds of the walk (not StyleGAN's psi); 0-1",
        _number(0, 1, lo_open=True), group="motion", lsd=True)
    motion_space: str = option(
        "linear", "keyframe interpolation: linear (original) or slerp (keeps latents at a "
        "typical norm)", _choice("linear", "slerp"), group="motion")
    sync_keyframes_to_beats: bool = option(
        False, "land keyframe changes on beats (bar starts when possible)", _bool,
        group="motion")
    # -- classes: how pitch drives a conditional generator's class vector --------------------
    classes: tuple[int, ...] | None = option(
        None, "class indices driven by the 12 pitches (C, C#, … B); default: random",
        _classes, group="classes", lsd=True, metavar="ID,ID,…")
    dominant_classes_first: bool = option(
        False, "give the first class to the most dominant pitch of the song, and so on",
        _bool, group="classes", lsd=True)
    class_pitch_react: float = option(
        0.5, "how fast the class vector follows the pitches; 0-2", _number(0, 10),
        group="classes", lsd=True)
    class_smooth_seconds: float = option(
        1.0, "window (s) over which class vectors are averaged; 0 = no smoothing", _number(0),
        group="classes", lsd=True)
    class_complexity: float = option(
        1.0, "scale of the class vector; 0-1", _number(0, 10), group="classes", lsd=True)
    class_shuffle_seconds: float | tuple[float, ...] | str | None = option(
        None, "rotate the class-to-pitch mapping every N s, at listed times, or at 'sections'",
        _shuffle_seconds, group="classes", lsd=True, metavar="S|T1,T2,…|sections")
    class_shuffle_strength: float = option(
        0.5, "how far the mapping rotates at each shuffle (x12 positions); 0-1",
        _number(0, 1), group="classes", lsd=True)
    # -- effects: the original's contrast and flash, driven by loudness ----------------------
    contrast_strength: float | None = option(
        None, "contrast boost on loud sounds, 0-1; setting it (or contrast_percussive) enables "
        "the effect, default strength 0.5", _optional(_number(0, 1)), group="effects", lsd=True)
    contrast_percussive: bool | None = option(
        None, "contrast follows the percussive part (default) or, if false, the full mix",
        _optional(_bool), group="effects", lsd=True)
    flash_strength: float | None = option(
        None, "brightness flash on loud sounds, 0-1; setting it (or flash_percussive) enables "
        "the effect, default strength 0.5", _optional(_number(0, 1)), group="effects", lsd=True)
    flash_percussive: bool | None = option(
        None, "flash follows the percussive part (default) or, if false, the full mix",
        _optional(_bool), group="effects", lsd=True)
    # -- reproducibility ----------------------------------------------------------------------
    seed: int | None = option(
        None, "random seed; the same seed gives the same video (default: a new one, reported)",
        _seed, group="motion")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = f.metadata["check"](f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)

    @classmethod
    def create(cls, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> RenderSettings:
        """Build from a mapping and/or keywords; unknown names raise :class:`SettingsError`."""
        merged = {**(values or {}), **kwargs}
        known = {f.name for f in fields(cls)}
        for name in merged:
            if name not in known:
                raise SettingsError(_unknown(name, known))
        return cls(**merged)

    def update(self, **changes: Any) -> RenderSettings:
        """A copy with some options changed (validated)."""
        known = {f.name for f in fields(self)}
        for name in changes:
            if name not in known:
                raise SettingsError(_unknown(name, known))
        return replace(self, **changes)

    def effect_enabled(self, name: str) -> bool:
        """The original's rule: an effect is on once any of its options is given."""
        return (getattr(self, f"{name}_strength") is not None
                or getattr(self, f"{name}_percussive") is not None)

    def effect_strength(self, name: str) -> float:
        value = getattr(self, f"{name}_strength")
        return 0.5 if value is None else value  # 0 means 0 (the original turned it into 0.5)

    def effect_percussive(self, name: str) -> bool:
        value = getattr(self, f"{name}_percussive")
        return True if value is None else value  # False is honoured (the original ignored it)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _unknown(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown option {name!r}{hint}"


def option_fields(group: str | None = None):
    """The declared options (dataclass fields), optionally of one group."""
    return [f for f in fields(RenderSettings) if group is None or f.metadata["group"] == group]


PLAN_OPTIONS = frozenset(f.name for f in fields(RenderSettings)
                         if f.metadata["group"] in ("motion", "classes", "effects"))
"""The options :func:`sonicdreams.plan` takes."""

LSD_EFFECTS = ("contrast", "flash")
