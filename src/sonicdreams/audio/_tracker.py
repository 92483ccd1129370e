"""Ellis' dynamic-programming beat tracker (2007), beat for beat as ``librosa.beat``.

librosa's tracker compiles eight numba ufuncs every time ``librosa.beat`` is imported (some
uncached): 11 s on a fresh install, 2.5 s on every later run. This is the same algorithm,
giving the same frames (tested against librosa), with one kernel kept in our cache.

1. The onset envelope, divided by its standard deviation, is smoothed by a Gaussian as wide
   as a beat (the local score).
2. Each frame's cumulative score is its local score plus the best predecessor half a beat to
   two beats earlier, penalised by ``tightness * log(gap / period)²``.
3. The last beat is the last local maximum of the cumulative score above half their median;
   the beats are its chain of predecessors, less weak ones at either end.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .._compiled import lazy_kernel
from ._dsp import local_maxima

__all__ = ["track_beats"]


def _dp_py(score: np.ndarray, period: float, tightness: float, backlink: np.ndarray,
           cumscore: np.ndarray) -> None:
    """Fill ``backlink`` (the best predecessor, or -1) and ``cumscore`` for every frame."""
    threshold = 0.01 * np.max(score)
    first_beat = True
    near = int(np.round(period / 2))
    far = int(2 * period)
    log_period = np.log(period)
    for i in range(len(score)):
        best = -np.inf
        where = -1
        for loc in range(i - near, i - far - 1, -1):  # nearest first: it wins ties
            if loc < 0:
                break
            gap = np.log(i - loc) - log_period
            candidate = cumscore[loc] - tightness * gap * gap
            if candidate > best:
                best = candidate
                where = loc
        cumscore[i] = score[i] + best if where >= 0 else score[i]
        if first_beat and score[i] < threshold:
            backlink[i] = -1  # no beat before the music starts
        else:
            backlink[i] = where
            first_beat = False


_dp = lazy_kernel(_dp_py, fastmath=False)  # (no reassociation: ties break as librosa's)


def track_beats(onset: np.ndarray, *, bpm: float, frame_rate: float, tightness: float = 100.0,
                trim: bool = True) -> npt.NDArray[np.int64]:
    """Frames of the beats in ``onset`` (an onset-strength envelope at ``frame_rate``
    frames per second) for a song at ``bpm``."""
    onset = np.asarray(onset)
    if onset.ndim != 1 or len(onset) < 2 or not onset.any() or not bpm > 0:
        return np.zeros(0, dtype=np.int64)
    # In float64 whatever the onsets' type, as librosa (its beat period is a float64).
    onset = onset.astype(np.float64)
    period = float(np.round(frame_rate * 60.0 / bpm))
    normed = onset / (onset.std(ddof=1) + np.finfo(np.float64).tiny)
    normed[0] = 0.0  # (librosa's local score never reads the first frame)
    window = np.exp(-0.5 * (np.arange(-period, period + 1) * 32.0 / period) ** 2)
    k = len(window)
    score = np.convolve(normed, window)[k // 2: k // 2 + len(onset)]

    backlink = np.empty(len(onset), dtype=np.int64)
    cumscore = np.empty(len(onset), dtype=np.float64)
    _dp()(score, period, float(np.float32(tightness)), backlink, cumscore)

    peaks = local_maxima(cumscore)
    threshold = 0.5 * float(np.median(cumscore[peaks])) if peaks.any() else -np.inf
    above = np.flatnonzero(peaks & (cumscore >= threshold))
    n = int(above[-1]) if len(above) else len(onset) - 1
    beats = np.zeros(len(onset), dtype=bool)
    while n >= 0:
        beats[n] = True
        n = int(backlink[n])

    if trim:
        smooth = np.convolve(score[beats], np.hanning(5))[2: len(score) + 2]
        floor = 0.5 * float(np.sqrt(np.mean(smooth ** 2)))
    else:
        floor = 0.0
    # Frames at either end whose local score stays at the floor hold no beat (librosa
    # trims frame by frame, not beat by beat; so do we, to give its frames).
    quiet = score <= floor
    lead = int(np.argmin(quiet)) if not quiet.all() else len(score)
    tail = int(np.argmin(quiet[::-1])) if not quiet.all() else len(score)
    beats[:lead] = False
    beats[len(score) - tail:] = False
    return np.flatnonzero(beats).astype(np.int64)
