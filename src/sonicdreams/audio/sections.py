"""Structural segmentation: where a song changes section (verse, chorus, drop, break…).

Foote's novelty method: a self-similarity matrix of timbre (MFCC) and harmony (chroma)
features, correlated along its diagonal with a Gaussian-tapered checkerboard kernel; peaks of
that novelty curve are section boundaries. Only the band of the matrix the kernel touches is
computed, so time and memory are linear in the song's length (an hour-long mix costs
milliseconds).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["novelty_curve", "section_boundaries"]


def _block_means(x: np.ndarray, block: int) -> np.ndarray:
    n_blocks = x.shape[1] // block
    if n_blocks == 0:
        return x.mean(axis=1, keepdims=True)
    trimmed = x[:, : n_blocks * block]
    return trimmed.reshape(x.shape[0], n_blocks, block).mean(axis=2)


def novelty_curve(
    features: npt.NDArray[np.float32], *, half_width: int
) -> npt.NDArray[np.float64]:
    """Checkerboard novelty of a feature sequence ``[shape=(d, n)]`` (columns are times).

    Returns ``[shape=(n,)]``, zero where the kernel does not fit and non-negative elsewhere.
    """
    d, n = features.shape
    x = features - features.mean(axis=1, keepdims=True)
    x = x / (np.linalg.norm(x, axis=0, keepdims=True) + 1e-9)  # cosine similarity
    L = int(half_width)
    if n < 2 * L + 1 or L < 1:
        return np.zeros(n)
    offsets = np.arange(-L, L)  # kernel taps relative to the centre (between i-1 and i)
    g = np.exp(-0.5 * ((offsets + 0.5) / (0.5 * L)) ** 2)
    sign = np.sign(offsets + 0.5)
    # band[k, j] = similarity(x_j, x_{j + k}) for k in [0, 2L): all the matrix the kernel sees.
    band = np.zeros((2 * L, n))
    for k in range(2 * L):
        band[k, : n - k] = np.einsum("ij,ij->j", x[:, : n - k], x[:, k:])
    novelty = np.zeros(n)
    centres = np.arange(L, n - L + 1)
    for a_i, a in enumerate(offsets):
        for b_i, b in enumerate(offsets):
            if b < a:
                continue  # symmetric: count the pair once, twice off the diagonal
            weight = g[a_i] * g[b_i] * sign[a_i] * sign[b_i] * (1.0 if a == b else 2.0)
            novelty[centres] += weight * band[b - a, centres + a]
    return np.maximum(novelty, 0.0)


def section_boundaries(
    mfcc: npt.NDArray[np.float32],
    chroma: npt.NDArray[np.float32],
    *,
    frame_rate: float,
    beat_times: npt.NDArray[np.float64] | None = None,
    min_section_s: float = 8.0,
    block_s: float = 0.5,
    kernel_s: float = 8.0,
) -> npt.NDArray[np.float64]:
    """Start times (seconds) of the song's sections; the first is always 0.

    Parameters
    ----------
    mfcc, chroma : np.ndarray [shape=(d, n)]
        Timbre and pitch features on a grid of ``frame_rate`` frames per second.
    beat_times : np.ndarray or None
        If given, each boundary moves to the nearest beat within a quarter of a block-free
        second, so sections start on the beat.
    min_section_s : float
        No two boundaries are closer than this.
    """
    from scipy.signal import find_peaks

    n = mfcc.shape[1]
    if n == 0:
        return np.zeros(1)
    block = max(1, int(round(block_s * frame_rate)))
    block_dur = block / frame_rate
    timbre = _block_means(mfcc[1:].astype(np.float32), block)  # MFCC 0 is loudness
    harmony = _block_means(chroma, block)
    stacked = []
    for part in (timbre, harmony):
        spread = part.std(axis=1, keepdims=True) + 1e-6
        stacked.append((part - part.mean(axis=1, keepdims=True)) / spread)
    feats = np.concatenate(stacked, axis=0)
    half = max(2, int(round(kernel_s / 2 / block_dur)))
    nov = novelty_curve(feats, half_width=half)
    if not nov.any():
        return np.zeros(1)
    # Peaks that stand out from the curve's typical level by a clear margin.
    prominence = 0.5 * nov.std() + 1e-9
    distance = max(1, int(round(min_section_s / block_dur)))
    peaks, _ = find_peaks(nov, distance=distance, prominence=prominence, height=nov.mean())
    times = peaks * block_dur  # novelty index i sits between blocks i-1 and i
    duration = n / frame_rate
    times = times[(times >= min_section_s / 2) & (times <= duration - min_section_s / 2)]
    if beat_times is not None and len(beat_times):
        idx = np.clip(np.searchsorted(beat_times, times), 1, len(beat_times) - 1)
        left, right = beat_times[idx - 1], beat_times[idx]
        nearest = np.where(times - left <= right - times, left, right)
        times = np.where(np.abs(nearest - times) <= block_dur, nearest, times)
    return np.concatenate([[0.0], np.unique(times)])
