"""Decoding every format users have, and every kind of bad input, with the real decoder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

import sonicdreams
from conftest import tone
from sonicdreams.audio.decode import AudioStream, load, probe
from sonicdreams.cli import main
from sonicdreams.errors import AudioError, SettingsError, SonicDreamsWarning


def encode_with_pyav(path: Path, samples: np.ndarray, sr: int, codec: str, *,
                     fmt: str | None = None, video: str | None = None, layout: str = "stereo"):
    """Write ``samples`` [shape=(channels, n)] with PyAV, optionally beside a video track."""
    with av.open(str(path), "w", format=fmt) as out:
        if video:
            v = out.add_stream(video, rate=25)
            v.width = v.height = 64
            v.pix_fmt = "yuv420p"
        a = out.add_stream(codec, rate=sr)
        a.layout = layout
        pos = 0
        while pos < samples.shape[1]:
            block = np.ascontiguousarray(samples[:, pos:pos + 1024], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = sr
            frame.pts = pos
            out.mux(a.encode(frame))
            pos += 1024
        out.mux(a.encode(None))
        if video:
            for i in range(int(samples.shape[1] / sr * 25)):
                img = np.full((64, 64, 3), (i * 5) % 256, np.uint8)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = i
                out.mux(v.encode(frame))
            out.mux(v.encode(None))


@pytest.fixture(scope="module")
def music(excerpt) -> tuple[np.ndarray, int]:
    """6 s of the real excerpt, (2, n) float32 at 44.1 kHz."""
    y, sr = sf.read(excerpt, dtype="float32", frames=6 * 44100)
    return np.ascontiguousarray(y.T), sr


def _similar(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two signals after aligning them (codecs delay and filter)."""
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


FORMATS = {
    # name: (writer, tolerance on the duration in seconds for lossy padding/priming)
    "wav16.wav": ("sf", "PCM_16", 0.0),
    "wav24.wav": ("sf", "PCM_24", 0.0),
    "wav32.wav": ("sf", "PCM_32", 0.0),
    "float.wav": ("sf", "FLOAT", 0.0),
    "lossless.flac": ("sf", "PCM_16", 0.0),
    "vorbis.ogg": ("sf", "VORBIS", 0.01),
    "song.mp3": ("sf", "MPEG_LAYER_III", 0.06),
    "voice.opus": ("av", "libopus", 0.03),
    "music.m4a": ("av", "aac", 0.06),
    "clip.mp4": ("av", "aac", 0.06),
    "clip.mkv": ("av", "libopus", 0.03),
    "clip.webm": ("av", "libopus", 0.03),
}


@pytest.fixture(scope="module")
def encoded(music, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    y, sr = music
    paths = {}
    for name, (writer, codec, _) in FORMATS.items():
        path = folder / name
        if writer == "sf":
            sf.write(path, y.T, sr, subtype=codec)
        else:
            rate = 48000 if codec == "libopus" else sr
            data = y if rate == sr else np.stack(
                [np.interp(np.arange(int(y.shape[1] * rate / sr)) * sr / rate,
                           np.arange(y.shape[1]), ch) for ch in y]).astype(np.float32)
            video = "libx264" if name.startswith("clip.") and name != "clip.webm" else (
                "libvpx-vp9" if name == "clip.webm" else None)
            fmt = {"voice.opus": "ogg", "music.m4a": "ipod"}.get(name)
            encode_with_pyav(path, data, rate, codec, fmt=fmt, video=video)
        paths[name] = path
    return paths


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_decodes_with_its_rate_channels_and_content(encoded, music, name):
    y, sr = music
    audio = load(encoded[name])
    tolerance = FORMATS[name][2]
    expected_sr = 48000 if FORMATS[name][1] == "libopus" else sr
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 2
    assert (audio.sr, audio.native_sr, audio.channels, audio.native_channels) == (
        expected_sr, expected_sr, 2, 2)
    assert abs(audio.duration_s - 6.0) <= tolerance + 1e-9
    # The music itself came through: strongly correlated with the source (lossy allowed).
    mono = load(encoded[name], sr=22050, mono=True)
    assert mono.sr == 22050 and mono.channels == 1
    reference = load(encoded["wav32.wav"], sr=22050, mono=True).samples[0]
    best = max(_similar(np.roll(mono.samples[0], -k), reference) for k in range(0, 1200, 6))
    assert best > 0.9, best


@pytest.mark.parametrize("sr", [8000, 11025, 22050, 32000, 48000, 96000, 192000])
def test_any_sample_rate(tmp_path, sr):
    path = tmp_path / f"tone{sr}.wav"
    sf.write(path, tone(440.0, sr=sr, duration_s=1.5), sr)
    audio = load(path)
    assert audio.sr == sr and audio.n_samples == round(1.5 * sr)
    mono = load(path, sr=22050, mono=True).samples[0]
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    assert np.argmax(spectrum) * 22050 / len(mono) == pytest.approx(440.0, abs=2.0)


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_any_channel_count_and_mono_mix_is_the_mean(tmp_path, channels):
    sr = 44100
    t = np.arange(sr) / sr
    data = np.stack([(0.1 * (c + 1)) * np.sin(2 * np.pi * 300 * t) for c in range(channels)], 1)
    path = tmp_path / f"ch{channels}.flac"
    sf.write(path, data.astype(np.float32), sr)
    audio = load(path)
    assert audio.channels == channels
    mono = load(path, mono=True).samples[0]
    np.testing.assert_allclose(mono, data.mean(axis=1), atol=1e-4)


def test_start_and_duration_trim_exactly(tmp_path):
    sr = 44100
    ramp = (np.arange(sr * 5) / (sr * 5)).astype(np.float32)
    path = tmp_path / "ramp.wav"
    sf.write(path, ramp, sr, subtype="FLOAT")
    audio = load(path, start=1.25, duration=2.0)
    assert audio.n_samples == 2 * sr and audio.start_s == 1.25 and audio.duration_s == 2.0
    np.testing.assert_array_equal(audio.samples[0], ramp[int(1.25 * sr): int(3.25 * sr)])
    tail = load(path, start=4.0, duration=10.0)  # past the end: stops at the end
    assert tail.duration_s == pytest.approx(1.0) and tail.file_duration_s == pytest.approx(5.0)
    with pytest.raises(SettingsError, match=r"past the end of ramp.wav, which is 0:05.00"):
        load(path, start=5.0)
    for bad in (dict(start=-1), dict(start=float("nan")), dict(duration=0),
                dict(duration=-2), dict(start="x")):
        with pytest.raises(SettingsError):
            load(path, **bad)
    blocks = list(AudioStream(path, start=1.25, duration=2.0))  # the streamed form agrees
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), audio.samples)


def _bad_inputs(folder: Path) -> dict[str, tuple[Path, str]]:
    rng = np.random.default_rng(0)
    cases = {}
    (folder / "a directory.mp3").mkdir()
    cases["directory"] = (folder / "a directory.mp3", "is a directory")
    (folder / "empty.mp3").write_bytes(b"")
    cases["empty"] = (folder / "empty.mp3", "empty")
    for ext in ("mp3", "wav", "ogg", "flac", "m4a"):
        (folder / f"random.{ext}").write_bytes(rng.bytes(60_000))
        cases[f"random .{ext}"] = (folder / f"random.{ext}", "random." + ext)
    (folder / "notes.txt").write_text("just some text\n" * 200)
    cases["text"] = (folder / "notes.txt", "notes.txt")
    (folder / "lyrics.mp3").write_text("la la la\n" * 200)
    cases["text as mp3"] = (folder / "lyrics.mp3", "lyrics.mp3")
    with av.open(str(folder / "silent_video.mp4"), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width = v.height = 64
        v.pix_fmt = "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    cases["video without audio"] = (folder / "silent_video.mp4", "no audio track")
    cases["missing"] = (folder / "missing.flac", "no such file")
    return cases


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    return _bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", ["directory", "empty", "random .mp3", "random .wav",
                                  "random .ogg", "random .flac", "random .m4a", "text",
                                  "text as mp3", "video without audio", "missing"])
def test_bad_input_is_an_audio_error_naming_the_file(bad_inputs, case, capsys):
    path, message = bad_inputs[case]
    with pytest.raises(AudioError, match=message) as info:
        load(path)
    assert path.name in str(info.value)
    with pytest.raises(AudioError):
        sonicdreams.analyze(path)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sonicdreams: error:") and err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["song.mp3", "lossless.flac", "wav16.wav", "vorbis.ogg"])
def test_truncated_files_decode_what_is_there_or_fail_clearly(encoded, tmp_path, name):
    data = encoded[name].read_bytes()
    cut = tmp_path / f"cut_{name}"
    cut.write_bytes(data[: len(data) // 2])
    try:
        with pytest.warns(SonicDreamsWarning, match="truncated"):
            audio = load(cut)
    except AudioError as err:  # Ogg needs its end to open: a clear error is the other option
        assert name.endswith(".ogg") and "truncated" in str(err)
        return
    length_s = audio.duration_s  # of the decoded audio
    assert 2.0 < length_s < 4.0


def test_one_sample_file_is_too_short_to_analyse(tmp_path, capsys):
    path = tmp_path / "one.wav"
    sf.write(path, np.zeros(1, np.float32), 44100)
    assert load(path).n_samples == 1
    with pytest.raises(AudioError, match="too short"):
        sonicdreams.analyze(path)
    assert main(["analyze", str(path)]) == 2
    assert "too short" in capsys.readouterr().err


def test_nan_and_inf_are_sanitised_and_loud_samples_kept(tmp_path):
    y = np.zeros(44100, np.float32)
    y[100], y[200], y[300] = np.nan, np.inf, -np.inf
    y[1000:1100] = 3.5
    path = tmp_path / "float.wav"
    sf.write(path, y, 44100, subtype="FLOAT")
    with pytest.warns(SonicDreamsWarning, match="NaN"):
        audio = load(path)
    assert np.isfinite(audio.samples).all()
    assert audio.samples.max() == pytest.approx(3.5)  # beyond ±1 is kept


def test_silence_is_valid_input(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(44100 * 3, np.float32), 44100)
    f = sonicdreams.analyze(path, fps=24)
    assert f.n_frames == 72
    for values in (f.pulse, f.motion, f.onset, f.chroma):
        assert np.all(values == 0) and np.isfinite(values).all()
    assert f.tempo_bpm == 0 and len(f.beat_times) == 0


def test_awkward_names_tags_and_extensions(music, tmp_path):
    y, sr = music
    odd = tmp_path / "Ünïcode song – with spaces.FLAC"
    sf.write(odd, y.T[: sr * 2], sr)
    noext = tmp_path / "no_extension"
    sf.write(noext, y.T[: sr * 2], sr, format="WAV")
    for path in (odd, noext):
        assert load(path).duration_s == pytest.approx(2.0)
    # A FLAC whose title tag is Shift-JIS bytes, not UTF-8 (as in real game soundtracks):
    # FLAC metadata has no checksum, so the tag is rewritten in place.
    tagged = tmp_path / "tagged.flac"
    with sf.SoundFile(tagged, "w", sr, 2, format="FLAC") as f:
        f.title = "abcdef"
        f.write(y.T[: sr])
    raw = tagged.read_bytes()
    assert b"abcdef" in raw
    tagged.write_bytes(raw.replace(b"abcdef", "夜明け".encode("shift_jis"), 1))
    assert load(tagged).duration_s == pytest.approx(1.0)
    assert probe(tagged).channels == 2


def test_video_files_give_their_audio_track(encoded):
    info = probe(encoded["clip.mp4"])
    assert info.codec == "aac" and info.channels == 2
    run = subprocess.run([sys.executable, "-m", "sonicdreams", "analyze",
                          str(encoded["clip.mkv"])], capture_output=True, text=True,
                         env={**os.environ, "SONICDREAMS_CACHE": "off"})
    assert run.returncode == 0, run.stderr
    assert "48000 Hz, stereo" in run.stdout
