"""How fast a render stops: prints one JSON object.

A long song (the bundled excerpt looped to ``--minutes``, 30 by default) is rendered by the
CLI at a small size, so that its soundtrack (AAC of the whole song) takes far longer than its
frames, and Ctrl-C (SIGINT) or SIGTERM is sent:

- ``analysis``: while the song is analysed (no cache);
- ``frames``: while frames render and the soundtrack encodes (analysis cached);
- ``soundtrack``: after the last frame, while the render waits for the soundtrack;
- ``sigterm``: as ``frames``, with SIGTERM.

Each figure is the seconds from the signal to the exit of the process, with its exit code.
``python_cancel_s`` is the same for ``sonicdreams.render`` called in-process and cancelled by
its progress callback, with the number of threads it left running. The target is 2 s for
every one. ``--baseline DIR`` runs the same CLI cases on another checkout (``DIR/src``), e.g.
the commit before this change, in the same run.

Usage: python benchmarks/bench_cancel.py [--minutes 30] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = ROOT / "tests" / "data" / "noiz2sa-stg1-excerpt.ogg"
ARGS = ["--size", "64x64", "--fps", "12", "--preset", "ultrafast", "--segment-seconds", "60",
        "--seed", "1", "--json-progress"]


def long_song(folder: Path, minutes: float) -> Path:
    y, sr = sf.read(EXCERPT, dtype="float32")
    n = int(minutes * 60 * sr)
    path = folder / f"long-{minutes:g}min.flac"
    sf.write(path, np.resize(y, (n, y.shape[1])), sr)
    return path


def stop_at(case: str, song: Path, folder: Path, src: Path, cache: str) -> dict:
    """Start a CLI render, wait for the moment of ``case``, signal it, time the exit."""
    out = folder / f"{case}-{src.name}.mp4"
    env = {**os.environ, "PYTHONPATH": str(src / "src"), "SONICDREAMS_CACHE": cache}
    proc = subprocess.Popen([sys.executable, "-m", "sonicdreams", "render", str(song), "-o",
                             str(out), *ARGS], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wanted = {"analysis": ("analyze", 1), "frames": ("render", 1), "sigterm": ("render", 1),
              "soundtrack": ("finalize", 0)}[case]
    for line in proc.stderr:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event["stage"] == wanted[0] and event["done"] >= wanted[1]:
            break
    else:
        return {"error": f"ended before {case}", "code": proc.wait()}
    t = time.perf_counter()
    proc.send_signal(signal.SIGTERM if case == "sigterm" else signal.SIGINT)
    proc.stderr.read()
    code = proc.wait()
    return {"seconds": round(time.perf_counter() - t, 2), "exit_code": code}


def python_cancel(song: Path, folder: Path, cache: str) -> dict:
    os.environ["SONICDREAMS_CACHE"] = cache
    sys.path.insert(0, str(ROOT / "src"))
    from sonicdreams.pipeline import render

    raised = {}

    def progress(event):
        if event.stage == "render" and event.done > 0:
            raised["t"] = time.perf_counter()
            raise RuntimeError("cancelled")

    try:
        render(song, folder / "python.mp4", width=64, height=64, fps=12,
                           preset="ultrafast", segment_seconds=60, seed=1, progress=progress)
    except RuntimeError:
        pass
    return {"seconds": round(time.perf_counter() - raised["t"], 2),
            "threads_left": sum(t.name.startswith("sonicdreams")
                                for t in threading.enumerate())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        song = long_song(folder, opts.minutes)
        report = {"song_minutes": opts.minutes, "target_s": 2.0}
        for label, src in (("ours", ROOT), ("baseline", opts.baseline)):
            if src is None:
                continue
            cache = str(folder / f"cache-{label}")
            cases = {"analysis": stop_at("analysis", song, folder, src, "off")}
            for case in ("frames", "soundtrack", "sigterm"):  # the first one fills the cache
                cases[case] = stop_at(case, song, folder, src, cache)
            report[label] = cases
        report["ours"]["python_cancel"] = python_cancel(song, folder, str(folder / "cache-ours"))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
