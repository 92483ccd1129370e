"""End-to-end renders decoded back: frames, fps, streams, sync, resume, atomic output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import click_track, write_wav
from sonicdreams.errors import AudioError, SettingsError, StyleError
from sonicdreams.pipeline import render, work_dir_for
from sonicdreams.video import probe_video, read_manifest


class Grey:
    """A tiny deterministic generator: mid-grey frames, brightness nudged by z[0]."""

    z_dim, c_dim, batch_size = 8, 0, 32

    def __init__(self, size=(64, 64)):
        self.size = size

    def render(self, z, c):
        level = 100 + 20 * np.tanh(np.asarray(z)[:, 0])
        frames = np.empty((len(z), *self.size, 3), np.uint8)
        frames[:] = level.astype(np.uint8)[:, None, None, None]
        return frames


def decode_frames(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def decode_audio(path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        data = np.concatenate([f.to_ndarray() for f in c.decode(stream)], axis=1)
        return data, stream.codec_context.sample_rate


def run_cli(*args, cwd=None, env_extra=None, **kw):
    env = {**os.environ, "SONICDREAMS_CACHE": "off", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "sonicdreams", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, **kw)


@pytest.mark.parametrize(("fps", "duration", "frames"),
                         [(30, 4.0, 120), ("30000/1001", 3.3, 99), (24, 2.51, 60)])
def test_render_has_exact_frames_fps_and_the_songs_audio(excerpt, tmp_path, fps, duration,
                                                         frames):
    out = tmp_path / "video.mp4"
    result = render(excerpt, out, style=Grey(), fps=fps, start=5, duration=duration, seed=3,
                    preset="ultrafast")
    info = probe_video(out)
    assert result.n_frames == info.n_frames == frames
    assert info.fps == Fraction(fps) if isinstance(fps, int) else Fraction(30000, 1001)
    assert info.video_codec == "h264" and info.size == (64, 64)
    assert info.audio_codec == "aac"
    assert (info.audio_rate, info.audio_channels) == (44100, 2)  # the song's own, not 22 kHz mono
    assert info.audio_duration_s == pytest.approx(duration, abs=0.03)
    assert info.duration_s == pytest.approx(frames / float(Fraction(fps)), abs=1e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.mp4"]  # work dir removed


def test_flashes_stay_on_their_clicks_for_ten_minutes(tmp_path):
    """A 10-minute click track with flash: every flash peaks within one frame of its click,
    in the video and relative to the clicks in the file's own soundtrack."""
    sr, fps, duration = 22050, 30, 600.0
    clicks = np.arange(0.5, duration - 0.5, 1.7)
    song = write_wav(tmp_path / "clicks.wav", click_track(clicks, sr=sr, duration_s=duration), sr)
    out = tmp_path / "clicks.mp4"
    render(song, out, style=Grey((32, 32)), fps=fps, seed=0, flash_strength=1.0,
           flash_percussive=False, motion_react=0, pulse_react=0, speed_fpm=0,
           preset="ultrafast", segment_seconds=60)
    brightness = decode_frames(out).mean(axis=(1, 2, 3))
    assert len(brightness) == 18000
    peaks = np.flatnonzero((brightness[1:-1] > brightness[:-2]) &
                           (brightness[1:-1] >= brightness[2:]) & (brightness[1:-1] > 170)) + 1
    nearest = np.round(clicks * fps).astype(int)
    assert len(peaks) == len(clicks)
    assert np.abs(peaks - nearest).max() <= 1
    # The soundtrack in the file: its clicks fall on the same frames (no offset, no drift).
    audio, rate = decode_audio(out)
    env = np.abs(audio[0])
    onsets = np.flatnonzero((env[1:] > 0.3) & (env[:-1] <= 0.3)) + 1
    onsets = onsets[np.concatenate([[True], np.diff(onsets) > rate // 10])] / rate
    assert len(onsets) == len(clicks)
    assert np.abs(onsets - clicks).max() < 0.005
    assert np.abs(peaks / fps - onsets).max() <= 1.0 / fps + 0.005


@pytest.mark.parametrize(("name", "vcodec", "acodec", "rate"),
                         [("v.webm", "vp9", "opus", 48000), ("v.mov", "h264", "aac", 44100),
                          ("v.mkv", "h264", "aac", 44100), ("v.gif", "gif", None, None)])
def test_output_formats_by_extension(excerpt, tmp_path, name, vcodec, acodec, rate):
    out = tmp_path / name
    render(excerpt, out, style=Grey(), fps=10, duration=2, seed=0, preset="ultrafast")
    info = probe_video(out)
    assert info.n_frames == 20 and info.video_codec == vcodec
    assert info.audio_codec == acodec and info.audio_rate == rate


@pytest.mark.parametrize("fit", ["cover", "contain", "stretch"])
def test_any_output_size_with_fit(excerpt, tmp_path, fit):
    class Square(Grey):
        def render(self, z, c):
            frames = super().render(z, c)
            frames[:, :8] = 255  # a white band along the top edge
            return frames

    out = tmp_path / f"{fit}.mp4"
    render(excerpt, out, style=Square(), fps=10, duration=1, width=128, height=64, fit=fit,
           seed=0, preset="ultrafast")
    frame = decode_frames(out)[0].astype(int)
    assert frame.shape == (64, 128, 3)
    if fit == "cover":  # scaled to 128x128, top and bottom cropped: the band is gone
        assert frame[:4].mean() < 160
    elif fit == "contain":  # 64x64 in the middle, black bars left and right
        assert frame[:, :24].mean() < 20 and frame[:, -24:].mean() < 20
        assert frame[:4, 40:88].mean() > 220
    else:  # stretched across the width: the band spans it
        assert frame[:4].mean() > 220 and frame[20:, :24].mean() > 60


def test_builtin_style_renders_at_the_requested_size(excerpt, tmp_path):
    out = tmp_path / "wide.mp4"
    render(excerpt, out, style="cppn", fps=10, duration=1, width=160, height=90 + 0,
           seed=0, preset="ultrafast")
    frames = decode_frames(out)
    assert frames.shape == (10, 90, 160, 3)
    assert frames.std() > 10  # a real picture, not a flat frame


def test_same_seed_same_video_and_manifest_reproduces(excerpt, tmp_path):
    song = tmp_path / "my song.ogg"
    song.write_bytes(excerpt.read_bytes())
    a, b, c = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    options = dict(fps=12, duration=2, width=64, height=64, preset="ultrafast")
    first = render(song, a, **options)  # seed drawn and reported
    manifest = read_manifest(a)
    assert manifest["seed"] == first.seed and manifest["song"]["sha256"]
    # The song is found by name beside the video, and checked by its SHA-256.
    run = run_cli("render", "--from-manifest", a, "-o", b, "--quiet")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(b)
    np.testing.assert_array_equal(decode_frames(a), decode_frames(b))
    # Or given explicitly, from anywhere.
    run = run_cli("render", excerpt, "--from-manifest", a, "-o", c, "--quiet")
    assert run.returncode == 0, run.stderr
    np.testing.assert_array_equal(decode_frames(a), decode_frames(c))


@pytest.mark.parametrize("size", [(64, 64), (64, 112), (192, 192), (270, 480)])
def test_the_same_frames_encode_to_the_same_bytes_every_time(tmp_path, size):
    # x264's macroblock tree reads memory it never wrote (at 64x112 and 192² every time):
    # between two encodes of the same frames, opening another file changed the heap, and
    # the bytes.
    from sonicdreams.video import SegmentWriter, VideoSpec

    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    frames = np.stack([np.stack([(x * 4 + 9 * t) % 256, (y * 3 + 5 * t) % 256,
                                 ((x + y) * 2 - 7 * t) % 256], axis=-1)
                       for t in range(24)]).astype(np.uint8)
    spec = VideoSpec(fps=Fraction(30), size=size)
    digests = set()
    for k in range(6):
        with SegmentWriter(tmp_path / f"{k}.mp4", spec) as writer:
            writer.write(frames)
        digests.add((tmp_path / f"{k}.mp4").read_bytes())
        with av.open(str(tmp_path / f"{k}.mp4")) as container:  # moves the heap around
            for _ in container.demux(container.streams.video[0]):
                pass
    assert len(digests) == 1


def test_our_yuv_conversion_matches_ffmpegs(tmp_path):
    """Frames go to the encoder as YUV 4:2:0 made by our own pass: what comes back decoded
    is what FFmpeg's converter gives, within a level or two (smooth colours: its chroma
    filter differs from our 2×2 mean only on detail finer than a chroma sample)."""
    from sonicdreams.video import _yuv420

    h, w = 36, 64
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 120 * np.sin(x / 9 + y / 13), 128 + 120 * np.cos(x / 7),
                    128 + 100 * np.sin(y / 5)], axis=-1).astype(np.uint8)
    ours = _yuv420()(img, np.empty(h * w * 3 // 2, np.uint8)).reshape(-1, w).astype(int)
    theirs = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(
        format="yuv420p").to_ndarray().astype(int)
    assert np.abs(ours[:h] - theirs[:h]).max() <= 1  # luma
    assert np.abs(ours[h:] - theirs[h:]).max() <= 2  # chroma


def test_output_audio_replaces_the_soundtrack(excerpt, tmp_path):
    mono = write_wav(tmp_path / "mono48k.wav", 0.3 * np.ones(48000 * 3, np.float32), 48000)
    out = tmp_path / "v.mp4"
    render(excerpt, out, style=Grey(), fps=10, duration=2, output_audio=mono, seed=0,
           preset="ultrafast")
    info = probe_video(out)
    assert (info.audio_rate, info.audio_channels) == (48000, 1)


def test_custom_effects_through_render(excerpt, tmp_path):
    from sonicdreams.effects import EffectsGenerator

    def invert(array, strength, amplitude):
        return 255 - array

    out = tmp_path / "inv.mp4"
    render(excerpt, out, style=Grey(), fps=10, duration=1, seed=0, preset="ultrafast",
           custom_effects=[EffectsGenerator(invert, percussive=False)])
    assert decode_frames(out).mean() > 255 - 125


# -- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [(dict(song="missing.mp3"), AudioError, "no such file"),
     (dict(output="video.avi"), SettingsError, "unsupported extension"),
     (dict(output="nowhere/video.mp4"), SettingsError, "does not exist"),
     (dict(style="no-such-style"), StyleError, "unknown style"),
     (dict(fps=0), SettingsError, "fps"),
     (dict(start=100), SettingsError, "past the end"),
     (dict(width=65, height=64), SettingsError, "even"),
     (dict(codec="vp9", output="v.mov"), SettingsError, "cannot go in")],
)
def test_bad_input_raises_and_writes_nothing(excerpt, tmp_path, monkeypatch, kwargs, error,
                                             message):
    monkeypatch.chdir(tmp_path)
    song = kwargs.pop("song", str(excerpt))
    output = kwargs.pop("output", "video.mp4")
    with pytest.raises(error, match=message):
        render(song, output, **{"style": Grey(), "duration": 1, **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_input_is_one_line_and_exit_2(excerpt, tmp_path):
    for args in (["render", "missing.mp3", "-o", "v.mp4"],
                 ["render", excerpt, "-o", "v.mp4", "--style", "nope"],
                 ["render", excerpt, "-o", "v.mp4", "--fps", "-3"],
                 ["render", excerpt, "-o", "v.mp4", "--size", "12by7"],
                 ["render", excerpt, "-o", "v.mp4", "--config", "missing.toml"]):
        run = run_cli(*args, cwd=tmp_path)
        assert run.returncode == 2, (args, run.stderr)
        assert run.stderr.startswith("sonicdreams: error:") and run.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_config_file_and_dump_config(excerpt, tmp_path):
    dumped = run_cli("render", excerpt, "--dump-config", "--speed-fpm", "6", "--classes",
                     "1,2,3", "--class-shuffle-seconds", "sections")
    assert dumped.returncode == 0, dumped.stderr
    config = tmp_path / "look.toml"
    config.write_text(dumped.stdout.replace("speed_fpm = 6.0", "speed_fpm = 7.5"))
    again = run_cli("render", excerpt, "--config", config, "--dump-config", "--pulse-react",
                    "1.2")
    assert again.returncode == 0, again.stderr
    assert "speed_fpm = 7.5" in again.stdout and "pulse_react = 1.2" in again.stdout
    assert "classes = [1, 2, 3]" in again.stdout
    assert 'class_shuffle_seconds = "sections"' in again.stdout


# -- interruption and resume ----------------------------------------------------------------------

# (16 s: a Ctrl-C sent once the first segment is written lands well before the last)
RENDER_ARGS = ["--style", "cppn", "--size", "384x384", "--fps", "24", "--duration", "16",
               "--segment-seconds", "1", "--seed", "11", "--preset", "ultrafast", "--quiet"]


def _start_render(excerpt, out, cwd):
    env = {**os.environ, "SONICDREAMS_CACHE": str(cwd / "cache")}
    # Ctrl-C as in a terminal, even when the test run itself was started in the background
    # (a shell's background job ignores SIGINT, and its children inherit that).
    return subprocess.Popen([sys.executable, "-m", "sonicdreams", "render", str(excerpt), "-o",
                             str(out), *RENDER_ARGS], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_segments(work: Path, count: int, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if work.exists() and len(list(work.glob("segment_*.mp4"))) >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"render ended early: {proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail("no segment appeared in time")


@pytest.mark.slow
def test_killed_render_resumes_to_the_same_video(excerpt, tmp_path):
    out = tmp_path / "video.mp4"
    proc = _start_render(excerpt, out, tmp_path)
    _wait_for_segments(work_dir_for(out), 2, proc)
    proc.kill()  # kill -9: no clean-up at all
    proc.wait()
    assert not out.exists()  # the output appears only when complete
    finished = sorted(p.name for p in work_dir_for(out).glob("segment_*.mp4"))
    assert 2 <= len(finished) < 6

    resumed = subprocess.run([sys.executable, "-m", "sonicdreams", "render", str(excerpt), "-o",
                              str(out), *RENDER_ARGS], cwd=tmp_path, capture_output=True,
                             text=True, env={**os.environ,
                                             "SONICDREAMS_CACHE": str(tmp_path / "cache")})
    assert resumed.returncode == 0, resumed.stderr
    assert not work_dir_for(out).exists()

    fresh = tmp_path / "fresh.mp4"
    done = subprocess.run([sys.executable, "-m", "sonicdreams", "render", str(excerpt), "-o",
                           str(fresh), *RENDER_ARGS], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "SONICDREAMS_CACHE": "off"})
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(decode_frames(out), decode_frames(fresh))


@pytest.mark.slow
def test_ctrl_c_exits_130_and_says_how_to_resume(excerpt, tmp_path):
    out = tmp_path / "video.mp4"
    proc = _start_render(excerpt, out, tmp_path)
    _wait_for_segments(work_dir_for(out), 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "run the same command again to resume" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
    assert not list(tmp_path.glob(".*.part*"))  # no half-written output


def test_json_progress_save_frames_and_quiet(excerpt, tmp_path):
    out = tmp_path / "v.mp4"
    run = run_cli("render", excerpt, "-o", out, "--duration", "1", "--fps", "10", "--size",
                  "64x48", "--json-progress", "--save-frames", "--seed", "2",
                  "--preset", "ultrafast", "--batch-size", "2")  # several steps on any machine
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    render_events = [e for e in events if e["stage"] == "render"]
    assert render_events[-1]["done"] == render_events[-1]["total"] == 10
    # The remaining time, once the rate can be told (after the first frames), to 0 at the end.
    etas = [e["eta_s"] for e in render_events if "eta_s" in e]
    assert etas and min(etas) >= 0 and render_events[-1]["eta_s"] == 0
    assert "eta_s" not in render_events[0]
    assert {e["stage"] for e in events} >= {"render", "finalize"}
    pngs = sorted((tmp_path / "v_frames").glob("*.png"))
    assert len(pngs) == 10
    from PIL import Image

    assert np.asarray(Image.open(pngs[3])).shape == (48, 64, 3)
    quiet = run_cli("render", excerpt, "-o", tmp_path / "q.mp4", "--duration", "1", "--fps",
                    "10", "--size", "64x48", "--quiet", "--preset", "ultrafast")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.strip() == str(tmp_path / "q.mp4")


def test_original_examples_from_the_cli_with_a_toml_config(excerpt, tmp_path):
    """Lucid Sonic Dreams' isolated-tracks example, as a config file."""
    import soundfile as sf

    y, sr = sf.read(excerpt, dtype="float32")
    sf.write(tmp_path / "drums.wav", y[: 3 * sr, 0], sr)
    sf.write(tmp_path / "piano.wav", y[: 3 * sr, 1], sr)
    (tmp_path / "example.toml").write_text(
        'pulse_audio = "drums.wav"\nclass_audio = "piano.wav"\n'
        "classes = [1, 5, 9, 2, 7, 11, 0, 3, 8, 4, 10, 6]\ndominant_classes_first = true\n"
        "class_shuffle_seconds = 8\nclass_smooth_seconds = 4\nclass_pitch_react = 0.2\n"
        "speed_fpm = 0\nmotion_react = 0.8\ncontrast_strength = 0.5\nflash_strength = 0.7\n"
        "fps = 43\nduration = 3\nwidth = 96\nheight = 96\n")
    run = run_cli("render", excerpt, "-o", "video.mp4", "--config", "example.toml", "--quiet",
                  cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    info = probe_video(tmp_path / "video.mp4")
    assert info.fps == 43 and info.n_frames == 129 and info.size == (96, 96)
    manifest = read_manifest(tmp_path / "video.mp4")
    assert manifest["settings"]["pulse_audio"] == "drums.wav"
    assert manifest["classes"] != [1, 5, 9, 2, 7, 11, 0, 3, 8, 4, 10, 6]  # dominance reorders


def test_bad_audio_inputs_through_render(tmp_path):
    (tmp_path / "empty.mp3").write_bytes(b"")
    (tmp_path / "text.mp3").write_text("not audio at all\n" * 100)
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(0).bytes(50_000))
    (tmp_path / "folder.mp3").mkdir()
    for name in ("empty.mp3", "text.mp3", "noise.wav", "folder.mp3", "missing.flac"):
        run = run_cli("render", name, "-o", "out.mp4", cwd=tmp_path)
        assert run.returncode == 2, (name, run.stderr)
        assert run.stderr.startswith("sonicdreams: error:") and name in run.stderr
        assert run.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mp3", "folder.mp3",
                                                           "noise.wav", "text.mp3"]


def test_nan_samples_warn_and_still_render(tmp_path):
    y = 0.2 * np.sin(np.linspace(0, 2000, 44100 * 2)).astype(np.float32)
    y[1000], y[2000], y[3000:3100] = np.nan, np.inf, 3.0  # beyond ±1 is fine
    song = write_wav(tmp_path / "nan.wav", y, 44100, subtype="FLOAT")
    run = run_cli("render", song, "-o", tmp_path / "v.mp4", "--size", "64x64", "--fps", "10",
                  "--quiet", "--preset", "ultrafast")
    assert run.returncode == 0, run.stderr
    assert "NaN" in run.stderr and run.stderr.count("\n") == 1
    info = probe_video(tmp_path / "v.mp4")
    assert info.n_frames == 20 and info.audio_duration_s == pytest.approx(2.0, abs=0.03)


def test_without_a_seed_previews_and_renders_share_one(excerpt, tmp_path):
    a = render(excerpt, tmp_path / "a.mp4", style=Grey(), fps=12, duration=1, preset="ultrafast")
    b = render(excerpt, tmp_path / "b.mp4", style=Grey(), fps=6, duration=1, width=32,
               height=32, preset="ultrafast")
    assert a.seed == b.seed == read_manifest(tmp_path / "b.mp4")["seed"]
    other = render(excerpt, tmp_path / "c.mp4", style=Grey(), fps=12, duration=1, seed=5,
                   preset="ultrafast")
    assert other.seed == 5
