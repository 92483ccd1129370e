"""The decoder on real files: every format, rate and layout; trimming; awkward names and tags.

Every file is encoded at test time (once per session) from the real excerpt or from tones, with
encoders independent of the decoder under test where possible (soundfile/libsndfile for wav,
flac and ogg/vorbis; PyAV's encoders for mp3, opus, aac, ac3 and the video containers).

Length tolerance for lossy codecs: the decoded length is never shorter than the source and at
most one codec frame longer (encoder padding at the end: AAC 1024 samples, AC3 1536, Vorbis
2048, i.e. < 47 ms at 44.1 kHz). Encoder priming at the start must be removed by the decoder:
the decoded music lines up with the source at lag 0. mp3 (LAME gapless header), opus, flac and
wav decode to exactly the source's length.
"""

from __future__ import annotations

import math
import shutil
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from sonicdreams.audio import load, probe
from sonicdreams.audio.decode import AudioStream
from sonicdreams.errors import SettingsError, SonicDreamsWarning

LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}
# One tone per channel, in FFmpeg's 5.1 order FL FR FC LFE BL BR; the LFE tone is low
# because encoders low-pass the LFE channel.
CHANNEL_HZ = (440.0, 660.0, 880.0, 70.0, 1100.0, 1320.0)
# Vorbis stores 5.1 as FL FC FR BL BR LFE (libsndfile writes channels as given): file channel
# j carries FFmpeg channel VORBIS_51[j], which the decoder must put back in FFmpeg order.
VORBIS_51 = [0, 2, 1, 4, 5, 3]
VIDEO_FPS = 10
MUSIC_OFFSET_S = 5.0  # a loud passage of the excerpt


# --------------------------------------------------------------------------------------------
# Writers


def encode_pyav(path: Path, samples: np.ndarray, sr: int, codec: str, *,
                fmt: str | None = None, video: str | None = None,
                options: dict[str, str] | None = None) -> Path:
    """Encode ``samples`` [shape=(channels, n)] with PyAV, with a 64x64 video track if asked.

    Audio and video packets are interleaved in time, as in real files.
    """
    channels, n = samples.shape
    layout = LAYOUTS[channels]
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        vstream = None
        if video:
            vstream = out.add_stream(video, rate=VIDEO_FPS)
            vstream.width = vstream.height = 64
            vstream.pix_fmt = "yuv420p"
        astream = out.add_stream(codec, rate=sr, layout=layout)
        pos = 0

        def audio_until(limit: int) -> None:
            nonlocal pos
            while pos < limit:
                block = np.ascontiguousarray(samples[:, pos:min(pos + 1024, limit)],
                                             dtype=np.float32)
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                frame.sample_rate = sr
                frame.pts = pos
                frame.time_base = Fraction(1, sr)
                out.mux(astream.encode(frame))
                pos += block.shape[1]

        n_video = int(n / sr * VIDEO_FPS) if vstream is not None else 0
        ramp = np.add.outer(np.arange(64), np.arange(64))
        for i in range(n_video):
            audio_until(min(n, round(i * sr / VIDEO_FPS)))
            img = np.repeat(((ramp + 8 * i) % 256).astype(np.uint8)[:, :, None], 3, axis=2)
            vframe = av.VideoFrame.from_ndarray(img, format="rgb24")
            vframe.pts = i
            out.mux(vstream.encode(vframe))
        audio_until(n)
        out.mux(astream.encode(None))
        if vstream is not None:
            out.mux(vstream.encode(None))
    return path


def quantise(x: np.ndarray, subtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer samples to hand to libsndfile for ``subtype``, and their exact float values.

    libsndfile writes integer input bit-exactly (PCM_24 keeps the top 24 bits of an int32,
    PCM_U8 the top 8 of an int16), so the decoded floats are known exactly.
    """
    x = x.astype(np.float64)
    if subtype in ("PCM_16", "PCM_U8"):
        ints = np.round(x * 32767).astype(np.int16)
        if subtype == "PCM_U8":
            return ints, ((ints >> 8) / 128).astype(np.float32)
        return ints, (ints / 32768).astype(np.float32)
    ints = np.round(x * (2**31 - 1)).astype(np.int32)
    if subtype == "PCM_24":
        ints = (ints >> 8) << 8
    return ints, (ints / 2**31).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Signals


def tones(sr: int, channels: int, duration_s: float) -> np.ndarray:
    """Channel ``c`` is a 0.5-amplitude sine at ``CHANNEL_HZ[c]``; shape (channels, n)."""
    t = np.arange(round(sr * duration_s)) / sr
    return np.stack([0.5 * np.sin(2 * np.pi * CHANNEL_HZ[c] * t)
                     for c in range(channels)]).astype(np.float32)


def resample(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Band-limited resampling with scipy (independent of FFmpeg's resampler)."""
    if sr_from == sr_to:
        return x
    g = math.gcd(sr_from, sr_to)
    return scipy.signal.resample_poly(x, sr_to // g, sr_from // g, axis=-1).astype(np.float32)


def dominant_hz(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)])


def best_lag(y: np.ndarray, ref: np.ndarray, max_lag: int) -> tuple[int, float]:
    """The shift of ``y`` against ``ref`` (``y[k + lag] ~ ref[k]``) and the correlation there."""
    n = min(len(y), len(ref))
    y, ref = y[:n].astype(np.float64), ref[:n].astype(np.float64)
    xc = scipy.signal.correlate(y, ref, mode="full", method="fft")
    lags = np.arange(-n + 1, n)
    keep = np.abs(lags) <= max_lag
    lag = int(lags[keep][np.argmax(xc[keep])])
    a, b = (y[lag:], ref[:n - lag]) if lag >= 0 else (y[:n + lag], ref[-lag:])
    return lag, float(np.corrcoef(a, b)[0, 1])


# --------------------------------------------------------------------------------------------
# The format matrix


@dataclass(frozen=True)
class Case:
    """One file to generate: format, rate, layout, signal and what exactness to expect."""

    name: str
    suffix: str
    sr: int
    channels: int
    writer: str
    """``"sf"`` (soundfile) or a PyAV encoder name."""
    subtype: str | None = None
    """soundfile subtype (PCM_16, PCM_24, PCM_32, PCM_U8, FLOAT, VORBIS)."""
    fmt: str | None = None
    """PyAV/libsndfile container format when the suffix does not say it."""
    video: str | None = None
    music: bool = False
    """The real excerpt (else one tone per channel)."""
    max_extra: int = 0
    """Decoded samples allowed beyond the source (codec padding at the end)."""

    @property
    def lossless(self) -> bool:
        return self.writer == "sf" and self.subtype != "VORBIS"

    @property
    def duration_s(self) -> float:
        return 3.0 if self.music else 2.0

    def __str__(self) -> str:
        return self.name


AAC, AC3, VORBIS = 1024, 1536, 2048  # one codec frame of padding
CASES = [
    # Real music, stereo, at the common rates.
    Case("wav-s16-44k-stereo-music", ".wav", 44100, 2, "sf", "PCM_16", music=True),
    Case("wav-s24-44k-stereo-music", ".wav", 44100, 2, "sf", "PCM_24", music=True),
    Case("wav-s32-44k-stereo-music", ".wav", 44100, 2, "sf", "PCM_32", music=True),
    Case("wav-f32-44k-stereo-music", ".wav", 44100, 2, "sf", "FLOAT", music=True),
    Case("flac-s16-44k-stereo-music", ".flac", 44100, 2, "sf", "PCM_16", music=True),
    Case("flac-s24-48k-stereo-music", ".flac", 48000, 2, "sf", "PCM_24", music=True),
    Case("ogg-vorbis-44k-stereo-music", ".ogg", 44100, 2, "sf", "VORBIS", music=True,
         max_extra=VORBIS),
    Case("opus-48k-stereo-music", ".opus", 48000, 2, "libopus", fmt="opus", music=True),
    Case("mp3-44k-stereo-music", ".mp3", 44100, 2, "libmp3lame", music=True),
    Case("mp3-22k-stereo-music", ".mp3", 22050, 2, "libmp3lame", music=True),
    Case("m4a-aac-44k-stereo-music", ".m4a", 44100, 2, "aac", fmt="ipod", music=True,
         max_extra=AAC),
    Case("m4a-aac-8k-mono-music", ".m4a", 8000, 1, "aac", fmt="ipod", music=True,
         max_extra=AAC),
    Case("ogg-vorbis-96k-stereo-music", ".ogg", 96000, 2, "sf", "VORBIS", music=True,
         max_extra=VORBIS),
    Case("mp4-h264-aac-44k-stereo-music", ".mp4", 44100, 2, "aac", video="libx264",
         music=True, max_extra=AAC),
    Case("mkv-h264-aac-48k-stereo-music", ".mkv", 48000, 2, "aac", video="libx264",
         music=True, max_extra=AAC),
    Case("webm-vp9-opus-48k-stereo-music", ".webm", 48000, 2, "libopus", video="libvpx-vp9",
         music=True),
    # Tones: the sample-rate sweep (8-192 kHz) and mono/stereo/5.1.
    Case("wav-s16-8k-mono", ".wav", 8000, 1, "sf", "PCM_16"),
    Case("wav-u8-11k-mono", ".wav", 11025, 1, "sf", "PCM_U8"),
    Case("wav-s24-16k-stereo", ".wav", 16000, 2, "sf", "PCM_24"),
    Case("wav-f32-22k-5.1", ".wav", 22050, 6, "sf", "FLOAT"),
    Case("wav-s16-32k-stereo", ".wav", 32000, 2, "sf", "PCM_16"),
    Case("wavex-s24-48k-5.1", ".wav", 48000, 6, "sf", "PCM_24", fmt="WAVEX"),
    Case("wav-s32-88k-stereo", ".wav", 88200, 2, "sf", "PCM_32"),
    Case("wav-s24-96k-mono", ".wav", 96000, 1, "sf", "PCM_24"),
    Case("wav-s16-176k-stereo", ".wav", 176400, 2, "sf", "PCM_16"),
    Case("wav-f32-192k-stereo", ".wav", 192000, 2, "sf", "FLOAT"),
    Case("wav-s24-192k-5.1", ".wav", 192000, 6, "sf", "PCM_24"),
    Case("flac-s16-8k-mono", ".flac", 8000, 1, "sf", "PCM_16"),
    Case("flac-s24-96k-5.1", ".flac", 96000, 6, "sf", "PCM_24"),
    Case("flac-s24-192k-stereo", ".flac", 192000, 2, "sf", "PCM_24"),
    Case("ogg-vorbis-8k-mono", ".ogg", 8000, 1, "sf", "VORBIS", max_extra=VORBIS),
    Case("ogg-vorbis-48k-5.1", ".ogg", 48000, 6, "sf", "VORBIS", max_extra=VORBIS),
    Case("ogg-vorbis-192k-stereo", ".ogg", 192000, 2, "sf", "VORBIS", max_extra=VORBIS),
    Case("opus-48k-mono", ".opus", 48000, 1, "libopus", fmt="opus"),
    Case("opus-48k-5.1", ".opus", 48000, 6, "libopus", fmt="opus"),
    Case("mp3-8k-mono", ".mp3", 8000, 1, "libmp3lame"),
    Case("mp3-48k-mono", ".mp3", 48000, 1, "libmp3lame"),
    Case("m4a-aac-8k-mono", ".m4a", 8000, 1, "aac", fmt="ipod", max_extra=AAC),
    Case("m4a-aac-96k-stereo", ".m4a", 96000, 2, "aac", fmt="ipod", max_extra=AAC),
    Case("m4a-aac-48k-5.1", ".m4a", 48000, 6, "aac", fmt="ipod", max_extra=AAC),
    Case("mp4-h264-aac-22k-mono", ".mp4", 22050, 1, "aac", video="libx264", max_extra=AAC),
    Case("mkv-h264-ac3-48k-5.1", ".mkv", 48000, 6, "ac3", video="libx264", max_extra=AC3),
    Case("webm-vp9-opus-48k-mono", ".webm", 48000, 1, "libopus", video="libvpx-vp9"),
]


@dataclass(frozen=True)
class Made:
    """A generated file and the samples it should decode to [shape=(channels, n)]."""

    path: Path
    expected: np.ndarray
    case: Case


@pytest.fixture(scope="session")
def music_source(excerpt) -> np.ndarray:
    """3 s of the real excerpt read with libsndfile, (2, n) float32 at 44.1 kHz."""
    y, sr = sf.read(excerpt, dtype="float32", start=int(MUSIC_OFFSET_S * 44100),
                    frames=3 * 44100, always_2d=True)
    assert sr == 44100 and np.abs(y).max() > 0.1
    # Peak 0.9: the excerpt's own peaks pass 1.0, which integer formats would clip.
    return np.ascontiguousarray(0.9 * y.T / np.abs(y).max())


def _make(case: Case, folder: Path, music: np.ndarray) -> Made:
    if case.music:
        source = resample(music, 44100, case.sr)
        if case.channels == 1:
            source = source.mean(axis=0, keepdims=True)
    else:
        source = tones(case.sr, case.channels, case.duration_s)
    path = folder / (case.name + case.suffix)
    if case.writer == "sf":
        stored, expected = source, source
        if case.lossless and case.subtype != "FLOAT":
            stored, expected = quantise(source, case.subtype)
        if case.subtype == "VORBIS" and case.channels == 6:
            stored = source[VORBIS_51]
        sf.write(str(path), stored.T, case.sr, subtype=case.subtype, format=case.fmt)
    else:
        expected = source
        encode_pyav(path, source, case.sr, case.writer, fmt=case.fmt, video=case.video)
    return Made(path, expected, case)


@pytest.fixture(scope="session")
def made(tmp_path_factory, music_source):
    """``made(case)``: the file for ``case``, generated on first use in a session folder."""
    folder = tmp_path_factory.mktemp("formats")
    cache: dict[str, Made] = {}

    def get(case: Case) -> Made:
        if case.name not in cache:
            cache[case.name] = _make(case, folder, music_source)
        return cache[case.name]

    return get


@pytest.fixture(scope="session")
def decoded(made):
    """``decoded(case)``: ``load()`` of the case's file at its own rate, memoised."""
    cache = {}

    def get(case: Case):
        if case.name not in cache:
            cache[case.name] = load(made(case).path)
        return cache[case.name]

    return get


def _by_name(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


# --------------------------------------------------------------------------------------------
# Every format, rate and layout


@pytest.mark.parametrize("case", CASES, ids=str)
def test_load_keeps_native_rate_and_channels_as_float32(decoded, case):
    audio = decoded(case)
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 2 and audio.samples.shape[0] == case.channels
    assert audio.sr == audio.native_sr == case.sr
    assert audio.channels == audio.native_channels == case.channels
    assert audio.start_s == 0.0


@pytest.mark.parametrize("case", CASES, ids=str)
def test_decoded_length_matches_the_source(made, decoded, case):
    audio = decoded(case)
    n_source = made(case).expected.shape[1]
    extra = audio.n_samples - n_source
    assert 0 <= extra <= case.max_extra, f"{extra} samples more than the source"
    assert audio.duration_s == audio.file_duration_s == audio.n_samples / case.sr


@pytest.mark.parametrize("case", [c for c in CASES if c.lossless], ids=str)
def test_lossless_files_decode_bit_exactly(made, decoded, case):
    expected = made(case).expected
    np.testing.assert_array_equal(decoded(case).samples, expected)


@pytest.mark.parametrize("case", [c for c in CASES if c.music and not c.lossless], ids=str)
def test_lossy_music_lines_up_with_the_source(made, decoded, case):
    """Priming removed (lag 0) and the music itself came through (correlation)."""
    source = made(case).expected
    samples = decoded(case).samples
    for channel in range(case.channels):
        lag, corr = best_lag(samples[channel], source[channel], max_lag=4096)
        assert lag == 0, f"channel {channel} is shifted by {lag} samples"
        assert corr > 0.98, f"channel {channel}: correlation {corr:.3f}"


@pytest.mark.parametrize("case", [c for c in CASES if not c.music], ids=str)
def test_each_channel_carries_its_own_tone(decoded, case):
    """The channel order survives (5.1 included) and each tone keeps its level."""
    audio = decoded(case)
    n = round(case.sr * case.duration_s)
    for channel in range(case.channels):
        y = audio.samples[channel, :n]
        assert dominant_hz(y, case.sr) == pytest.approx(CHANNEL_HZ[channel], abs=1.0)
        core = y[n // 10: -n // 10]  # away from codec edge effects
        rms = float(np.sqrt(np.mean(core.astype(np.float64) ** 2)))
        # LAME encodes at 0.95 of the level (libsndfile's mpg123 decodes the same), and
        # libvorbis codes the LFE channel coarsely (+-25 %); elsewhere the level is +-3 %.
        level = 0.95 if case.writer == "libmp3lame" else 1.0
        rel = 0.25 if case.subtype == "VORBIS" and channel == 3 else 0.03
        assert rms == pytest.approx(level * 0.5 / np.sqrt(2), rel=rel), f"channel {channel}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_resampled_mono_at_22050(made, decoded, case):
    """``sr=22050, mono=True``: the channel mean, resampled in time with the source."""
    full = decoded(case)
    audio = load(made(case).path, sr=22050, mono=True)
    assert audio.samples.shape[0] == 1 and audio.samples.dtype == np.float32
    assert (audio.sr, audio.native_sr, audio.native_channels) == (22050, case.sr,
                                                                  case.channels)
    assert audio.n_samples == pytest.approx(full.n_samples * 22050 / case.sr, abs=1)
    # Durations are counted in the file's own samples, whatever the output rate.
    assert audio.duration_s == full.duration_s and audio.file_duration_s == full.file_duration_s
    reference = resample(full.samples.mean(axis=0), case.sr, 22050)
    lag, corr = best_lag(audio.samples[0], reference, max_lag=64)
    assert lag == 0 and corr > 0.999, (lag, corr)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("sr", [None, 22050])
def test_trimmed_load_is_the_same_slice_of_the_full_decode(made, decoded, case, sr):
    """``start``/``duration`` cut exactly the samples a full decode has there, any format."""
    start, duration = 0.5, 0.75
    path = made(case).path
    full = decoded(case) if sr is None else load(path, sr=sr, mono=True)
    clip = load(path, start=start, duration=duration, sr=sr, mono=sr is not None)
    rate = sr or case.sr
    # The clip's ends, rounded to the file's samples, then to output samples.
    begin_native = round(start * case.sr)
    begin = round(begin_native * rate / case.sr)
    end = round((begin_native + round(duration * case.sr)) * rate / case.sr)
    np.testing.assert_array_equal(clip.samples, full.samples[:, begin:end])
    assert clip.start_s == round(start * case.sr) / case.sr
    assert clip.duration_s == round(duration * case.sr) / case.sr
    assert clip.file_duration_s == full.file_duration_s


@pytest.mark.parametrize("case", CASES, ids=str)
def test_probe_reads_the_format_without_decoding(made, case):
    info = probe(made(case).path)
    assert (info.sample_rate, info.channels) == (case.sr, case.channels)
    assert info.duration_s == pytest.approx(case.duration_s, abs=0.1)
    # The decoder's name: FFmpeg decodes mp3 with "mp3float", PCM with "pcm_<format>".
    expected_codec = {"sf": {"VORBIS": "vorbis", "FLOAT": "pcm_f32le", "PCM_16": "pcm_s16le",
                             "PCM_24": "pcm_s24le", "PCM_32": "pcm_s32le",
                             "PCM_U8": "pcm_u8"}.get(case.subtype),
                      "libmp3lame": "mp3float", "libopus": "opus"}.get(case.writer, case.writer)
    if case.suffix == ".flac":
        expected_codec = "flac"
    assert info.codec == expected_codec


def test_audio_stream_blocks_join_into_the_loaded_samples(made):
    made_ = made(_by_name("m4a-aac-44k-stereo-music"))
    stream = AudioStream(made_.path, start=0.25, duration=2.0, sr=22050, mono=True)
    assert stream.native_sr == 0  # nothing is known before decoding
    blocks = list(stream)
    assert len(blocks) >= 2 and all(b.dtype == np.float32 and b.shape[0] == 1 for b in blocks)
    audio = load(made_.path, start=0.25, duration=2.0, sr=22050, mono=True)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), audio.samples)
    assert (stream.native_sr, stream.native_channels) == (44100, 2)
    assert (stream.start_s, stream.duration_s) == (0.25, 2.0)


@pytest.mark.parametrize("source_sr", [8000, 44100, 48000, 192000])
def test_resampling_keeps_click_times(tmp_path, source_sr):
    """Resampling adds no delay: clicks stay at their times (within one output sample)."""
    times = np.array([0.1, 0.5, 0.9, 1.3])
    t = np.arange(round(1.5 * source_sr)) / source_sr
    # Gaussian clicks 1 ms wide: band-limited below 4 kHz, so every rate represents them.
    y = sum(np.exp(-0.5 * ((t - c) / 0.0003) ** 2) for c in times).astype(np.float32)
    path = tmp_path / f"clicks{source_sr}.wav"
    sf.write(path, 0.8 * y, source_sr, subtype="FLOAT")
    out = load(path, sr=22050).samples[0]
    peaks, _ = scipy.signal.find_peaks(out, height=0.4)
    np.testing.assert_allclose(peaks / 22050, times, atol=1.01 / 22050)


# --------------------------------------------------------------------------------------------
# Trimming


@pytest.fixture(scope="module")
def ramp_wav(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """3 s at 44.1 kHz, stereo, float: every sample distinct, so slices are identifiable."""
    n = 3 * 44100
    ramp = np.linspace(-1, 1, n, dtype=np.float32)
    data = np.stack([ramp, -ramp])
    path = tmp_path_factory.mktemp("trim") / "ramp.wav"
    sf.write(path, data.T, 44100, subtype="FLOAT")
    return path, data


@pytest.mark.parametrize(
    ("start", "duration", "begin", "n"),
    [
        (0.0, None, 0, 3 * 44100),
        (1.0, 0.5, 44100, 22050),
        (0.123456, 1.0, 5444, 44100),  # 5444.4 samples: rounds to the nearest sample
        (1 / 44100, 1 / 44100, 1, 1),  # one sample
        (2.5, None, 110250, 22050),
        (2.5, 10.0, 110250, 22050),  # past the end: stops at the end
        (3.0 - 1 / 44100, None, 3 * 44100 - 1, 1),  # the last sample
        (0, 2.9999, 0, 132296),
    ],
)
def test_trim_cuts_exact_samples_from_wav(ramp_wav, start, duration, begin, n):
    path, data = ramp_wav
    audio = load(path, start=start, duration=duration)
    np.testing.assert_array_equal(audio.samples, data[:, begin:begin + n])
    assert audio.start_s == begin / 44100
    assert audio.duration_s == n / 44100
    assert audio.file_duration_s == 3.0


@pytest.mark.parametrize(("start", "duration", "n"), [(1.0, 0.5, 11025), (2.5, 10.0, 11025),
                                                       (0.0, None, 66150)])
def test_trim_at_22050_counts_output_samples_exactly(ramp_wav, start, duration, n):
    path, _ = ramp_wav
    audio = load(path, start=start, duration=duration, sr=22050, mono=True)
    assert audio.samples.shape == (1, n)
    assert audio.duration_s == n / 22050


@pytest.mark.parametrize("start", [3.0, 3.5, 5e5])
def test_start_past_the_end_states_the_length(ramp_wav, start):
    path, _ = ramp_wav
    with pytest.raises(SettingsError, match=r"past the end of ramp\.wav.*0:03\.00 \(3\.000 s\)"):
        load(path, start=start)


@pytest.mark.parametrize("name", ["mp3-44k-stereo-music", "m4a-aac-44k-stereo-music",
                                  "ogg-vorbis-44k-stereo-music", "opus-48k-stereo-music"])
def test_start_past_the_end_of_a_lossy_file_states_its_decoded_length(made, decoded, name):
    case = _by_name(name)
    length = decoded(case).file_duration_s
    with pytest.raises(SettingsError, match=rf"past the end .* \({length:.3f} s\) long"):
        load(made(case).path, start=length + 0.01)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start": -1.0}, "start=-1.0"),
        ({"start": -1e-9}, "start="),
        ({"start": float("nan")}, "start=nan"),
        ({"start": float("inf")}, "start=inf"),
        ({"start": "soon"}, "start='soon'"),
        ({"duration": 0.0}, "duration=0.0"),
        ({"duration": -2.0}, "duration=-2.0"),
        ({"duration": float("nan")}, "duration=nan"),
        ({"duration": float("inf")}, "duration=inf"),
        ({"sr": 0}, "sr=0"),
        ({"sr": 22050.5}, "sr=22050.5"),
    ],
)
def test_invalid_trim_or_rate_is_a_settings_error(ramp_wav, options, message):
    path, _ = ramp_wav
    with pytest.raises(SettingsError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load(path, **options)


# --------------------------------------------------------------------------------------------
# Awkward real-world inputs


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return table


_OGG_CRC_TABLE = _crc_table()


def _ogg_pages(data: bytes) -> list[tuple[bytes, list[int], bytes]]:
    """(27-byte header, lacing values, body) of every page."""
    pages, pos = [], 0
    while pos < len(data):
        assert data[pos:pos + 4] == b"OggS"
        n_seg = data[pos + 26]
        lacing = list(data[pos + 27:pos + 27 + n_seg])
        body_at = pos + 27 + n_seg
        pages.append((data[pos:pos + 27], lacing, data[body_at:body_at + sum(lacing)]))
        pos = body_at + sum(lacing)
    return pages


def _ogg_page(header: bytes, flags: int, granule: int, seq: int, lacing: list[int],
              body: bytes) -> bytes:
    page = bytearray(header[:5] + bytes([flags]) + struct.pack("<q", granule) + header[14:18]
                     + struct.pack("<I", seq) + b"\0\0\0\0" + bytes([len(lacing)] + lacing)
                     + body)
    page[22:26] = struct.pack("<I", _ogg_crc(bytes(page)))
    return bytes(page)


def retag_ogg(src: Path, dst: Path, tags: list[bytes]) -> None:
    """Copy an Ogg Vorbis/Opus file with its comment header replaced by raw ``tags`` bytes.

    The comment packet holds ``KEY=value`` entries of any bytes; the pages after the headers
    (which start on a fresh page, as both specs require) are copied with new numbers and CRCs.
    """
    pages = _ogg_pages(src.read_bytes())
    packets: list[bytes] = []
    current, n_header_pages = b"", 0
    n_headers = 2 if pages[0][2].startswith(b"OpusHead") else 3
    for _header, lacing, body in pages:
        n_header_pages += 1
        pos = 0
        for lace in lacing:
            current += body[pos:pos + lace]
            pos += lace
            if lace < 255:
                packets.append(current)
                current = b""
        if len(packets) >= n_headers:
            break
    assert len(packets) == n_headers and current == b""
    comment = packets[1]
    opus = comment.startswith(b"OpusTags")
    magic = b"OpusTags" if opus else b"\x03vorbis"
    vendor_len = struct.unpack("<I", comment[len(magic):len(magic) + 4])[0]
    vendor = comment[len(magic) + 4:len(magic) + 4 + vendor_len]
    new_comment = magic + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(tags))
    new_comment += b"".join(struct.pack("<I", len(t)) + t for t in tags)
    if not opus:
        new_comment += b"\x01"  # Vorbis framing bit
    header0 = pages[0][0]
    out = [_ogg_page(header0, 0x02, 0, 0, pages[0][1], pages[0][2])]
    # The other header packets, paged afresh (at most 255 lacing values per page).
    segments: list[tuple[int, bytes]] = []
    for packet in [new_comment, *packets[2:]]:
        for i in range(0, len(packet) // 255 + 1):
            chunk = packet[i * 255:(i + 1) * 255]
            segments.append((len(chunk), chunk))
    seq, continued = 1, False
    while segments:
        page, segments = segments[:255], segments[255:]
        lacing = [lace for lace, _ in page]
        ends_packet = lacing[-1] < 255
        out.append(_ogg_page(header0, 0x01 if continued else 0,
                             0 if ends_packet else -1, seq, lacing,
                             b"".join(chunk for _, chunk in page)))
        continued = not ends_packet
        seq += 1
    for header, lacing, body in pages[n_header_pages:]:
        granule = struct.unpack("<q", header[6:14])[0]
        out.append(_ogg_page(header, header[5], granule, seq, lacing, body))
        seq += 1
    dst.write_bytes(b"".join(out))


SHIFT_JIS_TITLE = "夜明けのテーマ".encode("shift_jis")


@pytest.mark.parametrize("name", ["ogg-vorbis-44k-stereo-music", "opus-48k-stereo-music"])
def test_shift_jis_tags_in_ogg_do_not_stop_decoding(made, decoded, tmp_path, name):
    case = _by_name(name)
    with pytest.raises(UnicodeDecodeError):
        SHIFT_JIS_TITLE.decode("utf-8")  # the tag really is not UTF-8
    path = tmp_path / ("tagged" + case.suffix)
    retag_ogg(made(case).path, path, [b"TITLE=" + SHIFT_JIS_TITLE,
                                      b"ARTIST=" + "作曲者".encode("shift_jis"),
                                      b"ALBUM=plain ascii"])
    # The tags parse (the rewritten file is valid Ogg), and the Shift-JIS ones are what make
    # PyAV's default (strict) open fail.
    with av.open(str(path), metadata_errors="ignore") as container:
        assert container.streams.audio[0].metadata["ALBUM"] == "plain ascii"
    with pytest.raises(UnicodeDecodeError):
        with av.open(str(path)) as container:
            dict(container.streams.audio[0].metadata)
    audio = load(path)
    np.testing.assert_array_equal(audio.samples, decoded(case).samples)
    assert probe(path).sample_rate == case.sr


def test_shift_jis_tag_in_flac(made, decoded, tmp_path):
    """A FLAC Vorbis-comment block carrying Shift-JIS bytes as the title."""
    case = _by_name("flac-s16-44k-stereo-music")
    data = made(case).path.read_bytes()
    assert data[:4] == b"fLaC"
    pos, blocks = 4, []
    while True:
        last, kind = data[pos] & 0x80, data[pos] & 0x7F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        if kind != 4:  # drop any existing comment block
            blocks.append((kind, data[pos + 4:pos + 4 + size]))
        pos += 4 + size
        if last:
            break
    vendor = b"sonicdreams test"
    tag = b"TITLE=" + SHIFT_JIS_TITLE
    comment = (struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 1)
               + struct.pack("<I", len(tag)) + tag)
    blocks.insert(1, (4, comment))
    out = bytearray(b"fLaC")
    for i, (kind, body) in enumerate(blocks):
        out += bytes([kind | (0x80 if i == len(blocks) - 1 else 0)]) + len(body).to_bytes(3, "big")
        out += body
    path = tmp_path / "tagged.flac"
    path.write_bytes(bytes(out) + data[pos:])
    with pytest.raises(UnicodeDecodeError):
        with av.open(str(path)) as container:
            dict(container.metadata)
    np.testing.assert_array_equal(load(path).samples, decoded(case).samples)


AWKWARD_NAMES = ["no_extension", "SONG.MP3", "Track 01.FLAC", "夜明け の テーマ.ogg",
                 "café — живой звук 🎵.m4a", " leading and trailing spaces .wav",
                 "dots.in.name.mp3", "#hash & ampersand %20.opus"]
SOURCES = {".mp3": "mp3-44k-stereo-music", ".flac": "flac-s16-44k-stereo-music",
           ".ogg": "ogg-vorbis-44k-stereo-music", ".m4a": "m4a-aac-44k-stereo-music",
           ".wav": "wav-s16-44k-stereo-music", ".opus": "opus-48k-stereo-music"}


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_awkward_file_names_decode_the_same(made, decoded, tmp_path, name):
    suffix = Path(name).suffix.lower().strip() or ".mp3"  # no extension: an mp3 inside
    case = _by_name(SOURCES[suffix])
    path = tmp_path / name
    shutil.copyfile(made(case).path, path)
    audio = load(str(path))  # a plain string works as well as a Path
    np.testing.assert_array_equal(audio.samples, decoded(case).samples)
    assert audio.path == str(path)


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".flac", ".wav", ".m4a", ".opus"])
def test_a_wrong_extension_does_not_matter(made, decoded, tmp_path, suffix):
    """Content decides, not the name: each format saved under another format's extension."""
    case = _by_name(SOURCES[suffix])
    wrong = ".wav" if suffix != ".wav" else ".mp3"
    path = tmp_path / ("mislabelled" + wrong)
    shutil.copyfile(made(case).path, path)
    np.testing.assert_array_equal(load(path).samples, decoded(case).samples)


def test_the_first_audio_track_of_a_video_is_used(tmp_path, music_source):
    """A video with two audio tracks (e.g. language and commentary): players take the first."""
    path = tmp_path / "two tracks.mkv"
    sr = 44100
    first, second = music_source[:, :sr * 2], tones(sr, 1, 2.0)
    with av.open(str(path), "w") as out:
        streams = [out.add_stream("flac", rate=sr, layout=LAYOUTS[x.shape[0]])
                   for x in (first, second)]
        for stream, x in zip(streams, (first, second), strict=True):
            for pos in range(0, x.shape[1], 4096):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(x[:, pos:pos + 4096]), format="fltp",
                    layout=LAYOUTS[x.shape[0]])
                frame.sample_rate, frame.pts = sr, pos
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    audio = load(path)
    assert audio.channels == 2
    np.testing.assert_allclose(audio.samples, first, atol=2**-15)


@pytest.mark.parametrize(("second_sr", "second_channels"), [(48000, 2), (22050, 2), (44100, 1)])
def test_joined_files_with_another_format_keep_the_first_parts_format(tmp_path, second_sr,
                                                                      second_channels):
    """Two mp3s joined byte for byte (``cat a.mp3 b.mp3``), the second at another rate or
    channel count: the second part is converted, not played at the wrong speed."""
    first = tones(44100, 2, 2.0)  # 440 Hz left, 660 Hz right
    t = np.arange(2 * second_sr) / second_sr
    second = np.repeat((0.5 * np.sin(2 * np.pi * 880 * t))[None].astype(np.float32),
                       second_channels, axis=0)  # 880 Hz in every channel
    a = encode_pyav(tmp_path / "a.mp3", first, 44100, "libmp3lame")
    b = encode_pyav(tmp_path / "b.mp3", second, second_sr, "libmp3lame")
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    for sr in (None, 22050):
        with pytest.warns(SonicDreamsWarning) as caught:
            audio = load(joined, sr=sr)
        messages = " ".join(str(w.message) for w in caught)
        layout = LAYOUTS[second_channels]
        assert f"format changes within the file (to {second_sr} Hz {layout} at 0:02.0" in messages
        assert (audio.native_sr, audio.native_channels, audio.channels) == (44100, 2, 2)
        rate = sr or 44100
        length_s = audio.duration_s  # the second part's codec delay is not removed
        assert 4.0 <= length_s <= 4.1
        assert audio.n_samples == pytest.approx(audio.duration_s * rate, abs=1)
        head, tail = audio.samples[:, :round(1.9 * rate)], audio.samples[:, round(2.2 * rate):]
        assert dominant_hz(head[0], rate) == pytest.approx(440, abs=1)
        assert dominant_hz(tail[0], rate) == pytest.approx(880, abs=1)
        assert dominant_hz(tail[1], rate) == pytest.approx(880, abs=1)


def test_chained_ogg_streams_decode_end_to_end(made, decoded, tmp_path):
    """Ogg files joined byte for byte (as radio recorders write them) play one after another."""
    case = _by_name("ogg-vorbis-44k-stereo-music")
    part = made(case).path.read_bytes()
    path = tmp_path / "chained.ogg"
    path.write_bytes(part + part)
    audio = load(path)
    one = decoded(case)
    n = one.n_samples
    np.testing.assert_array_equal(audio.samples[:, :n], one.samples)
    # FFmpeg keeps the second stream's pre-roll (128 samples here, at most a Vorbis block);
    # after it, the second copy is bit-identical.
    extra = audio.n_samples - 2 * n
    assert 0 <= extra <= VORBIS
    np.testing.assert_array_equal(audio.samples[:, n + extra:], one.samples)
