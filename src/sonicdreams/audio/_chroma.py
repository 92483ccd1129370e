"""Constant-Q chromagram, as ``librosa.feature.chroma_cqt`` computes it, without librosa.

Why not librosa: see :mod:`._dsp` (its import compiles numba code the analysis never uses).
This is librosa's full constant-Q transform (Schörkhuber and Klapuri's FFT method) with its
defaults, equal to librosa's chroma within float noise (tested in ``tests/test_dsp.py``):

1. Filters: 7 octaves of 36 bins from C1 (shifted by the tuning), each a Hann-windowed complex
   sinusoid about 52 periods long (Q ≈ 52), normalised to unit L1 norm.
2. Octave by octave from the top, the signal's STFT (rectangular window, frames centred on the
   hops) is projected onto the filters' spectra, from which the smallest coefficients holding
   1% of each filter's magnitude are dropped; then the signal is halved in rate (soxr) and the
   hop with it, so every octave uses FFTs of the same size.
3. Each bin is divided by the square root of its filter length; the magnitudes of the three
   bins around each semitone are summed over the octaves into 12 pitch classes, and every
   frame is scaled to max 1.

The filter spectra depend only on the rate, hop and tuning, so they are built once per song
(librosa builds them again for every call).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._dsp import frames_rfft, hann, resample

__all__ = ["chroma_cqt"]

C1_HZ = 440.0 * 2.0 ** ((24 - 69) / 12)  # MIDI note 24
_HANN_BANDWIDTH = 1.50018310546875  # equivalent noise bandwidth of the Hann window, in bins
_SPARSITY = 0.01  # share of each filter's spectral magnitude dropped as negligible


@dataclass(frozen=True)
class _Octave:
    basis: object  # scipy.sparse.csr_matrix, complex64 [shape=(bins, 1 + n_fft // 2)]
    n_fft: int
    root_length: npt.NDArray[np.float64]  # sqrt(filter length at the input rate), per bin


@dataclass(frozen=True)
class _Plan:
    octaves: tuple[_Octave, ...]  # highest octave first
    early_factor: int  # the input is first downsampled by this (1: not at all)
    hop_length: int  # hop after the early downsampling


def _relative_bandwidth(freqs: np.ndarray) -> np.ndarray:
    """Each filter's bandwidth over its frequency, from the spacing of its neighbours."""
    log_f = np.log2(freqs)
    per_octave = np.empty_like(freqs)  # bins per octave, locally
    per_octave[0] = 1 / (log_f[1] - log_f[0])
    per_octave[-1] = 1 / (log_f[-1] - log_f[-2])
    per_octave[1:-1] = 2 / (log_f[2:] - log_f[:-2])
    step = 2.0 ** (2 / per_octave)
    return (step - 1) / (step + 1)


def _filter_spectra(sr: float, freqs: np.ndarray, alpha: np.ndarray,
                    gain: float) -> tuple[object, int]:
    """Sparse spectra of one octave's filters at rate ``sr`` (times ``gain``) and their FFT size."""
    import scipy.fft
    from scipy import sparse

    lengths = (1.0 / alpha) * sr / freqs  # Q * sr / f, with Q = 1 / alpha
    n_fft = int(2.0 ** np.ceil(np.log2(lengths.max())))
    atoms = np.zeros((len(freqs), n_fft), dtype=np.complex64)
    for row, length, freq in zip(atoms, lengths, freqs, strict=True):
        # sample times centred on 0: floor(-L/2) … ceil(L/2) - 1
        phase = np.arange(-length // 2, length // 2, dtype=np.float64) * 2 * np.pi * freq / sr
        atom = (np.cos(phase) + 1j * np.sin(phase)) * hann(len(phase))
        atom /= np.abs(atom).sum()
        start = (n_fft - len(atom)) // 2
        row[start:start + len(atom)] = atom
    atoms *= (lengths / float(n_fft))[:, None]
    spectra = scipy.fft.fft(atoms, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
    # Drop the smallest coefficients of each filter that together hold 1% of its magnitude.
    mags = np.abs(spectra)
    ordered = np.sort(mags, axis=1)
    share = np.cumsum(ordered / mags.sum(axis=1, keepdims=True), axis=1)
    floor = ordered[np.arange(len(mags)), np.argmin(share < _SPARSITY, axis=1)]
    kept = np.where(mags >= floor[:, None], spectra, 0)
    if gain != 1.0:  # the lower octaves' filters see a downsampled signal
        kept = (kept * np.float64(gain)).astype(np.complex64)
    return sparse.csr_matrix(kept), n_fft


def _two_factors(n: int) -> int:
    count = 0
    while n > 0 and n % 2 == 0:
        n //= 2
        count += 1
    return count


@functools.lru_cache(maxsize=4)
def _plan(sr: float, hop_length: int, tuning: float, bins_per_octave: int,
          n_octaves: int) -> _Plan:
    n_bins = bins_per_octave * n_octaves
    fmin = C1_HZ * 2.0 ** (tuning / bins_per_octave)
    ratios = 2.0 ** (np.arange(bins_per_octave, dtype=np.float64) / bins_per_octave)
    freqs = np.multiply.outer(2.0 ** np.arange(n_octaves), ratios).ravel() * fmin
    alpha = _relative_bandwidth(freqs)
    q = 1.0 / alpha
    cutoff = float(np.max(freqs * (1 + 0.5 * _HANN_BANDWIDTH / q)))
    nyquist = sr / 2.0
    if cutoff > nyquist:
        raise ValueError(f"the CQT's top filter reaches {cutoff:.0f} Hz, above Nyquist "
                         f"({nyquist:.0f} Hz)")
    # Downsample first when even the top octave lies far below Nyquist (and the hop allows).
    early = min(max(0, int(np.ceil(np.log2(nyquist / cutoff)) - 1) - 1),
                max(0, _two_factors(hop_length) - n_octaves + 1))
    factor = 2**early
    sr_in, hop = sr / factor, hop_length // factor
    root_length = np.sqrt(q * sr_in / freqs)  # librosa's scale=True divides by it
    octaves = []
    my_sr, my_hop = sr_in, hop
    for i in range(n_octaves):
        top = n_bins - bins_per_octave * i
        sl = slice(top - bins_per_octave, top)
        basis, n_fft = _filter_spectra(my_sr, freqs[sl], alpha[sl], np.sqrt(sr_in / my_sr))
        octaves.append(_Octave(basis, n_fft, root_length[sl]))
        if my_hop % 2 == 0:
            my_sr, my_hop = my_sr / 2.0, my_hop // 2
    return _Plan(tuple(octaves), factor, hop)


_plan_lock = threading.Lock()  # two chunks starting together build the filters once


def _cq_to_chroma(n_bins: int, *, bins_per_octave: int, n_chroma: int) -> np.ndarray:
    """0/1 map of CQT bins (from C) to pitch classes: each takes the bins centred on it."""
    merge = bins_per_octave // n_chroma
    pitch_class = ((np.arange(n_bins) + merge // 2) // merge) % n_chroma
    return (pitch_class[None, :] == np.arange(n_chroma)[:, None]).astype(np.float32)


def chroma_cqt(y: np.ndarray, *, sr: float = 22050, hop_length: int = 512,
               tuning: float = 0.0, n_chroma: int = 12, bins_per_octave: int = 36,
               n_octaves: int = 7) -> npt.NDArray[np.float32]:
    """``librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop_length, tuning=tuning)``:
    pitch classes C … B of a float32 signal from a 7-octave CQT above C1, each frame scaled
    to max 1, [shape=(n_chroma, 1 + len(y) // hop_length)]."""
    if bins_per_octave % n_chroma:
        raise ValueError(f"bins_per_octave={bins_per_octave} must be a multiple of "
                         f"n_chroma={n_chroma}")
    with _plan_lock:
        plan = _plan(float(sr), int(hop_length), float(tuning), bins_per_octave, n_octaves)
    y = np.asarray(y)
    if plan.early_factor > 1:
        y = resample(y, orig_sr=plan.early_factor, target_sr=1, scale=True)
    hop = plan.hop_length
    magnitudes = []
    for i, octave in enumerate(plan.octaves):
        # C order: the sparse product would copy a Fortran-order spectrum
        spectrum = frames_rfft(y, n_fft=octave.n_fft, hop_length=hop, center=True, order="C")
        response = octave.basis @ spectrum  # complex64, as librosa's
        response = (response / octave.root_length[:, None]).astype(np.complex64)
        magnitudes.append(np.abs(response))
        if i + 1 < len(plan.octaves) and hop % 2 == 0:
            hop //= 2
            y = resample(y, orig_sr=2, target_sr=1, scale=True)
    n_frames = min(m.shape[1] for m in magnitudes)
    # Lowest octave first; the lowest may have fewer bins than an octave.
    cqt = np.concatenate([m[:, :n_frames] for m in magnitudes[::-1]], axis=0)
    mapping = _cq_to_chroma(cqt.shape[0], bins_per_octave=bins_per_octave, n_chroma=n_chroma)
    chroma = mapping @ cqt
    peak = chroma.max(axis=0, keepdims=True)
    peak[peak < np.finfo(np.float32).tiny] = 1.0  # silent frames stay zeros
    return chroma / peak
