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

__all__ = ["parse_fps", "n_frames", "frame_times"]

_MAX_FPS = 1000


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
        raise SettingsError(f"fps={fps!r} must be a number of frames per second in (0, {_MAX_FPS}]")
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
            f"fps={fps!r} must be a number of frames per second in (0, {_MAX_FPS}], "
            "e.g. 30, 29.97 or 30000/1001"
        ) from None
    if not 0 < value <= _MAX_FPS:
        raise SettingsError(f"fps={fps!r} must be in (0, {_MAX_FPS}]")
    return value


def _float_to_rate(value: float) -> Fraction:
    # 29.97 means 30000/1001 to every video tool; keep that convention.
    for base in (24, 30, 48, 60, 120):
        ntsc = Fraction(base * 1000, 1001)
        if abs(value - float(ntsc)) < 5e-3:
            return ntsc
    return Fraction(value).limit_denominator(1001)


def n_frames(duration_s: float, fps: Fraction) -> int:
    """Number of video frames for a clip: ``round(duration_s * fps)`` (halves round up)."""
    return int(math.floor(Fraction(duration_s) * fps + Fraction(1, 2)))


def frame_times(n: int, fps: Fraction) -> npt.NDArray[np.float64]:
    """Times in seconds of frames ``0 … n-1``: ``i / fps``, computed exactly then rounded."""
    return np.arange(n, dtype=np.float64) * fps.denominator / fps.numerator
