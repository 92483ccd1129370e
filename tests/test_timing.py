"""Exact frame rates, frame counts and frame times (sonicdreams.timing)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sonicdreams.errors import SettingsError
from sonicdreams.timing import exact_duration, frame_times, n_frames, parse_fps


def round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


@pytest.mark.parametrize(
    ("given_fps", "expected"),
    [
        (30, Fraction(30)),
        (24, Fraction(24)),
        (1, Fraction(1)),
        (1000, Fraction(1000)),
        (30.0, Fraction(30)),
        (25.0, Fraction(25)),
        (12.5, Fraction(25, 2)),
        (29.97, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (47.952, Fraction(48000, 1001)),
        (119.88, Fraction(120000, 1001)),
        (30000 / 1001, Fraction(30000, 1001)),
        ("30000/1001", Fraction(30000, 1001)),
        (" 24000/1001 ", Fraction(24000, 1001)),
        ("30", Fraction(30)),
        ("29.97", Fraction(2997, 100)),  # a string is taken literally
        (Fraction(30000, 1001), Fraction(30000, 1001)),
        (Fraction(60, 2), Fraction(30)),
        (np.float64(29.97), Fraction(30000, 1001)),
    ],
)
def test_parse_fps(given_fps, expected):
    fps = parse_fps(given_fps)
    assert isinstance(fps, Fraction)
    assert fps == expected


def test_parse_fps_float_keeps_non_ntsc_rates():
    assert parse_fps(15.5) == Fraction(31, 2)
    assert parse_fps(1 / 3) == Fraction(1, 3)
    # Close to, but clearly not, an NTSC rate: not snapped.
    assert parse_fps(29.9) == Fraction(299, 10)


@pytest.mark.parametrize(
    "bad", [0, -30, 0.0, -0.5, 1001, 1e9, float("nan"), float("inf"), "abc", "30/0", "", None,
            True, False, [30]],
)
def test_parse_fps_rejects(bad):
    with pytest.raises(SettingsError, match="fps"):
        parse_fps(bad)


def test_settings_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_fps(-1)


@pytest.mark.parametrize(
    ("n_samples", "sr", "fps", "expected"),
    [
        (441441, 44100, Fraction(30), 300),  # 10.01 s -> 300.3
        (441441, 44100, Fraction(50), 501),  # 500.5: halves round up
        (441441, 44100, Fraction(150), 1502),  # 1501.5
        (441441, 44100, Fraction(30000, 1001), 300),  # exactly 300
        (441441, 44100, Fraction(24000, 1001), 240),  # exactly 240
        (441441, 44100, Fraction(60000, 1001), 600),
        (146853, 44100, Fraction(150), 500),  # 3.33 s -> 499.5
        (321930, 44100, Fraction(5), 37),  # 7.3 s -> 36.5
        (48000, 48000, Fraction(30000, 1001), 30),  # 1 s -> 29.97
        (1, 44100, Fraction(30), 0),
        (735, 44100, Fraction(60), 1),  # exactly 1/60 s
        (734, 44100, Fraction(60), 1),  # 0.9986 frames
        (367, 44100, Fraction(60), 0),  # 0.499 frames
        (368, 44100, Fraction(60), 1),  # 0.5007 frames
    ],
)
def test_n_frames_from_float_durations(n_samples, sr, fps, expected):
    duration_s = n_samples / sr  # what decoding reports: a float
    assert round_half_up(Fraction(n_samples, sr) * fps) == expected
    assert n_frames(duration_s, fps) == expected
    assert n_frames(Fraction(n_samples, sr), fps) == expected


@given(
    n_samples=st.integers(min_value=1, max_value=44100 * 3600 * 3),
    sr=st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 192000]),
    fps=st.sampled_from([Fraction(f) for f in (1, 12, 15, 24, 25, 30, 48, 50, 60, 120, 144)]
                        + [Fraction(b * 1000, 1001) for b in (24, 30, 60)]
                        + [Fraction(25, 2), Fraction(1000), Fraction(997, 7)]),
)
def test_n_frames_is_exact_round_of_sample_count(n_samples, sr, fps):
    assert n_frames(n_samples / sr, fps) == round_half_up(Fraction(n_samples, sr) * fps)


@given(
    k=st.integers(min_value=0, max_value=10**6),
    rates=st.sampled_from([(44100, 50), (44100, 10), (44100, 150), (48000, 24), (48000, 60),
                           (48000, 30), (22050, 25), (96000, 120), (32000, 100)]),
)
def test_n_frames_halves_round_up(k, rates):
    """Clips of exactly k + 1/2 frames (sample counts at sr): the float duration must not
    round down."""
    sr, fps = rates
    n_samples = (2 * k + 1) * sr // (2 * fps)
    assert Fraction(n_samples, sr) * fps == k + Fraction(1, 2)
    assert n_frames(n_samples / sr, Fraction(fps)) == k + 1


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=768_000))
def test_exact_duration_recovers_sample_counts(n_samples, sr):
    duration_s = n_samples / sr
    if duration_s > 3600:  # at 768 kHz the snapping is exact up to about 2 hours
        return
    assert exact_duration(duration_s) == Fraction(n_samples, sr)


def test_exact_duration_keeps_fractions_and_odd_floats():
    assert exact_duration(Fraction(7, 3)) == Fraction(7, 3)
    # A float that is no sample count keeps its own value (within 1e-9 s).
    x = 0.1234567890123
    assert abs(float(exact_duration(x)) - x) < 1e-9


@pytest.mark.parametrize("fps", [Fraction(30), Fraction(30000, 1001), Fraction(24000, 1001),
                                 Fraction(25, 2), Fraction(60), Fraction(997, 7)])
def test_frame_times_are_i_over_fps(fps):
    n = 100_003
    t = frame_times(n, fps)
    assert t.dtype == np.float64 and t.shape == (n,)
    assert t[0] == 0.0
    idx = np.r_[0:50, n // 2 - 5: n // 2 + 5, n - 50: n]
    for i in idx:
        assert t[i] == float(Fraction(int(i)) / fps)  # correctly rounded i / fps
    assert np.all(np.diff(t) > 0)


def test_frame_times_empty():
    assert frame_times(0, Fraction(30)).shape == (0,)
