"""Rendering benchmark: prints one JSON object.

Figures (2-core machine, see benchmarks/README.md):
- ``e2e_3min_s``: a 3-minute real song, default style, 512x512, 30 fps, analysis (no cache)
  + render + encode (preset medium): must be below the song's length (faster than real time).
- ``pipeline_fps``: frames/s of the render pipeline with a generator that returns ready
  frames (512x512, preset veryfast): the pipeline is never the bottleneck.
- ``peak_rss_60min_mb`` vs ``peak_rss_1min_mb``: a 60-minute render at 256x256 against a
  1-minute one (ready frames, veryfast), each in a fresh process.
- ``speedup_vs_original``: the same callable generator through the original package's way of
  working (reference §2.12–2.13: its analysis, O(N²) vectors, PNG frames on disk read twice
  as moviepy does, encode, tmp.wav mux) against ``sonicdreams.render``, on a 30 s clip.

Usage: python benchmarks/bench_render.py [--song PATH] [--skip-60min] [--skip-e2e]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SONG = Path("/tmp/debs/x/usr/share/games/fretsonfire/data/songs/sectoid/"
                    "War of freedom/song.ogg")


class ReadyFrames:
    """A generator whose frames are already made: measures the pipeline, not the art."""

    z_dim, c_dim, batch_size = 16, 0, 16

    def __init__(self, size=(512, 512)):
        self.size = size
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (8, size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
        self.frames = base.repeat(8, axis=1).repeat(8, axis=2)  # blocky: encodes like art

    def render(self, z, c):
        idx = (np.abs(np.asarray(z)[:, 0]) * 1000).astype(int) % len(self.frames)
        return self.frames[idx]


def plasma(noise_batch, class_batch):
    """A cheap callable style with the original's contract (the tutorial's kind of callable)."""
    h = w = 512
    y, x = np.mgrid[0:h, 0:w].astype(np.float32) / 64
    out = []
    for z in noise_batch:
        v = np.sin(x * (1 + 0.2 * z[0]) + z[1]) + np.sin(y * (1 + 0.2 * z[2]) + z[3])
        v += np.sin((x + y) * 0.5 + z[4])
        t = (v + 3) / 6
        rgb = np.stack([t, t ** 2, np.sqrt(t)], axis=-1)
        out.append((rgb * 255).astype(np.uint8))
    return out


def _song_or_loop(song: Path | None, tmp: Path, seconds: float) -> Path:
    if song and song.exists():
        return song
    import soundfile as sf

    excerpt = ROOT / "tests" / "data" / "noiz2sa-stg1-excerpt.ogg"
    y, sr = sf.read(excerpt, dtype="float32")
    reps = int(np.ceil(seconds / (len(y) / sr)))
    path = tmp / "looped.wav"
    sf.write(path, np.tile(y, (reps, 1))[: int(seconds * sr)], sr)
    return path


def e2e(song: Path, tmp: Path) -> dict:
    env = {**os.environ, "SONICDREAMS_CACHE": "off"}
    # warm-up (numba compile, imports) on a 2 s clip in the same way
    subprocess.run([sys.executable, "-m", "sonicdreams", "render", str(song), "-o",
                    str(tmp / "warm.mp4"), "--duration", "2", "--quiet"], env=env, check=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sonicdreams", "render", str(song), "-o",
                    str(tmp / "e2e.mp4"), "--quiet", "--seed", "1"], env=env, check=True)
    elapsed = time.perf_counter() - t0
    from sonicdreams.video import probe_video

    info = probe_video(tmp / "e2e.mp4", count=False)
    return {"e2e_song_s": round(info.duration_s, 2), "e2e_3min_s": round(elapsed, 2),
            "e2e_realtime_factor": round(info.duration_s / elapsed, 2),
            "e2e_render_fps": round(info.n_frames / elapsed, 1)}


def pipeline(song: Path, tmp: Path) -> dict:
    import sonicdreams.pipeline as r

    os.environ["SONICDREAMS_CACHE"] = str(tmp / "cache")
    gen = ReadyFrames()
    r.render(song, tmp / "p0.mp4", style=gen, duration=30, preset="veryfast")  # fills cache
    t0 = time.perf_counter()
    res = r.render(song, tmp / "p1.mp4", style=gen, duration=30, preset="veryfast", seed=2)
    elapsed = time.perf_counter() - t0
    return {"pipeline_fps": round(res.n_frames / elapsed, 1), "pipeline_frames": res.n_frames}


CHILD = r"""
import json, sys, time, os
sys.path.insert(0, {bench!r})
from _peak import peak_rss_mb
from bench_render import ReadyFrames
import sonicdreams.pipeline as r
t0 = time.perf_counter()
res = r.render({song!r}, {out!r}, style=ReadyFrames((256, 256)), preset="veryfast", seed=1,
               duration={duration})
print(json.dumps({{"seconds": time.perf_counter() - t0, "frames": res.n_frames,
                  "peak_rss_mb": peak_rss_mb()}}))
"""


def memory(tmp: Path, minutes: float, song: Path) -> dict:
    code = CHILD.format(bench=str(ROOT / "benchmarks"), song=str(song),
                        out=str(tmp / f"m{minutes}.mp4"), duration=minutes * 60)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "SONICDREAMS_CACHE": "off"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def long_song(tmp: Path, minutes: float) -> Path:
    import soundfile as sf

    excerpt = ROOT / "tests" / "data" / "noiz2sa-stg1-excerpt.ogg"
    y, sr = sf.read(excerpt, dtype="int16")
    path = tmp / f"long{minutes}.wav"
    total = int(minutes * 60 * sr)
    with sf.SoundFile(path, "w", sr, y.shape[1], subtype="PCM_16") as f:
        written = 0
        while written < total:
            block = y[: total - written]
            f.write(block)
            written += len(block)
    return path


def original_way(song: Path, tmp: Path, seconds: float = 30.0) -> dict:
    """The original's pipeline around the same callable (its algorithm, our transcription)."""
    import av
    import librosa
    import soundfile as sf
    from PIL import Image

    sys.path.insert(0, str(ROOT / "tests"))
    from lsd_reference import lsd_noise

    t0 = time.perf_counter()
    sr, fps = 22050, 30
    y, _ = librosa.load(song, sr=sr, duration=seconds)
    hop = int(sr / fps - (sr / fps) % 64)
    harm, perc = librosa.effects.hpss(y)

    def spec_norm(x):
        s = librosa.feature.melspectrogram(y=x, sr=sr, n_mels=512, hop_length=hop).max(axis=0)
        return (s - s.min()) / np.ptp(s)

    pulse, motion, _ = spec_norm(perc), spec_norm(harm), spec_norm(y)
    librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop)
    n = len(pulse)
    rng = np.random.default_rng(0)
    base = np.repeat(rng.standard_normal((1, 512)), n, axis=0)
    noise = lsd_noise(base, pulse, motion, fps=fps, pulse_react=0.5, motion_react=0.5,
                      motion_randomness=0.5, truncation=1.0, signs0=rng.choice([-1, 1], 512),
                      r_draws=[np.ones(512)] * (n // 120 + 1))
    frames_dir = tmp / "frames"
    frames_dir.mkdir()
    for i in range(n):  # batch_size 1, PNG per frame, as the original's defaults
        img = plasma(noise[i:i + 1], np.zeros((1, 0)))[0]
        Image.fromarray(img).save(frames_dir / f"{i:05d}.png")
    paths = sorted(frames_dir.iterdir())
    for p in paths:  # moviepy's ImageSequenceClip decodes every PNG once to check sizes
        np.asarray(Image.open(p))
    sf.write(tmp / "tmp.wav", y, sr)
    with av.open(str(tmp / "original.mp4"), "w") as out:
        v = out.add_stream("libx264", rate=Fraction(sr, hop))
        v.width = v.height = 512
        v.pix_fmt = "yuv420p"
        for i, p in enumerate(paths):  # ...and again while encoding
            frame = av.VideoFrame.from_ndarray(np.asarray(Image.open(p).convert("RGB")),
                                               format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    original_s = time.perf_counter() - t0

    import sonicdreams.pipeline as r

    os.environ["SONICDREAMS_CACHE"] = "off"
    from sonicdreams.generators.callable import CallableStyle

    t0 = time.perf_counter()
    r.render(song, tmp / "ours.mp4", style=CallableStyle(plasma, z_dim=512, c_dim=0),
             duration=seconds, seed=0)
    ours_s = time.perf_counter() - t0
    return {"original_way_s": round(original_s, 2), "sonicdreams_s": round(ours_s, 2),
            "speedup_vs_original": round(original_s / ours_s, 2), "clip_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--song", type=Path, default=DEFAULT_SONG)
    parser.add_argument("--skip-60min", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--skip-original", action="store_true")
    args = parser.parse_args()
    result: dict = {"benchmark": "render", "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        song = _song_or_loop(args.song, tmp, 180)
        result["song"] = str(song)
        if not args.skip_e2e:
            result.update(e2e(song, tmp))
        result.update(pipeline(song, tmp))
        if not args.skip_original:
            result.update(original_way(song, tmp))
        if not args.skip_60min:
            one = memory(tmp, 1, long_song(tmp, 1))
            sixty = memory(tmp, 60, long_song(tmp, 60))
            result.update({
                "peak_rss_1min_mb": round(one["peak_rss_mb"], 1),
                "peak_rss_60min_mb": round(sixty["peak_rss_mb"], 1),
                "rss_ratio_60_vs_1": round(sixty["peak_rss_mb"] / one["peak_rss_mb"], 3),
                "render_60min_s": round(sixty["seconds"], 1),
            })
    result["targets"] = {"e2e_3min_s": "<= 180", "pipeline_fps": ">= 150",
                         "peak_rss_60min_mb": "<= 1024 and within 20% of 1 min",
                         "speedup_vs_original": ">= 5"}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
