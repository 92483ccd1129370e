"""Shared fixtures: the real-music excerpt, synthesised signals, and a hermetic cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

DATA = Path(__file__).parent / "data"
EXCERPT = DATA / "noiz2sa-stg1-excerpt.ogg"


@pytest.fixture(autouse=True)
def _no_feature_cache(monkeypatch, tmp_path_factory):
    """Tests run with the on-disk cache off; cache tests switch it on in a tmp dir. Weights
    (downloaded or placed by a test) live in a fresh folder, never the user's cache."""
    monkeypatch.setenv("SONICDREAMS_CACHE", "off")
    monkeypatch.setenv("SONICDREAMS_MODELS", str(tmp_path_factory.mktemp("models")))


@pytest.fixture(scope="session")
def excerpt() -> Path:
    """30 s of real music (Ogg Vorbis, 44.1 kHz stereo, BSD-2-Clause; see tests/data)."""
    return EXCERPT


def click_track(click_times_s, *, sr: int = 44100, duration_s: float, channels: int = 1,
                click_ms: float = 5.0, freq_hz: float = 1500.0) -> np.ndarray:
    """Short decaying tone bursts starting exactly at ``click_times_s``; shape (n, channels)."""
    n = int(round(duration_s * sr))
    y = np.zeros(n, dtype=np.float32)
    m = int(sr * click_ms / 1000)
    t = np.arange(m) / sr
    burst = (np.sin(2 * np.pi * freq_hz * t) * np.exp(-t / (click_ms / 4000))).astype(np.float32)
    for c in click_times_s:
        i = int(round(c * sr))
        seg = burst[: max(0, min(m, n - i))]
        y[i: i + len(seg)] += 0.9 * seg
    return np.repeat(y[:, None], channels, axis=1)


def tone(freq_hz: float, *, sr: int = 44100, duration_s: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(duration_s * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    """Write samples of shape (n,) or (n, channels) as a wav file."""
    sf.write(str(path), samples, sr, subtype=subtype)
    return path


def video_without_audio(path: Path) -> Path:
    """A 2-second H.264 video with no audio track (a song it is not)."""
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=10)
        v.width = v.height = 64
        v.pix_fmt = "yuv420p"
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 10 * i, np.uint8),
                                               format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path

