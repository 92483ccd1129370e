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
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from typing import Any

from .errors import SettingsError
from .timing import MAX_FPS

__all__ = ["RenderSettings", "option_fields", "PLAN_OPTIONS", "LSD_EFFECTS", "NEW_EFFECTS",
           "EFFECT_SOURCES", "MAX_FPS", "MAX_SECONDS", "LOOKS", "FROM_LOOK", "is_flag",
           "default_of"]

Check = Callable[[str, Any], Any]
"""A validator: ``check(name, value)`` returns the value normalised or raises SettingsError.

Validators with a numeric range carry it as ``check.span`` (``"[0, 1]"``, ``"(0, 604800]"``,
``">= 0"``); the help, the documentation and the error messages all show that one text."""

MAX_SECONDS = 7 * 24 * 3600
"""The latest ``start`` and longest ``duration`` accepted: a week of audio. A duration past the
end of the song stops at its end; this bound only keeps the arithmetic finite."""


def _spanned(span: str) -> Callable[[Check], Check]:
    """Attach the range text ``span`` to a hand-written validator."""
    def attach(check: Check) -> Check:
        check.span = span  # type: ignore[attr-defined]
        return check

    return attach


def _number(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
            integer: bool = False, unit: str = "", hint: str = "") -> Check:
    """A real number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); returns it as float/int.

    ``unit`` (e.g. ``"seconds"``) goes into the error message: "a number of seconds in …";
    ``hint`` follows it after a semicolon.
    """
    if lo is None and hi is None:
        span = ""
    elif hi is None:
        span = f"{'>' if lo_open else '>='} {lo:g}"
    elif lo is None:
        span = f"<= {hi:g}"
    else:
        span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
    kind = ("an integer" if integer else "a number") + (f" of {unit}" if unit else "")
    text = f"{kind} in {span}" if span.startswith(("[", "(")) else f"{kind} {span}".rstrip()
    text += f"; {hint}" if hint else ""

    @_spanned(span)
    def check(name: str, value: Any) -> Any:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if ok:
            try:
                ok = math.isfinite(float(value))
            except OverflowError:  # an integer too large for a float
                ok = False
        if ok and integer:
            ok = float(value).is_integer()
        if ok and lo is not None:
            ok = value > lo if lo_open else value >= lo
        if ok and hi is not None:
            ok = value <= hi
        if not ok:
            raise SettingsError(f"{name}={value!r} must be {text}")
        return int(value) if integer else float(value)

    check.bounds = (lo, hi, lo_open, integer)  # type: ignore[attr-defined]
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

    check.choices = choices  # type: ignore[attr-defined]
    return check


def _optional(inner: Check) -> Check:
    @_spanned(getattr(inner, "span", ""))
    def check(name: str, value: Any) -> Any:
        return None if value is None else inner(name, value)

    check.inner = inner  # type: ignore[attr-defined]
    return check


@_spanned("[0, 2**63)")
def _seed(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < 2**63:
        return int(value)
    raise SettingsError(f"{name}={value!r} must be None or an integer in [0, 2**63)")


@_spanned(">= 0")  # each class index
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


@_spanned("> 0")  # a period in seconds
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
    except (TypeError, ValueError, OverflowError):
        raise SettingsError(f"{name}={value!r} must be None, a number of seconds > 0, "
                            "a list of times in seconds, or 'sections'") from None
    if not all(math.isfinite(t) and t >= 0 for t in times):
        raise SettingsError(f"{name}: times must be numbers of seconds >= 0, got {value!r}")
    return tuple(sorted(times))


@_spanned(f"(0, {MAX_FPS}]")
def _fps(name: str, value: Any) -> Fraction:
    from .timing import parse_fps

    try:
        return parse_fps(value)
    except SettingsError as err:
        raise SettingsError(str(err).replace("fps=", f"{name}=", 1)) from None


def _path(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{name}={value!r} must be a path to a file")
    return value


def _address(name: str, value: Any) -> str:
    if isinstance(value, str) and value.strip() and not any(c.isspace() for c in value.strip()):
        return value.strip()
    raise SettingsError(f"{name}={value!r} must be a Ray address such as ray://head:10001, "
                        "head:6379 or auto")


def _style(name: str, value: Any) -> Any:
    # a style name, a path to weights, or (through the Python API) a generator or callable
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if callable(value) or hasattr(value, "render"):
        return value
    raise SettingsError(f"{name}={value!r} must be a style name (see `sonicdreams styles`), "
                        "a weights file, or a generator")


def _look(name: str, value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in LOOKS:
        return value.strip().lower()
    raise SettingsError(f"{name}={value!r} must be one of {', '.join(LOOKS)}")


def _palette(name: str, value: Any) -> str | None:
    if value is None:
        return None
    from .direction.palettes import get_palette

    if not isinstance(value, str):
        raise SettingsError(f"{name}={value!r} must be a palette name "
                            "(see `sonicdreams styles --palettes`)")
    return get_palette(value.strip().lower()).name


_SCENE_KEYS = {"start": "a time in the song (seconds) where the scene starts",
               "section": "the number of a detected section (1 = the first)",
               "style": "a style", "palette": "a palette", "seed": "a seed",
               "pulse_react": "how hard it hits", "motion_react": "how fast it flows",
               "intensity": "how hard the scene plays (about 0.7 … 1.3)",
               "transition_s": "how long the move into it takes (seconds)",
               "transition": "how a change of style blends: morph or crossfade",
               "snap": "move its start to the nearest downbeat (true)"}


def _scenes(name: str, value: Any) -> tuple[tuple[tuple[str, Any], ...], ...] | None:
    """A table of scenes: each row a mapping with ``start`` (seconds) or ``section`` (number)
    and what changes there. Stored as tuples (settings are immutable)."""
    if value is None:
        return None
    if isinstance(value, Mapping) or isinstance(value, (str, bytes)) or not isinstance(
            value, Sequence):
        raise SettingsError(f"{name} must be a list of tables, e.g. [[scenes]] start = 30 "
                            "palette = \"ember\" in the config file")
    rows = []
    for k, row in enumerate(value, 1):
        try:
            row = dict(row) if isinstance(row, (Mapping, tuple, list)) else row
        except (TypeError, ValueError):  # a list that is not of (key, value) pairs
            row = None
        if not isinstance(row, dict):
            raise SettingsError(f"{name}: row {k} must be a table of scene settings")
        unknown = sorted(set(row) - set(_SCENE_KEYS))
        if unknown:
            raise SettingsError(f"{name}: row {k}: {unknown[0]!r} cannot be set per scene; "
                                f"a scene sets {', '.join(_SCENE_KEYS)}")
        if ("start" in row) == ("section" in row):
            raise SettingsError(f"{name}: row {k} needs either start (seconds) or section "
                                "(a number), not both")
        out = {}
        for key, v in row.items():
            if key == "start":
                v = _number(0, MAX_SECONDS, unit="seconds")(f"{name}[{k}].start", v)
            elif key == "section":
                v = _number(1, integer=True)(f"{name}[{k}].section", v)
            elif key == "style":
                v = _style(f"{name}[{k}].style", v)
            elif key == "palette":
                v = _palette(f"{name}[{k}].palette", v)
            elif key == "seed":
                v = _seed(f"{name}[{k}].seed", v)
            elif key in ("pulse_react", "motion_react"):
                v = _number(0, 10)(f"{name}[{k}].{key}", v)
            elif key == "intensity":
                v = _number(0, 3)(f"{name}[{k}].{key}", v)
            elif key == "transition_s":
                v = _number(0, 60, unit="seconds")(f"{name}[{k}].{key}", v)
            elif key == "snap":
                v = _bool(f"{name}[{k}].snap", v)
            elif key == "transition":
                v = _choice("morph", "crossfade")(f"{name}[{k}].transition", v)
            out[key] = v
        rows.append(tuple(sorted(out.items())))
    kinds = {"start" in dict(r) for r in rows}
    if len(kinds) > 1:
        raise SettingsError(f"{name}: rows give either start times or section numbers, "
                            "not a mix of both")
    if True in kinds:
        starts = [dict(r)["start"] for r in rows]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise SettingsError(f"{name}: start times must increase from row to row")
    return tuple(rows)


def _device(name: str, value: Any) -> str:
    text = str(value).strip().lower()
    if text in ("auto", "cpu", "cuda", "mps") or (text.startswith("cuda:") and
                                                  text[5:].isdigit()):
        return text
    raise SettingsError(f"{name}={value!r} must be auto, cpu, cuda, cuda:N or mps")


@_spanned("[16k, 1536k]")
def _bitrate(name: str, value: Any) -> int:
    text = str(value).strip().lower()
    scale = 1000 if text.endswith("k") else 1_000_000 if text.endswith("m") else 1
    try:
        bits = int(float(text.rstrip("km")) * scale)
    except (ValueError, OverflowError):  # not a number, or inf
        bits = -1
    if not 16_000 <= bits <= 1_536_000:
        raise SettingsError(f"{name}={value!r} must be a bitrate from 16k to 1536k, e.g. 192k")
    return bits


def option(default: Any, help: str, check: Check, *, group: str, lsd: bool = False,
           metavar: str | None = None, is_list: bool = False,
           default_text: str | None = None, looks: Mapping[str, Any] | None = None,
           cli: bool = True) -> Any:
    """Declare an option: a dataclass field whose metadata describes it once.

    Parameters
    ----------
    default
        The value when the option is not given.
    help : str
        What it does. No default and no range: both are added from ``default`` /
        ``default_text`` and from ``check.span`` wherever the option is shown.
    check : callable(name, value)
        The validator (see :data:`Check`).
    group : str
        The section it is listed under.
    lsd : bool
        Lucid Sonic Dreams' ``hallucinate`` had it, under this name.
    metavar : str or None
        The placeholder shown in ``--help``.
    is_list : bool
        It takes several values; on the command line ``a,b,c`` is split at commas (other
        options take a comma as part of the value, e.g. a file name).
    default_text : str or None
        How to describe the default where its value says little (``None`` means "the song",
        "to the end"…); otherwise the value itself is shown.
    looks : mapping or None
        Its value in the looks other than ``default`` (see :data:`LOOKS`); ``default`` is the
        default look's value. Such an option follows ``look`` unless it is given.
    cli : bool
        It has a command-line flag (``scenes``, a table, is set in the config file only).
    """
    values = None
    if looks is not None:
        values = {"default": default, **looks}
        assert set(values) == set(LOOKS), f"{help}: a value for every look"
    return field(default=FROM_LOOK if looks is not None else default, metadata={
        "help": help, "check": check, "group": group, "lsd": lsd, "metavar": metavar,
        "is_list": is_list, "span": getattr(check, "span", ""), "looks": values,
        "cli": cli, "default": default,
        "default_text": default_text if default_text is not None else _shown(default)})


class _FromLook:
    """The default of an option that follows the look."""

    def __repr__(self) -> str:
        return "FROM_LOOK"


FROM_LOOK: Any = _FromLook()

LOOKS = ("default", "calm", "intense", "original")
"""The looks: bundles of settings. ``original`` is Lucid Sonic Dreams' defaults exactly (no
effects, no scene changes); the others are directed by the music, from gentle to strong."""


def is_flag(f) -> bool:
    """The option is a switch (``--x`` / ``--no-x``)."""
    return isinstance(f.metadata["default"], bool) or f.name.endswith("_percussive")


def default_of(f) -> Any:
    """An option's default (in the default look)."""
    return f.metadata["default"]


def _shown(value: Any) -> str:
    """A default as the command line and the TOML file spell it."""
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """All options, validated on construction (:class:`SettingsError` names the bad one)."""

    # -- input: the song and the clip -----------------------------------------------------
    style: Any = option(
        "cppn", "style name (see `sonicdreams styles`) or a weights file", _style,
        group="input", metavar="NAME|PATH")
    fps: Fraction = option(
        30, "frames per second: 30, 29.97, 30000/1001…", _fps, group="input", lsd=True,
        metavar="FPS")
    start: float = option(0.0, "start of the clip in the song, in seconds",
                          _number(0, MAX_SECONDS, unit="seconds"), group="input", lsd=True,
                          metavar="S")
    duration: float | None = option(
        None, "length of the clip in seconds; a clip longer than the song stops at its end",
        _optional(_number(0, MAX_SECONDS, lo_open=True, unit="seconds",
                          hint="leave it out to go to the end of the song")), group="input",
        lsd=True, metavar="S", default_text="to the end of the song")
    pulse_audio: str | None = option(None, "audio file (e.g. a drum stem) that drives pulse",
                                     _path, group="input", lsd=True, metavar="FILE",
                                     default_text="the song")
    motion_audio: str | None = option(None, "audio file that drives motion", _path,
                                      group="input", lsd=True, metavar="FILE",
                                      default_text="the song")
    class_audio: str | None = option(None, "audio file whose pitches drive the classes", _path,
                                     group="input", lsd=True, metavar="FILE",
                                     default_text="the song")
    contrast_audio: str | None = option(None, "audio file that drives the contrast effect; "
                                        "giving it turns the effect on", _path,
                                        group="input", lsd=True, metavar="FILE",
                                        default_text="the song")
    flash_audio: str | None = option(None, "audio file that drives the flash effect; giving "
                                     "it turns the effect on", _path, group="input",
                                     lsd=True, metavar="FILE", default_text="the song")
    output_audio: str | None = option(None, "soundtrack of the video instead of the song",
                                      _path, group="input", lsd=True, metavar="FILE",
                                      default_text="the song")

    # -- look: how the music is filmed ----------------------------------------------------
    look: str = option(
        "default", "a bundle of settings: the usual look (directed by the music, gentle "
        "effects), calm, intense, or original (exactly as Lucid Sonic Dreams); options you "
        "give win over it",
        _look, group="look")
    palette: str | None = option(
        None, "colour palette of the built-in styles (see `sonicdreams styles --palettes`)",
        _palette, group="look", metavar="NAME",
        default_text="chosen per song and section from its key and energy")
    scene_changes: bool = option(
        True, "a new scene (palette, place, symmetry) at each section of the song, moving "
        "in on its downbeat", _bool, group="look", looks={"calm": True, "intense": True,
                                                          "original": False})
    scenes: tuple | None = option(
        None, "a table of scenes by time or section, each setting its style, palette, seed, "
        "pulse_react, motion_react, intensity or transition ([[scenes]] in the config file)",
        _scenes, group="look", cli=False, default_text="one per section")

    # -- generator: StyleGAN options -------------------------------------------------------
    truncation_psi: float = option(
        1.0, "StyleGAN truncation: pull each frame's w toward the average; 1 = off, about "
        "0.7 = tamer, more typical images", _number(-2, 2), group="generator", metavar="PSI")
    noise_mode: str = option(
        "const", "StyleGAN noise: const (stored, steady), random (new grain every frame) or "
        "none", _choice("const", "random", "none"), group="generator")
    device: str = option(
        "auto", "where StyleGAN runs: auto (GPU when there is one), cpu, cuda, cuda:1…",
        _device, group="generator")
    precision: str = option(
        "auto", "StyleGAN arithmetic: auto (half precision where it is fast and looks the "
        "same: fp16 on GPU for clamped networks, fp32 on a CPU), fp32, bf16 or fp16",
        _choice("auto", "fp32", "bf16", "fp16"), group="generator")
    # -- motion: how the music moves the generator's latent (noise) vector ------------------
    speed_fpm: float = option(
        8, "keyframes (distinct base images) per minute of audio; 0 or 1 = one fixed base",
        _number(0), group="motion", lsd=True,
        looks={"calm": 6, "intense": 12, "original": 12})
    pulse_react: float = option(
        0.5, "strength of the pulse: a push of the latent on loud (percussive) sound; "
        "the original suggests at most 2",
        _number(0, 10), group="motion", lsd=True,
        looks={"calm": 0.3, "intense": 1.0, "original": 0.5})
    pulse_percussive: bool = option(
        True, "pulse follows the percussive part of the song", _bool, group="motion", lsd=True)
    pulse_harmonic: bool = option(
        False, "pulse follows the harmonic part (both or neither flag: the full mix)", _bool,
        group="motion", lsd=True)
    motion_react: float = option(
        0.5, "speed of the motion: a random walk of the latent driven by loudness; the "
        "original suggests at most 2",
        _number(0, 10), group="motion", lsd=True,
        looks={"calm": 0.3, "intense": 0.3, "original": 0.5})
    motion_percussive: bool = option(
        False, "motion follows the percussive part of the song", _bool, group="motion",
        lsd=True)
    motion_harmonic: bool = option(
        True, "motion follows the harmonic part (both or neither flag: the full mix)", _bool,
        group="motion", lsd=True)
    motion_randomness: float = option(
        0.5, "how unevenly the latent dimensions move (redrawn every 4 s)",
        _number(0, 1), group="motion", lsd=True)
    truncation: float = option(
        1.0, "spread of the keyframes and bounds of the walk (not StyleGAN's psi)",
        _number(0, 1, lo_open=True), group="motion", lsd=True)
    motion_space: str = option(
        "slerp", "keyframe interpolation: linear (original) or slerp (keeps latents at a "
        "typical norm)", _choice("linear", "slerp"), group="motion",
        looks={"calm": "slerp", "intense": "slerp", "original": "linear"})
    sync_keyframes_to_beats: bool = option(
        True, "land keyframe changes on beats (bar starts when possible)", _bool,
        group="motion", looks={"calm": True, "intense": True, "original": False})
    # -- classes: how pitch drives a conditional generator's class vector --------------------
    classes: tuple[int, ...] | None = option(
        None, "class indices driven by the 12 pitches (C, C#, … B)", _classes,
        group="classes", lsd=True, metavar="ID,ID,…", is_list=True, default_text="random")
    dominant_classes_first: bool = option(
        False, "give the first class to the most dominant pitch of the song, and so on",
        _bool, group="classes", lsd=True)
    class_pitch_react: float = option(
        0.5, "how fast the class vector follows the pitches; the original suggests at most "
        "2", _number(0, 10),
        group="classes", lsd=True)
    class_smooth_seconds: float = option(
        1.0, "window (s) over which class vectors are averaged; 0 = no smoothing", _number(0),
        group="classes", lsd=True)
    class_complexity: float = option(
        1.0, "scale of the class vector; the original suggests at most 1", _number(0, 10),
        group="classes", lsd=True)
    class_shuffle_seconds: float | tuple[float, ...] | str | None = option(
        None, "rotate the class-to-pitch mapping every N s, at listed times, or at 'sections'",
        _shuffle_seconds, group="classes", lsd=True, metavar="S|T1,T2,…|sections",
        is_list=True)
    class_shuffle_strength: float = option(
        0.5, "how far the mapping rotates at each shuffle (x12 positions)",
        _number(0, 1), group="classes", lsd=True)
    # -- effects: the original's contrast and flash, driven by loudness ----------------------
    contrast_strength: float | None = option(
        None, "contrast boost on loud sounds; giving it, contrast_percussive or contrast_audio "
        "turns the effect on", _optional(_number(0, 1)), group="effects", lsd=True,
        default_text="off, or 0.5 when turned on another way")
    contrast_percussive: bool | None = option(
        None, "contrast follows the percussive part or, if false, the full mix",
        _optional(_bool), group="effects", lsd=True, default_text="true when the effect is on")
    flash_strength: float | None = option(
        None, "brightness flash on loud sounds; giving it, flash_percussive or flash_audio "
        "turns the effect on", _optional(_number(0, 1)), group="effects", lsd=True,
        default_text="off, or 0.5 when turned on another way")
    flash_percussive: bool | None = option(
        None, "flash follows the percussive part or, if false, the full mix",
        _optional(_bool), group="effects", lsd=True, default_text="true when the effect is on")
    zoom_strength: float | None = option(
        None, "zoom pulse on the kicks", _optional(_number(0, 1)), group="effects")
    hue_strength: float | None = option(
        None, "hue shift with the harmonic loudness", _optional(_number(0, 1)),
        group="effects")
    rgb_split_strength: float | None = option(
        None, "red/blue split on the snares", _optional(_number(0, 1)), group="effects")
    shake_strength: float | None = option(
        None, "camera shake on the kicks", _optional(_number(0, 1)), group="effects")
    # -- output -------------------------------------------------------------------------------
    width: int | None = option(
        None, "video width in pixels", _optional(_number(16, 8192, integer=True)),
        group="output", metavar="PX", default_text="the style's own size")
    height: int | None = option(
        None, "video height in pixels", _optional(_number(16, 8192, integer=True)),
        group="output", metavar="PX", default_text="the style's own size")
    fit: str = option(
        "cover", "how frames of another shape fill the video: cover (crop), contain (bars), "
        "stretch", _choice("cover", "contain", "stretch"), group="output")
    codec: str | None = option(
        None, "video codec: h264, h265, vp9, av1, ffv1 or gif",
        _optional(_choice("h264", "libx264", "h265", "hevc", "libx265", "vp9", "libvpx-vp9",
                          "av1", "libsvtav1", "ffv1", "gif")), group="output",
        default_text="from the file extension")
    crf: int = option(18, "quality: lower is better and bigger (the H.264 scale)",
                      _number(0, 51, integer=True), group="output")
    preset: str = option(
        "auto", "encoder speed: ultrafast … veryslow (slower = smaller files at the same "
        "quality); auto = superfast on fewer than 4 cores, veryfast on 4 or more (the encoder "
        "keeps pace with the picture)",
        _choice("auto", "ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                "slow", "slower", "veryslow"), group="output")
    audio_bitrate: int = option(192_000, "soundtrack bitrate in bits per second, e.g. 192k",
                                _bitrate, group="output", metavar="RATE", default_text="192k")
    batch_size: int | None = option(
        None, "frames per generator call", _optional(_number(1, 256, integer=True)),
        group="output", lsd=True, default_text="the generator's choice")
    segment_seconds: float = option(
        10.0, "length of the resumable pieces the video is rendered in", _number(1, 3600),
        group="output", metavar="S")
    save_frames: bool = option(
        False, "also keep every frame as PNG in <output>_frames/", _bool, group="output",
        lsd=True)
    backend: str = option(
        "local", "where the frames render: local (this machine) or ray (every machine of a Ray "
        "cluster, a segment a task; needs the cluster extra: pip install "
        "'sonicdreams[cluster]')", _choice("local", "ray"), group="cluster")
    ray_address: str | None = option(
        None, "the Ray cluster to join: an address such as ray://head:10001 or head:6379, or "
        "auto (the cluster this machine belongs to)", _optional(_address), group="cluster",
        metavar="ADDR", default_text="the RAY_ADDRESS variable, else a Ray of this machine")
    allow_flashing: bool = option(
        False, "turn off the photosensitivity limiter, which keeps the video to at most three "
        "flashes a second (WCAG 2.3.1) by softening strobing hits; only for videos nobody with "
        "photosensitive epilepsy will watch", _bool, group="output")
    # -- reproducibility ----------------------------------------------------------------------
    seed: int | None = option(
        None, "random seed: another seed, another look", _seed, group="motion",
        default_text="derived from the song, so previews and re-renders match")

    def __post_init__(self) -> None:
        look = _look("look", self.look)
        for f in fields(self):
            value = getattr(self, f.name)
            if value is FROM_LOOK:
                value = f.metadata["looks"][look]
            value = f.metadata["check"](f.name, value)
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
        if "look" in changes:
            # Options at the old look's value follow the new look; options set apart stay.
            old, new = self.look, _look("look", changes["look"])
            for f in fields(self):
                looks = f.metadata["looks"]
                if looks and f.name not in changes and getattr(self, f.name) == looks[old]:
                    changes[f.name] = looks[new]
        return replace(self, **changes)

    def effect_enabled(self, name: str) -> bool:
        """The original's rule: an effect is on once any of its options (or audio) is given."""
        return any(getattr(self, f"{name}_{what}", None) is not None
                   for what in ("strength", "percussive", "audio"))

    def effect_strength(self, name: str) -> float:
        value = getattr(self, f"{name}_strength")
        return 0.5 if value is None else value  # 0 means 0 (the original turned it into 0.5)

    @property
    def size(self) -> tuple[int, int] | None:
        """(height, width) asked for, or None for the style's own size."""
        if self.width is None and self.height is None:
            return None
        if self.width is None or self.height is None:
            raise SettingsError("width and height must be given together (e.g. --size 1280x720)")
        return (self.height, self.width)

    def effect_percussive(self, name: str) -> bool:
        value = getattr(self, f"{name}_percussive")
        return True if value is None else value  # False is honoured (the original ignored it)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Fraction):
        return str(value) if value.denominator != 1 else int(value)
    return value


def _unknown(name: str, known: set[str], *, written: str | None = None) -> str:
    """"unknown option 'name'; did you mean …?" (``written``: the name as the user spelt it)."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    shown = name if written is None else written
    return f"unknown option {shown!r}{hint}"


def option_fields(group: str | None = None):
    """The declared options (dataclass fields), optionally of one group."""
    return [f for f in fields(RenderSettings) if group is None or f.metadata["group"] == group]


PLAN_OPTIONS = frozenset(f.name for f in fields(RenderSettings)
                         if f.metadata["group"] in ("motion", "classes", "effects", "look"))
"""The options :func:`sonicdreams.plan` takes."""

LSD_EFFECTS = ("contrast", "flash")
NEW_EFFECTS = ("zoom", "hue", "rgb_split", "shake")
EFFECT_SOURCES = {"zoom": "kick", "hue": "harmonic", "rgb_split": "snare", "shake": "kick"}
"""What drives each new effect: the director's kick or snare swell (see
:mod:`sonicdreams.direction`), or a feature's envelope; the original's two follow their
percussive flag."""
