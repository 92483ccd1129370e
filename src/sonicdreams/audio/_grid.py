"""The analysis, streamed: decoded blocks in, grid features out, in bounded memory.

The song is cut into chunks of grid frames. For each chunk, one job computes everything that
lives in the STFT (HPSS envelopes, RMS, onset flux, MFCCs, transient energy for the beats) and
a second computes the chromagram (CQT), each with enough audio on both sides that the result
equals what the whole signal would give. Jobs run on a small thread pool while the decoder
reads on; only the audio the pending jobs still need is kept, so an hour-long mix needs about
as much memory as a song.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from .beats import ATTACK_STEP, AttackEnergy, beats_and_tempo, shift_frames

__all__ = ["analyze_blocks"]

# Below this RMS (-80 dBFS) a clip counts as silent: its envelopes are zeros, not amplified noise.
SILENCE_RMS = 1e-4
_TUNING_SECONDS = 90.0  # tuning is estimated from the first minute and a half
_TUNING_STRIDE = 2  # every other frame of it
_CHROMA_CONTEXT_S = 2.0  # the lowest CQT filters (C1, 36 bins/octave) span about 1.6 s


class _Buffer:
    """The decoded mono signal from sample ``start`` on (older samples are dropped)."""

    def __init__(self) -> None:
        self.blocks: deque[np.ndarray] = deque()
        self.start = 0  # global index of the first kept sample
        self.end = 0  # global index one past the last sample

    def append(self, block: np.ndarray) -> None:
        if len(block):
            self.blocks.append(block)
            self.end += len(block)

    def get(self, a: int, b: int) -> np.ndarray:
        """Samples ``[a, b)``; zeros where the signal has none (before 0 or past the end)."""
        out = np.zeros(b - a, dtype=np.float32)
        pos = self.start
        for block in self.blocks:
            lo, hi = max(a, pos), min(b, pos + len(block))
            if lo < hi:
                out[lo - a:hi - a] = block[lo - pos:hi - pos]
            pos += len(block)
            if pos >= b:
                break
        return out

    def drop_before(self, n: int) -> None:
        while self.blocks and self.start + len(self.blocks[0]) <= n:
            self.start += len(self.blocks.popleft())


def _spectral_job(seg: np.ndarray, seg_start: int, f0: int, f1: int, fa: int, s,
                  filters) -> dict[str, np.ndarray]:
    """Features of grid frames ``[f0, f1)``; ``seg`` holds frames ``fa…`` with their context."""
    import scipy.fft

    from ._dsp import rms, stft_magnitude
    from ._median import median_filter_rows

    hop = s.hop_length
    spec = stft_magnitude(seg, n_fft=s.n_fft, hop_length=hop)
    # Harmonic: median across time; percussive: median across frequency (librosa's HPSS).
    harm = median_filter_rows(spec, s.kernel_size)
    perc = median_filter_rows(spec.T, s.kernel_size).T
    # Columns of this chunk, with one frame more on the left for the onset flux of frame f0.
    left = f0 - fa - (1 if f0 > fa else 0)
    cols = slice(left, f1 - fa)
    inner = slice(f0 - fa - left, f1 - fa - left)  # this chunk's frames within ``cols``
    power_all = spec[:, cols] ** 2
    h2, p2 = harm[:, cols] ** 2, perc[:, cols] ** 2
    del harm, perc
    total = h2 + p2
    # Soft masks with power 2 and margin 1, as librosa; 0/0 gives 0 (split_zeros=False).
    with np.errstate(invalid="ignore", divide="ignore"):
        mask_h_all = np.where(total > 0, h2 / total, 0.0).astype(np.float32)
    mask_p_all = np.where(total > 0, 1.0 - mask_h_all, 0.0).astype(np.float32)
    del h2, p2, total
    power, mask_h, mask_p = power_all[:, inner], mask_h_all[:, inner], mask_p_all[:, inner]
    log_mel = _log_mel(filters, power_all)
    flux = np.maximum(0.0, np.diff(log_mel, axis=1)).mean(axis=0)
    # Onsets of the percussive part by band (kick, snare, hats): what the picture hits on.
    perc_mel = _log_mel(filters, power_all * mask_p_all * mask_p_all)
    rise = np.maximum(0.0, np.diff(perc_mel, axis=1))
    bands = np.stack([rise[lo:hi].mean(axis=0) for lo, hi in filters.bands]
                     + [rise.mean(axis=0)])  # and over all bands: every percussive onset
    if f0 == fa:  # the song's first frame has no predecessor
        flux = np.concatenate([[0.0], flux])
        bands = np.concatenate([np.zeros((len(bands), 1)), bands], axis=1)
    mfcc = scipy.fft.dct(log_mel[:, -(f1 - f0):], axis=0, type=2, norm="ortho")[:13]
    tuning_cols = [k for k in range(f0, f1) if k % _TUNING_STRIDE == 0
                   and k < _TUNING_SECONDS * s.sr / hop]
    n_points = (f1 - f0) * hop // ATTACK_STEP
    after, before = AttackEnergy.of_segment(seg, seg_start, f0 * hop, n_points)
    return {
        "full": (filters.envelope @ power).max(axis=0),
        "harmonic": (filters.envelope @ (power * mask_h * mask_h)).max(axis=0),
        "percussive": (filters.envelope @ (power * mask_p * mask_p)).max(axis=0),
        "rms": rms(spec[:, inner], frame_length=s.n_fft),
        "flux": flux.astype(np.float32),
        "band_flux": bands.astype(np.float32),
        "mfcc": mfcc.astype(np.float16),  # only for section boundaries
        "tuning": spec[:, [k - fa for k in tuning_cols]],
        "after": after,
        "before": before,
    }


def _log_mel(filters, power: np.ndarray) -> np.ndarray:
    """Log-mel (128 bands, dB) of power spectra, floored at a fixed level."""
    log_mel = 10.0 * np.log10(np.maximum(filters.mel128 @ power, 1e-10))
    return np.maximum(log_mel, filters.floor_db).astype(np.float32)


def _chroma_job(seg: np.ndarray, f0: int, f1: int, fa: int, s, tuning: float) -> np.ndarray:
    from ._chroma import chroma_cqt

    if len(seg) < s.hop_length:
        seg = np.pad(seg, (0, s.hop_length - len(seg)))
    chroma = chroma_cqt(seg, sr=s.sr, hop_length=s.hop_length, tuning=tuning)
    chroma = chroma[:, f0 - fa: f1 - fa]
    if chroma.shape[1] < f1 - f0:  # the last frame of a clip that ends mid-hop
        chroma = np.pad(chroma, ((0, 0), (0, f1 - f0 - chroma.shape[1])), mode="edge")
    return chroma.astype(np.float32)


def _estimate_tuning(columns: list[np.ndarray], s) -> float:
    from ._dsp import estimate_tuning

    spec = np.concatenate(columns, axis=1) if columns else np.zeros((s.n_fft // 2 + 1, 0))
    if not spec.size or not spec.any():
        return 0.0
    # pure tones and near-silence leave no peaks to measure: the tuning is then 0
    tuning = estimate_tuning(spec, sr=s.sr, n_fft=s.n_fft, bins_per_octave=36)
    return tuning if math.isfinite(tuning) else 0.0


def analyze_blocks(blocks: Iterable[np.ndarray], *, settings, filters,
                   progress: Callable[[int, int], None] | None = None) -> dict:
    """Stream mono blocks at ``settings.sr`` through the per-chunk jobs; returns the joined
    grid arrays plus ``n_samples``, ``tuning``, ``tempo_bpm``, ``beat_times``, ``onset``."""
    s = settings
    hop, chunk = s.hop_length, s.chunk_frames
    spec_margin = s.kernel_size // 2
    chroma_margin = int(math.ceil(_CHROMA_CONTEXT_S * s.sr / hop))
    buf = _Buffer()
    parts: dict[str, list[np.ndarray]] = {}
    tuning_columns: list[np.ndarray] = []
    chroma_parts: list[np.ndarray] = []
    spec_jobs: deque[Future] = deque()
    chroma_jobs: deque[Future] = deque()
    state = {"spec_next": 0, "chroma_next": 0, "tuning": None, "spec_done": 0, "jobs": 0}
    in_flight = max(1, s.threads) + 1

    def collect_spec(wait_all: bool = False) -> None:
        while spec_jobs and (wait_all or spec_jobs[0].done() or len(spec_jobs) > in_flight):
            part = spec_jobs.popleft().result()
            tuning_columns.append(part.pop("tuning"))
            for key, value in part.items():
                parts.setdefault(key, []).append(value)
            state["spec_done"] += part["full"].shape[0]
            tick()

    def collect_chroma(wait_all: bool = False) -> None:
        while chroma_jobs and (wait_all or chroma_jobs[0].done() or len(chroma_jobs) > in_flight):
            chroma_parts.append(chroma_jobs.popleft().result())
            tick()

    def tick() -> None:
        state["jobs"] += 1
        if progress is not None:
            progress(state["jobs"], state["jobs"] + len(spec_jobs) + len(chroma_jobs) + 1)

    def pump(pool: ThreadPoolExecutor, n_grid: int | None) -> None:
        # Spectral chunks whose audio (with context) has arrived.
        while True:
            f0 = state["spec_next"]
            if n_grid is not None and f0 >= n_grid:
                break
            f1 = f0 + chunk if n_grid is None else min(f0 + chunk, n_grid)
            fa = max(0, f0 - spec_margin)
            fb = f1 + spec_margin if n_grid is None else min(n_grid, f1 + spec_margin)
            a, b = fa * hop - s.n_fft // 2, (fb - 1) * hop + s.n_fft // 2
            if n_grid is None and buf.end < b:
                break
            spec_jobs.append(pool.submit(_spectral_job, buf.get(a, b), a, f0, f1, fa, s,
                                         filters))
            state["spec_next"] = f1
            collect_spec()
        # The chromagram waits for the tuning, estimated from the first minute and a half.
        if state["tuning"] is None:
            enough = state["spec_next"] * hop >= _TUNING_SECONDS * s.sr
            if enough or (n_grid is not None and state["spec_next"] >= n_grid):
                collect_spec(wait_all=True)
                state["tuning"] = _estimate_tuning(tuning_columns, s)
                tuning_columns.clear()
        if state["tuning"] is not None:
            while True:
                f0 = state["chroma_next"]
                if n_grid is not None and f0 >= n_grid:
                    break
                f1 = f0 + chunk if n_grid is None else min(f0 + chunk, n_grid)
                fa = max(0, f0 - chroma_margin)
                fb = f1 + chroma_margin if n_grid is None else min(n_grid, f1 + chroma_margin)
                if n_grid is None and buf.end < fb * hop:
                    break
                chroma_jobs.append(pool.submit(_chroma_job, buf.get(fa * hop, fb * hop), f0,
                                               f1, fa, s, state["tuning"]))
                state["chroma_next"] = f1
                collect_chroma()
        # Keep only what the next chunks still need.
        keep_spec = max(0, state["spec_next"] - spec_margin) * hop - s.n_fft // 2
        keep_chroma = max(0, state["chroma_next"] - chroma_margin) * hop
        buf.drop_before(min(keep_spec, keep_chroma))

    pool = ThreadPoolExecutor(max_workers=max(1, s.threads),
                              thread_name_prefix="sonicdreams-analyze")
    try:
        for block in blocks:
            buf.append(np.asarray(block, dtype=np.float32).reshape(-1))
            pump(pool, None)
        n_samples = buf.end
        pump(pool, 1 + n_samples // hop)
        collect_spec(wait_all=True)
        collect_chroma(wait_all=True)
    finally:
        # Interrupted (Ctrl-C): drop the queued chunks, wait only for the ones running.
        pool.shutdown(wait=True, cancel_futures=True)

    # Join key by key, dropping the pieces as we go: never two copies of everything.
    grid = {key: np.concatenate(parts.pop(key), axis=-1) for key in list(parts)}
    grid["chroma"] = np.concatenate(chroma_parts, axis=1)
    chroma_parts.clear()
    grid["n_samples"] = n_samples
    grid["tuning"] = float(state["tuning"] or 0.0)
    silent = not (n_samples and float(grid["rms"].max()) >= SILENCE_RMS)
    grid["silent"] = silent
    # librosa's onset strength: the flux shifted by lag + n_fft / (2 hop) frames.
    flux = np.zeros_like(grid["flux"]) if silent else grid["flux"]
    pad = 1 + s.n_fft // (2 * hop) - 1  # flux[t] is already the change into frame t
    onset = np.concatenate([np.zeros(pad, np.float32), flux])[: len(flux)]
    tempo, beats, lag_s = beats_and_tempo(onset, grid["after"], grid["before"], sr=s.sr,
                                          hop_length=hop)
    # The onset envelope trails the attacks by about the lag the beats moved by: shift it
    # by whole grid frames so its peaks sit on the attacks and the beats.
    shift = int(round(-lag_s * s.sr / hop))
    grid["onset"] = shift_frames(onset, shift)
    bands = np.zeros_like(grid["band_flux"]) if silent else grid["band_flux"]
    bands = np.concatenate([np.zeros((len(bands), pad), np.float32), bands],
                           axis=1)[:, : len(flux)]
    grid["onset_bands"] = np.stack([shift_frames(band, shift) for band in bands])
    grid["tempo_bpm"], grid["beat_times"] = tempo, beats
    return grid
