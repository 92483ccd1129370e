"""The ``sonicdreams`` command: a thin layer that parses arguments and calls the library.

Exit codes: 0 success; 2 bad input or usage (one line on stderr, no traceback unless
``--debug``); 130 interrupted; 1 unexpected internal error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

from .errors import SonicDreamsError, SonicDreamsWarning
from .paths import write_atomic

__all__ = ["main", "build_parser"]

log = logging.getLogger("sonicdreams")

EXAMPLES = """\
examples:
  sonicdreams analyze song.mp3
  sonicdreams analyze song.flac --fps 30000/1001 --start 60 --duration 30
  sonicdreams analyze song.mp3 --json features.json --plot features.png
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line like every other error (exit code 2)."""

    def error(self, message: str):
        _err(f"{self.prog}: error: {message} (see {self.prog} --help)")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="sonicdreams",
        description="Turn a song into a music video that moves with the music.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sonicdreams {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    p = commands.add_parser(
        "analyze",
        help="analyse a song: tempo, beats, sections, pitches, envelopes",
        description="Analyse a song at the frame times of a video and print a summary.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("song", help="audio or video file (mp3, wav, flac, ogg, opus, m4a, mp4…)")
    # The render options of the same names: one declaration, one validator (settings.py).
    from ._cli_render import _add_settings_flags

    _add_settings_flags(p, ("fps", "start", "duration", "pulse_audio", "motion_audio",
                            "class_audio"))
    p.add_argument("--json", metavar="OUT.json", help="write every feature as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="draw the features (needs matplotlib)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)
    p.set_defaults(run=_cmd_analyze)

    p = commands.add_parser(
        "styles",
        help="list the styles, optionally with a preview picture",
        description="List every style with a one-line description.",
        epilog="examples:\n  sonicdreams styles\n  sonicdreams styles --preview sheet.png\n"
               "  sonicdreams styles --palettes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preview", metavar="SHEET.png",
                   help="write a contact sheet of every style at a few latents and pitches")
    p.add_argument("--palettes", action="store_true",
                   help="list the colour palettes (for --palette) instead of the styles")
    p.add_argument("--tile", type=int, default=192, metavar="PX",
                   help="size of each preview tile in pixels (default: %(default)s)")
    p.set_defaults(run=_cmd_styles)

    p = commands.add_parser(
        "download",
        help="download the weights of a StyleGAN style into the model cache",
        description="Download (or verify) the weights of a catalogue style and print their path. "
                    "An interrupted download resumes when run again.",
        epilog="examples:\n  sonicdreams download wikiart\n"
               "  sonicdreams download 'abstract photos' --cache-dir ./models\n"
               "  sonicdreams download stylegan3-t-ffhq-1024x1024",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME",
                   help="a StyleGAN style from `sonicdreams styles` (any case) or an http(s) URL")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="where to keep weights (default: $SONICDREAMS_MODELS or the user cache)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_download)

    from ._cli_render import add_demo_parser, add_render_parser

    add_render_parser(commands, _cmd_render)
    add_demo_parser(commands, _cmd_demo)
    from ._cli_inspect import add_inspect_parser, run_inspect

    add_inspect_parser(commands, run_inspect)

    p = commands.add_parser(
        "studio",
        help="make a video in the browser, tuning it live while the song plays",
        description="Start the studio: a local web page where you open a song, watch the "
                    "picture react to it live while you tune it, and render the video. Needs "
                    "the studio extra: pip install 'sonicdreams[studio]'.",
        epilog="examples:\n  sonicdreams studio\n  sonicdreams studio --port 9000 --no-browser"
               "\n  sonicdreams studio --host 0.0.0.0   (other machines: prints a URL with a "
               "token)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=8765,
                   help="port to listen on; 0 = any free port (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s, this machine only); "
                        "any other needs an access token")
    p.add_argument("--token", help="the access token for a --host other than this machine "
                                   "(default: a random one, printed in the address)")
    p.add_argument("--no-browser", action="store_true", help="do not open the page")
    p.add_argument("--dir", metavar="DIR", help="where renders are kept (default: studio/ in "
                                                "the cache folder)")
    p.add_argument("--max-upload-mb", type=float, default=500, metavar="MB",
                   help="largest song file accepted (default: %(default)s)")
    p.add_argument("--max-song-minutes", type=float, default=60, metavar="MIN",
                   help="longest song accepted; the preview keeps 2 KB a frame (default: "
                        "%(default)s)")
    p.set_defaults(run=_cmd_studio)
    return parser


def _cmd_render(args: argparse.Namespace) -> int:
    from ._cli_render import (
        ProgressPrinter,
        default_output,
        manifest_files,
        settings_from_args,
        song_to_render,
        to_toml,
    )
    from .pipeline import render

    settings, manifest = settings_from_args(args)
    if args.dump_config:
        print(to_toml(settings), end="")
        return 0
    song = song_to_render(args, manifest)
    if manifest:
        settings = manifest_files(settings, manifest, args.from_manifest)
    output = Path(args.output) if args.output else default_output(song)
    printer = ProgressPrinter(quiet=args.quiet, json_lines=args.json_progress)
    try:
        result = render(song, output, settings=settings, progress=printer,
                        overwrite=args.overwrite, work_dir=args.work_dir,
                        cache=not args.no_cache)
    finally:
        printer.close()
    if not args.quiet:
        printer.say(f"{result.n_frames} frames at {_fps_text(result.fps)} fps, "
                    f"{result.size[1]}x{result.size[0]}, seed {result.seed}, "
                    f"{result.elapsed_s:.1f} s")
    print(result.output)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from importlib.resources import as_file, files

    from ._cli_render import ProgressPrinter
    from .pipeline import render

    printer = ProgressPrinter(quiet=args.quiet, json_lines=args.json_progress)
    options = {"style": args.style} if args.style else {}
    with as_file(files("sonicdreams") / "data" / "demo.ogg") as song:
        try:
            result = render(song, Path(args.output), duration=20, seed=1,
                            flash_strength=0.35, zoom_strength=0.3, progress=printer,
                            overwrite=args.overwrite, **options)
        finally:
            printer.close()
    if not args.quiet:
        printer.say(f"demo: {result.n_frames} frames in {result.elapsed_s:.1f} s; music: "
                    "noiz2sa by Kenta Cho (BSD-2-Clause)")
    print(Path(result.output).resolve())
    return 0


def _cmd_studio(args: argparse.Namespace) -> int:
    from .errors import SettingsError
    from .studio import serve

    if args.token is not None and not args.token.strip():
        raise SettingsError("--token must not be empty")
    if not 0 <= args.port <= 65535:
        raise SettingsError(f"--port {args.port} must be in [0, 65535]")
    for flag, value in (("--max-upload-mb", args.max_upload_mb),
                        ("--max-song-minutes", args.max_song_minutes)):
        if not 0 < value < float("inf"):
            raise SettingsError(f"{flag} {value:g} must be a number > 0")
    logging.getLogger("sonicdreams").setLevel(min(logging.getLogger("sonicdreams").level,
                                                  logging.WARNING))
    try:
        serve(host=args.host, port=args.port, token=args.token,
              open_browser=not args.no_browser, data_dir=args.dir,
              max_upload_mb=args.max_upload_mb, max_song_minutes=args.max_song_minutes,
              say=lambda text: print(text, flush=True))
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_styles(args: argparse.Namespace) -> int:
    from .errors import SettingsError
    from .generators.styles import DEFAULT_STYLE, list_styles

    if args.palettes:
        from .direction import PALETTES

        width = max(len(p.name) for p in PALETTES)
        for p in PALETTES:
            print(f"{p.name:<{width}}  {p.description}")
        print("(by default each section of a song gets a palette matched to its key and "
              "energy; --palette NAME uses one throughout)")
    else:
        styles = list_styles()
        width = max(len(s.name) for s in styles)
        for s in styles:
            mark = " (default)" if s.name == DEFAULT_STYLE else ""
            print(f"{s.name:<{width}}  {s.kind:<8}  {s.description}{mark}")
        _print_catalog()
    if args.preview:
        if not 16 <= args.tile <= 1024:
            raise SettingsError(f"--tile={args.tile} must be in [16, 1024]")
        from .generators.preview import contact_sheet

        sheet = contact_sheet(tile=args.tile)
        path = Path(args.preview)
        fmt = (path.suffix.lstrip(".") or "png").upper().replace("JPG", "JPEG")
        write_atomic(path, lambda tmp: sheet.save(tmp, format=fmt))
        print(f"preview:  {path}")
    return 0


def _print_catalog() -> None:
    """The StyleGAN catalogue: name, architecture, size, whether it is cached, licence."""
    from .generators.download import cached_path, models_dir
    from .generators.styles import list_catalog

    records = list_catalog()
    folder = models_dir()
    width = max(len(r.name) for r in records)
    print("\nStyleGAN styles (need `pip install 'sonicdreams[gan]'`): the weights download on "
          f"first use, or with `sonicdreams download NAME`, into {folder}.\n"
          "~ marks an estimated size; 'manual': download the file in a browser and pass it "
          "with --style /path/to/file.pkl.")
    print(f"{'NAME':<{width}}  {'ARCH':<5}  {'SIZE':>10}  {'WEIGHTS':<8}  LICENCE")
    for r in records:
        if cached_path(r, cache_dir=folder):
            state = "cached"
        else:
            state = "manual" if r.host in ("mega", "yadisk") else "download"
        cond = ", conditional" if r.conditional else ""
        print(f"{r.name:<{width}}  {r.arch:<5}  {r.resolution_text:>10}  {state:<8}  "
              f"{r.licence}{cond}")


def _cmd_download(args: argparse.Namespace) -> int:
    from urllib.parse import urlparse

    from .errors import StyleError
    from .generators.download import download
    from .generators.styles import catalog_entry, list_catalog

    target = args.name
    if urlparse(target).scheme not in ("http", "https"):
        record = catalog_entry(target)
        if record is None:
            import difflib

            from .generators.styles import list_styles

            if target.strip().lower() in {s.name for s in list_styles()}:
                raise StyleError(f"{target!r} is a built-in style; it needs no download")
            names = [r.name for r in list_catalog()]
            close = difflib.get_close_matches(target.strip().lower(), names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else \
                "; `sonicdreams styles` lists them"
            raise StyleError(f"unknown StyleGAN style {target!r}{hint}")
        target = record
    bar = _ByteProgress(enabled=not args.quiet and sys.stderr.isatty())
    try:
        path = download(target, cache_dir=args.cache_dir, progress=bar)
    finally:
        bar.close()
    print(path)
    return 0


class _ByteProgress:
    """A tqdm byte counter on stderr for downloads (only on a terminal)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None

    def __call__(self, event) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=event.total or None, unit="B", unit_scale=True,
                            unit_divisor=1024, desc="downloading", dynamic_ncols=True,
                            initial=event.done)
        self.bar.update(event.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _cmd_analyze(args: argparse.Namespace) -> int:
    from ._cli_render import settings_from_args
    from .audio.analyze import analyze
    from .audio.decode import format_time

    s, _ = settings_from_args(args)  # the flags are render options: validated the same way
    plot_path = Path(args.plot) if args.plot else None
    if plot_path is not None:
        from .audio.plot import require_matplotlib

        require_matplotlib()  # fail before the analysis, not after
    features = analyze(
        args.song,
        fps=s.fps,
        start=s.start,
        duration=s.duration,
        pulse_audio=s.pulse_audio,
        motion_audio=s.motion_audio,
        class_audio=s.class_audio,
        cache=not args.no_cache,
    )
    song = features.song
    layout = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(song.channels,
                                                              f"{song.channels} channels")
    clip = ""
    if features.start_s > 0 or features.duration_s < song.file_duration_s - 1e-3:
        clip = (f" (clip {format_time(features.start_s)}–"
                f"{format_time(features.start_s + features.duration_s)})")
    lines = [
        f"song:      {song.path}",
        f"length:    {format_time(song.file_duration_s)}{clip}",
        f"audio:     {song.sample_rate} Hz, {layout}",
        f"frames:    {features.n_frames} at {_fps_text(features.fps)} fps",
        f"tempo:     {features.tempo_bpm:.1f} BPM" if features.tempo_bpm > 0
        else "tempo:     none (no beat found)",
        f"beats:     {len(features.beat_times)}",
        f"sections:  {len(features.section_times)} starting at "
        + ", ".join(format_time(t) for t in features.section_times),
        "pitches:   " + " ".join(features.dominant_pitches[:5]) + "  (most dominant first)",
    ]
    if args.json:
        payload = json.dumps(features.to_dict(), separators=(",", ":"))

        def write_json(tmp: str) -> None:
            Path(tmp).write_text(payload, encoding="utf-8")

        write_atomic(Path(args.json), write_json)
        lines.append(f"json:      {args.json}")
    if plot_path is not None:
        from .audio.plot import plot_features

        write_atomic(plot_path, lambda tmp: plot_features(features, tmp, fmt=plot_path.suffix))
        lines.append(f"plot:      {args.plot}")
    print("\n".join(lines))
    return 0


def _fps_text(fps) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{fps} (≈{float(fps):.3f})"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    _err(f"warning: {message}")


def _err(text: str) -> None:
    """One line on stderr; a closed stderr is not an error (the render goes on)."""
    try:
        print(" ".join(str(text).split("\n")), file=sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):
        _silence(sys.stderr)


def _silence(stream) -> None:
    """Point a closed stdout/stderr at /dev/null so later writes (and exit) stay quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


class _Terminated(KeyboardInterrupt):
    """SIGTERM, stopped like Ctrl-C: threads joined, finished segments kept."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated()


class _LevelFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}".replace("\n", " ")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help/--version → 0, usage errors → 2
        return int(exit_.code or 0)
    debug = bool(getattr(args, "debug", False))
    handler = logging.StreamHandler()
    handler.setFormatter(_LevelFormatter())
    root = logging.getLogger("sonicdreams")
    # urllib3 warns on each retried download; the error we raise says what happened, once.
    pool = logging.getLogger("urllib3")
    saved_level, saved_pool_level = root.level, pool.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    pool.setLevel(logging.DEBUG if debug else logging.ERROR)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.simplefilter("default", SonicDreamsWarning)
                warnings.showwarning = _show_warning
            return _run(args, debug)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        root.removeHandler(handler)
        root.setLevel(saved_level)
        pool.setLevel(saved_pool_level)


def _run(args: argparse.Namespace, debug: bool) -> int:
    try:
        return args.run(args)
    except SonicDreamsError as err:
        if debug:
            raise
        _err(f"sonicdreams: error: {err}")
        return 2
    except KeyboardInterrupt as err:
        hint = ("; run the same command again to resume"
                if getattr(args, "command", None) in ("render", "demo") else "")
        what = "terminated" if isinstance(err, _Terminated) else "interrupted"
        _err(f"sonicdreams: {what}{hint}")
        return 143 if isinstance(err, _Terminated) else 130
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`) after the work was done.
        _silence(sys.stdout)
        return 0
    except Exception as err:  # an internal error: short message, traceback with --debug
        if debug:
            raise
        log_path = _save_traceback()
        where = f"; full log: {log_path}" if log_path else ""
        _err(f"sonicdreams: internal error: {type(err).__name__}: {err} "
             f"(run again with --debug for the traceback{where})")
        return 1


def _save_traceback() -> str | None:
    """Write the current traceback to a log file in the cache (or temp) folder."""
    import time
    import traceback

    from .audio.cache import cache_dir

    root = cache_dir() or Path(tempfile.gettempdir()) / "sonicdreams"
    try:
        folder = root / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}.log"
        path.write_text(traceback.format_exc(), encoding="utf-8")
        return str(path)
    except OSError:
        return None
