"""``sonicdreams render`` and ``demo``: flags generated from :class:`RenderSettings`."""

from __future__ import annotations

import argparse
import functools
import json
import os
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import fields
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import SettingsError
from .settings import Check, RenderSettings, _unknown, is_flag

__all__ = ["add_render_parser", "add_demo_parser", "settings_from_args", "to_toml",
           "parse_toml", "song_to_render", "manifest_files", "default_output", "ProgressPrinter"]

RENDER_EXAMPLES = """\
examples:
  sonicdreams render song.mp3 -o video.mp4
  sonicdreams render song.mp3 -o video.mp4 --style cppn --size 1280x720 --fps 30000/1001
  sonicdreams render song.flac -o clip.webm --start 60 --duration 30 --seed 7 --flash-strength 0.6
  sonicdreams render song.mp3 -o video.mp4 --config look.toml
  sonicdreams render song.mp3 -o draft.mp4 --preview
  sonicdreams render --from-manifest video.mp4 -o again.mp4
"""
_GROUP_TITLES = {
    "input": "input", "look": "look (how the music is filmed)",
    "generator": "StyleGAN generator",
    "motion": "motion (how the music moves the picture)",
    "classes": "classes (how pitch changes the picture)", "effects": "effects",
    "output": "output", "cluster": "cluster (render on several machines)",
}


def _cli_value(text: str, *, name: str, check: Check, is_list: bool = False) -> Any:
    """A flag's text as option ``name`` takes it.

    Only list options split ``a,b,c`` into a list, so ``my,song.wav`` stays one file name.
    Otherwise the first reading the option's validator accepts wins: the number the text
    spells, else the text itself (``--pulse-audio 2024`` is a file name). When neither is
    accepted the number is kept, so that the validator's message reads ``duration=nan``.
    Validation proper happens once, when the settings are built.
    """
    if is_list and "," in text:
        return [_number_or_text(part.strip()) for part in text.split(",") if part.strip()]
    number = _number_or_text(text)
    if number is text:
        return text
    for reading in (number, text):
        try:
            check(name, reading)
        except SettingsError:
            continue
        return reading
    return number


def _number_or_text(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _help(help_: str, *, span: str, default: str) -> str:
    """An option's help, then its range (from the validator) and its default, each once."""
    where = f"range: {span}; " if span else ""
    return f"{help_} ({where}default: {default})".replace("%", "%%")


def _add_settings_flags(parser: argparse.ArgumentParser,
                        names: Iterable[str] | None = None) -> None:
    """A flag for each option (or those in ``names``); values are validated later, at once."""
    wanted = None if names is None else set(names)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in fields(RenderSettings):
        if (wanted is not None and f.name not in wanted) or f.name in ("width", "height"):
            continue  # width and height: --size WxH below
        if not f.metadata["cli"]:
            continue  # a table: in the config file only
        meta = f.metadata
        group = groups.setdefault(meta["group"], parser.add_argument_group(
            _GROUP_TITLES.get(meta["group"], meta["group"])))
        help_text = _help(meta["help"], span=meta["span"], default=meta["default_text"])
        if is_flag(f):
            group.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        else:
            value = functools.partial(_cli_value, name=f.name, check=meta["check"],
                                      is_list=meta["is_list"])
            group.add_argument(_flag(f.name), dest=f.name, type=value,
                               default=argparse.SUPPRESS, metavar=meta["metavar"] or "X",
                               help=help_text)
    if wanted is None or {"width", "height"} & wanted:
        width = next(f for f in fields(RenderSettings) if f.name == "width").metadata
        group = groups.setdefault("output", parser.add_argument_group(_GROUP_TITLES["output"]))
        group.add_argument("--size", metavar="WxH", default=argparse.SUPPRESS,
                           help=_help("video size in pixels, e.g. 1920x1080; each side even",
                                      span=width["span"], default=width["default_text"]))


def add_render_parser(commands, run) -> None:
    p = commands.add_parser(
        "render", help="render a music video of a song",
        description="Render a music video whose imagery moves with the song.",
        epilog=RENDER_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("song", nargs="?", help="audio or video file (optional with --from-manifest)")
    p.add_argument("-o", "--output", metavar="OUT", help="video file to write (.mp4, .webm, "
                   ".mov, .mkv, .gif); default: the song's name with .mp4")
    p.add_argument("--config", metavar="FILE.toml", help="read settings from a TOML file "
                   "(flags override it)")
    p.add_argument("--dump-config", action="store_true",
                   help="print the resolved settings as TOML and exit")
    p.add_argument("--from-manifest", metavar="VIDEO",
                   help="reproduce a video made by sonicdreams from its embedded manifest")
    p.add_argument("--preview", action="store_true",
                   help="fast draft: small frames at 12 fps, same timing and seed")
    p.add_argument("-y", "--overwrite", action="store_true",
                   help="replace the output if it exists (never the song or another input)")
    p.add_argument("--allow-other-song", action="store_true",
                   help="with --from-manifest: render a song other than the manifest's")
    p.add_argument("--work-dir", metavar="DIR",
                   help="where the resumable pieces go while rendering (default: beside the "
                        "output); a folder on a disk with room to spare")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json-progress", action="store_true",
                   help="print progress as JSON lines on stderr (stage, done, total, "
                   "elapsed_s and, once known, eta_s: for other programs; the stage "
                   "\"compile\" names the kernel in \"kernel\")")
    p.add_argument("--no-cache", action="store_true",
                   help="do not use the caches of analyses and converted weights "
                        "(compiled kernels are still kept)")
    _add_settings_flags(p)
    p.set_defaults(run=run)


def add_demo_parser(commands, run) -> None:
    p = commands.add_parser(
        "demo", help="render a 20-second video of the bundled song with the default style",
        description="Render ~20 s of the bundled excerpt (noiz2sa, BSD-2-Clause) with the "
                    "default style, to check that everything works and see what it does.")
    p.add_argument("-o", "--output", default="demo.mp4", metavar="OUT",
                   help="video file to write (default: %(default)s)")
    p.add_argument("--style", default=None, help="style to use (default: the default style)")
    p.add_argument("-y", "--overwrite", action="store_true",
                   help="replace the output if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json-progress", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


_MAX_CONFIG_BYTES = 1 << 20


def _read_toml(path: str) -> dict[str, Any]:
    """The options in a TOML file: a ``[sonicdreams]`` table or top-level keys, with dashes or
    underscores. Every problem is a one-line SettingsError that names the file."""
    where = f"--config {path}"
    if os.path.isdir(path):
        raise SettingsError(f"{where}: is a folder; give the TOML file itself "
                            f"(e.g. {os.path.join(path, 'look.toml')})")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or /dev/zero would never end
            raise SettingsError(f"{where}: not a regular file; give a TOML file")
        with open(path, "rb") as f:
            raw = f.read(_MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise SettingsError(f"{where}: no such file") from None
    except OSError as err:
        raise SettingsError(f"{where}: cannot read it ({err.strerror or err})") from None
    if len(raw) > _MAX_CONFIG_BYTES:
        raise SettingsError(f"{where}: larger than {_MAX_CONFIG_BYTES // 1024} KB, which no "
                            "settings file is; is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise SettingsError(f"{where}: not a UTF-8 text file (byte {raw[err.start]:#04x} on "
                            f"line {line}); TOML files must be saved as UTF-8") from None
    return parse_toml(text, where=where)


def parse_toml(text: str, *, where: str) -> dict[str, Any]:
    """The options in the text of a TOML config file (see :func:`_read_toml`); ``where``
    starts every error message."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{where}: not valid TOML ({' '.join(str(err).split())})") from None
    checks = {f.name: f.metadata["check"] for f in fields(RenderSettings)}
    table = data.get("sonicdreams", data)
    if table is not data:
        if not isinstance(table, dict):
            raise SettingsError(f"{where}: [sonicdreams] must be a table of options, e.g. a "
                                "line [sonicdreams] followed by lines such as speed_fpm = 6")
        stray = sorted(key for key in data if key.replace("-", "_") in checks)
        if stray:
            raise SettingsError(f"{where}: {', '.join(stray)} outside the [sonicdreams] table "
                                "would be ignored; move it into the table")
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in checks:
            raise SettingsError(f"{where}: {_unknown(name, set(checks), written=key)}")
        if name in values:
            raise SettingsError(f"{where}: {name} is given twice (with - and with _)")
        try:
            checks[name](name, value)
        except SettingsError as err:
            raise SettingsError(f"{where}: {err}") from None
        values[name] = value
    return values


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(part) for part in str(text).lower().replace("×", "x").split("x"))
    except ValueError:
        raise SettingsError(f"--size {text!r} must be WIDTHxHEIGHT, e.g. 1280x720") from None
    return w, h


def settings_from_args(args: argparse.Namespace) -> tuple[RenderSettings, dict[str, Any]]:
    """Defaults < manifest < config file < flags. Returns the settings and the manifest."""
    values: dict[str, Any] = {}
    manifest: dict[str, Any] = {}
    if getattr(args, "from_manifest", None):
        from .video import read_manifest

        manifest = read_manifest(args.from_manifest)
        recorded = {k: v for k, v in manifest["settings"].items()
                    if not (k == "style" and str(v).startswith("<"))}
        try:
            RenderSettings.create(recorded)
        except SettingsError as err:
            raise SettingsError(f"--from-manifest {args.from_manifest}: {err}") from None
        values.update(recorded)
    if getattr(args, "config", None):
        values.update(_read_toml(args.config))
    names = {f.name for f in fields(RenderSettings)}
    for name in names:
        if hasattr(args, name):
            values[name] = getattr(args, name)
    if getattr(args, "size", None):
        values["width"], values["height"] = _parse_size(args.size)
    if getattr(args, "preview", False):
        values["fps"] = 12
        w, h = values.get("width"), values.get("height")
        if w and h:
            scale = min(1.0, 256 / max(w, h))
            values["width"], values["height"] = (max(16, int(w * scale) // 2 * 2),
                                                 max(16, int(h * scale) // 2 * 2))
        else:
            values["width"] = values["height"] = 256
        values["preset"] = "ultrafast"
    return RenderSettings.create(values), manifest


def to_toml(settings: RenderSettings) -> str:
    """The settings as a TOML config file (options left at "off" are commented out)."""
    lines = ["# sonicdreams settings: use with `sonicdreams render SONG --config FILE.toml`"]
    group = None
    for f in fields(RenderSettings):
        if f.metadata["group"] != group:
            group = f.metadata["group"]
            lines.append(f"\n# -- {_GROUP_TITLES.get(group, group)}")
        value = getattr(settings, f.name)
        if f.name == "scenes" and value is not None:
            value = [dict(row) for row in value]
        lines.append(f"# {f.metadata['help']}")
        if value is None:
            lines.append(f"# {f.name} = ")
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else json.dumps(str(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


# --------------------------------------------------------------------------------------------
# --from-manifest: the song and files a video was made from, found by name and SHA-256


def song_to_render(args: argparse.Namespace, manifest: dict) -> str:
    """The song argument, checked against the manifest's song before any work."""
    if not manifest:
        if not args.song:
            raise SettingsError("give the song to render (or --from-manifest VIDEO)")
        return args.song
    record = manifest["song"]
    wanted = record["sha256"]
    name = record.get("name") or Path(record.get("path") or "").name
    video = Path(args.from_manifest)
    if args.song:
        if not args.allow_other_song and _digest(args.song) not in (None, wanted):
            raise SettingsError(
                f"{args.song} is not the song {video.name} was made from ({name or '?'}, "
                f"SHA-256 {wanted[:12]}…); give that song, or add --allow-other-song to use "
                "this one")
        return args.song
    found = _find_by_digest(name, wanted, video)
    if found is None:
        raise SettingsError(f"{video.name} was made from {name or 'a song'!r}, which is not in "
                            "the current folder or beside the video; give the song: "
                            f"sonicdreams render SONG --from-manifest {video}")
    return found


def manifest_files(settings, manifest: dict, video: str):
    """The manifest records files (stems, weights) by name and SHA-256: find them."""
    changes = {}
    for option, record in manifest.get("files", {}).items():
        value = getattr(settings, option, None)
        if not isinstance(record, dict) or value != record.get("name"):
            continue  # given anew by a flag or the config file
        if option == "style" and not Path(value).suffix:
            continue  # a catalogue name: the downloader checks it
        found = _find_by_digest(value, record.get("sha256"), Path(video))
        if found is None:
            raise SettingsError(f"{Path(video).name} used {value!r} as {option}, which is not "
                                "in the current folder or beside the video (with the same "
                                f"SHA-256); give it with --{option.replace('_', '-')} FILE")
        changes[option] = found
    return settings.update(**changes) if changes else settings


def _find_by_digest(name: str, sha256: str | None, video: Path) -> str | None:
    for folder in dict.fromkeys([Path.cwd(), video.parent]):
        candidate = folder / name if name else None
        if candidate is not None and candidate.is_file() and (
                sha256 is None or _digest(candidate) == sha256):
            return str(candidate)
    return None


def _digest(path: str | Path) -> str | None:
    from .audio.cache import file_digest

    try:
        return file_digest(path) if Path(path).is_file() else None
    except OSError:
        return None


class ProgressPrinter:
    """Turns progress events into a tqdm bar (TTY), JSON lines, or nothing.

    A closed stderr (the reader of ``--json-progress`` went away) stops the reporting, never
    the render: the video is still finished and written.
    """

    def __init__(self, *, quiet: bool, json_lines: bool) -> None:
        import threading

        from ._compiled import on_compile

        self.quiet = quiet
        self.json_lines = json_lines
        self.bars: dict[str, Any] = {}
        self.closed = False
        self._t0 = time.perf_counter()
        self._lock = threading.Lock()  # lines come from the compiling threads too
        self._told_compiling = False
        self._stop_watching = on_compile(self._compiling)

    def _compiling(self, name: str, done: bool) -> None:
        """A kernel compiles (the first run; later ones load it from the cache)."""
        if self.closed:
            return
        if self.json_lines:
            self._emit({"stage": "compile", "done": int(done), "total": 1,
                        "elapsed_s": round(time.perf_counter() - self._t0, 3), "kernel": name})
        elif not (done or self.quiet or self._told_compiling) and sys.stderr.isatty():
            self._told_compiling = True
            self.say("compiling the renderer's kernels (the first run only: they are kept in "
                     "the cache)…")

    def __call__(self, event) -> None:
        if self.closed:
            return
        try:
            self._show(event)
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
            self._lost()

    def _show(self, event) -> None:
        eta = getattr(event, "eta_s", None)
        if self.json_lines:
            line = {"stage": event.stage, "done": event.done, "total": event.total,
                    "elapsed_s": round(event.elapsed_s, 3)}
            if eta is not None:
                line["eta_s"] = round(eta, 1)
            self._emit(line)
            return
        if self.quiet or event.stage != "render" or not sys.stderr.isatty():
            return
        from tqdm import tqdm

        bar = self.bars.get(event.stage)
        if bar is None:
            # The remaining time is the pipeline's own estimate (see progress.Eta), not
            # tqdm's moving average of batchy updates.
            bar = self.bars[event.stage] = tqdm(
                total=event.total, unit="frame", desc="rendering", dynamic_ncols=True,
                initial=event.done, postfix="?",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                           "[{elapsed} elapsed{postfix} left, {rate_fmt}]")
        if eta is not None:
            bar.set_postfix_str(tqdm.format_interval(eta), refresh=False)
        bar.update(event.done - bar.n)

    def _emit(self, line: dict) -> None:
        try:
            with self._lock:  # one write a line: lines from two threads never interleave
                sys.stderr.write(json.dumps(line) + "\n")
                sys.stderr.flush()
        except (BrokenPipeError, ValueError):
            self._lost()

    def _lost(self) -> None:
        import os

        self.closed = True
        self.bars.clear()
        try:  # later writes to stderr (and the one at exit) go nowhere instead of failing
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stderr.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def say(self, text: str) -> None:
        """A line on stderr for the user (dropped if stderr is closed), above a bar."""
        if not self.closed:
            try:
                with self._lock:
                    if self.bars:
                        from tqdm import tqdm

                        tqdm.write(text, file=sys.stderr)
                    else:
                        print(text, file=sys.stderr, flush=True)
            except (BrokenPipeError, ValueError):
                self._lost()

    def close(self) -> None:
        self._stop_watching()
        for bar in self.bars.values():
            try:
                bar.close()
            except (BrokenPipeError, ValueError):
                self._lost()
        self.bars.clear()


def default_output(song: str) -> Path:
    """``song.mp3`` → ``song.mp4`` in the current folder; ``clip.mp4`` (the song itself) →
    ``clip.sonicdreams.mp4``, so the default never names the input."""
    import os

    from .preflight import same_file

    stem = Path(song).stem
    plain = Path(stem + ".mp4")
    same_name = plain.name.lower() == Path(song).name.lower() and \
        os.path.realpath(".") == os.path.realpath(Path(song).parent)  # a case-blind disk too
    if same_name or same_file(plain, Path(song)):
        return Path(stem + ".sonicdreams.mp4")
    return plain
