"""The motion engine: Lucid Sonic Dreams' trajectories, fast, seeded and fps-independent."""

from __future__ import annotations

import copy
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sonicdreams
from lsd_reference import full_frame_interpolation, lsd_classes, lsd_noise, lsd_smooth
from sonicdreams.audio.analyze import SourceInfo, frame_features
from sonicdreams.audio.features import Analysis
from sonicdreams.errors import SettingsError
from sonicdreams.motion import keyframes as kf
from sonicdreams.motion.trajectory import (
    REFERENCE_FPS,
    random_keys,
    random_streams,
    random_walk_factors,
)

GRID_RATE = 22050 / 512


def synthetic_features(duration_s: float, fps, *, seed: int = 0, chroma=None,
                       beat_times=None, section_times=None, silent=False):
    """Features built from a synthetic grid analysis (no audio), for fast property tests."""
    rng = np.random.default_rng(seed)
    n = int(np.floor(duration_s * GRID_RATE)) + 1
    t = np.arange(n) / GRID_RATE

    def envelope(freq):
        x = np.abs(np.sin(2 * np.pi * freq * t + rng.uniform(0, 6))) ** 6
        return np.zeros(n, np.float32) if silent else x.astype(np.float32)

    if chroma is None:
        chroma = rng.random((12, n)).astype(np.float32) ** 4
        chroma /= chroma.max(axis=0, keepdims=True)
    if silent:
        chroma = np.zeros((12, n), np.float32)
    beats = np.arange(0.25, duration_s, 0.5) if beat_times is None else np.asarray(beat_times)
    grid = Analysis(
        sr=22050, hop_length=512, duration_s=duration_s, full=envelope(2.0),
        percussive=envelope(2.0), harmonic=envelope(0.3), onset=envelope(2.0),
        rms=envelope(2.0) * 0.3, chroma=np.asarray(chroma, np.float32),
        onset_bands=np.stack([envelope(2.0), envelope(4.0), envelope(8.0), envelope(2.0)]),
        tuning=0.0,
        tempo_bpm=120.0 if len(beats) else 0.0, beat_times=beats.astype(np.float64),
        section_times=np.asarray([0.0] if section_times is None else section_times, float),
    )
    info = SourceInfo(None, None, 44100, 2, duration_s, 0.0, duration_s)
    return frame_features(grid, info, fps=sonicdreams.timing.parse_fps(fps))


@pytest.fixture(scope="module")
def song_features(excerpt):
    """The real excerpt analysed at the original's frame rate."""
    return sonicdreams.analyze(excerpt, fps=43, duration=12)


# -- agreement with the original's formulas ---------------------------------------------------


@pytest.mark.parametrize("speed_fpm", [0, 12])
@pytest.mark.parametrize(("pulse_react", "motion_react", "randomness", "truncation"),
                         [(0.5, 0.5, 0.5, 1.0), (1.2, 0.7, 0.0, 0.6), (0.0, 1.5, 1.0, 0.5)])
def test_noise_matches_the_original_formulas(song_features, speed_fpm, pulse_react,
                                             motion_react, randomness, truncation):
    """At 43 fps the ticks are the frames: the engine equals the O(N²) transcription."""
    f = song_features
    z_dim, seed = 24, 5
    traj = sonicdreams.plan(f, z_dim=z_dim, seed=seed, speed_fpm=speed_fpm, look="original",
                            pulse_react=pulse_react, motion_react=motion_react,
                            motion_randomness=randomness, truncation=truncation)
    keys_rng, walk_rng, _ = random_streams(seed)
    n_keys = kf.keyframe_count(f.duration_s, speed_fpm)
    keys = random_keys(keys_rng, n_keys, z_dim, truncation).astype(np.float64)
    signs0, r_blocks = random_walk_factors(walk_rng, z_dim, f.n_frames // 172 + 1, randomness)
    if n_keys < 2:
        base = np.repeat(keys[:1], f.n_frames, axis=0)
    else:  # the engine's keyframe path (it differs from the original's on purpose, below)
        wa_idx, wb_idx, wa, wb = kf.interpolation_weights(
            kf.keyframe_times(n_keys, f.duration_s), f.times, keys, space="linear")
        base = wa[:, None] * keys[wa_idx] + wb[:, None] * keys[wb_idx]
    expected = lsd_noise(base, f.pulse, f.motion, fps=43, pulse_react=pulse_react,
                         motion_react=motion_react, motion_randomness=randomness,
                         truncation=truncation, signs0=signs0, r_draws=r_blocks)
    np.testing.assert_allclose(traj.noise, expected, rtol=0, atol=2e-5)


@pytest.mark.parametrize(
    ("classes", "c_dim", "shuffle", "dominant"),
    [([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], 1000, None, False),   # repeats: later pitch wins
     ([7, 2, 9], 10, 2, False),                                   # tiled to 12, shuffled
     (list(range(12)), 12, 3, True),                              # every class used: min-max
     ([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 20, 21], 40, 1, True)],  # longer list rotates in
)
def test_classes_match_the_original_formulas(song_features, classes, c_dim, shuffle, dominant):
    f = song_features
    traj = sonicdreams.plan(f, z_dim=4, c_dim=c_dim, seed=1, classes=classes,
                            class_smooth_seconds=0, class_shuffle_seconds=shuffle,
                            class_pitch_react=0.3, class_complexity=0.8,
                            dominant_classes_first=dominant)
    expected = lsd_classes(f.chroma, classes=classes, num_classes=c_dim, fps=43,
                           class_pitch_react=0.3, class_complexity=0.8,
                           class_shuffle_seconds=shuffle, dominant_classes_first=dominant,
                           pitches_sorted=list(f.pitches_sorted))
    np.testing.assert_allclose(traj.classes, expected, rtol=0, atol=1e-5)
    assert traj.classes.dtype == np.float32
    assert traj.classes.max() <= 0.8 + 1e-6


def test_class_smoothing_is_centred_not_leading():
    """A chord change at 6 s: the original's smoothed classes moved ~W/2 early; ours don't."""
    duration, change = 12.0, 6.0
    n = int(duration * GRID_RATE) + 1
    chroma = np.zeros((12, n), np.float32)
    t = np.arange(n) / GRID_RATE
    chroma[0, t < change] = 1.0   # C, then
    chroma[7, t >= change] = 1.0  # G
    f = synthetic_features(duration, 43, chroma=chroma)
    traj = sonicdreams.plan(f, z_dim=4, c_dim=12, classes=list(range(12)), seed=0,
                            class_smooth_seconds=2, class_pitch_react=5)
    rough = sonicdreams.plan(f, z_dim=4, c_dim=12, classes=list(range(12)), seed=0,
                             class_smooth_seconds=0, class_pitch_react=5)
    crossing = np.argmax(traj.classes[:, 7] > traj.classes[:, 0]) / 43
    raw_crossing = np.argmax(rough.classes[:, 7] > rough.classes[:, 0]) / 43
    original = lsd_smooth(rough.classes.astype(np.float64), 86)
    original_crossing = np.argmax(original[:, 7] > original[:, 0]) / 43
    assert abs(crossing - raw_crossing) < 0.15
    assert raw_crossing - original_crossing > 0.7  # the original led by about a second


def test_last_keyframe_is_reached_at_the_end():
    f = synthetic_features(60.0, 30)
    traj = sonicdreams.plan(f, z_dim=16, seed=3, speed_fpm=5, pulse_react=0, motion_react=0,
                            look="original")
    keys = random_keys(random_streams(3)[0], 5, 16, 1.0)
    assert len(traj.keyframe_times) == 5
    assert traj.keyframe_times[0] == 0 and traj.keyframe_times[-1] == pytest.approx(60.0)
    for k, t in enumerate(traj.keyframe_times[:-1]):
        np.testing.assert_allclose(traj.noise[int(round(t * 30))], keys[k], atol=1e-5)
    # The last frame is 1/30 s before the end: within one frame's travel of the last key.
    step = np.abs(keys[-1] - keys[-2]).max() / (15 * 30)
    np.testing.assert_allclose(traj.noise[-1], keys[-1], atol=1.01 * step)
    # The original held its last key for the final ~1/K of the video.
    original = full_frame_interpolation(keys, int(f.n_frames / 5 - 1), f.n_frames)
    assert np.all(original[-f.n_frames // 6:] == keys[-1])


# -- properties --------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(duration=st.floats(1.0, 20.0), fps=st.sampled_from([1, 12, 24, "30000/1001", 43, 60,
                                                            144]),
       z_dim=st.integers(1, 64), c_dim=st.integers(0, 40), seed=st.integers(0, 2**32))
def test_shapes_dtypes_and_finiteness(duration, fps, z_dim, c_dim, seed):
    f = synthetic_features(duration, fps, seed=seed % 7)
    traj = sonicdreams.plan(f, z_dim=z_dim, c_dim=c_dim, seed=seed)
    assert traj.noise.shape == (f.n_frames, z_dim) and traj.noise.dtype == np.float32
    assert traj.classes.shape == (f.n_frames, c_dim) and traj.classes.dtype == np.float32
    assert np.isfinite(traj.noise).all() and np.isfinite(traj.classes).all()
    if c_dim:
        assert traj.classes.min() >= 0 and traj.classes.max() <= 1.0 + 1e-6
    assert traj.fps == Fraction(f.fps) and traj.seed == seed


@settings(max_examples=30, deadline=None)
@given(truncation=st.floats(0.1, 1.0), motion_react=st.floats(0.05, 2.0),
       pulse_react=st.floats(0.0, 2.0), randomness=st.floats(0.0, 1.0),
       speed_fpm=st.sampled_from([0, 1]), seed=st.integers(0, 1000))
def test_walk_stays_within_its_bounds(truncation, motion_react, pulse_react, randomness,
                                      speed_fpm, seed):
    """Over a fixed base the walk turns back at ±2·truncation; it can overshoot by its
    momentum (about two ticks of travel). The pulse is part of the tested value, so the walk
    may sit up to the pulse's size beyond a bound once the pulse fades, on either side.
    (A base moving faster than the walk can carry it past the bound, as in the original.)"""
    f = synthetic_features(30.0, 30, seed=seed % 5)
    traj = sonicdreams.plan(f, z_dim=16, seed=seed, truncation=truncation,
                            motion_react=motion_react, pulse_react=pulse_react,
                            motion_randomness=randomness, speed_fpm=speed_fpm)
    step = motion_react * 20 / REFERENCE_FPS  # the largest travel per tick
    bound = 2 * truncation + 4 * step + pulse_react + 1e-4
    assert -bound <= traj.noise.min() and traj.noise.max() <= bound


def test_same_seed_same_trajectory_other_seed_other_trajectory():
    f = synthetic_features(20.0, 30)
    a = sonicdreams.plan(f, z_dim=32, c_dim=50, seed=42)
    b = sonicdreams.plan(f, z_dim=32, c_dim=50, seed=42)
    c = sonicdreams.plan(f, z_dim=32, c_dim=50, seed=43)
    assert np.array_equal(a.noise, b.noise) and np.array_equal(a.classes, b.classes)
    assert a.class_ids == b.class_ids
    assert not np.allclose(a.noise, c.noise)
    fresh = sonicdreams.plan(f, z_dim=32, c_dim=50)
    again = sonicdreams.plan(f, z_dim=32, c_dim=50, seed=fresh.seed)
    assert fresh.settings.seed == fresh.seed
    assert np.array_equal(fresh.noise, again.noise)
    assert fresh.settings.classes == fresh.class_ids  # the random choice is reported


@pytest.mark.parametrize(("fps_a", "fps_b"), [(24, 60), (12, 120), (15, 50)])
def test_the_same_song_moves_the_same_way_at_any_fps(excerpt, fps_a, fps_b):
    fa = sonicdreams.analyze(excerpt, fps=fps_a, duration=10)
    fb = sonicdreams.analyze(excerpt, fps=fps_b, duration=10)
    options = dict(z_dim=64, c_dim=20, seed=9, speed_fpm=12, class_shuffle_seconds=2.5)
    ta, tb = sonicdreams.plan(fa, **options), sonicdreams.plan(fb, **options)
    # Compare at the times both videos have a frame.
    times_a, times_b = fa.times, fb.times
    common = np.intersect1d(np.round(times_a, 9), np.round(times_b, 9))
    assert len(common) >= 10
    ia = np.searchsorted(np.round(times_a, 9), common)
    ib = np.searchsorted(np.round(times_b, 9), common)
    np.testing.assert_allclose(ta.noise[ia], tb.noise[ib], atol=1e-4)
    np.testing.assert_allclose(ta.classes[ia], tb.classes[ib], atol=1e-4)
    # And everywhere else the two agree up to interpolation between neighbouring frames.
    other = np.interp(times_a, times_b, tb.noise[:, 0])
    assert np.abs(other - ta.noise[:, 0]).max() < 0.1


def test_pulse_pushes_every_dimension_together():
    """Pulse: pulse_react times the pulse envelope, smoothed by 0.75 per 43-fps frame, added
    to every dimension alike."""
    f = synthetic_features(10.0, 43)
    traj = sonicdreams.plan(f, z_dim=8, seed=0, speed_fpm=0, motion_react=0, pulse_react=1.3)
    key = random_keys(random_streams(0)[0], 0, 8, 1.0)[0]
    push = traj.noise - key
    assert np.allclose(push, push[:, :1], atol=1e-5)  # the same scalar on every dimension
    smoothed = np.empty(f.n_frames)
    smoothed[0] = 1.3 * f.pulse[0]
    for i in range(1, f.n_frames):
        smoothed[i] = 0.75 * smoothed[i - 1] + 0.25 * 1.3 * f.pulse[i]
    np.testing.assert_allclose(push[:, 0], smoothed, atol=1e-5)


def test_silence_stops_the_motion():
    f = synthetic_features(10.0, 30, silent=True)
    traj = sonicdreams.plan(f, z_dim=16, c_dim=12, seed=0, speed_fpm=0)
    assert np.allclose(traj.noise, traj.noise[0], atol=1e-6)
    # A silent song gives class 0 its token 0.1, as the original did (no NaN, no crash).
    assert np.isfinite(traj.classes).all()


def test_float_shuffle_seconds_and_lists_and_sections():
    f = synthetic_features(20.0, 30, section_times=[0.0, 7.0, 13.5])
    base = dict(z_dim=2, c_dim=100, classes=list(range(12)), class_smooth_seconds=0,
                class_shuffle_strength=0.25, seed=1)
    plain = sonicdreams.plan(f, **base)

    def changes(traj):
        moved = np.abs(np.diff(np.argmax(traj.classes, axis=1))) > 0
        return traj, moved

    for spec, times in ((2.5, np.arange(2.5, 20, 2.5)), ([4.2, 11.1], [4.2, 11.1]),
                        ("sections", [7.0, 13.5])):
        traj = sonicdreams.plan(f, **base, class_shuffle_seconds=spec)
        diff = np.abs(traj.classes - plain.classes).max(axis=1)
        first_change = np.argmax(diff > 1e-6) / 30
        assert first_change == pytest.approx(times[0], abs=2 / 43), spec
    assert changes(plain)[0] is plain


def test_sync_keyframes_to_beats_lands_on_beats():
    beats = np.arange(0.37, 60, 0.5)
    f = synthetic_features(60.0, 30, beat_times=beats)
    traj = sonicdreams.plan(f, z_dim=4, seed=0, speed_fpm=10, sync_keyframes_to_beats=True)
    inner = traj.keyframe_times[1:-1]
    assert len(inner) == 8
    assert np.abs(inner[:, None] - beats[None, :]).min(axis=1).max() < 1e-9
    assert np.all(np.diff(traj.keyframe_times) > 0)


def test_slerp_keeps_latents_at_a_typical_norm():
    f = synthetic_features(60.0, 30)
    options = dict(z_dim=512, seed=2, speed_fpm=4, pulse_react=0, motion_react=0)
    lin = sonicdreams.plan(f, **options, motion_space="linear")
    sph = sonicdreams.plan(f, **options, motion_space="slerp")
    typical = np.linalg.norm(lin.noise[0])
    assert np.linalg.norm(lin.noise, axis=1).min() < 0.8 * typical  # linear dips midway
    assert np.linalg.norm(sph.noise, axis=1).min() > 0.95 * typical


def test_arguments_are_not_mutated():
    f = synthetic_features(10.0, 30)
    classes = [5, 3, 1]
    kept = copy.deepcopy(classes)
    settings_obj = sonicdreams.RenderSettings(classes=classes)
    sonicdreams.plan(f, z_dim=4, c_dim=10, settings=settings_obj, dominant_classes_first=True,
                     class_shuffle_seconds=[1.0, 2.0])
    assert classes == kept and settings_obj.classes == (5, 3, 1)
    assert settings_obj.dominant_classes_first is False


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("speed_fpm", -1, "speed_fpm"),
     ("motion_randomness", 1.5, r"motion_randomness=1.5.*\[0, 1\]"),
     ("truncation", 0, "truncation"), ("class_shuffle_strength", -0.1, "class_shuffle_strength"),
     ("classes", [1, "a"], "classes"), ("classes", [], "classes"),
     ("classes", [12], "out of range"),
     ("class_shuffle_seconds", "often", "class_shuffle_seconds"),
     ("class_shuffle_seconds", -3, "class_shuffle_seconds"), ("motion_space", "cubic", "linear"),
     ("pulse_react", float("nan"), "pulse_react"), ("seed", -5, "seed"),
     ("spead_fpm", 3, "did you mean speed_fpm"), ("pulse_percussive", "yes", "pulse_percussive")],
)
def test_invalid_values_name_the_option(option, value, message):
    f = synthetic_features(5.0, 30)
    with pytest.raises(SettingsError, match=message):
        sonicdreams.plan(f, z_dim=4, c_dim=12, **{option: value})


def test_no_frame_is_dropped_and_unconditional_is_empty():
    f = synthetic_features(7.77, "30000/1001")
    traj = sonicdreams.plan(f, z_dim=3, c_dim=0, seed=0)
    assert traj.noise.shape == (f.n_frames, 3) == (round(7.77 * 30000 / 1001), 3)
    assert traj.classes.shape == (f.n_frames, 0) and traj.class_ids == ()


def test_effect_amplitudes_follow_the_originals_rule_with_its_bugs_fixed():
    f = synthetic_features(10.0, 30)
    assert sonicdreams.plan(f, z_dim=2, seed=0).effects == {}
    traj = sonicdreams.plan(f, z_dim=2, seed=0, contrast_strength=0, flash_percussive=False)
    assert set(traj.effects) == {"contrast", "flash"}
    assert traj.settings.effect_strength("contrast") == 0.0  # 0 stays 0
    assert traj.settings.effect_strength("flash") == 0.5
    np.testing.assert_array_equal(traj.effects["contrast"], f.percussive)
    np.testing.assert_array_equal(traj.effects["flash"], f.full)  # percussive=False honoured
    assert traj.effects["flash"].dtype == np.float32


@pytest.mark.parametrize("fps", [24, 43, 60, "30000/1001"])
def test_streamed_segments_equal_the_whole_trajectory(fps):
    """The renderer asks for segments in order (skipping finished ones on resume)."""
    from sonicdreams.motion.trajectory import plan_stream

    f = synthetic_features(25.0, fps)
    whole = sonicdreams.plan(f, z_dim=32, c_dim=30, seed=8, speed_fpm=10,
                             class_shuffle_seconds=3.3)
    stream = plan_stream(f, z_dim=32, c_dim=30, seed=8, speed_fpm=10,
                         class_shuffle_seconds=3.3)
    n = f.n_frames
    cuts = [0, 7, 8, 100, n // 2, n - 1, n]
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        if k == 2:
            continue  # a finished segment skipped on resume
        noise, classes = stream.segment(a, b)
        np.testing.assert_array_equal(noise, whole.noise[a:b])
        np.testing.assert_array_equal(classes, whole.classes[a:b])
    with pytest.raises(ValueError, match="only goes forward"):
        stream.segment(0, 5)
