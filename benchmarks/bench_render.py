"""Rendering benchmark: prints one JSON object.

Issue 14 ("Sharp at every size, faster than the song"), 2 cores:
- ``sizes``: whole CLI renders of a real 3-minute song (analysis without cache, the default
  style and look, 30 fps), ratio = wall time / song length: 512x512 <= 0.35, 1280x720 <= 1.0,
  1920x1080 and 1080x1920 <= 2.0; each with the CPU time of every stage and its share.
- ``effects``: the same render at 1280x720 with every effect on, over the one with them
  off: <= 1.2.
- ``styles``: every built-in style, the first 60 s of the song at 512x512 and 1280x720.
- ``sharpness``: every built-in style's fast path against its reference path (every part at
  the output's own pixels) on three frames of the song's own cues: SSIM >= 0.97 at 512x512,
  1920x1080 and 1080x1920, and the share of the reference's fine detail it keeps.
- ``first_run``: the first ``sonicdreams demo`` of a fresh install (a new virtual
  environment, every cache empty): <= 30 s; and the second, with everything cached.

Earlier figures (see benchmarks/README.md):
- ``e2e_3min_s``: a 3-minute real song, default style, 512x512, 30 fps, analysis (no cache)
  + render + encode (preset auto): must be below the song's length (faster than real time).
- ``pipeline_fps``: frames/s of the render pipeline with a generator that returns ready
  frames (512x512, preset veryfast): the pipeline is never the bottleneck.
- ``peak_rss_60min_mb`` vs ``peak_rss_1min_mb``: a 60-minute render at 256x256 against a
  1-minute one (ready frames, veryfast), each in a fresh process.
- ``speedup_vs_original``: the same callable generator through the original package's way of
  working (reference §2.12–2.13: its analysis, O(N²) vectors, PNG frames on disk read twice
  as moviepy does, encode, tmp.wav mux) against ``sonicdreams.render``, on a 30 s clip.

Usage: python benchmarks/bench_render.py [--song PATH] [--only sizes,effects,styles,sharpness,
       first_run,e2e,pipeline,original,60min] [--sizes 512x512,1920x1080]
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
# Sectoid's "War of freedom" (2:55, from Debian's fretsonfire-songs-sectoid, CC-BY-SA)
SONGS = (Path("/work/songs/sectoid-war-of-freedom.ogg"),
         Path("/usr/share/games/fretsonfire/data/songs/sectoid/War of freedom/song.ogg"),
         Path("/tmp/debs/x/usr/share/games/fretsonfire/data/songs/sectoid/War of freedom/song.ogg"))
DEFAULT_SONG = next((p for p in SONGS if p.exists()), SONGS[0])
SIZES = {"512x512": 0.35, "1280x720": 1.0, "1920x1080": 2.0, "1080x1920": 2.0}
EFFECTS_ON = ["--contrast-strength", "0.5", "--flash-strength", "0.5", "--zoom-strength", "0.5",
              "--hue-strength", "0.5", "--rgb-split-strength", "0.5", "--shake-strength", "0.5"]


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
                    str(tmp / "warm.mp4"), "--duration", "2", "--quiet"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sonicdreams", "render", str(song), "-o",
                    str(tmp / "e2e.mp4"), "--quiet", "--seed", "1"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    from sonicdreams.video import probe_video

    info = probe_video(tmp / "e2e.mp4", count=False)
    return {"e2e_song_s": round(info.duration_s, 2), "e2e_3min_s": round(elapsed, 2),
            "e2e_realtime_factor": round(info.duration_s / elapsed, 2),
            "e2e_render_fps": round(info.n_frames / elapsed, 1)}


def staged(song: Path, tmp: Path, size: str, *options: str) -> dict:
    """A whole CLI render in a fresh process (no analysis cache, kernels compiled), with its
    stage times."""
    from sonicdreams.video import probe_video

    out = tmp / f"staged-{size}.mp4"
    # --no-cache: the song is analysed again, but the kernels warm_up compiled are read from
    # the cache folder (SONICDREAMS_CACHE=off would move them and compile again).
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_stages.py"), "render",
                           str(song), "-o", str(out), "--size", size, "--seed", "1", "--quiet",
                           "-y", "--no-cache", *options], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{size} {' '.join(options)}: the render failed:\n{done.stderr}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    info = probe_video(out)
    row.update(song_s=round(info.duration_s, 2), frames=info.n_frames, fps=float(info.fps),
               ratio=round(row["wall_s"] / info.duration_s, 3))
    out.unlink()
    return row


def warm_up(song: Path, tmp: Path) -> None:
    """Compile the styles' kernels into the cache first: the renders measure rendering (the
    first run is measured on its own)."""
    from sonicdreams.generators.builtin import BUILTIN_STYLES

    for name in BUILTIN_STYLES:
        subprocess.run([sys.executable, "-m", "sonicdreams", "render", str(song), "-o",
                        str(tmp / "warm.mp4"), "--duration", "2", "--size", "64x64",
                        "--style", name, "--quiet", "-y"], check=True, capture_output=True)


def sizes(song: Path, tmp: Path, which: list[str]) -> dict:
    rows = {size: staged(song, tmp, size) for size in which}
    for size, row in rows.items():
        row["target"] = f"<= {SIZES[size]}"
        row["met"] = row["ratio"] <= SIZES[size]
    return rows


def effects_cost(song: Path, tmp: Path) -> dict:
    off = staged(song, tmp, "1280x720")
    on = staged(song, tmp, "1280x720", *EFFECTS_ON)
    ratio = on["wall_s"] / off["wall_s"]
    return {"size": "1280x720", "off_ratio": off["ratio"], "on_ratio": on["ratio"],
            "on_over_off": round(ratio, 3), "target": "<= 1.2", "met": ratio <= 1.2,
            "off_stage_cpu_s": off["stage_cpu_s"], "on_stage_cpu_s": on["stage_cpu_s"]}


def styles(song: Path, tmp: Path, seconds: float = 60.0) -> dict:
    from sonicdreams.generators.builtin import BUILTIN_STYLES

    return {name: {size: staged(song, tmp, size, "--style", name, "--duration", str(seconds))
                   ["ratio"] for size in ("512x512", "1280x720")}
            for name in BUILTIN_STYLES}


def sharpness(song: Path) -> dict:
    """Fast path against reference path, per style and size (3 frames: the quietest, the
    strongest hit, the middle of a scene transition, in the song's first minute)."""
    from skimage.metrics import structural_similarity

    import sonicdreams
    from sonicdreams.direction import CUE, direct
    from sonicdreams.generators.builtin import BUILTIN_STYLES, load_builtin
    from sonicdreams.measure import fine_detail
    from sonicdreams.settings import RenderSettings

    features = sonicdreams.analyze(song, fps=30, duration=60, cache=False)
    cues = direct(features, settings=RenderSettings.create({}), seed=1).cues
    hit, mix = cues[:, CUE["hit"]], cues[:, CUE["mix"]]
    moving = np.flatnonzero((mix > 0.3) & (mix < 0.7))
    picks = [int(np.argmin(hit)), int(np.argmax(hit))] + ([int(moving[len(moving) // 2])]
                                                           if len(moving) else [])
    z = np.clip(np.random.default_rng(5).standard_normal((len(picks), 512)), -2, 2)
    z = z.astype(np.float32)
    c = np.eye(12, dtype=np.float32)[[0, 4, 7][:len(picks)]]
    out: dict = {}
    for name in BUILTIN_STYLES:
        for size in ("512x512", "1920x1080", "1080x1920"):
            w, h = map(int, size.split("x"))
            fast = load_builtin(name, size=(h, w))
            ref = load_builtin(name, size=(h, w), reference=True)
            fast.render(z[:1], c[:1], cues[picks[:1]])  # compiled, tables made
            # one frame at a time: the cost of a frame on one thread
            t0 = time.perf_counter()
            a = np.concatenate([fast.render(z[k:k + 1], c[k:k + 1], cues[[p]])
                                for k, p in enumerate(picks)])
            t1 = time.perf_counter()
            b = np.concatenate([ref.render(z[k:k + 1], c[k:k + 1], cues[[p]])
                                for k, p in enumerate(picks)])
            t2 = time.perf_counter()
            ssim = min(structural_similarity(x, y, channel_axis=2, data_range=255)
                       for x, y in zip(a, b, strict=True))
            out.setdefault(name, {})[size] = {
                "ssim": round(float(ssim), 4), "met": bool(ssim >= 0.97),
                "detail_kept": round(fine_detail(a) / max(fine_detail(b), 1e-9), 3),
                "work_size": "x".join(map(str, fast.work_size()[::-1])),
                "fast_ms": round(1000 * (t1 - t0) / len(picks), 1),
                "reference_ms": round(1000 * (t2 - t1) / len(picks), 1)}
    return out


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


PARTS = ("sizes", "effects", "styles", "sharpness", "first_run", "e2e", "pipeline", "original",
         "60min")


def first_run(tmp: Path) -> dict:
    """A fresh install's first ``sonicdreams demo``: a new virtual environment with the
    package and its core dependencies from the package index (pip's download cache is
    allowed: the install is not what is timed), an empty sonicdreams cache and an empty numba
    cache (every kernel compiles), timed from the command to its exit."""
    venv = tmp / "fresh-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    t = time.perf_counter()
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], check=True)
    install_s = time.perf_counter() - t
    home = tmp / "fresh-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SONICDREAMS_", "NUMBA_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    runs = []
    for _ in range(2):  # the first run, then the second (kernels and analysis cached)
        out = tmp / "demo.mp4"
        t = time.perf_counter()
        subprocess.run([str(venv / "bin" / "sonicdreams"), "demo", "-o", str(out), "-y",
                        "--quiet"], env=env, check=True, capture_output=True, cwd=tmp)
        runs.append(round(time.perf_counter() - t, 2))
    cached = sorted(p.name for p in (home / ".cache" / "sonicdreams" / "numba").rglob("*.nbi"))
    return {"first_demo_s": runs[0], "second_demo_s": runs[1], "target_s": "<= 30",
            "met": runs[0] <= 30, "install_s": round(install_s, 1),
            "kernels_cached": len(cached)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--song", type=Path, default=DEFAULT_SONG)
    parser.add_argument("--only", default=",".join(PARTS),
                        help="comma-separated parts to run (default: all)")
    parser.add_argument("--sizes", default=",".join(SIZES),
                        help="comma-separated sizes for the sizes part (default: all four)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    unknown = (parts - set(PARTS)) | (set(args.sizes.split(",")) - set(SIZES))
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    result: dict = {"benchmark": "render", "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        song = _song_or_loop(args.song, tmp, 180)
        result["song"] = str(song)
        if parts & {"sizes", "effects", "styles"}:
            warm_up(song, tmp)
        if "sizes" in parts:
            result["sizes"] = sizes(song, tmp, args.sizes.split(","))
        if "effects" in parts:
            result["effects"] = effects_cost(song, tmp)
        if "styles" in parts:
            result["styles"] = styles(song, tmp)
        if "sharpness" in parts:
            result["sharpness"] = sharpness(song)
        if "first_run" in parts:
            result["first_run"] = first_run(tmp)
        if "e2e" in parts:
            result.update(e2e(song, tmp))
        if "pipeline" in parts:
            result.update(pipeline(song, tmp))
        if "original" in parts:
            result.update(original_way(song, tmp))
        if "60min" in parts:
            one = memory(tmp, 1, long_song(tmp, 1))
            sixty = memory(tmp, 60, long_song(tmp, 60))
            result.update({
                "peak_rss_1min_mb": round(one["peak_rss_mb"], 1),
                "peak_rss_60min_mb": round(sixty["peak_rss_mb"], 1),
                "rss_ratio_60_vs_1": round(sixty["peak_rss_mb"] / one["peak_rss_mb"], 3),
                "render_60min_s": round(sixty["seconds"], 1),
            })
    result["targets"] = {"sizes": {k: f"ratio <= {v}" for k, v in SIZES.items()},
                         "effects": "on/off <= 1.2", "sharpness": "ssim >= 0.97",
                         "first_run": "first demo <= 30 s in a fresh environment",
                         "e2e_3min_s": "<= 180", "pipeline_fps": ">= 150",
                         "peak_rss_60min_mb": "<= 1024 and within 20% of 1 min",
                         "speedup_vs_original": ">= 5"}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
