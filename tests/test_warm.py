"""Beats tracked as librosa tracks them, without librosa's compile; the render's kernels
compiled while the song is analysed, so the render itself compiles nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import EXCERPT, click_track
from sonicdreams.audio._tracker import track_beats


def _librosa_beats(onset, bpm, sr=22050, hop=512):
    import librosa

    return librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=hop, bpm=bpm)[1]


@pytest.mark.parametrize("bpm", [None, 97.3, 171.0])
def test_the_tracker_finds_librosas_beats_in_real_music(bpm):
    import librosa

    y, sr = librosa.load(EXCERPT, sr=22050)
    for dtype in (np.float32, np.float64):
        onset = librosa.onset.onset_strength(y=y, sr=sr).astype(dtype)
        tempo = bpm or float(librosa.feature.tempo(onset_envelope=onset, sr=sr)[0])
        ours = track_beats(onset, bpm=tempo, frame_rate=sr / 512)
        assert len(ours) > 10
        np.testing.assert_array_equal(ours, _librosa_beats(onset, tempo))


def test_the_tracker_finds_the_clicks_of_a_click_track():
    import librosa

    clicks = np.arange(0.5, 20.0, 0.5)  # 120 BPM
    y = click_track(clicks, sr=22050, duration_s=21.0)[:, 0]
    onset = librosa.onset.onset_strength(y=y, sr=22050)
    ours = track_beats(onset, bpm=120.0, frame_rate=22050 / 512)
    np.testing.assert_array_equal(ours, _librosa_beats(onset, 120.0))
    times = ours * 512 / 22050
    assert len(times) >= len(clicks) - 2
    assert np.abs(times[:, None] - clicks[None, :]).min(axis=1).max() < 0.05


def test_no_beats_in_silence_or_without_a_tempo():
    assert len(track_beats(np.zeros(500, np.float32), bpm=120.0, frame_rate=43.0)) == 0
    assert len(track_beats(np.ones(500, np.float32), bpm=0.0, frame_rate=43.0)) == 0


PROBE = """
import json, sys, threading
from sonicdreams import _compiled, render
from sonicdreams._warm import warm_kernels
from sonicdreams.pipeline import _load_generator
from sonicdreams.settings import RenderSettings

compiled = []
_compiled.on_compile(lambda name, done: done and compiled.append(name))
effects = ["contrast", "flash", "zoom", "hue", "rgb_split", "shake"]
s = RenderSettings().update(width=64, height=48, **{f"{e}_strength": 0.5 for e in effects})
generator = _load_generator(s.style, s.size, s, cache=False)
warm_kernels(generator, s, yuv420=True, cancel=threading.Event())
warmed = sorted(compiled)
compiled.clear()
render(sys.argv[1], sys.argv[2], settings=s, duration=2)
print(json.dumps({"warmed": warmed, "render": compiled}))
"""


def test_the_warm_up_compiles_what_the_render_then_calls(tmp_path):
    env = {**os.environ, "SONICDREAMS_CACHE": str(tmp_path / "cache")}  # nothing compiled
    done = subprocess.run([sys.executable, "-c", PROBE, str(EXCERPT), str(tmp_path / "v.mp4")],
                          env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"cppn.paint", "effects.fuse", "flashsafe.push", "flashsafe.pixels", "video.yuv420",
            "_kernels.latent_walk", "_median.median_rows", "_tracker.dp"} <= set(result["warmed"])
    assert result["render"] == []  # every kernel the render called was ready
