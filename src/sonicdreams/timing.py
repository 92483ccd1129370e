"""Video frame timing: exact frame rates as fractions and frame counts.

Frame ``i`` of a video at ``fps`` frames per second is shown at time ``i / fps``; a clip of
``duration_s`` seconds has ``round(duration_s * fps)`` frames. Frame rates are kept as
:class:`fractions.Fraction` so that NTSC rates such as ``30000/1001`` stay exact.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from .errors import SettingsError

__all__ = ["parse_fps", "exact_duration", "n_frames", "frame_times", "MAX_FPS"]

MAX_FPS = 1000
"""The highest frame rate accepted."""

_MAX_SAMPLE_RATE = 768_000


def parse_fps(fps: int | float | str | Fraction) -> Fraction:
    """Turn a frame rate given as int, float, ``"30000/1001"`` or Fraction into a Fraction.

    Floats that are close to a common NTSC rate (23.976, 29.97, 59.94…) become that exact
    rate; other floats are taken at up to 1/1001 precision.

    Raises
    ------
    SettingsError
        If the rate is not a number in (0, 1000].
    """
    if isinstance(fps, bool):
        raise SettingsError(f"fps={fps!r} must be a number of frames per second in (0, {MAX_FPS}]")
    try:
        if isinstance(fps, Fraction):
            value = fps
        elif isinstance(fps, int):
            value = Fraction(fps)
        elif isinstance(fps, str):
            value = Fraction(fps.strip())
        else:
            as_float = float(fps)
            if not math.isfinite(as_float):
                raise ValueError
            value = _float_to_rate(as_float)
    except (ValueError, ZeroDivisionError, TypeError):
        raise SettingsError(
            f"fps={fps!r} must be a number of frames per second in (0, {MAX_FPS}], "
            "e.g. 30, 29.97 or 30000/1001"
        ) from None
    if not 0 < value <= MAX_FPS:
        raise SettingsError(f"fps={fps!r} must be in (0, {MAX_FPS}]")
    return value


def _float_to_rate(value: float) -> Fraction:
    # 29.97 means 30000/1001 to every video tool; keep that convention.
    for base in (24, 30, 48, 60, 120):
        ntsc = Fraction(base * 1000, 1001)
        if abs(value - float(ntsc)) < 5e-3:
            return ntsc
    return Fraction(value).limit_denominator(1001)


def exact_duration(duration_s: float | Fraction) -> Fraction:
    """A clip length as an exact fraction of a second.

    Clip lengths are sample counts over a sample rate (at most 768 kHz), which a float cannot
    hold exactly: 441441 samples at 44.1 kHz are 10.01 s, stored as 10.00999…, whose
    ``* 50 fps`` is 500.4999… instead of 500.5. A float within 1e-9 s of a fraction with a
    denominator up to 768000 is taken as that fraction.
    """
    if isinstance(duration_s, Fraction):
        return duration_s
    exact = Fraction(duration_s)
    snapped = exact.limit_denominator(_MAX_SAMPLE_RATE)
    return snapped if abs(snapped - exact) < Fraction(1, 10**9) else exact


def n_frames(duration_s: float | Fraction, fps: Fraction) -> int:
    """Number of video frames for a clip: ``round(duration_s * fps)`` (halves round up).

    ``duration_s`` is read with :func:`exact_duration`, so a clip of 10.01 s at 50 fps has
    501 frames.
    """
    return int(math.floor(exact_duration(duration_s) * Fraction(fps) + Fraction(1, 2)))


def frame_times(n: int, fps: Fraction) -> npt.NDArray[np.float64]:
    """Times in seconds of frames ``0 … n-1``: ``i / fps``, computed exactly then rounded."""
    return np.arange(n, dtype=np.float64) * fps.denominator / fps.numerator
