"""Bad input: each one is an :class:`AudioError` naming the file and the reason, never a library
exception; through the CLI, exit code 2 and one line on stderr.

Truncated files, decided case by case (asserted below):

* wav, flac, mp3, ogg/vorbis, opus, mkv, webm and an m4a with its index at the front
  ("faststart"), cut in half (or to a few percent): what is there decodes, bit-identical to the
  start of the whole file, with a :class:`SonicDreamsWarning` saying it is truncated or damaged.
* m4a/mp4 with the index at the end (what FFmpeg and most encoders write) cut anywhere: an
  AudioError saying the file is incomplete (no 'moov' box); nothing can be decoded without it.
* Any file cut to its headers (no whole audio packet left): an AudioError.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sonicdreams
from conftest import video_without_audio
from sonicdreams.audio import load
from sonicdreams.cli import main
from sonicdreams.errors import AudioError, SonicDreamsError, SonicDreamsWarning
from test_decode import encode_pyav, tones

SR = 44100


# --------------------------------------------------------------------------------------------
# Good files to damage


@pytest.fixture(scope="module")
def music(excerpt) -> np.ndarray:
    """4 s of the real excerpt, (2, n) float32 at 44.1 kHz, peak 0.9."""
    y, _ = sf.read(excerpt, dtype="float32", start=5 * SR, frames=4 * SR, always_2d=True)
    return np.ascontiguousarray(0.9 * y.T / np.abs(y).max())


@pytest.fixture(scope="module")
def good(music, tmp_path_factory) -> Callable[[str], Path]:
    """``good(kind)``: an intact 4 s file of that kind, made on first use."""
    folder = tmp_path_factory.mktemp("good")
    cache: dict[str, Path] = {}
    y48 = np.stack([np.interp(np.arange(4 * 48000) * SR / 48000, np.arange(music.shape[1]), ch)
                    for ch in music]).astype(np.float32)

    def make(kind: str) -> Path:
        if kind in cache:
            return cache[kind]
        path = folder / {"m4a-faststart": "faststart.m4a"}.get(kind, f"song.{kind}")
        if kind in ("wav", "flac"):
            sf.write(path, music.T, SR, subtype="PCM_16")
        elif kind == "ogg":
            sf.write(path, music.T, SR, subtype="VORBIS")
        elif kind == "mp3":
            encode_pyav(path, music, SR, "libmp3lame")
        elif kind == "m4a":
            encode_pyav(path, music, SR, "aac", fmt="ipod")
        elif kind == "m4a-faststart":
            encode_pyav(path, music, SR, "aac", fmt="ipod", options={"movflags": "faststart"})
        elif kind == "opus":
            encode_pyav(path, y48, 48000, "libopus", fmt="opus")
        elif kind == "mp4":
            encode_pyav(path, music, SR, "aac", video="libx264")
        elif kind == "mkv":
            encode_pyav(path, music, SR, "aac", video="libx264")
        elif kind == "webm":
            encode_pyav(path, y48, 48000, "libopus", video="libvpx-vp9")
        else:
            raise KeyError(kind)
        cache[kind] = path
        return path

    return make


def cut(src: Path, dst: Path, keep: float | int) -> Path:
    """Copy the first ``keep`` bytes (or that fraction) of ``src``: an interrupted download."""
    data = src.read_bytes()
    dst.write_bytes(data[:keep if isinstance(keep, int) else int(len(data) * keep)])
    return dst


# --------------------------------------------------------------------------------------------
# Inputs that must fail


def _build_bad(kind: str, folder: Path, good: Callable[[str], Path]) -> Path:
    """Create the bad input ``kind`` in ``folder`` and return its path."""
    if kind == "missing":
        return folder / "no such song.mp3"
    if kind == "broken link":
        path = folder / "link.mp3"
        path.symlink_to(folder / "gone.mp3")
        return path
    if kind == "directory":
        path = folder / "album.mp3"
        path.mkdir()
        return path
    if kind.startswith("empty"):
        path = folder / f"empty{kind[len('empty '):]}"
        path.write_bytes(b"")
        return path
    if kind.startswith("random bytes"):
        path = folder / f"noise{kind[len('random bytes '):]}"
        path.write_bytes(np.random.default_rng(7).bytes(60_000))
        return path
    if kind.startswith("text"):
        path = folder / f"notes{kind[len('text '):]}"
        path.write_text("These are not the songs you are looking for.\n" * 300)
        return path
    if kind == "video without audio":
        path = folder / "silent film.mp4"
        video_without_audio(path)
        return path
    if kind == "wav with no samples":
        path = folder / "nothing.wav"
        sf.write(path, np.zeros((0, 2), np.float32), SR)
        return path
    if kind.startswith("cut "):  # "cut <kind> <bytes or fraction>"
        _, source, keep = kind.split()
        amount: float | int = float(keep) if "." in keep else int(keep)
        return cut(good(source), folder / f"cut {keep} {good(source).name}", amount)
    raise KeyError(kind)


BAD = {
    # kind: what the message must say besides the path
    "missing": r"no such file",
    "broken link": r"no such file",
    "directory": r"is a directory",
    "empty .mp3": r"the file is empty \(0 bytes\)",
    "empty .wav": r"the file is empty \(0 bytes\)",
    "random bytes .mp3": r"not an audio or video file that can be read",
    "random bytes .wav": r"not an audio or video file that can be read",
    "random bytes .ogg": r"not an audio or video file that can be read \(no ogg header",
    "random bytes .flac": r"no audio could be decoded.*damaged or not audio",
    "random bytes .m4a": r"not an audio or video file that can be read",
    "random bytes ": r"not an audio or video file that can be read",  # no extension
    "text .txt": r"has no audio track",
    "text .mp3": r"not an audio or video file that can be read",
    "text .ogg": r"not an audio or video file that can be read",
    "video without audio": r"has no audio track \(streams found: video h264\)",
    "wav with no samples": r"no audio could be decoded",
    "cut m4a 0.5": r"incomplete: it has no index \('moov' box\)",
    "cut m4a 0.03": r"incomplete: it has no index \('moov' box\)",
    "cut mp4 0.5": r"incomplete: it has no index \('moov' box\)",
    "cut mp3 300": r"not an audio or video file that can be read",
    "cut ogg 4000": r"ends too early: it is truncated or damaged",
    "cut opus 2000": r"ends too early: it is truncated or damaged",
    "cut flac 0.005": r"no audio could be decoded",
}


@pytest.fixture(scope="module")
def bad(tmp_path_factory, good) -> Callable[[str], Path]:
    """``bad(kind)``: the bad input of that kind (see ``BAD``), made on first use."""
    folder = tmp_path_factory.mktemp("bad inputs")
    cache: dict[str, Path] = {}

    def make(kind: str) -> Path:
        if kind not in cache:
            cache[kind] = _build_bad(kind, folder, good)
        return cache[kind]

    return make


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_input_is_an_audio_error_naming_file_and_reason(bad, kind):
    path = bad(kind)
    with pytest.raises(AudioError, match=BAD[kind]) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    assert isinstance(info.value, SonicDreamsError)
    # No library exception behind it either (``raise ... from None`` or none at all).
    error = info.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_input_through_analyze_is_the_same_audio_error(bad, kind):
    path = bad(kind)
    with pytest.raises(AudioError, match=BAD[kind]):
        sonicdreams.analyze(path)


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_input_through_the_cli_exits_2_with_one_line(bad, kind, capsys):
    path = bad(kind)
    code = main(["analyze", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("sonicdreams: error: ") and err.count("\n") == 1
    assert str(path) in err
    assert "Traceback" not in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can read any file")
def test_unreadable_file_is_an_audio_error(good, tmp_path):
    path = tmp_path / "locked.wav"
    path.write_bytes(good("wav").read_bytes())
    path.chmod(0)
    try:
        with pytest.raises(AudioError, match="permission denied"):
            load(path)
    finally:
        path.chmod(0o644)


def test_unicode_path_in_error_message_and_cli(tmp_path, capsys):
    path = tmp_path / "夜明け の テーマ — 🎵.mp3"
    path.write_bytes(np.random.default_rng(3).bytes(20_000))
    with pytest.raises(AudioError, match="夜明け の テーマ — 🎵.mp3"):
        load(path)
    assert main(["analyze", str(path)]) == 2
    assert "夜明け の テーマ — 🎵.mp3" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Damaged files that still decode, with a warning


DAMAGED = [
    # (kind, how much is kept, what the warning says)
    ("wav", 0.5, "probably truncated"),
    ("wav", 0.01, "probably truncated"),
    ("flac", 0.5, "probably truncated"),
    ("flac", 0.03, "probably truncated"),
    ("mp3", 0.5, "probably truncated"),
    ("mp3", 0.03, "probably truncated"),
    ("ogg", 0.5, "probably truncated"),
    ("ogg", 0.3, "probably truncated"),
    ("opus", 0.5, "probably truncated"),
    ("m4a-faststart", 0.5, "damaged packet.*truncated or corrupt"),
    ("mkv", 0.5, "probably truncated"),
    ("webm", 0.5, "probably truncated"),
]


@pytest.mark.parametrize(("kind", "keep", "warning"), DAMAGED,
                         ids=[f"{k}-{keep}" for k, keep, _ in DAMAGED])
def test_truncated_file_decodes_what_is_there_with_a_warning(good, tmp_path, kind, keep,
                                                             warning):
    full = load(good(kind))
    path = cut(good(kind), tmp_path / f"cut{good(kind).suffix}", keep)
    with pytest.warns(SonicDreamsWarning, match=warning) as caught:
        audio = load(path)
    assert all(str(path) in str(w.message) for w in caught)
    assert (audio.sr, audio.channels) == (full.sr, full.channels)
    # Roughly the part that is left (container overhead aside), never more than the whole.
    assert 0.5 * keep * full.n_samples < audio.n_samples < (keep + 0.1) * full.n_samples
    # What decoded is exactly the start of the song (for lossy formats, up to the last
    # packet or two, which a cut can leave partial or without the overlap of the next).
    m = audio.n_samples - (0 if kind in ("wav", "flac") else 4096)
    assert m > 0
    np.testing.assert_array_equal(audio.samples[:, :m], full.samples[:, :m])
    assert audio.file_duration_s == audio.n_samples / audio.sr


def test_the_real_excerpt_cut_in_half_warns(excerpt, tmp_path):
    """The real Ogg Vorbis file, as from an interrupted download."""
    path = cut(excerpt, tmp_path / "half.ogg", 0.5)
    with pytest.warns(SonicDreamsWarning, match="truncated"):
        audio = load(path)
    length_s = audio.duration_s  # of the decoded audio (a length, not a timing)
    assert 10 < length_s < 20


@pytest.mark.parametrize("kind", ["mp3", "m4a"])
def test_garbage_in_the_middle_is_skipped_with_a_warning(good, tmp_path, kind):
    data = bytearray(good(kind).read_bytes())
    middle = len(data) // 2
    data[middle:middle + 3000] = np.random.default_rng(5).bytes(3000)
    path = tmp_path / f"damaged.{kind}"
    path.write_bytes(bytes(data))
    with pytest.warns(SonicDreamsWarning, match=r"damaged packet\(s\) skipped"):
        audio = load(path)
    length_s = audio.duration_s  # of the decoded audio
    assert length_s > 3.5


def test_truncated_file_through_the_cli_warns_on_one_line_and_succeeds(good, tmp_path, capsys):
    path = cut(good("wav"), tmp_path / "half.wav", 0.5)
    assert main(["analyze", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("warning: ") and err.count("\n") == 1 and "truncated" in err
    assert "length:    0:02.00" in out


# --------------------------------------------------------------------------------------------
# Odd but valid content


def test_one_sample_wav_decodes_but_is_too_short_to_analyse(tmp_path, capsys):
    path = tmp_path / "one sample.wav"
    sf.write(path, np.array([0.25], np.float32), SR, subtype="FLOAT")
    audio = load(path)
    assert audio.samples.shape == (1, 1) and audio.samples[0, 0] == 0.25
    assert audio.duration_s == 1 / SR
    with pytest.raises(AudioError, match=r"one sample\.wav: the audio is too short"):
        sonicdreams.analyze(path)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sonicdreams: error: ") and err.count("\n") == 1
    assert "too short" in err


@pytest.fixture(scope="module")
def float_wav(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """2 s of a tone in a float wav with NaN and inf samples and a stretch at 3.5 (beyond 1)."""
    y = tones(SR, 1, 2.0)[0]
    y[SR // 2:SR // 2 + 1000] = 3.5
    y[100], y[200], y[300] = np.nan, np.inf, -np.inf
    y[1000], y[1001] = -2.5, 1.7
    path = tmp_path_factory.mktemp("float") / "hot.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    return path, y


def test_nan_and_inf_samples_become_silence_with_a_warning(float_wav):
    path, y = float_wav
    with pytest.warns(SonicDreamsWarning, match=r"hot\.wav: contains NaN or infinite"):
        audio = load(path)
    out = audio.samples[0]
    assert out[100] == out[200] == out[300] == 0.0
    finite = np.isfinite(y)
    np.testing.assert_array_equal(out[finite], y[finite])  # the rest untouched


def test_samples_beyond_one_are_kept_not_clipped(float_wav):
    path, _ = float_wav
    with pytest.warns(SonicDreamsWarning):
        audio = load(path)
    assert (audio.samples[0, 1000], audio.samples[0, 1001]) == (-2.5, 1.7)
    assert np.all(audio.samples[0, SR // 2:SR // 2 + 1000] == 3.5)
    with pytest.warns(SonicDreamsWarning):
        resampled = load(path, sr=22050, mono=True).samples[0]
    assert np.isfinite(resampled).all()
    assert resampled[SR // 4 + 100:SR // 4 + 400] == pytest.approx(3.5, abs=0.01)


def test_no_warning_when_the_clip_avoids_the_bad_samples(float_wav):
    path, _ = float_wav
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        audio = load(path, start=0.1)
    assert np.isfinite(audio.samples).all()


def test_nan_song_analyses_to_finite_features(float_wav):
    path, _ = float_wav
    with pytest.warns(SonicDreamsWarning, match="NaN"):
        features = sonicdreams.analyze(path)
    for name in ("pulse", "motion", "full", "percussive", "harmonic", "onset", "rms", "chroma"):
        assert np.isfinite(getattr(features, name)).all(), name


@pytest.mark.parametrize("suffix", [".wav", ".m4a"])
def test_silent_song_is_valid_and_gives_zero_envelopes(tmp_path, suffix):
    path = tmp_path / f"silence{suffix}"
    silence = np.zeros((2, 3 * SR), np.float32)
    if suffix == ".wav":
        sf.write(path, silence.T, SR)
    else:
        encode_pyav(path, silence, SR, "aac", fmt="ipod")
    features = sonicdreams.analyze(path, fps=24)
    assert features.n_frames == 72
    for name in ("pulse", "motion", "full", "percussive", "harmonic", "onset", "rms", "chroma"):
        values = getattr(features, name)
        assert np.isfinite(values).all() and np.all(values == 0), name
    assert features.tempo_bpm == 0 and len(features.beat_times) == 0


# --------------------------------------------------------------------------------------------
# The real console script


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SONICDREAMS_CACHE": "off"}
    return subprocess.run([sys.executable, "-m", "sonicdreams", "analyze", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_console_script_bad_input_exits_2_with_one_line(bad):
    path = bad("random bytes .mp3")
    run = _run_cli(str(path))
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.startswith("sonicdreams: error: ") and run.stderr.count("\n") == 1
    assert str(path) in run.stderr and "Traceback" not in run.stderr


def test_console_script_good_input_exits_0(good):
    run = _run_cli(str(good("mp3")), "--duration", "2")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert "audio:     44100 Hz, stereo" in run.stdout
    assert "frames:    60 at 30 fps" in run.stdout
