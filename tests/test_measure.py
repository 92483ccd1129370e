"""Look metrics and the flash counter on frame sequences whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from sonicdreams.audio.synth import click_track, song_with_sections, write
from sonicdreams.measure import (
    count_flashes,
    look_metrics,
    luma,
    percussive_onset,
    read_video,
    visual_change,
)

FPS = 30


def _noise_picture(rng, n, h=32, w=48, level=0.0):
    base = rng.integers(40, 200, size=(1, h, w, 3)).astype(np.float32)
    return np.repeat(base, n, axis=0) + level


def test_luma_and_visual_change():
    frames = np.zeros((3, 4, 4, 3), np.uint8)
    frames[1] = 255
    frames[2, :, :, 1] = 255
    L = luma(frames)
    assert L.dtype == np.float32 and L.shape == (3, 4, 4)
    np.testing.assert_allclose(L[:, 0, 0], [0.0, 1.0, 0.7152], atol=1e-6)
    change = visual_change(frames)
    np.testing.assert_allclose(change, [0.0, 1.0, 1 - 0.7152], atol=1e-6)
    np.testing.assert_allclose(visual_change(L), change)


def _pulsing(onset_frames, n, rng):
    """A textured picture that brightens on the given frames and decays over ~4 frames."""
    env = np.zeros(n)
    for f in onset_frames:
        env[f:f + 8] += np.exp(-np.arange(min(8, n - f)) / 1.5)
    frames = _noise_picture(rng, n) * (1 + 0.5 * env[:, None, None, None])
    return np.clip(frames, 0, 255).astype(np.uint8), env


def test_a_picture_that_pulses_on_the_clicks_follows_them():
    y, sr = click_track(hits_per_s=2, duration_s=10, sr=22050)
    times = np.arange(10 * FPS) / FPS
    onset = percussive_onset(y, sr, times)
    clicks = (np.arange(20) * 0.5 * FPS).astype(int)
    assert set(np.flatnonzero(onset > 0.5 * onset.max())) <= set(clicks) | set(clicks + 1)
    rng = np.random.default_rng(0)
    frames, _ = _pulsing(clicks, len(times), rng)
    m = look_metrics(frames, fps=FPS, onset=onset, section_times=[0.0])
    assert m.beat_corr > 0.9
    assert m.hit_ratio > 20
    assert np.isnan(m.section_ratio)
    # the same picture pulsing at random times does not follow the song
    off, _ = _pulsing(rng.choice(len(times) - 8, size=20, replace=False), len(times), rng)
    bad = look_metrics(off, fps=FPS, onset=onset, section_times=[0.0])
    assert bad.beat_corr < 0.3


def test_noise_flickers_and_a_smooth_pan_does_not():
    rng = np.random.default_rng(1)
    n = 60
    onset = rng.random(n)
    noise = rng.integers(0, 256, size=(n, 24, 32, 3), dtype=np.uint8)
    assert look_metrics(noise, fps=FPS, onset=onset).flicker > 1.0
    # a smooth picture panning one pixel a frame
    x = np.arange(400)
    row = 127 + 100 * np.sin(x / 9.0) * np.cos(x / 23.0)
    pan = np.stack([np.broadcast_to(row[t:t + 64], (32, 64)) for t in range(n)])
    pan = np.repeat(pan[..., None], 3, axis=3).astype(np.uint8)
    m = look_metrics(pan, fps=FPS, onset=onset)
    assert m.flicker < 0.6
    assert m.cuts_per_min == 0


def test_hard_cuts_are_counted_except_at_sections():
    n = 20 * FPS
    frames = np.full((n, 16, 16, 3), 30, np.uint8)
    for k, start in enumerate((3 * FPS, 8 * FPS, 15 * FPS)):  # cuts at 3 s, 8 s and 15 s
        frames[start:] = 30 + 70 * ((k + 1) % 3)
    onset = np.ones(n)
    m = look_metrics(frames, fps=FPS, onset=onset, section_times=[0.0, 8.5])
    assert m.cuts_per_min_all == pytest.approx(3 / (20 / 60))
    assert m.cuts_per_min == pytest.approx(2 / (20 / 60))


def test_colourfulness_and_saturation():
    n = 4
    grey = np.full((n, 16, 16, 3), 128, np.uint8)
    m = look_metrics(grey, fps=FPS, onset=np.arange(n))
    assert m.colourfulness == pytest.approx(0, abs=1e-6)
    assert m.mean_saturation == pytest.approx(0, abs=1e-6)
    assert m.mean_luma == pytest.approx(128 / 255, abs=1e-3)
    assert m.beat_corr == 0.0  # no change at all: nothing follows anything
    halves = np.zeros((n, 16, 16, 3), np.uint8)
    halves[:, :8] = (255, 0, 0)
    halves[:, 8:] = (0, 0, 255)
    # rg = ±255/0, yb = 127.5/−255: σrg = 127.5, σyb = 191.25; μrg = 127.5, μyb = −63.75
    expected = np.hypot(127.5, 191.25) + 0.3 * np.hypot(127.5, -63.75)
    assert look_metrics(halves, fps=FPS, onset=np.arange(n)).colourfulness == \
        pytest.approx(expected, rel=1e-4)


def test_colour_change_only_at_sections_gives_a_large_section_ratio():
    rng = np.random.default_rng(2)
    n = 40 * FPS
    sections = [0.0, 10.0, 20.0, 30.0]
    palette = [(200, 40, 40), (40, 180, 60), (50, 60, 220), (230, 200, 30)]
    frames = np.empty((n, 16, 16, 3), np.uint8)
    for t in range(n):
        k = int(np.searchsorted(sections, t / FPS, side="right")) - 1
        jitter = rng.integers(-10, 11, size=(16, 16, 1))
        frames[t] = np.clip(np.array(palette[k]) + jitter, 0, 255)
    m = look_metrics(frames, fps=FPS, onset=rng.random(n), section_times=sections)
    assert m.section_ratio > 10
    # the same picture with colour changes in the middle of the sections: ratio small
    shifted = np.roll(frames, 5 * FPS, axis=0)
    assert look_metrics(shifted, fps=FPS, onset=rng.random(n),
                        section_times=sections).section_ratio < 0.5


def _strobe(hz, *, n=3 * FPS, area=1.0, colour=(255, 255, 255), size=48):
    frames = np.zeros((n, size, size, 3), np.uint8)
    on = ((np.arange(n) / FPS * hz) % 1) < 0.5
    side = int(round(size * np.sqrt(area)))
    frames[on, :side, :side] = colour
    return frames


@pytest.mark.parametrize("hz", [2, 5, 8])
def test_full_screen_strobe_flashes_at_its_rate(hz):
    report = count_flashes(_strobe(hz), fps=FPS)
    assert report.max_general_per_s == hz
    assert len(report.general_times) in (3 * hz - 1, 3 * hz)
    assert report.max_red_per_s == 0
    assert report.passes == (hz <= 3)


def test_small_strobe_fade_and_mid_grey_changes_are_not_flashes():
    assert count_flashes(_strobe(8, area=0.1), fps=FPS).max_general_per_s == 0
    ramp = np.linspace(0, 255, 3 * FPS).astype(np.uint8)
    fade = np.broadcast_to(ramp[:, None, None, None], (3 * FPS, 16, 16, 3)).copy()
    assert count_flashes(fade, fps=FPS).general_times == ()
    # bright-to-brighter changes (darker state ≥ 0.8) are not flashes
    bright = np.where(_strobe(8) > 0, 255, 235).astype(np.uint8)  # Y 1.0 ↔ 0.83
    assert count_flashes(bright, fps=FPS).max_general_per_s == 0


def test_a_third_of_the_screen_strobing_is_a_flash():
    assert count_flashes(_strobe(5, area=1 / 3), fps=FPS).max_general_per_s == 5


def test_red_strobe_gives_red_flashes():
    report = count_flashes(_strobe(6, colour=(255, 0, 0)), fps=FPS)
    assert report.max_red_per_s == 6
    assert report.max_general_per_s == 6  # black ↔ red is also a luminance change of 0.21
    dull = count_flashes(_strobe(6, colour=(120, 90, 90)), fps=FPS)
    assert dull.max_red_per_s == 0


def test_synthetic_song_truth_is_consistent():
    y, sr, truth = song_with_sections(bpm=120, bars_per_section=8, n_sections=4, seed=0)
    assert y.dtype == np.float32 and len(y) == 64 * sr and np.abs(y).max() <= 0.9 + 1e-6
    assert len(truth.beat_times) == 128
    np.testing.assert_allclose(np.diff(truth.beat_times), 0.5)
    np.testing.assert_array_equal(truth.downbeat_times, truth.beat_times[::4])
    np.testing.assert_array_equal(truth.kick_times, truth.beat_times)
    np.testing.assert_allclose(truth.snare_times, truth.beat_times[1::2])
    assert set(np.round(truth.beat_times, 6)) <= set(np.round(truth.hat_times, 6))
    np.testing.assert_allclose(truth.section_times, [0, 16, 32, 48])
    y2, _, _ = song_with_sections(seed=0)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(y, song_with_sections(seed=1)[0])


def test_sonicdreams_finds_the_synthetic_beats_and_sections(tmp_path):
    import sonicdreams

    y, sr, truth = song_with_sections(seed=0)
    write(tmp_path / "song.wav", y, sr)
    f = sonicdreams.analyze(tmp_path / "song.wav", fps=FPS, cache=False)
    assert f.tempo_bpm == pytest.approx(120, abs=1)
    error = np.abs(f.beat_times[:, None] - truth.beat_times[None]).min(axis=1)
    assert (error < 0.05).all() and len(f.beat_times) >= 0.8 * len(truth.beat_times)
    assert len(f.section_times) == len(truth.section_times)
    np.testing.assert_allclose(f.section_times, truth.section_times, atol=0.5)  # one beat
    # the independent percussive envelope peaks on the kicks too
    times = np.arange(int(len(y) / sr * FPS)) / FPS
    onset = percussive_onset(y, sr, times)
    top = np.flatnonzero(onset >= np.quantile(onset, 0.9))
    near = np.abs(times[top][:, None] - truth.hat_times[None]).min(axis=1) <= 1 / FPS + 1e-6
    assert near.mean() > 0.9


def test_read_video_round_trip(tmp_path):
    import av

    from sonicdreams.errors import SettingsError

    path = tmp_path / "v.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for i in range(10):
            img = np.full((96, 128, 3), 20 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    frames, fps = read_video(path, height=48)
    assert frames.shape == (10, 48, 64, 3) and fps == FPS
    assert abs(int(frames[9].mean()) - 180) <= 3
    assert read_video(path, height=None)[0].shape == (10, 96, 128, 3)
    with pytest.raises(SettingsError, match="no such video"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(SettingsError, match="cannot be decoded"):
        read_video(tmp_path / "junk.mp4")
