"""The default look on songs with known answers: hits land on kicks, scenes change on the
downbeat of a section, colours stay colourful, flashes stay under the safety limit.

Every video here is rendered by the real pipeline, encoded, decoded back and measured with
:mod:`sonicdreams.measure` (written independently of the styles and the limiter).
"""

from __future__ import annotations

import numpy as np
import pytest

import sonicdreams
from sonicdreams import measure
from sonicdreams.audio import synth

FPS = 24
SIZE = dict(width=64, height=48)


@pytest.fixture(scope="module")
def sections_song(tmp_path_factory):
    """48 s at 120 bpm: kicks on every beat, snares on 2 and 4, hats on eighths, pad chords,
    a new section every 8 bars."""
    y, sr, truth = synth.song_with_sections(bpm=120, bars_per_section=8, n_sections=3, seed=1)
    path = tmp_path_factory.mktemp("look") / "sections.wav"
    synth.write(path, y, sr)
    return path, truth


@pytest.fixture(scope="module")
def default_video(sections_song, tmp_path_factory):
    song, truth = sections_song
    out = tmp_path_factory.mktemp("look") / "default.mp4"
    sonicdreams.render(song, out, fps=FPS, preset="ultrafast", **SIZE)
    frames, fps = measure.read_video(out, height=None)
    assert fps == FPS and len(frames) == 48 * FPS
    return frames, truth


def test_the_picture_hits_on_the_kicks(default_video):
    frames, truth = default_video
    change = measure.visual_change(frames)
    kicks = np.round(np.asarray(truth.kick_times) * FPS).astype(int)
    half_beat = FPS // 4  # 6 frames: the hats between the kicks are in the window too
    landed = 0
    inside = [k for k in kicks if half_beat <= k < len(change) - half_beat]
    for k in inside:
        window = change[k - half_beat:k + half_beat + 1]
        peak = k - half_beat + int(np.argmax(window))
        landed += abs(peak - k) <= 1
    assert landed >= 0.9 * len(inside), f"{landed} of {len(inside)} kicks"
    # and the hit is something to see: a clear jump above the calm between beats
    on = np.array([change[k - 1:k + 2].max() for k in inside])
    between = np.array([change[k + FPS // 4 - 1:k + FPS // 4 + 2].min() for k in inside])
    assert np.median(on) > 3 * np.median(between)


def test_the_scene_changes_on_the_downbeat_of_each_section(default_video):
    frames, truth = default_video
    beat = 60.0 / 120
    small = frames[:, ::4, ::4].reshape(len(frames), -1, 3) // 32
    codes = small[..., 0] * 64 + small[..., 1] * 8 + small[..., 2]
    hist = np.stack([np.bincount(c, minlength=512) for c in codes]).astype(float)
    hist /= hist.sum(axis=1, keepdims=True)
    # the colours of the bar before each frame against those of the bar after it (a bar
    # averages the hits away: what is left is the scene)
    bar = int(4 * beat * FPS)
    csum = np.concatenate([np.zeros((1, hist.shape[1])), np.cumsum(hist, axis=0)])
    change = np.zeros(len(hist))
    for t in range(bar, len(hist) - bar):
        before = (csum[t] - csum[t - bar]) / bar
        after = (csum[t + bar] - csum[t]) / bar
        change[t] = 0.5 * np.abs(after - before).sum()
    for boundary in truth.section_times[1:]:
        k = int(round(boundary * FPS))
        window = change[k - 2 * bar:k + 2 * bar + 1]  # the biggest change of four bars …
        peak = k - 2 * bar + int(np.argmax(window))
        assert abs(peak - k) <= beat * FPS, (boundary, peak / FPS)  # … is on the downbeat


def _render_measure(tmp_path, y, sr, name, **options):
    song = tmp_path / f"{name}.wav"
    synth.write(song, y, sr)
    out = tmp_path / f"{name}.mp4"
    sonicdreams.render(song, out, fps=FPS, preset="ultrafast", **{**SIZE, **options})
    frames, _ = measure.read_video(out, height=None)
    return frames


def _colourfulness(frames) -> float:
    return float(np.median([measure.look_metrics(frames[i:i + 2], fps=FPS,
                                                  onset=np.zeros(2)).colourfulness
                            for i in range(0, len(frames) - 1, 12)]))


@pytest.mark.parametrize("kind", ["noise", "held chord"])
def test_palettes_stay_colourful_without_a_melody(tmp_path, kind):
    sr, seconds = 22050, 8
    t = np.arange(sr * seconds) / sr
    if kind == "noise":  # flat chroma: every pitch equally loud
        y = np.random.default_rng(0).standard_normal(len(t)).astype(np.float32) * 0.1
    else:  # one chord held throughout: three pitches, nothing moves
        y = sum(np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0)) * 0.1
    frames = _render_measure(tmp_path, np.asarray(y, np.float32), sr, kind.replace(" ", "_"))
    # (the old blend of 12 pitch palettes gave grey here: colourfulness below 15)
    assert _colourfulness(frames) >= 30
    hsv_s = frames.max(axis=-1).astype(int) - frames.min(axis=-1)
    assert np.median(hsv_s) >= 30  # not grey, olive or brown mud


@pytest.fixture(scope="module")
def strobe_videos(tmp_path_factory):
    """cppn on an 8-hits-per-second click track at full flash, limited and allowed."""
    tmp_path = tmp_path_factory.mktemp("strobe")
    y, sr = synth.click_track(hits_per_s=8.0, duration_s=4.0)
    limited = _render_measure(tmp_path, y, sr, "strobe", flash_strength=1.0)
    allowed = _render_measure(tmp_path, y, sr, "strobe_allowed", flash_strength=1.0,
                              allow_flashing=True)
    return (measure.count_flashes(limited, fps=FPS).max_general_per_s,
            measure.count_flashes(allowed, fps=FPS).max_general_per_s)


def test_the_limiter_takes_most_flashes_out_unless_allowed(strobe_videos):
    limited, allowed = strobe_videos
    assert allowed >= 7  # one flash a hit
    assert limited <= allowed / 2 + 1


def test_flashes_stay_under_three_a_second_on_the_default_style(strobe_videos):
    assert strobe_videos[0] <= 3


def test_the_compat_api_renders_effects_off_as_the_original(tmp_path, excerpt):
    from lucidsonicdreams import LucidSonicDream

    dream = LucidSonicDream(str(excerpt), style="cppn")
    path = dream.hallucinate(str(tmp_path / "compat.mp4"), fps=FPS, resolution=48, duration=3,
                             seed=5, quiet=True)
    plain = tmp_path / "plain.mp4"
    result = sonicdreams.render(excerpt, plain, look="original", fps=FPS, width=48, height=48,
                                fit="stretch", duration=3, seed=5, batch_size=1)
    settings = result.manifest["settings"]
    assert settings["look"] == "original"
    assert all(settings[f"{e}_strength"] is None for e in ("contrast", "flash", "zoom",
                                                           "hue", "rgb_split", "shake"))
    compat_frames, _ = measure.read_video(path, height=None)
    plain_frames, _ = measure.read_video(plain, height=None)
    np.testing.assert_array_equal(compat_frames, plain_frames)
