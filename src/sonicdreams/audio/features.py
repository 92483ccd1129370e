"""Music features on a fine analysis grid, and their sampling at exact video frame times.

:func:`analyze_audio` computes everything once per file on librosa's grid (22 050 Hz, hop 512,
about 43 frames per second): loudness envelopes of the full mix and of its percussive and
harmonic parts (Lucid Sonic Dreams' pulse/motion signal), onset strength, RMS, a chromagram,
tempo and beats, and section boundaries. The work runs in chunks of frames, so memory does not
grow with the STFT of the whole song, and the chunks run on two threads.

:func:`sample_at_frames` then reads those curves at the video's frame times ``i / fps``, so any
frame rate works and nothing leads or lags the audio.
"""

from __future__ import annotations

import logging
import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import numpy.typing as npt

from .decode import Audio

__all__ = [
    "AnalysisSettings",
    "Analysis",
    "analyze_audio",
    "sample_at_frames",
    "envelope_source",
    "pitch_dominance",
]

log = logging.getLogger(__name__)

EnvelopeSource = Literal["full", "percussive", "harmonic"]

# Below this RMS (-80 dBFS) a clip counts as silent: its envelopes are zeros, not amplified noise.
_SILENCE_RMS = 1e-4


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """How the analysis grid is computed; part of the cache key."""

    sr: int = 22050
    hop_length: int = 512
    n_fft: int = 2048
    n_mels: int = 512
    """Mel bands of the loudness envelope (Lucid Sonic Dreams used the latent size, 512)."""
    kernel_size: int = 31
    """Median filter width of the harmonic/percussive separation, as librosa's default."""
    chunk_frames: int = 2048
    threads: int = 2

    def cache_key(self) -> dict[str, int]:
        # chunking and threads do not change results
        return {"sr": self.sr, "hop_length": self.hop_length, "n_fft": self.n_fft,
                "n_mels": self.n_mels, "kernel_size": self.kernel_size}


@dataclass(frozen=True, slots=True)
class Analysis:
    """Features of one audio clip on the analysis grid: frame ``k`` is at ``k * hop_length / sr``.

    Per-frame arrays have ``n`` columns. Envelopes, onset strength and chroma are in [0, 1].
    Times are seconds from the start of the clip.
    """

    sr: int
    hop_length: int
    duration_s: float
    full: npt.NDArray[np.float32]
    """Loudness envelope of the full mix, [shape=(n,)]."""
    percussive: npt.NDArray[np.float32]
    harmonic: npt.NDArray[np.float32]
    onset: npt.NDArray[np.float32]
    rms: npt.NDArray[np.float32]
    """Root-mean-square amplitude (linear, 1.0 = full-scale sine peak)."""
    chroma: npt.NDArray[np.float32]
    """[shape=(12, n)], rows C, C#, … B; each frame scaled to max 1, silence is 0."""
    tuning: float
    tempo_bpm: float
    beat_times: npt.NDArray[np.float64]
    section_times: npt.NDArray[np.float64]

    @property
    def frame_rate(self) -> float:
        return self.sr / self.hop_length

    @property
    def n(self) -> int:
        return int(self.full.shape[0])

    @property
    def times(self) -> npt.NDArray[np.float64]:
        return np.arange(self.n) * (self.hop_length / self.sr)

    def envelope(self, source: EnvelopeSource) -> npt.NDArray[np.float32]:
        return getattr(self, source)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every field as a numpy array (for ``np.savez``)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays) -> Analysis:
        """Inverse of :meth:`to_arrays`; raises ``KeyError``/``ValueError`` on a bad entry."""
        kwargs = {}
        for f in fields(cls):
            value = arrays[f.name]
            if f.name in ("sr", "hop_length"):
                kwargs[f.name] = int(value)
            elif f.name in ("duration_s", "tuning", "tempo_bpm"):
                kwargs[f.name] = float(value)
            else:
                kwargs[f.name] = np.asarray(value)
        result = cls(**kwargs)
        n = result.n
        for name in ("percussive", "harmonic", "onset", "rms"):
            if getattr(result, name).shape != (n,):
                raise ValueError(f"{name} has shape {getattr(result, name).shape}, expected ({n},)")
        if result.chroma.shape != (12, n):
            raise ValueError(f"chroma has shape {result.chroma.shape}, expected (12, {n})")
        return result


def envelope_source(percussive: bool, harmonic: bool) -> EnvelopeSource:
    """Lucid Sonic Dreams' rule: both flags equal → full mix, else the part whose flag is set."""
    if bool(percussive) == bool(harmonic):
        return "full"
    return "harmonic" if harmonic else "percussive"


def pitch_dominance(chroma: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """Pitch classes ordered from most to least dominant over the clip.

    Each frame is scaled to sum 1 (silent frames count for nothing), then summed over time,
    as in Lucid Sonic Dreams. Ties keep pitch order (C first).
    """
    sums = chroma.sum(axis=0, keepdims=True)
    shares = np.divide(chroma, sums, out=np.zeros_like(chroma), where=sums > 0)
    totals = shares.sum(axis=1)
    return np.argsort(-totals, kind="stable").astype(np.int64)


# --------------------------------------------------------------------------------------------
# Sampling at video frame times


def sample_at_frames(
    values: npt.NDArray[np.floating],
    *,
    grid_rate: float,
    frame_times: npt.NDArray[np.float64],
    fps: float,
    how: Literal["max", "mean", "linear"],
) -> npt.NDArray[np.float32]:
    """Read a grid curve ``[shape=(..., n)]`` at video frame times.

    Each video frame owns the interval ``[t - 0.5/fps, t + 0.5/fps)``. ``how="max"`` keeps the
    highest grid value in that interval, so a short peak shows on the frame nearest to it even
    at low frame rates; ``"mean"`` averages the interval; both fall back to linear interpolation
    at ``t`` when the interval holds no grid point (frame rates above the grid rate).
    """
    values = np.asarray(values, dtype=np.float32)
    n = values.shape[-1]
    n_frames = len(frame_times)
    out_shape = values.shape[:-1] + (n_frames,)
    if n == 0 or n_frames == 0:
        return np.zeros(out_shape, dtype=np.float32)
    grid_pos = frame_times * grid_rate  # position of each frame time in grid frames
    flat = values.reshape(-1, n)
    interp = np.empty((flat.shape[0], n_frames), dtype=np.float32)
    grid_idx = np.arange(n, dtype=np.float64)
    for row in range(flat.shape[0]):
        interp[row] = np.interp(grid_pos, grid_idx, flat[row])
    if how == "linear":
        return interp.reshape(out_shape)
    half = 0.5 * grid_rate / fps
    edges = np.concatenate([grid_pos - half, [grid_pos[-1] + half]])
    edges = np.clip(np.ceil(edges - 1e-9), 0, n).astype(np.int64)  # first grid index >= edge
    lo, hi = edges[:-1], edges[1:]
    has = hi > lo
    if not has.any():
        return interp.reshape(out_shape)
    starts = lo[has]
    cut = flat[:, : edges[-1]]
    if how == "max":
        pooled = np.maximum.reduceat(cut, starts, axis=1)
        result = interp.copy()
        result[:, has] = np.maximum(pooled, interp[:, has])
    elif how == "mean":
        pooled = np.add.reduceat(cut, starts, axis=1) / (hi - lo)[has]
        result = interp.copy()
        result[:, has] = pooled
    else:
        raise ValueError(f"how={how!r} must be 'max', 'mean' or 'linear'")
    return result.reshape(out_shape)


# --------------------------------------------------------------------------------------------
# Analysis on the grid


def _normalize(x: np.ndarray, *, silent: bool) -> npt.NDArray[np.float32]:
    """Min–max to [0, 1]; a flat or silent curve becomes zeros (never NaN)."""
    x = np.asarray(x, dtype=np.float64)
    if silent or x.size == 0:
        return np.zeros(x.shape, dtype=np.float32)
    lo, hi = float(x.min()), float(x.max())
    if not hi - lo > 1e-12 * max(abs(hi), 1e-30):
        return np.zeros(x.shape, dtype=np.float32)
    return ((x - lo) / (hi - lo)).astype(np.float32)


class _Filters:
    """Mel filter banks as sparse matrices (each FFT bin feeds at most two bands)."""

    def __init__(self, s: AnalysisSettings) -> None:
        import librosa
        from scipy import sparse

        with warnings.catch_warnings():
            # 512 bands on 1025 bins leave some low bands empty; only the max matters here.
            warnings.simplefilter("ignore", UserWarning)
            env = librosa.filters.mel(sr=s.sr, n_fft=s.n_fft, n_mels=s.n_mels)
        self.envelope = sparse.csr_matrix(env.astype(np.float32))
        self.mel128 = sparse.csr_matrix(
            librosa.filters.mel(sr=s.sr, n_fft=s.n_fft, n_mels=128).astype(np.float32)
        )


def _spectral_chunk(y: np.ndarray, n_grid: int, f0: int, f1: int, s: AnalysisSettings,
                    filters: _Filters, tuning_stride: int) -> dict[str, np.ndarray]:
    """STFT-domain features of grid frames ``[f0, f1)`` (HPSS needs a margin of frames)."""
    import librosa

    from ._median import median_filter_rows

    margin = s.kernel_size // 2
    fa, fb = max(0, f0 - margin), min(n_grid, f1 + margin)
    # Centred framing: frame k covers samples [k*hop - n_fft/2, k*hop + n_fft/2).
    a = fa * s.hop_length - s.n_fft // 2
    b = (fb - 1) * s.hop_length + s.n_fft // 2
    seg = np.zeros(b - a, dtype=np.float32)
    src_a, src_b = max(a, 0), min(b, len(y))
    if src_b > src_a:
        seg[src_a - a: src_b - a] = y[src_a:src_b]
    spec = np.abs(librosa.stft(seg, n_fft=s.n_fft, hop_length=s.hop_length, center=False))
    # Harmonic: median across time; percussive: median across frequency (librosa.decompose.hpss).
    harm = median_filter_rows(spec, s.kernel_size)
    perc = median_filter_rows(spec.T, s.kernel_size).T
    inner = slice(f0 - fa, f0 - fa + (f1 - f0))
    spec, harm, perc = spec[:, inner], harm[:, inner], perc[:, inner]
    power = spec * spec
    h2, p2 = harm * harm, perc * perc
    total = h2 + p2
    # Soft masks with power 2 and margin 1, as librosa; 0/0 gives 0 (split_zeros=False).
    with np.errstate(invalid="ignore", divide="ignore"):
        mask_h = np.where(total > 0, h2 / total, 0.0).astype(np.float32)
    mask_p = np.where(total > 0, 1.0 - mask_h, 0.0).astype(np.float32)
    out = {
        "full": (filters.envelope @ power).max(axis=0),
        "harmonic": (filters.envelope @ (power * mask_h * mask_h)).max(axis=0),
        "percussive": (filters.envelope @ (power * mask_p * mask_p)).max(axis=0),
        "mel128": filters.mel128 @ power,
        "rms": librosa.feature.rms(S=spec, frame_length=s.n_fft)[0],
    }
    first = -(-f0 // tuning_stride) * tuning_stride
    out["tuning_spec"] = spec[:, first - f0:: tuning_stride]
    return out


def _chroma_chunk(y: np.ndarray, n_grid: int, f0: int, f1: int, s: AnalysisSettings,
                  tuning: float) -> np.ndarray:
    import librosa

    # The lowest CQT filters (C1, 36 bins per octave) span about 1.6 s; 2 s of context is safe.
    margin = int(math.ceil(2.0 * s.sr / s.hop_length))
    fa, fb = max(0, f0 - margin), min(n_grid, f1 + margin)
    seg = y[fa * s.hop_length: fb * s.hop_length]
    if len(seg) < s.hop_length:
        seg = np.pad(seg, (0, s.hop_length - len(seg)))
    with warnings.catch_warnings():
        # Clips shorter than the lowest CQT filter make librosa warn; the result is still right.
        warnings.filterwarnings("ignore", message="n_fft=.*too large", category=UserWarning)
        chroma = librosa.feature.chroma_cqt(y=seg, sr=s.sr, hop_length=s.hop_length,
                                            tuning=tuning)
    chroma = chroma[:, f0 - fa: f1 - fa]
    if chroma.shape[1] < f1 - f0:  # the last frame of a clip that ends mid-hop
        chroma = np.pad(chroma, ((0, 0), (0, f1 - f0 - chroma.shape[1])), mode="edge")
    return chroma


def analyze_audio(
    audio: Audio,
    *,
    settings: AnalysisSettings | None = None,
    progress=None,
) -> Analysis:
    """Compute every feature of a clip on the analysis grid.

    Parameters
    ----------
    audio : Audio
        Any rate and channel count; it is mixed to mono and resampled to ``settings.sr``
        when needed (decode with ``sr=settings.sr, mono=True`` to skip that step).
    settings : AnalysisSettings
        Grid and HPSS parameters.
    progress : callable(done, total) or None
        Called after each chunk.
    """
    import librosa

    s = settings or AnalysisSettings()
    y = audio.y
    if audio.sr != s.sr:
        y = librosa.resample(y, orig_sr=audio.sr, target_sr=s.sr).astype(np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    n_grid = 1 + len(y) // s.hop_length
    filters = _Filters(s)
    bounds = [(f0, min(f0 + s.chunk_frames, n_grid)) for f0 in range(0, n_grid, s.chunk_frames)]
    tuning_stride = max(1, n_grid // 2000)  # ~2000 frames are plenty to estimate tuning
    total_steps = 2 * len(bounds) + 1
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total_steps)

    with ThreadPoolExecutor(max_workers=max(1, s.threads)) as pool:
        spectral = []
        for part in pool.map(lambda fb: _spectral_chunk(y, n_grid, *fb, s, filters, tuning_stride),
                             bounds):
            spectral.append(part)
            tick()

        joined = {key: np.concatenate([part[key] for part in spectral], axis=-1)
                  for key in spectral[0]}
        del spectral
        full, perc, harm = joined["full"], joined["percussive"], joined["harmonic"]
        rms, mel128, tuning_spec = joined["rms"], joined["mel128"], joined.pop("tuning_spec")
        silent = not (len(y) and float(rms.max()) >= _SILENCE_RMS)
        if silent or not tuning_spec.any():
            tuning = 0.0
        else:
            with warnings.catch_warnings():
                # pure tones and near-silence leave no peaks to measure: tuning 0 is right
                warnings.simplefilter("ignore", UserWarning)
                tuning = float(librosa.estimate_tuning(S=tuning_spec, sr=s.sr, n_fft=s.n_fft,
                                                       bins_per_octave=36))
            if not math.isfinite(tuning):
                tuning = 0.0
        del tuning_spec
        chroma_parts = []
        for part in pool.map(lambda fb: _chroma_chunk(y, n_grid, *fb, s, tuning), bounds):
            chroma_parts.append(part)
            tick()
    chroma = np.concatenate(chroma_parts, axis=1).astype(np.float32)
    if silent:
        chroma[:] = 0.0

    log_mel = librosa.power_to_db(mel128, ref=1.0, top_db=80.0)
    del mel128
    onset_raw = librosa.onset.onset_strength(S=log_mel, sr=s.sr, hop_length=s.hop_length)
    if silent:
        onset_raw[:] = 0.0
    tempo, beats, lag_s = _beats(onset_raw, y, s)
    # librosa's onset envelope trails the attacks (by about the lag the beats were moved by):
    # shift it by whole grid frames so its peaks sit on the attacks and the beats.
    onset_raw = _shift_frames(onset_raw, int(round(-lag_s * s.sr / s.hop_length)))
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=13)
    del log_mel
    from .sections import section_boundaries

    sections = section_boundaries(mfcc, chroma, frame_rate=s.sr / s.hop_length, beat_times=beats)
    tick()
    peak_onset = float(onset_raw.max()) if onset_raw.size else 0.0
    onset = (onset_raw / peak_onset if peak_onset > 0 else np.zeros_like(onset_raw))
    return Analysis(
        sr=s.sr,
        hop_length=s.hop_length,
        duration_s=audio.duration_s,
        full=_normalize(full, silent=silent),
        percussive=_normalize(perc, silent=silent),
        harmonic=_normalize(harm, silent=silent),
        onset=onset.astype(np.float32),
        rms=rms.astype(np.float32),
        chroma=chroma,
        tuning=tuning,
        tempo_bpm=tempo,
        beat_times=beats,
        section_times=sections,
    )


def _shift_frames(x: np.ndarray, k: int) -> np.ndarray:
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


def _beats(onset: np.ndarray, y: np.ndarray,
           s: AnalysisSettings) -> tuple[float, npt.NDArray[np.float64], float]:
    """Global tempo (BPM), beat times (seconds) and the lag of the onset envelope (seconds,
    negative: the attacks come before its peaks).

    librosa's dynamic-programming tracker finds the beats on the grid; each beat then moves to
    the attack it stands for (:func:`_attack_times`), because grid beats are quantised to
    23 ms and librosa's onset envelope peaks 15–50 ms after the attack. The tempo is the
    median beat period (or, with few beats, the tempogram peak refined between lags).

    The tempogram is averaged over chunks, so an hour-long mix does not build a
    384 x n matrix at once.
    """
    import librosa

    if onset.size < 2 or not onset.any():
        return 0.0, np.zeros(0), 0.0
    win = 384
    chunk = 16384
    acc = None
    weight = 0
    for a in range(0, len(onset), chunk):
        part = onset[max(0, a - win // 2): a + chunk + win // 2]
        tg = librosa.feature.tempogram(onset_envelope=part, sr=s.sr, hop_length=s.hop_length,
                                       win_length=win)
        inner = tg[:, min(a, win // 2): min(a, win // 2) + min(chunk, len(onset) - a)]
        acc = inner.sum(axis=1) if acc is None else acc + inner.sum(axis=1)
        weight += inner.shape[1]
    mean_tg = acc / max(weight, 1)
    bpm = _tempo(mean_tg, s)
    if not bpm > 0:
        return 0.0, np.zeros(0), 0.0
    _, frames = librosa.beat.beat_track(onset_envelope=onset, sr=s.sr, hop_length=s.hop_length,
                                        bpm=bpm, units="frames")
    beats, lag = _attack_times(y, s.sr,
                               np.asarray(frames, dtype=np.float64) * s.hop_length / s.sr)
    if len(beats) >= 4:
        period = float(np.median(np.diff(beats)))
        if period > 0:
            bpm = 60.0 / period
    return bpm, beats, lag


def _tempo(mean_tg: np.ndarray, s: AnalysisSettings, *, start_bpm: float = 120.0,
           std_bpm: float = 1.0, max_tempo: float = 320.0) -> float:
    """``librosa.feature.tempo`` on a mean tempogram, refined between lags.

    librosa picks a whole lag (tempo bins 117.5, 123.0… BPM near 120); a parabola through
    the peak and its neighbours gives the tempo between bins.
    """
    import librosa

    n_lags = mean_tg.shape[0]
    bpms = librosa.tempo_frequencies(n_lags, hop_length=s.hop_length, sr=s.sr)
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
    return 60.0 * s.sr / (s.hop_length * (lag + shift))


def _attack_times(y: np.ndarray, sr: int, times: np.ndarray, *, before_s: float = 0.06,
                  after_s: float = 0.025,
                  spread_s: float = 0.025) -> tuple[npt.NDArray[np.float64], float]:
    """Move beat times to the attacks they stand for; returns them and the median shift.

    A first pass looks for an attack within ``[t - before_s, t + after_s]`` of every beat and
    takes the median shift as the song's lag (librosa's beats trail attacks by 15 ms for a
    click, up to 50 ms for softer sounds). A second pass looks within ``spread_s`` of
    ``t + lag``, so every beat moves by about the same amount and no beat jumps to a
    neighbouring note. Beats with no clear attack there move by the lag.
    """
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0 or len(y) == 0:
        return times.copy(), 0.0
    x = np.diff(np.asarray(y, dtype=np.float64), prepend=float(y[0]))
    found, ok = _find_attacks(x, sr, times, -before_s, after_s)
    if not ok.any():
        return times.copy(), 0.0
    lag = float(np.median(found[ok] - times[ok]))
    found, ok = _find_attacks(x, sr, times, lag - spread_s, lag + spread_s)
    out = np.where(ok, found, times + lag)
    return np.sort(np.clip(out, 0.0, None)), lag


def _find_attacks(x: np.ndarray, sr: int, times: np.ndarray, lo_s: float, hi_s: float, *,
                  half_window: int = 256,
                  min_ratio: float = 2.0) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """The attack in ``[t + lo_s, t + hi_s]`` of each time ``t``, in the pre-emphasised signal
    ``x`` (first difference, so transients count and bass hum does not).

    At each sample the energy of the next ``half_window`` samples and of the previous ones are
    compared, both weighted by a half Hann window that is 1 at the sample; the attack is where
    *after - before* peaks, which for a click is the click's first sample. Returns the times and
    whether a clear attack (after >= ``min_ratio`` x before) was there.
    """
    g = np.hanning(2 * half_window + 1)[half_window:-1]  # 1 at lag 0, falling to ~0
    first, last = int(round(lo_s * sr)), int(round(hi_s * sr))
    span = last - first + 1
    times = np.asarray(times, dtype=np.float64)
    out = times.copy()
    ok = np.zeros(len(out), dtype=bool)
    seg = np.zeros(span + 2 * half_window)
    for i, t in enumerate(times):
        a = int(round(t * sr)) + first - half_window  # seg covers [a, a + len(seg))
        lo, hi = max(a, 0), min(a + len(seg), len(x))
        if hi <= lo:
            continue
        seg[:] = 0.0
        seg[lo - a: hi - a] = x[lo:hi]
        p = seg * seg
        # after[j] = sum_k p[j + k] g[k]; before[j] = sum_k p[j - 1 - k] g[k]
        after = np.correlate(p, g, mode="valid")[half_window: half_window + span]
        before = np.correlate(p[::-1], g, mode="valid")[::-1][:span]
        rise = after - before
        j = int(np.argmax(rise))
        if rise[j] > 0 and after[j] >= min_ratio * before[j]:
            out[i] = (a + half_window + j) / sr
            ok[i] = True
    return out, ok
