"""The on-disk feature cache (sonicdreams.audio.cache and its use by analyze())."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import sonicdreams
from conftest import click_track, tone, write_wav
from sonicdreams.audio import cache as feature_cache

# The module, not the function of the same name that ``sonicdreams.audio`` re-exports.
analyze_module = importlib.import_module("sonicdreams.audio.analyze")

SR = 44100
CLICKS = 0.31 + 0.5 * np.arange(8)


@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SONICDREAMS_CACHE", str(root))
    return root


@pytest.fixture
def song(tmp_path) -> Path:
    y = click_track(CLICKS, duration_s=4.5)[:, 0] + tone(440.0, duration_s=4.5, amp=0.1)
    return write_wav(tmp_path / "song.wav", y, SR)


@pytest.fixture
def no_analysis(monkeypatch):
    """After this, computing an analysis fails: whatever comes back is from the cache."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the analysis ran: not served from the cache")

    monkeypatch.setattr(analyze_module, "analyze_stream", forbidden)


def entries(root: Path) -> list[Path]:
    return sorted((root / "features").glob("*.npz")) if (root / "features").exists() else []


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.suffix != ".npz"]


FRAME_FIELDS = ("pulse", "motion", "full", "percussive", "harmonic", "onset", "rms", "chroma",
                "pitches_sorted", "beat_times", "section_times")


def assert_same(a, b) -> None:
    for name in FRAME_FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.tempo_bpm == b.tempo_bpm
    assert a.n_frames == b.n_frames and a.fps == b.fps
    assert a.song == b.song


def test_second_analysis_is_served_from_the_cache(cache_root, song, monkeypatch):
    calls = []
    real = analyze_module.analyze_stream

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(analyze_module, "analyze_stream", counting)
    first = sonicdreams.analyze(song, fps=30)
    assert len(calls) == 1
    assert len(entries(cache_root)) == 1
    second = sonicdreams.analyze(song, fps=30)
    assert len(calls) == 1  # not analysed again
    assert_same(first, second)
    assert second.song.digest == feature_cache.file_digest(song)
    assert second.song.sample_rate == SR and second.song.channels == 1
    # the grid itself comes back bit for bit
    for name, value in first.grids["song"].to_arrays().items():
        np.testing.assert_array_equal(value, second.grids["song"].to_arrays()[name], name)


def test_hit_needs_no_analysis(cache_root, song, monkeypatch):
    first = sonicdreams.analyze(song, fps=30)
    monkeypatch.setattr(analyze_module, "analyze_stream",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("analysed")))
    assert_same(first, sonicdreams.analyze(song, fps=30))


def test_other_fps_reuses_the_entry(cache_root, song, request):
    first = sonicdreams.analyze(song, fps=30)
    request.getfixturevalue("no_analysis")
    for fps in (24, 60, "30000/1001", 12.5):
        other = sonicdreams.analyze(song, fps=fps)
        assert other.n_frames == round(4.5 * float(other.fps) + 1e-9)
        np.testing.assert_array_equal(other.beat_times, first.beat_times)
        assert other.pitches_sorted.tolist() == first.pitches_sorted.tolist()
    # other percussive/harmonic choices also read the same grid
    full = sonicdreams.analyze(song, fps=30, pulse_percussive=False)
    np.testing.assert_array_equal(full.pulse, first.full)
    assert len(entries(cache_root)) == 1


def test_same_name_new_content_misses(cache_root, song, monkeypatch):
    first = sonicdreams.analyze(song, fps=30)
    write_wav(song, tone(261.63, duration_s=4.5), SR)  # same path, other music
    calls = []
    real = analyze_module.analyze_stream
    monkeypatch.setattr(analyze_module, "analyze_stream",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    second = sonicdreams.analyze(song, fps=30)
    assert calls == [1]
    assert first.dominant_pitches[0] == "A" and second.dominant_pitches[0] == "C"
    assert second.song.digest != first.song.digest
    assert len(entries(cache_root)) == 2


@pytest.mark.parametrize(("start", "duration"), [(1.0, None), (0.0, 3.0), (0.5, 2.0)])
def test_other_trim_misses(cache_root, song, monkeypatch, start, duration):
    sonicdreams.analyze(song, fps=30)
    calls = []
    real = analyze_module.analyze_stream
    monkeypatch.setattr(analyze_module, "analyze_stream",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    part = sonicdreams.analyze(song, fps=30, start=start, duration=duration)
    assert calls == [1]
    assert part.start_s == start
    expected = (4.5 - start) if duration is None else duration
    assert part.n_frames == round(expected * 30)
    assert len(entries(cache_root)) == 2
    # and that entry serves the same trim next time
    again = sonicdreams.analyze(song, fps=30, start=start, duration=duration)
    assert calls == [1]
    assert_same(part, again)


def test_other_analysis_settings_miss(cache_root, song):
    from sonicdreams.audio.features import AnalysisSettings

    sonicdreams.analyze(song, fps=30)
    sonicdreams.analyze(song, fps=30, settings=AnalysisSettings(kernel_size=17))
    assert len(entries(cache_root)) == 2
    # chunking and threads do not change results, so they share the entry
    sonicdreams.analyze(song, fps=30, settings=AnalysisSettings(chunk_frames=64, threads=1))
    assert len(entries(cache_root)) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "missing_field",
                                    "wrong_shape"])
def test_damaged_entry_is_rebuilt(cache_root, song, damage, caplog, monkeypatch):
    first = sonicdreams.analyze(song, fps=30)
    (path,) = entries(cache_root)
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(os.urandom(len(good)))
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        if damage == "missing_field":
            del arrays["chroma"]
        else:
            arrays["percussive"] = arrays["percussive"][:-3]
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    calls = []
    real = analyze_module.analyze_stream
    monkeypatch.setattr(analyze_module, "analyze_stream",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    with caplog.at_level(logging.WARNING, logger="sonicdreams"):
        rebuilt = sonicdreams.analyze(song, fps=30)
    assert calls == [1]
    assert "damaged cache entry" in caplog.text
    assert_same(first, rebuilt)
    # the entry was rewritten whole and is good again
    assert entries(cache_root) == [path]
    assert feature_cache.load_entry(cache_root, path.stem) is not None
    assert not leftovers(cache_root)
    assert_same(first, sonicdreams.analyze(song, fps=30))
    assert calls == [1]


def test_load_entry_never_raises(tmp_path):
    root = tmp_path
    (root / "features").mkdir()
    assert feature_cache.load_entry(root, "missing") is None
    (root / "features" / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert feature_cache.load_entry(root, "bad") is None
    # an entry holding a pickled object is refused, not unpickled
    with open(root / "features" / "pickled.npz", "wb") as f:
        np.savez(f, obj=np.array([{"a": 1}], dtype=object))
    assert feature_cache.load_entry(root, "pickled") is None


def test_writes_are_atomic(cache_root, song, tmp_path, monkeypatch):
    other = write_wav(tmp_path / "other.wav", tone(330.0, duration_s=3.0), SR)
    sonicdreams.analyze(song, fps=30)
    sonicdreams.analyze(other, fps=30)
    assert len(entries(cache_root)) == 2
    assert not leftovers(cache_root)  # no .tmp files
    assert not list(cache_root.rglob("*.tmp"))

    # a write that fails half-way leaves neither a partial entry nor a temporary file
    def failing_savez(f, **arrays):
        f.write(b"PK\x03\x04partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feature_cache.np, "savez", failing_savez)
    third = write_wav(tmp_path / "third.wav", tone(523.25, duration_s=3.0), SR)
    result = sonicdreams.analyze(third, fps=30)  # still works, just not cached
    assert result.dominant_pitches[0] == "C"
    assert len(entries(cache_root)) == 2
    assert not leftovers(cache_root)


def test_save_entry_replaces_whole_files(tmp_path):
    a = {"x": np.arange(5)}
    b = {"x": np.arange(7), "y": np.ones(2)}
    feature_cache.save_entry(tmp_path, "k", a)
    feature_cache.save_entry(tmp_path, "k", b)
    loaded = feature_cache.load_entry(tmp_path, "k")
    assert set(loaded) == {"x", "y"}
    np.testing.assert_array_equal(loaded["x"], np.arange(7))
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == ["k.npz"]


def test_unwritable_cache_only_warns(tmp_path, song, monkeypatch, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("SONICDREAMS_CACHE", str(blocker))
    with caplog.at_level(logging.WARNING, logger="sonicdreams"):
        f = sonicdreams.analyze(song, fps=30)
    assert f.n_frames == 135
    assert "could not write the feature cache" in caplog.text


@pytest.mark.parametrize("value", ["off", "OFF", "0", "none", "false", "no", ""])
def test_cache_off_writes_nothing(tmp_path, song, monkeypatch, value):
    home = tmp_path / "home"
    monkeypatch.setenv("SONICDREAMS_CACHE", value)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert feature_cache.cache_dir() is None
    before = sorted(tmp_path.rglob("*"))
    sonicdreams.analyze(song, fps=30)
    assert sorted(tmp_path.rglob("*")) == before


def test_cache_false_argument_writes_nothing(cache_root, song):
    sonicdreams.analyze(song, fps=30, cache=False)
    assert not cache_root.exists()


def test_audio_arrays_are_not_cached(cache_root):
    from sonicdreams.audio.decode import Audio

    y = click_track(CLICKS, duration_s=4.5)[:, 0]
    f = sonicdreams.analyze(Audio(y[None, :], SR), fps=30)
    assert f.n_frames == 135 and f.song.digest is None
    assert not entries(cache_root)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG is the Linux convention")
def test_default_location_honours_xdg_cache_home(tmp_path, song, monkeypatch):
    monkeypatch.delenv("SONICDREAMS_CACHE", raising=False)
    xdg = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert feature_cache.cache_dir() == xdg / "sonicdreams"
    sonicdreams.analyze(song, fps=30)
    assert len(entries(xdg / "sonicdreams")) == 1
    assert not (tmp_path / "home").exists()
    # without XDG_CACHE_HOME (or with it empty): ~/.cache
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert feature_cache.cache_dir() == tmp_path / "home" / ".cache" / "sonicdreams"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert feature_cache.cache_dir() == tmp_path / "home" / ".cache" / "sonicdreams"


def test_env_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SONICDREAMS_CACHE", "~/my-cache")
    assert feature_cache.cache_dir() == tmp_path / "my-cache"


def test_entry_key_depends_on_every_setting():
    base = feature_cache.entry_key("d" * 64, start=0.0, duration=None, sr=22050)
    assert base == feature_cache.entry_key("d" * 64, sr=22050, duration=None, start=0.0)
    assert base != feature_cache.entry_key("e" * 64, start=0.0, duration=None, sr=22050)
    assert base != feature_cache.entry_key("d" * 64, start=0.5, duration=None, sr=22050)
    assert base != feature_cache.entry_key("d" * 64, start=0.0, duration=3.0, sr=22050)
    assert base != feature_cache.entry_key("d" * 64, start=0.0, duration=None, sr=44100)
    assert len(base) == 40 and all(c in "0123456789abcdef" for c in base)


def test_file_digest(tmp_path):
    import hashlib

    p = tmp_path / "x.bin"
    data = os.urandom(3 * (1 << 20) + 17)  # more than one read block
    p.write_bytes(data)
    assert feature_cache.file_digest(p) == hashlib.sha256(data).hexdigest()
