"""The spectral building blocks of the analysis, computed as librosa computes them.

``import librosa`` compiles numba gufuncs the analysis never calls (peak picking, local
extrema, zero crossings, parabolic interpolation): about 17 s on a fresh install and 2 s on
every later run, the largest part of a first ``sonicdreams demo``. These functions give
librosa's numbers (tested against librosa 0.11 in ``tests/test_dsp.py``) with numpy, scipy
and soxr (librosa's own resampler), so a render never imports librosa. The constant-Q
chromagram is in :mod:`._chroma`.

librosa is the numerical reference: where it rounds to float32 or computes in float64, so do
these, to stay within float noise of it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "estimate_tuning",
    "frames_rfft",
    "hann",
    "local_maxima",
    "mel_filters",
    "mel_frequencies",
    "resample",
    "rms",
    "stft_magnitude",
    "tempo_frequencies",
    "tempogram",
]

_STFT_BLOCK = 128  # frames per FFT call: 2 MB of windowed frames, not the whole chunk's

# Slaney's mel scale: linear (200/3 Hz per mel) below 1 kHz, logarithmic above.
_HZ_PER_MEL = 200.0 / 3
_LOG_START_HZ = 1000.0
_LOG_START_MEL = _LOG_START_HZ / _HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def hann(n: int) -> npt.NDArray[np.float64]:
    """The periodic Hann window of ``n`` samples (librosa's default, scipy's ``'hann'``)."""
    from scipy.signal import get_window

    return get_window("hann", n, fftbins=True)


def frames_rfft(y: np.ndarray, *, n_fft: int, hop_length: int,
                window: np.ndarray | None = None, center: bool = False,
                order: Literal["C", "F"] = "F") -> npt.NDArray[np.complex64]:
    """``librosa.stft`` of a 1-d float signal (zero padding when ``center``; ``window=None``
    is a rectangular window): complex64, [shape=(1 + n_fft // 2, n_frames)], in Fortran
    order like librosa's (so that sums over the bins round alike) unless ``order='C'``.

    Frames are transformed in float64 blocks and rounded once to complex64, as librosa does.
    """
    import scipy.fft

    y = np.asarray(y)
    if center:
        y = np.pad(y, n_fft // 2)
    if len(y) < n_fft:
        raise ValueError(f"n_fft={n_fft} is longer than the signal ({len(y)} samples)")
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop_length]
    out = np.empty((1 + n_fft // 2, len(frames)), dtype=np.complex64, order=order)
    for a in range(0, len(frames), _STFT_BLOCK):
        block = frames[a:a + _STFT_BLOCK].astype(np.float64)
        if window is not None:
            block *= window
        out[:, a:a + len(block)] = scipy.fft.rfft(block, axis=1).T
    return out


def stft_magnitude(y: np.ndarray, *, n_fft: int = 2048, hop_length: int = 512,
                   ) -> npt.NDArray[np.float32]:
    """``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length, center=False))`` of a
    float32 signal: frame ``t`` starts at sample ``t * hop_length``; Hann window."""
    spec = frames_rfft(y, n_fft=n_fft, hop_length=hop_length, window=hann(n_fft))
    return np.abs(spec)


def rms(S: np.ndarray, *, frame_length: int = 2048) -> npt.NDArray[np.floating]:
    """``librosa.feature.rms(S=S, frame_length=frame_length)[0]``: the RMS of each frame
    of a magnitude spectrogram, by Parseval (DC and Nyquist bins count once, not twice)."""
    if S.shape[-2] != frame_length // 2 + 1:
        raise ValueError(f"S has {S.shape[-2]} bins; frame_length={frame_length} needs "
                         f"{frame_length // 2 + 1}")
    power = np.square(S)
    power[0] *= 0.5
    if frame_length % 2 == 0:
        power[-1] *= 0.5
    return np.sqrt(2 * power.sum(axis=0) / frame_length**2)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_part = _LOG_START_MEL + np.log(hz / _LOG_START_HZ) / _LOG_STEP
    return np.where(hz >= _LOG_START_HZ, log_part, hz / _HZ_PER_MEL)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    log_part = _LOG_START_HZ * np.exp(_LOG_STEP * (mels - _LOG_START_MEL))
    return np.where(mels >= _LOG_START_MEL, log_part, _HZ_PER_MEL * mels)


def mel_frequencies(n_mels: int = 128, *, fmin: float = 0.0, fmax: float = 11025.0,
                    ) -> npt.NDArray[np.float64]:
    """``librosa.mel_frequencies``: ``n_mels`` frequencies (Hz) evenly spaced on Slaney's mel
    scale from ``fmin`` to ``fmax``."""
    lo, hi = _hz_to_mel(np.array([fmin, fmax], dtype=np.float64))
    return _mel_to_hz(np.linspace(lo, hi, n_mels))


def mel_filters(sr: float, *, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
                fmax: float | None = None) -> npt.NDArray[np.float32]:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``: triangular filters on
    Slaney's mel scale, each scaled to unit area ('slaney' norm), [shape=(n_mels, 1 + n_fft // 2)].

    Bands narrower than an FFT bin come out empty (librosa warns about them; we do not).
    """
    fmax = float(sr) / 2 if fmax is None else fmax
    bin_hz = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    edges = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)
    width = np.diff(edges)
    offset = edges[:, None] - bin_hz[None, :]  # band edge minus bin frequency
    rising = -offset[:-2] / width[:-1, None]
    falling = offset[2:] / width[1:, None]
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    area = 2.0 / (edges[2:] - edges[:-2])
    # librosa stores the triangles as float32 before scaling them: round where it does
    return (triangles.astype(np.float32) * area[:, None]).astype(np.float32)


def tempo_frequencies(n_bins: int, *, hop_length: int = 512, sr: float = 22050,
                      ) -> npt.NDArray[np.float64]:
    """``librosa.tempo_frequencies``: the tempo (BPM) of each tempogram lag; lag 0 is ``inf``."""
    bpm = np.empty(int(n_bins), dtype=np.float64)
    bpm[:1] = np.inf
    bpm[1:] = 60.0 * sr / (hop_length * np.arange(1.0, n_bins))
    return bpm


def tempogram(onset_envelope: np.ndarray, *, win_length: int = 384,
              ) -> npt.NDArray[np.float64]:
    """``librosa.feature.tempogram(onset_envelope=..., win_length=...)`` with its defaults:
    the autocorrelation of the onset envelope in a Hann window centred on each frame (the
    envelope ramps linearly to 0 beyond its ends), each frame scaled to max 1,
    [shape=(win_length, n)]."""
    import scipy.fft

    onset = np.asarray(onset_envelope)
    n = onset.shape[-1]
    half = win_length // 2
    padded = np.pad(onset, half, mode="linear_ramp", end_values=0)
    frames = np.lib.stride_tricks.sliding_window_view(padded, win_length)[:n]
    windowed = frames * hann(win_length)
    # Autocorrelation by FFT, zero-padded so that it does not wrap around.
    n_pad = scipy.fft.next_fast_len(2 * win_length - 1, real=True)
    spectrum = scipy.fft.rfft(windowed, n=n_pad, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    ac = scipy.fft.irfft(power, n=n_pad, axis=1)[:, :win_length]
    peak = np.abs(ac).max(axis=1, keepdims=True)
    peak[peak < np.finfo(ac.dtype).tiny] = 1.0  # silent frames stay zeros
    return (ac / peak).T


def resample(y: np.ndarray, *, orig_sr: float, target_sr: float, scale: bool = False,
             ) -> np.ndarray:
    """``librosa.resample(y, orig_sr=..., target_sr=..., scale=...)`` (``res_type='soxr_hq'``,
    ``fix=True``): soxr's high-quality resampler along the last axis, cut or zero-padded to
    ``ceil(n * target_sr / orig_sr)`` samples; ``scale`` divides by ``sqrt(ratio)``."""
    import soxr

    if orig_sr == target_sr:
        return y
    ratio = float(target_sr) / orig_sr
    n_out = int(np.ceil(y.shape[-1] * ratio))
    flat = y.reshape(-1, y.shape[-1])
    out = np.zeros((len(flat), n_out), dtype=y.dtype)
    for row, channel in zip(out, flat, strict=True):  # soxr takes one channel at a time here
        done = soxr.resample(channel, orig_sr, target_sr, quality="soxr_hq")[:n_out]
        row[:len(done)] = done
    out = out.reshape(y.shape[:-1] + (n_out,))
    if scale:
        out /= np.sqrt(ratio)
    return out


def _parabolic_shift(S: np.ndarray) -> np.ndarray:
    """Offset (in bins, within ±1) of the vertex of the parabola through each bin and its two
    neighbours, 0 at the edges and where the vertex lies further out (librosa's piptrack)."""
    shift = np.zeros_like(S)
    lo, mid, hi = S[:-2], S[1:-1], S[2:]
    # librosa's numba stencil sums the neighbours in S's precision, the rest in float64
    curvature = (hi + lo).astype(np.float64) - 2.0 * mid
    slope = (hi - lo).astype(np.float64) / 2.0
    inside = np.abs(slope) < np.abs(curvature)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift[1:-1] = np.where(inside, -slope / curvature, 0.0)
    return shift


def local_maxima(S: np.ndarray) -> npt.NDArray[np.bool_]:
    """``S[k] > S[k - 1] and S[k] >= S[k + 1]`` along the first axis; never the first
    entry, the last where it rises (librosa's ``localmax``)."""
    peak = np.zeros(S.shape, dtype=bool)
    if len(S) > 2:
        peak[1:-1] = (S[1:-1] > S[:-2]) & (S[1:-1] >= S[2:])
    if len(S) > 1:
        peak[-1] = S[-1] > S[-2]
    return peak


def estimate_tuning(S: np.ndarray, *, sr: float, n_fft: int = 2048,
                    bins_per_octave: int = 12, resolution: float = 0.01) -> float:
    """``librosa.estimate_tuning(S=S, sr=sr, n_fft=n_fft, bins_per_octave=...)``: the
    deviation from A440 tuning, in fractions of a bin, of the strong spectral peaks.

    Peaks are bins between 150 Hz and 4 kHz above a tenth of their frame's maximum, placed
    between bins by a parabola (librosa's ``piptrack``); those at least as strong as the median
    vote in a histogram of their offsets from the nearest bin, whose mode is the tuning. No
    peaks give 0.
    """
    S = np.abs(S)
    if n_fft // 2 + 1 != S.shape[-2]:
        n_fft = 2 * (S.shape[-2] - 1)
    bin_hz = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    shift = _parabolic_shift(S)
    skew = 0.5 * np.gradient(S, axis=-2) * shift
    band = (150.0 <= bin_hz) & (bin_hz < min(4000.0, float(sr) / 2))
    floor = 0.1 * S.max(axis=-2, keepdims=True)
    rows, cols = np.nonzero(band[:, None] & local_maxima(S * (S > floor)))
    # pitches and magnitudes in S's dtype, as librosa stores them
    pitch = ((rows + shift[rows, cols]) * float(sr) / n_fft).astype(S.dtype)
    mag = S[rows, cols] + skew[rows, cols]
    voiced = pitch > 0
    if not voiced.any():
        return 0.0
    strong = pitch[voiced & (mag >= np.median(mag[voiced]))]
    octaves = np.log2(strong / (440.0 / 16))  # octaves above A0 (A4 / 16)
    residual = np.mod(bins_per_octave * octaves, 1.0)
    residual[residual >= 0.5] -= 1.0  # 0.95 of a bin is more likely -0.05 from the next
    edges = np.linspace(-0.5, 0.5, int(np.ceil(1.0 / resolution)) + 1)
    counts, _ = np.histogram(residual, edges)
    return float(edges[np.argmax(counts)])
