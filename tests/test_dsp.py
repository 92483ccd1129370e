"""The analysis computes librosa's numbers without importing librosa (whose import compiles
numba code for 17 s on a fresh install): each function against librosa, on real music and on
signals whose answer is known, and a render that leaves librosa unimported."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import EXCERPT, tone
from sonicdreams.audio import _chroma, _dsp

SR = 22050


def _max_rel(ours: np.ndarray, ref: np.ndarray) -> float:
    """Largest difference relative to the reference's largest value."""
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    import librosa

    y, _ = librosa.load(EXCERPT, sr=SR)
    assert y.dtype == np.float32 and len(y) > 20 * SR
    return y


@pytest.fixture(scope="module")
def spectra(music):
    import librosa

    ours = _dsp.stft_magnitude(music, n_fft=2048, hop_length=512)
    ref = np.abs(librosa.stft(music, n_fft=2048, hop_length=512, center=False))
    return ours, ref


def test_stft_magnitude_is_librosas(spectra):
    ours, ref = spectra
    assert ours.shape == ref.shape and ours.dtype == ref.dtype == np.float32
    assert ours.flags.f_contiguous == ref.flags.f_contiguous  # same layout, same rounding
    assert _max_rel(ours, ref) <= 1e-5


def test_centred_stft_is_librosas(music):
    import librosa

    for n_fft, hop in ((1024, 512), (1024, 8), (2048, 300)):
        y = music[: 40 * hop + 123]  # shorter than n_fft at hop 8: librosa warns
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ref = librosa.stft(y, n_fft=n_fft, hop_length=hop, window="ones")
        for order in ("C", "F"):
            ours = _dsp.frames_rfft(y, n_fft=n_fft, hop_length=hop, center=True, order=order)
            assert ours.shape == ref.shape and ours.dtype == np.complex64
            assert _max_rel(ours, ref) <= 1e-6


def test_rms_is_librosas(spectra):
    import librosa

    ours, ref = spectra
    for cols in (slice(None), slice(100, 700)):
        expected = librosa.feature.rms(S=ref[:, cols], frame_length=2048)[0]
        assert _max_rel(_dsp.rms(ours[:, cols], frame_length=2048), expected) <= 1e-5


def test_rms_of_a_sine_is_that_of_the_windowed_sine():
    spec = _dsp.stft_magnitude(tone(1000.0, sr=SR, duration_s=1.0, amp=0.5), n_fft=2048)
    # amplitude / sqrt(2), times the Hann window's root mean square sqrt(3/8)
    np.testing.assert_allclose(_dsp.rms(spec, frame_length=2048), 0.5 * np.sqrt(3 / 16),
                               rtol=2e-3)


@pytest.mark.parametrize(("sr", "n_fft", "n_mels"), [(22050, 2048, 128), (22050, 2048, 512),
                                                     (44100, 4096, 40)])
def test_mel_filters_are_librosas(sr, n_fft, n_mels):
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # empty bands at 512
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    ours = _dsp.mel_filters(sr, n_fft=n_fft, n_mels=n_mels)
    assert ours.shape == ref.shape and ours.dtype == ref.dtype == np.float32
    assert np.max(np.abs(ours - ref)) <= 1e-6 * np.max(ref)


def test_mel_frequencies_are_librosas():
    import librosa

    for n, fmin, fmax in ((130, 0.0, SR / 2), (10, 300.0, 8000.0), (2, 0.0, 999.0)):
        ref = librosa.mel_frequencies(n_mels=n, fmin=fmin, fmax=fmax)
        np.testing.assert_allclose(_dsp.mel_frequencies(n, fmin=fmin, fmax=fmax), ref,
                                   rtol=1e-12)
    # Slaney's scale is linear to 1 kHz: 15 mels at 200/3 Hz each
    np.testing.assert_allclose(_dsp.mel_frequencies(16, fmax=1000.0), np.arange(16) * 200 / 3)


def test_tempogram_is_librosas(music):
    import librosa

    onset = librosa.onset.onset_strength(y=music, sr=SR).astype(np.float32)
    for part in (onset, onset[:100], onset[:2]):  # shorter than the window, too
        ref = librosa.feature.tempogram(onset_envelope=part, sr=SR, hop_length=512,
                                        win_length=384)
        ours = _dsp.tempogram(part, win_length=384)
        assert ours.shape == ref.shape
        assert np.max(np.abs(ours - ref)) <= 1e-5


def test_tempogram_of_a_pulse_train_peaks_at_its_period():
    onset = np.zeros(1000, dtype=np.float32)
    onset[::20] = 1.0
    mean = _dsp.tempogram(onset, win_length=384)[:, 200:800].mean(axis=1)
    assert int(np.argmax(mean[1:])) + 1 == 20
    assert not _dsp.tempogram(np.zeros(50, np.float32)).any()  # silence: zeros, not NaN


def test_tempo_frequencies_are_librosas():
    import librosa

    ours = _dsp.tempo_frequencies(384, hop_length=512, sr=SR)
    np.testing.assert_array_equal(ours, librosa.tempo_frequencies(384, hop_length=512, sr=SR))
    assert ours[0] == np.inf and ours[1] == pytest.approx(60 * SR / 512)


def test_resample_is_librosas():
    import librosa

    y44, sr = librosa.load(EXCERPT, sr=None, mono=False, duration=10.0)
    assert sr == 44100 and y44.shape[0] == 2
    for y, orig, target, scale in ((y44[0], 44100, SR, False), (y44, 44100, 16000, False),
                                   (y44[1], 2, 1, True), (y44[0, :-1], 48000, 44100, False)):
        ref = librosa.resample(y, orig_sr=orig, target_sr=target, scale=scale)
        ours = _dsp.resample(y, orig_sr=orig, target_sr=target, scale=scale)
        assert ours.shape == ref.shape and ours.dtype == ref.dtype
        assert np.max(np.abs(ours - ref)) <= 1e-6
    same = y44[0]
    assert _dsp.resample(same, orig_sr=SR, target_sr=SR) is same


def test_estimate_tuning_is_librosas(spectra):
    import librosa

    ours, ref = spectra
    for cols in (slice(None), slice(0, None, 2), slice(300, 400)):
        for bins in (12, 36):
            expected = librosa.estimate_tuning(S=ref[:, cols], sr=SR, n_fft=2048,
                                               bins_per_octave=bins)
            got = _dsp.estimate_tuning(ours[:, cols], sr=SR, n_fft=2048, bins_per_octave=bins)
            assert got == pytest.approx(expected, abs=1e-3)


def test_the_parabolic_peak_offsets_are_librosas(spectra):
    from librosa.core.pitch import _parabolic_interpolation

    ours, ref = spectra
    np.testing.assert_allclose(_dsp._parabolic_shift(ours[:, :200]),
                               _parabolic_interpolation(ref[:, :200], axis=-2), atol=1e-6)


@pytest.mark.parametrize("cents", [-40.0, 0.0, 30.0])
def test_a_detuned_tone_gives_its_tuning(cents):
    y = tone(440.0 * 2 ** (cents / 1200), sr=SR, duration_s=2.0)
    spec = _dsp.stft_magnitude(y, n_fft=2048, hop_length=512)
    # in semitones (100 cents a bin) and in thirds of a semitone (33 cents a bin)
    assert _dsp.estimate_tuning(spec, sr=SR, bins_per_octave=12) == pytest.approx(
        cents / 100, abs=0.02)
    third = (cents / (100 / 3) + 0.5) % 1.0 - 0.5
    assert _dsp.estimate_tuning(spec, sr=SR, bins_per_octave=36) == pytest.approx(
        third, abs=0.06)


def test_no_peaks_give_tuning_zero():
    assert _dsp.estimate_tuning(np.zeros((1025, 10), np.float32), sr=SR) == 0.0
    # a tone below 150 Hz has no peak in piptrack's range
    low = _dsp.stft_magnitude(tone(100.0, sr=SR, duration_s=1.0), n_fft=2048)
    assert _dsp.estimate_tuning(low, sr=SR) == 0.0


@pytest.mark.parametrize("tuning", [0.0, -0.45, 0.12])
def test_chroma_cqt_is_librosas(music, tuning):
    import librosa

    y = music[: 15 * SR]
    ref = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=512, tuning=tuning)
    ours = _chroma.chroma_cqt(y, sr=SR, hop_length=512, tuning=tuning)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert np.max(np.abs(ours - ref)) <= 1e-5


@pytest.mark.parametrize(("sr", "hop"), [(44100, 512), (22050, 300)])
def test_chroma_cqt_is_librosas_at_other_rates_and_hops(sr, hop):
    """At 44.1 kHz the signal is first halved (librosa's early downsampling); an odd hop stops
    the halving between octaves."""
    import librosa

    y, _ = librosa.load(EXCERPT, sr=sr, duration=6.0)
    ref = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=hop, tuning=0.2)
    ours = _chroma.chroma_cqt(y, sr=sr, hop_length=hop, tuning=0.2)
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) <= 1e-5


@pytest.mark.parametrize("n", [512, 5000, 40000])
def test_chroma_cqt_of_short_clips_is_librosas(music, n):
    """Clips shorter than the lowest filters (1.6 s), as the analysis's last chunk may be."""
    import librosa

    y = music[SR: SR + n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # librosa: n_fft too large
        ref = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=512, tuning=0.12)
    ours = _chroma.chroma_cqt(y, sr=SR, hop_length=512, tuning=0.12)
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) <= 1e-5


def test_the_filter_spectra_keep_librosas_coefficients():
    """The sparse basis drops the smallest coefficients holding 1% of each filter's magnitude,
    exactly those librosa drops."""
    import librosa
    from librosa.core import constantq

    freqs = librosa.interval_frequencies(252, fmin=librosa.note_to_hz("C1") * 2 ** (0.12 / 36),
                                         intervals="equal", bins_per_octave=36)
    alpha = librosa.filters._relative_bandwidth(freqs=freqs)
    np.testing.assert_array_equal(_chroma._relative_bandwidth(freqs), alpha)
    for octave in (slice(-36, None), slice(0, 36)):
        sr = SR if octave.start else SR / 64
        ref, n_fft, _ = getattr(constantq, "__vqt_filter_fft")(
            sr, freqs[octave], 1, 1, 0.01, window="hann", gamma=0, dtype=np.complex64,
            alpha=alpha[octave])
        ours, our_n_fft = _chroma._filter_spectra(sr, freqs[octave], alpha[octave], 1.0)
        assert our_n_fft == n_fft
        np.testing.assert_array_equal(ours.indices, ref.indices)
        np.testing.assert_array_equal(ours.indptr, ref.indptr)
        np.testing.assert_allclose(ours.data, ref.data, rtol=1e-6, atol=1e-9)


def test_the_chroma_of_a_tone_is_its_pitch_class():
    a4 = _chroma.chroma_cqt(tone(440.0, sr=SR, duration_s=3.0), sr=SR)
    middle = a4[:, 20:-20]
    assert (np.argmax(middle, axis=0) == 9).all()  # A
    assert middle[9].min() == 1.0 and np.delete(middle, 9, axis=0).max() < 0.5
    c_sharp = _chroma.chroma_cqt(tone(554.37, sr=SR, duration_s=3.0), sr=SR)
    assert (np.argmax(c_sharp[:, 20:-20], axis=0) == 1).all()
    # an A 60 cents flat reads as G# (8) untuned, and as A with its tuning (-1.8 bins)
    flat = tone(440.0 * 2 ** (-60 / 1200), sr=SR, duration_s=3.0)
    untuned = _chroma.chroma_cqt(flat, sr=SR)
    assert (np.argmax(untuned[:, 20:-20], axis=0) == 8).all()
    tuned = _chroma.chroma_cqt(flat, sr=SR, tuning=-1.8)
    assert (np.argmax(tuned[:, 20:-20], axis=0) == 9).all()
    assert not _chroma.chroma_cqt(np.zeros(SR, np.float32), sr=SR).any()


def test_a_render_does_not_import_librosa(tmp_path):
    code = ("import sys, sonicdreams; "
            "sonicdreams.render(sys.argv[1], sys.argv[2], duration=2, width=64, height=48); "
            "print('librosa' in sys.modules)")
    env = {**os.environ, "SONICDREAMS_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code, str(EXCERPT), str(tmp_path / "v.mp4")],
                          env=env, capture_output=True, text=True, check=True)
    assert (tmp_path / "v.mp4").stat().st_size > 0
    assert done.stdout.strip().splitlines()[-1] == "False"
