"""Look benchmark: how visibly every built-in style follows real and synthesized songs.

For each style and song, renders the song through ``sonicdreams.render`` (default settings
unless ``--set``), decodes the video back and prints the look metrics of
``sonicdreams.measure`` (beat_corr, hit_ratio, flicker, cuts_per_min, colourfulness,
section_ratio, mean saturation and luma) with the style's render speed, then a per-style
summary (min and median over the songs) and which targets of issue 13 are met by every song.
Onsets come from ``measure.percussive_onset`` of the song (independent of sonicdreams'
analysis); section boundaries from ``sonicdreams.analyze`` (real songs) or the synthesizer's
truth (``synth-*`` songs). Prints one JSON object.

Songs: names (``noiz2sa-stg0``, ``sectoid-metal-madness``, ``synth-a``…) or paths. The tuning
set is ``noiz2sa-stg0, noiz2sa-stg3, sectoid-metal-madness, synth-a``; every other song is
held out (``--set-name heldout``) — judge a change on the held-out songs.

Usage:
  python benchmarks/look.py --set-name tune --styles cppn,julia --seconds 60
  python benchmarks/look.py --set-name heldout --set look=intense --out /tmp/look
  python benchmarks/look.py --songs synth-a --flash
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FPS = 30
TUNING = ("noiz2sa-stg0", "noiz2sa-stg3", "sectoid-metal-madness", "synth-a")
#: synthesized songs: name -> song_with_sections arguments
SYNTH = {"synth-a": {"bpm": 120, "seed": 0, "n_sections": 4},
         "synth-b": {"bpm": 128, "seed": 1, "n_sections": 5}}
TARGETS = {"beat_corr": (">=", 0.5), "hit_ratio": (">=", 3.0), "flicker": ("<=", 0.7),
           "cuts_per_min": ("<=", 1.0), "colourfulness": (">=", 45.0),
           "section_ratio": (">=", 3.0)}
METRICS = ("beat_corr", "hit_ratio", "flicker", "cuts_per_min", "cuts_per_min_all",
           "colourfulness", "section_ratio", "mean_saturation", "mean_luma")


def find_songs(song_dir: str | None) -> dict[str, str]:
    """name -> path of every real song available."""
    found: dict[str, str] = {}
    folder = Path(song_dir) if song_dir else Path("/work/songs")
    if folder.is_dir():
        for p in sorted(folder.glob("*.ogg")) + sorted(folder.glob("*.mp3")) + \
                sorted(folder.glob("*.flac")) + sorted(folder.glob("*.wav")):
            found.setdefault(p.stem, str(p))
    if not found and not song_dir:
        for p in sorted(glob.glob("/usr/share/games/noiz2sa/sounds/*.ogg")):
            found[f"noiz2sa-{Path(p).stem}"] = p
        for p in sorted(glob.glob("/usr/share/games/fretsonfire/data/songs/sectoid/*/song.ogg")):
            found[f"sectoid-{Path(p).parent.name.lower().replace(' ', '-')}"] = p
    if not found:
        excerpt = ROOT / "tests" / "data" / "noiz2sa-stg1-excerpt.ogg"
        found[excerpt.stem] = str(excerpt)
    return found


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _clean(x):
    if isinstance(x, float):
        return round(x, 4) if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def prepare_song(name: str, path: str | None, seconds: float | None, work: str) -> dict:
    """Clip length, the song file to render, audio for the onsets, section times."""
    import sonicdreams
    from sonicdreams.audio.synth import song_with_sections, write
    from sonicdreams.measure import percussive_onset

    if name in SYNTH:
        y, sr, truth = song_with_sections(**SYNTH[name])
        path = os.path.join(work, f"{name}.wav")
        write(path, y, sr)
        length = len(y) / sr
    else:
        length = sonicdreams.probe_audio(path).duration_s or 120.0
    clip = min(length, seconds if seconds else 120.0)
    n_frames = int(round(clip * FPS))
    clip = n_frames / FPS
    if name in SYNTH:
        sections = [float(t) for t in truth.section_times if t < clip]
    else:
        sections = [float(t) for t in
                    sonicdreams.analyze(path, fps=FPS, duration=clip).section_times]
    audio = sonicdreams.load_audio(path, duration=clip, sr=22050, mono=True)
    onset = percussive_onset(audio.samples[0], audio.sr, np.arange(n_frames) / FPS)
    return {"name": name, "path": path, "clip_s": clip, "section_times": sections,
            "onset": onset, "synthetic": name in SYNTH}


def measure_one(style: str, song: dict, size: tuple[int, int], options: dict,
                out_dir: str) -> dict:
    import sonicdreams
    from sonicdreams.measure import count_flashes, look_metrics, read_video

    out = os.path.join(out_dir, f"{style}-{song['name']}.mp4")
    row = {"style": style, "song": song["name"], "clip_s": round(song["clip_s"], 3),
           "sections": len(song["section_times"])}
    try:
        t0 = time.perf_counter()
        result = sonicdreams.render(song["path"], out, style=style, width=size[1],
                                    height=size[0], fps=FPS, duration=song["clip_s"],
                                    overwrite=True, **options)
        wall = time.perf_counter() - t0
    except Exception as err:  # an option this version does not know, a failing style…
        row["error"] = f"{type(err).__name__}: {err}"
        return row
    frames, fps = read_video(out, height=size[0])
    onset = song["onset"]
    n = min(len(frames), len(onset))
    m = look_metrics(frames[:n], fps=fps, onset=onset[:n], section_times=song["section_times"])
    row.update({k: getattr(m, k) for k in METRICS})
    row["render_fps"] = result.n_frames / wall
    flashes = count_flashes(frames, fps=fps)
    row["flashes_worst_s"] = max(flashes.max_general_per_s, flashes.max_red_per_s)
    row["pass"] = {k: _meets(row[k], k) for k in TARGETS}
    return row


def _meets(value, key: str) -> bool | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    op, target = TARGETS[key]
    return value >= target if op == ">=" else value <= target


def summarise(rows: list[dict], styles: list[str]) -> dict:
    summary = {}
    for style in styles:
        mine = [r for r in rows if r["style"] == style and "error" not in r]
        if not mine:
            summary[style] = {"error": "no song rendered"}
            continue
        entry: dict = {"songs": len(mine),
                       "render_fps_median": statistics.median(r["render_fps"] for r in mine)}
        met = {}
        for k in METRICS:
            vals = [r[k] for r in mine if r[k] is not None and math.isfinite(r[k])]
            if not vals:
                entry[k] = None
                continue
            worst = max(vals) if TARGETS.get(k, (">=",))[0] == "<=" else min(vals)
            entry[k] = {"min": min(vals), "median": statistics.median(vals), "max": max(vals),
                        "worst": worst}
            if k in TARGETS:
                met[k] = _meets(worst, k)
        entry["flashes_worst_s"] = max(r.get("flashes_worst_s", 0) for r in mine)
        entry["targets_met"] = met
        entry["all_targets_met"] = all(v is True for v in met.values()) and len(met) == 6
        summary[style] = entry
    return summary


def flash_check(styles: list[str], size: tuple[int, int], work: str) -> dict:
    """8 hits a second at flash_strength 1.0: the worst second's flashes, per style."""
    import dataclasses

    import sonicdreams
    from sonicdreams.audio.synth import click_track, write
    from sonicdreams.measure import count_flashes, read_video

    y, sr = click_track(hits_per_s=8, duration_s=6, sr=22050)
    song = os.path.join(work, "clicks-8hz.wav")
    write(song, y, sr)
    fields = {f.name for f in dataclasses.fields(sonicdreams.RenderSettings)}
    variants = {"default": {}}
    if "allow_flashing" in fields:
        variants["allow_flashing"] = {"allow_flashing": True}
    out = {"track": "8 clicks/s, 6 s, flash_strength 1.0", "limit_per_s": 3,
           "allow_flashing_option": "allow_flashing" in fields, "styles": {}}
    for style in styles:
        res = {}
        for label, extra in variants.items():
            path = os.path.join(work, f"flash-{style}-{label}.mp4")
            sonicdreams.render(song, path, style=style, width=size[1], height=size[0], fps=FPS,
                               flash_strength=1.0, overwrite=True, **extra)
            frames, fps = read_video(path, height=size[0])
            report = count_flashes(frames, fps=fps)
            res[label] = {"max_general_per_s": report.max_general_per_s,
                          "max_red_per_s": report.max_red_per_s,
                          "passes": report.passes}
        out["styles"][style] = res
    return out


def _job(args):
    return measure_one(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--styles", help="comma-separated (default: every built-in style)")
    parser.add_argument("--songs", help="comma-separated names or paths (default: the set)")
    parser.add_argument("--set-name", choices=("tune", "heldout", "all"), default="tune",
                        help="which songs when --songs is not given (default: %(default)s)")
    parser.add_argument("--song-dir", help="folder of real songs (default: /work/songs, "
                        "else the Debian noiz2sa/fretsonfire songs, else the test excerpt)")
    parser.add_argument("--seconds", type=float, help="clip length (default: whole song "
                        "up to 120 s)")
    parser.add_argument("--size", default="256x144", help="WxH (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a render option for every render (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="renders side by side")
    parser.add_argument("--out", help="keep the videos in this folder")
    parser.add_argument("--flash", action="store_true",
                        help="also count flashes on an 8-hits/s click track at flash 1.0")
    args = parser.parse_args()

    import sonicdreams

    w, h = (int(v) for v in args.size.lower().split("x"))
    builtin = [s.name for s in sonicdreams.list_styles() if s.kind == "builtin"]
    styles = args.styles.split(",") if args.styles else builtin
    options = {}
    for item in args.set:
        key, _, value = item.partition("=")
        options[key.strip().replace("-", "_")] = _value(value.strip())
    available = find_songs(args.song_dir)
    every = list(available) + list(SYNTH)
    if args.songs:
        wanted = args.songs.split(",")
    elif args.set_name == "tune":
        wanted = [s for s in TUNING if s in available or s in SYNTH]
    elif args.set_name == "heldout":
        wanted = [s for s in every if s not in TUNING]
    else:
        wanted = every
    tmp = tempfile.TemporaryDirectory(prefix="sonicdreams-look-")
    out_dir = args.out or tmp.name
    os.makedirs(out_dir, exist_ok=True)
    songs = []
    for name in wanted:
        if name in SYNTH:
            songs.append(prepare_song(name, None, args.seconds, tmp.name))
        elif name in available or os.path.isfile(name):
            path = available.get(name, name)
            songs.append(prepare_song(Path(path).stem if name not in available else name,
                                      path, args.seconds, tmp.name))
        else:
            print(f"look.py: unknown song {name!r}; known: {', '.join(every)}",
                  file=sys.stderr)
            raise SystemExit(2)
    t0 = time.perf_counter()
    work = [(style, song, (h, w), options, out_dir) for style in styles for song in songs]
    if args.jobs > 1:
        # (spawned, not forked: a fork of this process, threads of the decoders about, could
        # hang in its first import)
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            rows = list(pool.map(_job, work))
    else:
        rows = [measure_one(*item) for item in work]
    report = {
        "benchmark": "look",
        "set_name": "custom" if args.songs else args.set_name,
        "tuning_set": list(TUNING),
        "heldout_set": [s for s in every if s not in TUNING],
        "songs": {s["name"]: {"clip_s": s["clip_s"], "sections": len(s["section_times"]),
                              "synthetic": s["synthetic"]} for s in songs},
        "styles": styles,
        "size": f"{w}x{h}",
        "fps": FPS,
        "options": options,
        "targets": {k: f"{op} {v}" for k, (op, v) in TARGETS.items()},
        "results": rows,
        "summary": summarise(rows, styles),
    }
    if args.flash:
        report["flash"] = flash_check(styles, (h, w), tmp.name)
    report["wall_s"] = time.perf_counter() - t0
    report["cpu_count"] = os.cpu_count()
    report["loadavg_1min"] = os.getloadavg()[0]
    print(json.dumps(_clean(report), indent=1))
    tmp.cleanup()


if __name__ == "__main__":
    main()
