"""Music analysis benchmark: prints one JSON object.

- ``analysis_warm_s``: ``sonicdreams.analyze`` of a 3-minute real song (cache off), median of
  3 runs after a warm-up run (the first run in a fresh environment pays numba's compilation).
- ``lsd_baseline_s``: the original Lucid Sonic Dreams' analysis of the same song in the same
  process, transcribed from the reference (§2.2–2.6): ``librosa.load`` at 22 050 Hz mono,
  ``librosa.effects.hpss``, three 512-band mel spectrograms (pulse from the percussive part,
  motion from the harmonic part, class from the full mix: max over bands, min-max), and
  ``chroma_cqt`` with the pitch-dominance sort; single-threaded, as the original ran.
- ``cached_rerun_s``: a second ``analyze`` of the song with the cache on (in-process), and
  ``cached_cli_s``: a fresh ``python -m sonicdreams analyze`` process on the cached song.
- ``peak_rss_60min_mb``: peak memory of a fresh process analysing a 60-minute song.

Usage: python benchmarks/bench_analysis.py [--song PATH] [--skip-60min] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
DEFAULT_SONG = Path("/tmp/debs/x/usr/share/games/fretsonfire/data/songs/sectoid/"
                    "War of freedom/song.ogg")


def lsd_baseline(song: Path, fps: int = 30) -> float:
    import librosa

    t0 = time.perf_counter()
    y, sr = librosa.load(song, sr=22050)
    hop = int(sr / fps - (sr / fps) % 64)
    harmonic, percussive = librosa.effects.hpss(y)

    def spec_norm(x):
        s = librosa.feature.melspectrogram(y=x, sr=sr, n_mels=512, hop_length=hop).max(axis=0)
        return (s - s.min()) / np.ptp(s)

    spec_norm(percussive), spec_norm(harmonic), spec_norm(y)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop)
    shares = chroma / np.maximum(chroma.sum(axis=0, keepdims=True), 1e-12)
    np.argsort(-shares.sum(axis=1))
    return time.perf_counter() - t0


def ours(song: Path) -> float:
    import sonicdreams

    t0 = time.perf_counter()
    sonicdreams.analyze(song, fps=30, cache=False)
    return time.perf_counter() - t0


CHILD = r"""
import sys, time, json
sys.path.insert(0, {bench!r})
from _peak import peak_rss_mb
import sonicdreams
t0 = time.perf_counter()
f = sonicdreams.analyze({song!r}, fps=30, cache=False)
print(json.dumps({{"seconds": time.perf_counter() - t0, "frames": f.n_frames,
                  "peak_rss_mb": peak_rss_mb()}}))
"""


def child_peak(song: Path) -> dict:
    code = CHILD.format(song=str(song), bench=str(ROOT / "benchmarks"))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--song", type=Path, default=DEFAULT_SONG)
    parser.add_argument("--skip-60min", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    import bench_render

    result: dict = {"benchmark": "analysis", "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        song = bench_render._song_or_loop(args.song, tmp, 180)
        import soundfile as sf

        result["song"] = str(song)
        result["song_s"] = round(sf.info(str(song)).duration, 2)
        os.environ["SONICDREAMS_CACHE"] = "off"
        ours(song)  # warm-up: imports, numba compilation
        runs = [ours(song) for _ in range(3)]
        result["analysis_warm_s"] = round(statistics.median(runs), 3)
        if not args.skip_baseline:
            lsd_baseline(song)  # warm-up
            base = [lsd_baseline(song) for _ in range(2)]
            result["lsd_baseline_s"] = round(statistics.median(base), 3)
            result["speedup"] = round(result["lsd_baseline_s"] / result["analysis_warm_s"], 2)
        import sonicdreams

        os.environ["SONICDREAMS_CACHE"] = str(tmp / "cache")
        sonicdreams.analyze(song, fps=30)
        t0 = time.perf_counter()
        sonicdreams.analyze(song, fps=30)
        result["cached_rerun_s"] = round(time.perf_counter() - t0, 4)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sonicdreams", "analyze", str(song)], check=True,
                       capture_output=True, env=dict(os.environ))
        result["cached_cli_s"] = round(time.perf_counter() - t0, 3)
        if not args.skip_60min:
            one = child_peak(bench_render.long_song(tmp, 1))
            sixty = child_peak(bench_render.long_song(tmp, 60))
            result.update({"peak_rss_1min_mb": round(one["peak_rss_mb"], 1),
                           "peak_rss_60min_mb": round(sixty["peak_rss_mb"], 1),
                           "analysis_60min_s": round(sixty["seconds"], 1)})
    result["targets"] = {"analysis_warm_s": "<= 6", "speedup": ">= 2",
                         "cached_rerun_s": "<= 0.3", "peak_rss_60min_mb": "<= 1536"}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
