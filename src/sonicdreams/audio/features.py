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
from dataclasses import dataclass, fields, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from .decode import Audio

__all__ = [
    "AnalysisSettings",
    "Analysis",
    "analyze_audio",
    "sample_at_frames",
    "analyze_stream",
    "envelope_source",
    "pitch_dominance",
]

log = logging.getLogger(__name__)

EnvelopeSource = Literal["full", "percussive", "harmonic"]

_FLOOR_DB = -90.0  # log-mel floor, dB below a full-scale sine
BAND_EDGES_HZ = (150.0, 4000.0)
"""Edges of the onset bands: low (kicks, bass), mid (snares, voices), high (hats, cymbals)."""


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
    chunk_frames: int = 1024
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
    onset_bands: npt.NDArray[np.float32]
    """Onset strength of the percussive part in the low, mid and high bands (see
    ``BAND_EDGES_HZ``) and over all bands, [shape=(4, n)], each scaled to max 1."""
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
        if result.onset_bands.shape != (4, n):
            raise ValueError(f"onset_bands has shape {result.onset_bands.shape}, "
                             f"expected (4, {n})")
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


def _peak_scaled(x: np.ndarray) -> npt.NDArray[np.float32]:
    peak = float(x.max()) if x.size else 0.0
    return (x / peak if peak > 0 else np.zeros_like(x)).astype(np.float32)


class _Filters:
    """Mel filter banks as sparse matrices (each FFT bin feeds at most two bands)."""

    def __init__(self, s: AnalysisSettings) -> None:
        from scipy import sparse

        from ._dsp import mel_filters, mel_frequencies

        # 512 bands on 1025 bins leave some low bands empty; only the max matters here.
        env = mel_filters(s.sr, n_fft=s.n_fft, n_mels=s.n_mels)
        self.envelope = sparse.csr_matrix(env.astype(np.float32))
        mel128 = mel_filters(s.sr, n_fft=s.n_fft, n_mels=128).astype(np.float32)
        self.mel128 = sparse.csr_matrix(mel128)
        # Mel bands of the kick (< 150 Hz), the snare and voices (150 Hz - 4 kHz) and hats.
        centres = mel_frequencies(130, fmax=s.sr / 2)[1:-1]
        edges = np.searchsorted(centres, BAND_EDGES_HZ)
        self.bands = tuple(zip((0, *edges), (*edges, len(centres)), strict=True))
        # The log-mel floor, relative to a full-scale 1 kHz sine (librosa floors at the
        # song's own maximum - 80 dB; a fixed reference lets the song stream in chunks).
        t = np.arange(s.n_fft) / s.sr
        sine = np.hanning(s.n_fft + 1)[:-1] * np.sin(2 * np.pi * 1000.0 * t)
        peak = float((mel128 @ np.abs(np.fft.rfft(sine)) ** 2).max())
        self.floor_db = 10.0 * np.log10(peak) + _FLOOR_DB


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

    See Also
    --------
    analyze_stream : the same for a file, decoded and analysed in bounded memory.
    """
    from ._dsp import resample

    s = settings or AnalysisSettings()
    y = audio.y
    if audio.sr != s.sr:
        y = resample(y, orig_sr=audio.sr, target_sr=s.sr).astype(np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    step = 1 << 16
    blocks = (y[i:i + step] for i in range(0, max(len(y), 1), step))
    return _analysis(blocks, s, audio.duration_s, progress)


def analyze_stream(stream, *, settings: AnalysisSettings | None = None,
                   progress=None) -> Analysis:
    """Analyse an :class:`~sonicdreams.audio.decode.AudioStream` (mono, at ``settings.sr``)
    while it decodes; only a few seconds of audio are in memory at any time."""
    s = settings or AnalysisSettings()
    if stream.sr != s.sr or not stream.mono:
        raise ValueError("the stream must be mono at the analysis rate")
    blocks = (block[0] for block in stream)
    analysis = _analysis(blocks, s, None, progress)
    return replace(analysis, duration_s=stream.duration_s)


def _analysis(blocks, s: AnalysisSettings, duration_s: float | None, progress) -> Analysis:
    from ._grid import analyze_blocks
    from .sections import section_boundaries

    grid = analyze_blocks(blocks, settings=s, filters=_Filters(s), progress=progress)
    silent = grid["silent"]
    chroma = grid["chroma"]
    if silent:
        chroma = np.zeros_like(chroma)
    else:  # digital silence inside a song: the CQT's rounding noise is not a pitch
        from ._grid import SILENCE_RMS

        chroma[:, grid["rms"][: chroma.shape[1]] < SILENCE_RMS] = 0.0
    beats = grid["beat_times"]
    sections = section_boundaries(grid["mfcc"], chroma, frame_rate=s.sr / s.hop_length,
                                  beat_times=beats)
    onset = grid["onset"]
    peak_onset = float(onset.max()) if onset.size else 0.0
    onset = onset / peak_onset if peak_onset > 0 else np.zeros_like(onset)
    return Analysis(
        sr=s.sr,
        hop_length=s.hop_length,
        duration_s=grid["n_samples"] / s.sr if duration_s is None else duration_s,
        full=_normalize(grid["full"], silent=silent),
        percussive=_normalize(grid["percussive"], silent=silent),
        harmonic=_normalize(grid["harmonic"], silent=silent),
        onset=onset.astype(np.float32),
        rms=grid["rms"].astype(np.float32),
        chroma=chroma,
        onset_bands=np.stack([_peak_scaled(band) for band in grid["onset_bands"]]),
        tuning=grid["tuning"],
        tempo_bpm=grid["tempo_bpm"],
        beat_times=beats,
        section_times=sections,
    )
