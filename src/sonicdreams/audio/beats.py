"""Tempo and beats: a dynamic-programming tracker (:mod:`._tracker`, librosa's algorithm), then
each beat moved to its attack.

The tracker's beats sit on the 23 ms analysis grid and its onset envelope peaks 15–50 ms after
the sound's attack. During the streamed analysis, :class:`AttackEnergy` keeps, every 32 samples
(1.5 ms), how much transient energy lies just after and just before that point; here each
grid beat moves to the nearby point where the energy rises most.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._tracker import track_beats

__all__ = ["ATTACK_STEP", "AttackEnergy", "beats_and_tempo", "shift_frames"]

ATTACK_STEP = 32
"""Samples between the points where attack energy is kept (1.45 ms at 22 050 Hz)."""
_HALF_WINDOW = 256


class AttackEnergy:
    """Energy of the first difference (transients, not bass hum) in a half-Hann window after
    and before points every ``ATTACK_STEP`` samples."""

    g = np.hanning(2 * _HALF_WINDOW + 1)[_HALF_WINDOW:-1]  # 1 at lag 0, falling to ~0

    @classmethod
    def of_segment(cls, seg: np.ndarray, seg_start: int, first: int,
                   count: int) -> tuple[np.ndarray, np.ndarray]:
        """(after, before) at samples ``first + ATTACK_STEP * j`` for j < count; ``seg`` holds
        samples from ``seg_start`` on, with at least ``_HALF_WINDOW + 1`` around them."""
        from scipy.signal import oaconvolve

        x = np.diff(seg.astype(np.float64), prepend=float(seg[0]) if len(seg) else 0.0)
        if seg_start == 0 and len(x):
            x[0] = 0.0
        p = x * x
        g = cls.g
        forward = oaconvolve(p, g[::-1], mode="full")  # [n + 255] = sum_k p[n+k] g[k]
        backward = oaconvolve(p, g, mode="full")  # [n - 1] = sum_k p[n-1-k] g[k]
        idx = first - seg_start + ATTACK_STEP * np.arange(count)
        after = forward[idx + len(g) - 1]
        before = np.where(idx >= 1, backward[np.maximum(idx - 1, 0)], 0.0)
        # float16 is plenty to find a peak and compare two energies, and halves what an
        # hour-long mix keeps (clipped below float16's largest value).
        limit = np.finfo(np.float16).max
        return (np.minimum(after, limit).astype(np.float16),
                np.minimum(before, limit).astype(np.float16))


def _find_attacks(after: np.ndarray, before: np.ndarray, sr: int, times: np.ndarray,
                  lo_s: float, hi_s: float, min_ratio: float = 2.0):
    """The point in ``[t + lo_s, t + hi_s]`` of each time where the energy after minus the
    energy before peaks, and whether that attack is clear (after >= min_ratio x before)."""
    out = times.copy()
    ok = np.zeros(len(times), dtype=bool)
    step = ATTACK_STEP / sr
    for i, t in enumerate(times):
        a = max(int(np.ceil((t + lo_s) / step)), 0)
        b = min(int(np.floor((t + hi_s) / step)) + 1, len(after))
        if b <= a:
            continue
        rise = after[a:b].astype(np.float32) - before[a:b].astype(np.float32)
        j = int(np.argmax(rise))
        if rise[j] > 0 and float(after[a + j]) >= min_ratio * float(before[a + j]):
            # a parabola through the peak and its neighbours: between the kept points
            offset = 0.0
            if 0 < j < len(rise) - 1:
                curvature = rise[j - 1] - 2.0 * rise[j] + rise[j + 1]
                if curvature < 0:
                    offset = float(np.clip(0.5 * (rise[j - 1] - rise[j + 1]) / curvature,
                                           -0.5, 0.5))
            out[i] = (a + j + offset) * step
            ok[i] = True
    return out, ok


def attack_times(after: np.ndarray, before: np.ndarray, sr: int, times: np.ndarray, *,
                 before_s: float = 0.06, after_s: float = 0.025,
                 spread_s: float = 0.025) -> tuple[npt.NDArray[np.float64], float]:
    """Move beat times to the attacks they stand for; returns them and the median shift.

    A first pass looks for an attack within ``[t - before_s, t + after_s]`` of every beat and
    takes the median shift as the song's lag; a second pass looks within ``spread_s`` of
    ``t + lag``, so every beat moves by about the same amount and none jumps to a neighbouring
    note. Beats with no clear attack there move by the lag.
    """
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0 or len(after) == 0:
        return times.copy(), 0.0
    found, ok = _find_attacks(after, before, sr, times, -before_s, after_s)
    if not ok.any():
        return times.copy(), 0.0
    lag = float(np.median(found[ok] - times[ok]))
    found, ok = _find_attacks(after, before, sr, times, lag - spread_s, lag + spread_s)
    out = np.where(ok, found, times + lag)
    return np.sort(np.clip(out, 0.0, None)), lag


def beats_and_tempo(onset: np.ndarray, after: np.ndarray, before: np.ndarray, *, sr: int,
                    hop_length: int) -> tuple[float, npt.NDArray[np.float64], float]:
    """Global tempo (BPM), beat times (seconds) and the onset envelope's lag (seconds).

    The tempogram is averaged over chunks, so an hour-long mix does not build a 384 x n
    matrix at once. The tempo is the median beat period (or, with few beats, the tempogram
    peak refined between lags).
    """
    from ._dsp import tempogram

    if onset.size < 2 or not onset.any():
        return 0.0, np.zeros(0), 0.0
    win = 384
    chunk = 2048  # frames per tempogram piece: its FFTs cost ~30 MB, not 250
    acc = None
    weight = 0
    for a in range(0, len(onset), chunk):
        part = onset[max(0, a - win // 2): a + chunk + win // 2]
        tg = tempogram(part, win_length=win)
        inner = tg[:, min(a, win // 2): min(a, win // 2) + min(chunk, len(onset) - a)]
        acc = inner.sum(axis=1) if acc is None else acc + inner.sum(axis=1)
        weight += inner.shape[1]
    bpm = _tempo(acc / max(weight, 1), sr=sr, hop_length=hop_length)
    if not bpm > 0:
        return 0.0, np.zeros(0), 0.0
    frames = track_beats(onset, bpm=bpm, frame_rate=sr / hop_length)
    beats, lag = attack_times(after, before, sr,
                              np.asarray(frames, dtype=np.float64) * hop_length / sr)
    if len(beats) >= 4:
        period = float(np.median(np.diff(beats)))
        if period > 0:
            bpm = 60.0 / period
    return bpm, beats, lag


def shift_frames(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` moved ``k`` frames earlier (``k < 0``: later), zeros coming in."""
    k = int(np.clip(k, -len(x), len(x)))
    if k == 0:
        return x
    out = np.zeros_like(x)
    if k > 0:
        out[:-k] = x[k:]
    else:
        out[-k:] = x[:k]
    return out


def _tempo(mean_tg: np.ndarray, *, sr: int, hop_length: int, start_bpm: float = 120.0,
           std_bpm: float = 1.0, max_tempo: float = 320.0) -> float:
    """``librosa.feature.tempo`` on a mean tempogram, refined between lags.

    librosa picks a whole lag (tempo bins 117.5, 123.0… BPM near 120); a parabola through
    the peak and its neighbours gives the tempo between bins.
    """
    from ._dsp import tempo_frequencies

    n_lags = mean_tg.shape[0]
    bpms = tempo_frequencies(n_lags, hop_length=hop_length, sr=sr)
    with np.errstate(divide="ignore"):
        logprior = -0.5 * ((np.log2(bpms) - np.log2(start_bpm)) / std_bpm) ** 2
    logprior[: int(np.argmax(bpms < max_tempo))] = -np.inf
    score = np.log1p(1e6 * mean_tg) + logprior
    lag = int(np.argmax(score))
    if lag < 1:
        return 0.0
    shift = 0.0
    if lag + 1 < n_lags and np.isfinite(score[lag - 1]):
        y0, y1, y2 = (float(v) for v in mean_tg[lag - 1: lag + 2])
        curvature = y0 - 2.0 * y1 + y2
        if curvature < 0:
            shift = float(np.clip(0.5 * (y0 - y2) / curvature, -0.5, 0.5))
    return 60.0 * sr / (hop_length * (lag + shift))
