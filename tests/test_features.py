"""Audio features at exact video frame times: frame counts, click accuracy, silence, chroma,
HPSS choice, stems, sections and a real excerpt (sonicdreams.analyze and audio.features).

Expensive analyses are shared: each synthesised song is analysed once per module into a
module-wide feature cache, and later ``analyze()`` calls on it (other fps, other flags) are
served from that cache, which stores the analysis grid, not the frames.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import sonicdreams
from conftest import click_track, tone, write_wav
from sonicdreams.audio.analyze import PITCH_NAMES
from sonicdreams.audio.features import envelope_source, pitch_dominance, sample_at_frames
from sonicdreams.errors import AudioError, SettingsError, SonicDreamsWarning
from sonicdreams.timing import parse_fps

SR = 44100
CLICKS_120 = 0.31 + 0.5 * np.arange(48)  # 120 BPM, 0.31 … 23.81 s, never on a frame boundary
# Irregular clicks, off any grid (spacing 0.29 … 0.71 s).
CLICKS_IRREGULAR = np.array([0.137, 0.512, 1.003, 1.294, 1.871, 2.309, 2.733, 3.418, 3.79, 4.21,
                             4.777, 5.068, 5.661, 6.049, 6.6, 7.013, 7.351, 7.921, 8.377, 8.95,
                             9.402, 9.811, 10.523, 10.9])
FPS_VALUES = [30, 24, 60, 12, "30000/1001"]


def nearest_frame(t: float, fps: Fraction) -> int:
    return math.floor(Fraction(t) * fps + Fraction(1, 2))


def peak_offsets(env: np.ndarray, times, fps: Fraction, search_s: float = 0.2) -> np.ndarray:
    """For each time, (frame of the envelope's highest value within ±search_s) - nearest frame."""
    half = max(2, int(search_s * float(fps)))
    out = []
    for t in times:
        near = nearest_frame(float(t), fps)
        lo, hi = max(0, near - half), min(len(env), near + half + 1)
        out.append(lo + int(np.argmax(env[lo:hi])) - near)
    return np.array(out)


def boundary_distance_s(t: float, fps: Fraction) -> float:
    """Seconds from ``t`` to the nearest boundary between two frames' intervals (frame i owns
    ``[(i - 0.5) / fps, (i + 0.5) / fps)``)."""
    x = float(Fraction(t) * fps) % 1.0
    return abs(x - 0.5) / float(fps)


# The grid has a point every 23.2 ms; a click's peak is at the grid point nearest to it.
GRID_HALF_HOP_S = 0.5 * 512 / 22050 + 0.0015


def beat_errors(beats: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """Signed distance from each beat to the nearest click (seconds)."""
    clicks = np.asarray(clicks)
    return np.array([b - clicks[np.argmin(np.abs(clicks - b))] for b in beats])


def assert_frame_arrays(f, n: int) -> None:
    for name in ("pulse", "motion", "full", "percussive", "harmonic", "onset", "rms"):
        arr = getattr(f, name)
        assert arr.shape == (n,), name
        assert arr.dtype == np.float32, name
        assert np.isfinite(arr).all(), name
    assert f.chroma.shape == (12, n) and f.chroma.dtype == np.float32
    assert np.isfinite(f.chroma).all()
    for name in ("pulse", "motion", "full", "percussive", "harmonic", "onset"):
        arr = getattr(f, name)
        assert arr.min() >= 0.0 and arr.max() <= 1.0, name
    assert f.chroma.min() >= 0.0 and f.chroma.max() <= 1.0
    assert f.rms.min() >= 0.0


# --------------------------------------------------------------------------------------------
# Shared audio and a module-wide cache


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("features-audio")


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("features-cache")


@pytest.fixture
def run(module_cache, monkeypatch):
    """``sonicdreams.analyze`` with the module's cache (each song is analysed once)."""
    monkeypatch.setenv("SONICDREAMS_CACHE", str(module_cache))
    return sonicdreams.analyze


@pytest.fixture(scope="module")
def click120(audio_dir):
    return write_wav(audio_dir / "click120.wav", click_track(CLICKS_120, duration_s=25.0), SR)


@pytest.fixture(scope="module")
def clicks_irregular(audio_dir):
    y = click_track(CLICKS_IRREGULAR, duration_s=11.5, channels=2)
    return write_wav(audio_dir / "irregular.wav", y, SR)


@pytest.fixture(scope="module")
def odd_length(audio_dir):
    """Exactly 10.01 s (441 441 samples) of clicks and a quiet tone."""
    n = 441_441
    clicks = click_track(np.arange(0.2, 10.0, 0.37), duration_s=n / SR)[:, 0]
    y = clicks + tone(330.0, duration_s=n / SR, amp=0.05)
    assert len(y) == n
    return write_wav(audio_dir / "odd.wav", y, SR)


# --------------------------------------------------------------------------------------------
# Frame counts and frame times


def round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


@pytest.mark.parametrize("fps", [30, 24, 25, 50, 60, 12, 1, 150, 29.97, 23.976, 59.94, 12.5,
                                 "30000/1001", "24000/1001", Fraction(30000, 1001),
                                 Fraction(997, 7)])
def test_n_frames_exact_for_10_01_s(run, odd_length, fps):
    f = run(odd_length, fps=fps)
    fps_q = parse_fps(fps)
    assert f.fps == fps_q and isinstance(f.fps, Fraction)
    expected = round_half_up(Fraction(441_441, SR) * fps_q)
    assert f.n_frames == expected
    assert_frame_arrays(f, expected)
    # frame i is at i / fps, exactly rounded
    assert f.times.shape == (expected,)
    for i in (0, 1, expected // 3, expected - 1):
        assert f.times[i] == float(Fraction(i) / fps_q)


def test_float_ntsc_rate_is_exact(run, odd_length):
    f = run(odd_length, fps=29.97)
    assert f.fps == Fraction(30000, 1001)
    assert f.n_frames == 300  # 10.01 s x 30000/1001 = 300 exactly
    g = run(odd_length, fps=Fraction(30000, 1001))
    np.testing.assert_array_equal(f.pulse, g.pulse)
    np.testing.assert_array_equal(f.times, g.times)


def test_halves_round_up(run, odd_length):
    assert run(odd_length, fps=50).n_frames == 501  # 500.5
    assert run(odd_length, fps=150).n_frames == 1502  # 1501.5


@pytest.mark.parametrize(
    ("start", "duration"),
    [(0.5, 3.33), (1.234, 5.4321), (2.0, None), (0.0, 7.3), (9.0, 5.0), (0.25, 0.0417)],
)
@pytest.mark.parametrize("fps", [30, 150, 50, 5, "30000/1001", 12.5])
def test_n_frames_with_trims(run, odd_length, start, duration, fps):
    fps_q = parse_fps(fps)
    begin = round(start * SR)
    end = 441_441 if duration is None else min(441_441, begin + round(duration * SR))
    expected = round_half_up(Fraction(end - begin, SR) * fps_q)
    if expected < 1:
        with pytest.raises(AudioError, match="too short"):
            run(odd_length, fps=fps, start=start, duration=duration)
        return
    f = run(odd_length, fps=fps, start=start, duration=duration)
    assert f.n_frames == expected
    assert f.start_s == begin / SR
    assert_frame_arrays(f, expected)


def test_trimmed_clip_times_are_relative_to_start(run, odd_length):
    full = run(odd_length, fps=30)
    part = run(odd_length, fps=30, start=3.0, duration=4.0)
    assert part.n_frames == 120
    assert part.beat_times.min() >= 0 and part.beat_times.max() < 4.0
    # the clicks (every 0.37 s from 0.2 s) seen by both: pulse peaks at the same clip times
    clicks = np.arange(0.2, 10.0, 0.37)
    inside = clicks[(clicks > 3.3) & (clicks < 6.7)]
    fps = Fraction(30)
    assert np.all(np.abs(peak_offsets(part.pulse, inside - 3.0, fps, 0.15)) <= 1)
    assert np.all(np.abs(peak_offsets(full.pulse, inside, fps, 0.15)) <= 1)


@pytest.mark.parametrize("bad", [0, -1, 1001, "fast", float("nan")])
def test_bad_fps_is_a_settings_error(run, odd_length, bad):
    with pytest.raises(SettingsError, match="fps"):
        run(odd_length, fps=bad)


def test_start_past_end_is_a_settings_error(run, odd_length):
    with pytest.raises(SettingsError, match="start"):
        run(odd_length, fps=30, start=11.0)


# --------------------------------------------------------------------------------------------
# Click tracks: pulse peaks at the nearest frame, beats within 20 ms


@pytest.mark.parametrize("fps", FPS_VALUES)
@pytest.mark.parametrize("flags", [(False, False), (True, False)], ids=["full", "percussive"])
def test_pulse_peaks_at_click_frames(run, click120, fps, flags):
    f = run(click120, fps=fps, pulse_percussive=flags[0], pulse_harmonic=flags[1])
    assert f.pulse_source == ("full" if flags == (False, False) else "percussive")
    offsets = peak_offsets(f.pulse, CLICKS_120, f.fps)
    assert np.all(np.abs(offsets) <= 1), offsets
    # A peak can only fall on the neighbour when the click is within half an analysis hop
    # (11.6 ms) of the boundary between two frames.
    clear = np.array([boundary_distance_s(c, f.fps) > GRID_HALF_HOP_S for c in CLICKS_120])
    if clear.any():
        assert np.all(offsets[clear] == 0), offsets
    # The envelope is peaky: loud at the clicks, near zero half-way between them.
    near = [nearest_frame(c, f.fps) for c in CLICKS_120]
    peaks = [f.pulse[i - 1: i + 2].max() for i in near]
    between = [nearest_frame(c + 0.25, f.fps) for c in CLICKS_120[:-1]]
    assert min(peaks) > 0.6
    assert f.pulse[between].max() < 0.05


@pytest.mark.parametrize("fps", [30, 24, 60, "30000/1001"])
def test_pulse_peaks_at_irregular_clicks(run, clicks_irregular, fps):
    for flags in ((False, False), (True, False)):
        f = run(clicks_irregular, fps=fps, pulse_percussive=flags[0], pulse_harmonic=flags[1])
        offsets = peak_offsets(f.pulse, CLICKS_IRREGULAR, f.fps, search_s=0.12)
        assert np.all(np.abs(offsets) <= 1), offsets
        clear = np.array([boundary_distance_s(c, f.fps) > GRID_HALF_HOP_S
                          for c in CLICKS_IRREGULAR])
        assert np.all(offsets[clear] == 0), offsets


def test_onset_peaks_near_clicks(run, click120):
    f = run(click120, fps=30)
    offsets = peak_offsets(f.onset, CLICKS_120, f.fps)
    assert np.all(np.abs(offsets) <= 1), offsets


def test_beats_on_the_clicks(run, click120):
    f = run(click120, fps=30)
    assert abs(f.tempo_bpm - 120.0) < 1.0
    errors = beat_errors(f.beat_times, CLICKS_120)
    assert np.abs(errors).max() < 0.020, np.round(errors * 1000, 1)
    # every click but perhaps the first and last has a beat
    matched = [np.min(np.abs(f.beat_times - c)) < 0.020 for c in CLICKS_120]
    assert sum(matched) >= len(CLICKS_120) - 2
    assert np.all(np.diff(f.beat_times) > 0)
    # beat_frames are the frames nearest the beats, where the pulse peaks
    assert np.all(np.abs(f.beat_frames - np.floor(f.beat_times * 30 + 0.5)) == 0)


@pytest.mark.parametrize("bpm", [90, 140])
def test_beats_at_other_tempi(tmp_path, bpm):
    clicks = 0.23 + (60.0 / bpm) * np.arange(int(14 * bpm / 60))
    path = write_wav(tmp_path / "c.wav", click_track(clicks, sr=48000, duration_s=15.0), 48000)
    f = sonicdreams.analyze(path, fps=25)
    assert abs(f.tempo_bpm - bpm) < bpm * 0.01
    errors = beat_errors(f.beat_times, clicks)
    assert np.abs(errors).max() < 0.020, np.round(errors * 1000, 1)
    assert len(f.beat_times) >= len(clicks) - 3


def test_click_track_trimmed_by_start(run, click120):
    start, duration = 5.13, 12.0
    f = run(click120, fps=30, start=start, duration=duration)
    assert f.n_frames == 360 and f.start_s == round(start * SR) / SR
    inside = CLICKS_120[(CLICKS_120 > start + 0.1) & (CLICKS_120 < start + duration - 0.1)]
    rel = inside - f.start_s
    offsets = peak_offsets(f.pulse, rel, f.fps)
    assert np.all(np.abs(offsets) <= 1), offsets
    errors = beat_errors(f.beat_times, rel)
    assert np.abs(errors).max() < 0.020, np.round(errors * 1000, 1)
    assert f.beat_times.min() >= 0 and f.beat_times.max() < duration
    assert abs(f.tempo_bpm - 120.0) < 1.0


# --------------------------------------------------------------------------------------------
# Silence


@pytest.mark.parametrize("kind", ["zeros", "noise_-100dBFS"])
def test_silence_gives_zeros(tmp_path, kind):
    n = 3 * SR
    if kind == "zeros":
        y = np.zeros(n, np.float32)
        path = write_wav(tmp_path / "silence.wav", y, SR)
    else:
        rng = np.random.default_rng(0)
        y = (1e-5 * rng.standard_normal(n)).astype(np.float32)  # RMS -100 dBFS
        path = write_wav(tmp_path / "floor.wav", y, SR, subtype="FLOAT")
    for fps in (30, "30000/1001"):
        f = sonicdreams.analyze(path, fps=fps)
        assert f.n_frames == round_half_up(Fraction(n, SR) * parse_fps(fps))
        assert_frame_arrays(f, f.n_frames)
        for name in ("pulse", "motion", "full", "percussive", "harmonic", "onset", "chroma"):
            assert not getattr(f, name).any(), name
        assert f.rms.max() < 1e-4
        assert f.tempo_bpm == 0.0
        assert len(f.beat_times) == 0
        np.testing.assert_array_equal(f.section_times, [0.0])
        assert f.pitches_sorted.tolist() == list(range(12))  # ties keep pitch order


# --------------------------------------------------------------------------------------------
# Chroma


@pytest.fixture(scope="module")
def a440(audio_dir):
    return write_wav(audio_dir / "a440.wav", tone(440.0, duration_s=6.0), SR)


@pytest.fixture(scope="module")
def c_tone(audio_dir):
    return write_wav(audio_dir / "c.wav", tone(261.63, duration_s=6.0), SR)


def test_a440_is_a(run, a440):
    f = run(a440, fps=30)
    assert f.dominant_pitches[0] == "A"
    assert f.pitches_sorted[0] == 9
    assert sorted(f.pitches_sorted.tolist()) == list(range(12))
    assert f.chroma.shape == (12, 180)
    # A is the loudest class in (almost) every frame; each sounding frame peaks at 1
    assert np.mean(np.argmax(f.chroma, axis=0) == 9) > 0.95
    assert f.chroma[9, 15:-15].min() > 0.99
    assert abs(f.grids["song"].tuning) < 0.05


def test_c_major_triad(tmp_path):
    y = sum(tone(hz, duration_s=6.0, amp=0.25) for hz in (261.63, 329.63, 392.00))
    path = write_wav(tmp_path / "triad.wav", y, SR)
    f = sonicdreams.analyze(path, fps=24)
    assert set(f.dominant_pitches[:3]) == {"C", "E", "G"}
    assert f.chroma.shape == (12, 144)
    top3 = np.argsort(-f.chroma[:, 12:-12].mean(axis=1))[:3]
    assert set(top3.tolist()) == {0, 4, 7}


def test_pitch_dominance_rule():
    """Each frame counts by its shares (sum 1); silent frames count for nothing."""
    chroma = np.zeros((12, 4), np.float32)
    chroma[2, 0] = 1.0  # one loud D frame …
    chroma[:, 1] = 0.0  # a silent frame
    chroma[5, 2], chroma[7, 2] = 1.0, 1.0  # F and G share a frame
    chroma[5, 3] = 0.1  # a quiet F frame counts as much as a loud one
    assert pitch_dominance(chroma)[:3].tolist() == [5, 2, 7]
    assert PITCH_NAMES[9] == "A" and len(PITCH_NAMES) == 12


# --------------------------------------------------------------------------------------------
# HPSS choice (Lucid Sonic Dreams' rule) and stems


def test_envelope_source_rule():
    assert envelope_source(True, True) == "full"
    assert envelope_source(False, False) == "full"
    assert envelope_source(False, True) == "harmonic"
    assert envelope_source(True, False) == "percussive"
    assert envelope_source(1, 0) == "percussive"


@pytest.fixture(scope="module")
def clicks_then_tone(audio_dir):
    """Clicks every 0.5 s for 12 s; a sustained 330 Hz tone from 6 s on."""
    clicks = 0.31 + 0.5 * np.arange(24)
    y = click_track(clicks, duration_s=12.0)[:, 0]
    t = tone(330.0, duration_s=6.0, amp=0.3)
    y[6 * SR:] += t
    return write_wav(audio_dir / "clicks_tone.wav", y, SR), clicks


def test_percussive_follows_clicks_harmonic_follows_tone(run, clicks_then_tone):
    path, clicks = clicks_then_tone
    f = run(path, fps=30)
    fps = f.fps
    t = f.times
    # percussive: a peak at every click, in both halves, and quiet in between (the tone's
    # own attack at 6 s is percussive too, so clicks next to it are left out)
    offsets = peak_offsets(f.percussive, clicks[np.abs(clicks - 6.0) > 0.3], fps)
    assert np.all(np.abs(offsets) <= 1), offsets
    between = [nearest_frame(c + 0.25, fps) for c in clicks[:-1]]
    assert f.percussive[between].max() < 0.1
    peaks = np.array([f.percussive[i - 1: i + 2].max() for i in
                      (nearest_frame(c, fps) for c in clicks)])
    early, late = peaks[clicks < 5.5], peaks[clicks > 6.5]
    assert late.min() > 0.5 * early.max()
    # harmonic: rises when the tone starts
    first = f.harmonic[(t > 0.5) & (t < 5.5)].mean()
    second = f.harmonic[(t > 6.5) & (t < 11.5)].mean()
    assert second > 0.3 and second > 10 * first
    # the full mix has both: the tone lifts its floor, the clicks still stand out
    assert f.full[between[-5:]].min() > 10 * f.full[between[:5]].max()


@pytest.mark.parametrize(
    ("pp", "ph", "expected"),
    [(True, False, "percussive"), (False, True, "harmonic"), (True, True, "full"),
     (False, False, "full")],
)
def test_pulse_and_motion_sources(run, clicks_then_tone, pp, ph, expected):
    path, _ = clicks_then_tone
    f = run(path, fps=30, pulse_percussive=pp, pulse_harmonic=ph, motion_percussive=pp,
            motion_harmonic=ph)
    assert f.pulse_source == expected and f.motion_source == expected
    np.testing.assert_array_equal(f.pulse, getattr(f, expected))
    np.testing.assert_array_equal(f.pulse, f.envelope(percussive=pp, harmonic=ph))
    # motion is the same curve averaged over each frame instead of its peak
    grid = f.grids["song"]
    mean = sample_at_frames(grid.envelope(expected), grid_rate=grid.frame_rate,
                            frame_times=f.times, fps=30.0, how="mean")
    np.testing.assert_array_equal(f.motion, mean)
    assert np.all(f.motion <= f.pulse + 1e-6)


def test_default_sources_are_lsd_defaults(run, clicks_then_tone):
    f = run(clicks_then_tone[0], fps=30)
    assert f.pulse_source == "percussive" and f.motion_source == "harmonic"
    assert f.class_source == "full"


def test_class_audio_overrides_chroma(run, a440, c_tone):
    f = run(a440, fps=30, class_audio=c_tone)
    assert f.dominant_pitches[0] == "C" and f.pitches_sorted[0] == 0
    assert f.class_source == str(c_tone)
    assert np.mean(np.argmax(f.chroma, axis=0) == 0) > 0.95
    # the song's own envelopes are untouched
    g = run(a440, fps=30)
    np.testing.assert_array_equal(f.full, g.full)
    assert g.dominant_pitches[0] == "A"


def test_pulse_and_motion_stems_override(run, audio_dir, a440):
    clicks = 0.31 + 0.5 * np.arange(11)
    stem = write_wav(audio_dir / "stem_clicks.wav", click_track(clicks, duration_s=6.0), SR)
    f = run(a440, fps=30, pulse_audio=stem, motion_audio=stem, pulse_harmonic=True)
    assert f.pulse_source == str(stem) and f.motion_source == str(stem)
    offsets = peak_offsets(f.pulse, clicks, f.fps)
    assert np.all(np.abs(offsets) <= 1), offsets
    clear = np.array([boundary_distance_s(c, f.fps) > GRID_HALF_HOP_S for c in clicks])
    assert np.all(offsets[clear] == 0), offsets
    assert f.motion.max() > 0
    # the steady tone alone has no pulse to speak of once the attack is past
    g = run(a440, fps=30, pulse_harmonic=False, pulse_percussive=True)
    assert g.pulse[30:-30].max() < 0.05


def test_short_stem_warns_and_is_silent_after_its_end(run, audio_dir, a440):
    clicks = 0.31 + 0.5 * np.arange(6)  # the stem is 3 s, the song 6 s
    stem = write_wav(audio_dir / "short_clicks.wav", click_track(clicks, duration_s=3.0), SR)
    with pytest.warns(SonicDreamsWarning, match="shorter than the song"):
        f = run(a440, fps=30, pulse_audio=stem)
    assert f.n_frames == 180
    assert np.all(np.abs(peak_offsets(f.pulse, clicks, f.fps)) <= 1)
    assert not f.pulse[f.times >= 3.0].any()
    assert f.pulse[f.times < 3.0].max() == 1.0
    # the same for a chromagram stem: silent (zeros) past its end
    with pytest.warns(SonicDreamsWarning, match="shorter"):
        g = run(a440, fps=30, class_audio=stem)
    assert not g.chroma[:, g.times >= 3.0].any()


def test_long_stem_warns_and_is_cut(run, audio_dir, a440):
    # 6 s of C (as long as the song), then 9 s of E that the video never plays
    y = np.concatenate([tone(261.63, duration_s=6.0), tone(329.63, duration_s=9.0)])
    stem = write_wav(audio_dir / "long_c_then_e.wav", y, SR)
    with pytest.warns(SonicDreamsWarning, match="longer than the song"):
        f = run(a440, fps=30, class_audio=stem)
    assert f.n_frames == 180 and f.chroma.shape == (12, 180)
    assert np.mean(np.argmax(f.chroma, axis=0) == 0) > 0.95
    assert f.dominant_pitches[0] == "C"  # the E past the song's end does not count


# --------------------------------------------------------------------------------------------
# Sections


def test_three_part_song_has_sections_at_the_changes(tmp_path):
    rng = np.random.default_rng(7)
    part = 20 * SR
    # 1: A minor chord + clicks at 120 BPM
    a_minor = sum(tone(hz, duration_s=20.0, amp=0.15) for hz in (220.0, 261.63, 329.63))
    one = a_minor + click_track(0.1 + 0.5 * np.arange(40), duration_s=20.0)[:, 0]
    # 2: bursts of noise, 8 per second
    two = np.zeros(part, np.float32)
    burst = int(0.05 * SR)
    for s in np.arange(0, part - burst, SR // 8):
        two[s: s + burst] = 0.3 * rng.standard_normal(burst)
    # 3: E flat major chord + low clicks at 90 BPM
    eb_major = sum(tone(hz, duration_s=20.0, amp=0.15) for hz in (311.13, 392.0, 466.16))
    three = eb_major + click_track(0.2 + (60 / 90) * np.arange(29), duration_s=20.0,
                                   freq_hz=400.0)[:, 0]
    y = np.concatenate([one, two, three]).astype(np.float32)
    path = write_wav(tmp_path / "three.wav", y, SR)
    f = sonicdreams.analyze(path, fps=30)
    sections = f.section_times
    assert sections[0] == 0.0
    assert np.all(np.diff(sections) > 0)
    for change in (20.0, 40.0):
        assert np.min(np.abs(sections - change)) < 1.5, sections
    # nothing else of note: any other boundary is not inside a part's steady middle
    others = [s for s in sections[1:] if min(abs(s - 20.0), abs(s - 40.0)) >= 1.5]
    assert not others, sections
    assert f.section_frames.tolist() == np.floor(sections * 30 + 0.5).astype(int).tolist()


# --------------------------------------------------------------------------------------------
# sample_at_frames


@pytest.mark.parametrize("fps", [1.0, 5.0, 12.0, 24.0, 30.0, 30000 / 1001, 43.0])
@pytest.mark.parametrize("spike_at", [0, 1, 17, 100, 431, 860, 861])
def test_max_pooling_puts_a_spike_on_its_nearest_frame(fps, spike_at):
    rate = 22050 / 512
    n = 862
    values = np.zeros(n, np.float32)
    values[spike_at] = 1.0
    duration = n / rate
    n_frames = round(duration * fps)
    times = np.arange(n_frames) / fps
    out = sample_at_frames(values, grid_rate=rate, frame_times=times, fps=fps, how="max")
    spike_t = spike_at / rate
    near = int(np.floor(spike_t * fps + 0.5))
    if near >= n_frames:  # past the last frame's interval: no frame shows it
        assert near == n_frames and not out.any()
        return
    assert out[near] == 1.0
    # only frames whose interval holds the spike, or that interpolate next to it, light up
    lit = np.flatnonzero(out > 0)
    assert np.all(np.abs(times[lit] - spike_t) < 0.5 / fps + 1 / rate)
    assert np.argmax(out) == near


@pytest.mark.parametrize("fps", [60.0, 120.0, 240.0])
def test_above_grid_rate_falls_back_to_linear(fps):
    rate = 22050 / 512
    n = 200
    grid_t = np.arange(n) / rate
    values = (0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * grid_t)).astype(np.float32)
    times = np.arange(int(n / rate * fps) - 2) / fps
    linear = np.interp(times * rate, np.arange(n), values)
    for how in ("max", "mean", "linear"):
        out = sample_at_frames(values, grid_rate=rate, frame_times=times, fps=fps, how=how)
        assert out.shape == times.shape and out.dtype == np.float32
        if how == "linear":
            np.testing.assert_allclose(out, linear, atol=1e-6)
        else:
            # frames whose interval holds no grid point are interpolated
            half = 0.5 * rate / fps
            pos = times * rate
            empty = np.floor(pos + half - 1e-9) < np.ceil(pos - half - 1e-9)
            assert empty.any()
            np.testing.assert_allclose(out[empty], linear[empty], atol=1e-6)
            # the rest pool the grid points they hold
            if how == "max":
                assert np.all(out >= linear - 1e-6)
    # a spike lies in exactly one frame's interval: the frame nearest to it shows it whole
    for at in (50, 51, 123):
        spike = np.zeros(n, np.float32)
        spike[at] = 1.0
        out = sample_at_frames(spike, grid_rate=rate, frame_times=times, fps=fps, how="max")
        near = int(np.floor(at / rate * fps + 0.5))
        assert out[near] == 1.0
        assert np.sum(out == 1.0) == 1
        assert np.all(out[np.abs(times - at / rate) > 1 / rate] == 0)


def test_mean_pooling_averages_each_frame_interval():
    rate = 40.0
    values = np.arange(40, dtype=np.float32)  # one second
    times = np.arange(10) / 10.0  # 10 fps: each frame owns 4 grid points
    out = sample_at_frames(values, grid_rate=rate, frame_times=times, fps=10.0, how="mean")
    # frame i owns [4i - 2, 4i + 2) -> grid points 4i-2 … 4i+1 (clipped at 0)
    expected = [np.mean(values[max(0, 4 * i - 2): 4 * i + 2]) for i in range(10)]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # a constant stays constant; the mean of a curve keeps its integral
    const = sample_at_frames(np.full(40, 0.25, np.float32), grid_rate=rate, frame_times=times,
                             fps=10.0, how="mean")
    np.testing.assert_allclose(const, 0.25)


def test_sample_at_frames_many_rows_and_edges():
    rate = 22050 / 512
    rng = np.random.default_rng(3)
    chroma = rng.random((12, 300)).astype(np.float32)
    times = np.arange(200) / 30.0
    out = sample_at_frames(chroma, grid_rate=rate, frame_times=times, fps=30.0, how="mean")
    assert out.shape == (12, 200)
    for row in (0, 5, 11):
        one = sample_at_frames(chroma[row], grid_rate=rate, frame_times=times, fps=30.0,
                               how="mean")
        np.testing.assert_array_equal(out[row], one)
    assert sample_at_frames(np.zeros(0), grid_rate=rate, frame_times=times, fps=30.0,
                            how="max").shape == (200,)
    assert sample_at_frames(chroma, grid_rate=rate, frame_times=np.zeros(0), fps=30.0,
                            how="max").shape == (12, 0)
    with pytest.raises(ValueError, match="how"):
        sample_at_frames(chroma, grid_rate=rate, frame_times=times, fps=30.0, how="median")


# --------------------------------------------------------------------------------------------
# The real excerpt (30 s of electronic music, about 129 BPM)


@pytest.fixture(scope="module")
def excerpt_full(excerpt):
    return sonicdreams.analyze(excerpt, fps=30, cache=False)


def test_excerpt_arrays(excerpt_full):
    f = excerpt_full
    assert f.song.sample_rate == 44100 and f.song.channels == 2
    assert f.n_frames == round_half_up(Fraction(round(f.duration_s * 44100), 44100) * 30)
    assert_frame_arrays(f, f.n_frames)
    assert f.pulse.max() == 1.0 and f.full.max() == 1.0


def test_excerpt_tempo_and_even_beats(excerpt_full):
    f = excerpt_full
    assert 125.0 < f.tempo_bpm < 133.0
    beats = f.beat_times
    assert len(beats) >= 55  # about 64 beats in 30 s
    period = 60.0 / f.tempo_bpm
    ibi = np.diff(beats)
    assert abs(np.median(ibi) - period) < 0.01
    assert np.all(np.abs(ibi - period) < 0.06), np.round(ibi, 3)
    assert np.mean(np.abs(ibi - period) < 0.025) > 0.9
    # beats are where the onsets are: the onset envelope peaks at beat frames
    assert np.median(f.onset[f.beat_frames]) > 3 * np.median(f.onset)


def test_excerpt_deterministic(excerpt, excerpt_full):
    again = sonicdreams.analyze(excerpt, fps=24, cache=False)
    a, b = excerpt_full.grids["song"], again.grids["song"]
    np.testing.assert_array_equal(a.chroma, b.chroma)
    np.testing.assert_array_equal(a.full, b.full)
    np.testing.assert_array_equal(a.beat_times, b.beat_times)
    assert excerpt_full.pitches_sorted.tolist() == again.pitches_sorted.tolist()
    assert excerpt_full.tempo_bpm == again.tempo_bpm
    np.testing.assert_array_equal(excerpt_full.section_times, again.section_times)


def test_excerpt_part_agrees_with_whole(excerpt, excerpt_full):
    part = sonicdreams.analyze(excerpt, fps=30, start=10.0, duration=10.0, cache=False)
    assert part.n_frames == 300 and part.start_s == 10.0
    whole = excerpt_full.beat_times - 10.0
    inner = part.beat_times[(part.beat_times > 0.5) & (part.beat_times < 9.5)]
    assert len(inner) >= 17
    diffs = np.array([np.min(np.abs(whole - b)) for b in inner])
    assert np.all(diffs < 0.03), np.round(diffs * 1000, 1)
    # many beats are moved to the very same attack in both analyses (the rest to a
    # neighbouring one: the two clips' tempo estimates and median lags differ a little)
    assert np.mean(diffs < 0.001) >= 0.3, np.round(diffs * 1000, 1)
    assert abs(part.tempo_bpm - excerpt_full.tempo_bpm) < 2.0
    # onset peaks: the strongest onsets of the part are where the whole has them
    strong = np.flatnonzero(part.onset[15:-15] > 0.6) + 15
    whole_onset = excerpt_full.onset[300:600]
    assert len(strong) >= 5
    for i in strong:
        assert whole_onset[max(0, i - 1): i + 2].max() > 0.3 * whole_onset.max()


def test_a_hit_lands_on_the_first_frame_after_its_attack(run, tmp_path):
    """A click sounding part of the way through frame k shows on frame k + 1, the first frame
    on screen after the sound (within the analysis' resolution of one hop, 0.7 frame at 30
    fps): on average half a frame after the attack, never a frame before it."""
    from sonicdreams.audio import synth

    fps, sr = 30, 22050
    offsets = []
    for frac in (0.2, 0.45, 0.7, 0.95):
        y, _ = synth.click_track(hits_per_s=2.0, duration_s=8.0, sr=sr)
        shift = int(round(frac / fps * sr))
        y = np.concatenate([np.zeros(shift, np.float32), y[:len(y) - shift]])
        path = tmp_path / f"clicks{frac}.wav"
        synth.write(path, y, sr)
        every = np.asarray(run(path, fps=fps).onset_bands[3])
        for k in range(15, len(every) - 15, 15):  # a click at frame k + frac
            offsets.append(k - 3 + int(np.argmax(every[k - 3:k + 4])) - (k + frac))
    offsets = np.array(offsets)
    assert offsets.min() > -0.5 and offsets.max() < 1.5, offsets.round(2)
    assert 0.2 < offsets.mean() < 0.8, offsets.mean()
