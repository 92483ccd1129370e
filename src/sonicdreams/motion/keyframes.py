"""Base latents ("keyframes") and where in the video each one is reached."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["keyframe_count", "keyframe_times", "interpolation_weights", "beat_bar_times",
           "snap_to_beats"]


def keyframe_count(duration_s: float, speed_fpm: float) -> int:
    """``round(minutes * speed_fpm)``, as the original (fewer than 2 means one fixed base)."""
    return int(round(duration_s / 60.0 * speed_fpm))


def keyframe_times(n_keys: int, duration_s: float) -> npt.NDArray[np.float64]:
    """Evenly spread keyframes (seconds); the first at the start, the last at the end.

    (The original reached its last keyframe after ``(K-1)/K`` of the video and then held it.)
    """
    if n_keys < 2:
        return np.zeros(1)
    return np.linspace(0.0, duration_s, n_keys)


def beat_bar_times(beat_times: np.ndarray, onset_at_beats: np.ndarray | None = None,
                   beats_per_bar: int = 4) -> npt.NDArray[np.float64]:
    """Likely bar starts: every ``beats_per_bar``-th beat, in the phase with most onset energy."""
    beats = np.asarray(beat_times, dtype=np.float64)
    if len(beats) < beats_per_bar or onset_at_beats is None:
        return beats[::beats_per_bar]
    scores = [onset_at_beats[k::beats_per_bar].mean() for k in range(beats_per_bar)]
    return beats[int(np.argmax(scores))::beats_per_bar]


def snap_to_beats(times: np.ndarray, *, beat_times: np.ndarray,
                  bar_times: np.ndarray) -> npt.NDArray[np.float64]:
    """Move inner keyframes (seconds) to the nearest bar start, else the nearest beat.

    A keyframe moves at most half the gap to its neighbours and stays after the previous one,
    so their order is kept; the first and last keyframes stay at the ends.
    """
    pos = np.asarray(times, dtype=np.float64).copy()
    if len(pos) < 3 or len(beat_times) == 0:
        return pos
    gap = (pos[-1] - pos[0]) / (len(pos) - 1)
    for k in range(1, len(pos) - 1):
        for grid in (np.asarray(bar_times), np.asarray(beat_times)):
            if len(grid) == 0:
                continue
            nearest = grid[np.argmin(np.abs(grid - pos[k]))]
            if abs(nearest - pos[k]) <= 0.5 * gap and pos[k - 1] < nearest < pos[-1]:
                pos[k] = nearest
                break
    return pos


def interpolation_weights(
    positions: np.ndarray, frames: np.ndarray, keys: np.ndarray, *, space: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each query time in ``frames``, the two keyframes around it and their weights
    (``positions`` are the keyframes' times, in the same unit).

    ``space="linear"`` mixes linearly as the original; ``"slerp"`` interpolates along the great
    circle between the keys (scaled between their norms), which keeps Gaussian latents at a
    typical length instead of shrinking them midway.
    """
    frames = np.asarray(frames, dtype=np.float64)
    count = len(frames)
    if len(positions) < 2:
        zeros = np.zeros(count, dtype=np.int64)
        return zeros, zeros, np.ones(count), np.zeros(count)
    seg = np.clip(np.searchsorted(positions, frames, side="right") - 1, 0, len(positions) - 2)
    left, right = positions[seg], positions[seg + 1]
    width = np.where(right > left, right - left, 1.0)
    t = np.clip((frames - left) / width, 0.0, 1.0)
    if space == "linear":
        return seg, seg + 1, 1.0 - t, t
    a, b = keys[seg].astype(np.float64), keys[seg + 1].astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = np.einsum("ij,ij->i", a, b) / np.maximum(na * nb, 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    sin = np.sin(omega)
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    wa = np.where(small, 1.0 - t, np.sin((1.0 - t) * omega) / safe)
    wb = np.where(small, t, np.sin(t * omega) / safe)
    # slerp of unit directions, with the length moving linearly from |a| to |b|
    length = (1.0 - t) * na + t * nb
    wa = wa * length / np.maximum(na, 1e-12)
    wb = wb * length / np.maximum(nb, 1e-12)
    return seg, seg + 1, wa, wb
