"""Decode any audio or video file into float32 samples with PyAV.

Every container and codec FFmpeg reads works: mp3, wav (any bit depth), flac, ogg/vorbis, opus,
m4a/aac and the audio track of mp4/mkv/webm videos, at any sample rate and channel count.
Decoding streams packet by packet, so a resampled mono signal for analysis never needs the
native-rate samples in memory at once.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import AudioError, SettingsError, SonicDreamsWarning
from ..settings import MAX_SECONDS

__all__ = ["Audio", "AudioInfo", "AudioStream", "load", "probe", "check_trim", "format_time"]

log = logging.getLogger(__name__)

# A file whose packets fail to decode more often than this (and more often than they succeed)
# is not audio, even if FFmpeg guessed a demuxer from its extension.
_MAX_DECODE_ERRORS = 8


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What a file holds, read from its headers (no decoding)."""

    path: str
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration_s: float | None
    """Length from the headers; may be missing or approximate for some formats."""


@dataclass(frozen=True, slots=True)
class Audio:
    """Decoded samples plus where they came from.

    ``samples`` has shape ``(channels, n_samples)``. ``start_s`` is where these samples begin in
    the file, ``file_duration_s`` the length of the whole file (exact, counted while decoding).
    ``native_sr``/``native_channels`` describe the file even when ``samples`` were resampled.
    """

    samples: npt.NDArray[np.float32]
    sr: int
    path: str | None = None
    start_s: float = 0.0
    duration_s: float = 0.0
    """Length of the trimmed clip, counted in the file's own samples (exact)."""
    file_duration_s: float = 0.0
    native_sr: int = 0
    native_channels: int = 0

    def __post_init__(self) -> None:
        if self.samples.ndim != 2:
            raise ValueError(f"samples must have shape (channels, n), got {self.samples.shape}")
        # Arrays built by hand: derive what a decoded file would have told us.
        if not self.duration_s:
            object.__setattr__(self, "duration_s", self.samples.shape[1] / self.sr)
        if not self.file_duration_s:
            object.__setattr__(self, "file_duration_s", self.start_s + self.duration_s)
        if not self.native_sr:
            object.__setattr__(self, "native_sr", self.sr)
        if not self.native_channels:
            object.__setattr__(self, "native_channels", self.samples.shape[0])

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def y(self) -> npt.NDArray[np.float32]:
        """Mono signal (channel mean), shape ``(n_samples,)``."""
        if self.channels == 1:
            return self.samples[0]
        return self.samples.mean(axis=0, dtype=np.float32)


_NOT_REGULAR = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _check_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise AudioError(f"{p}: no such file; check the path") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise AudioError(f"{p}: symlink loop (the link points back to itself); fix or "
                             "remove the link") from None
        raise AudioError(f"{p}: cannot be read ({err.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(f"{p}: is a directory, not an audio file")
    for test, what in _NOT_REGULAR:
        if test(st.st_mode):
            raise AudioError(f"{p}: not a regular audio file (it is {what}); save the audio "
                             "to a file and give that")
    size = st.st_size
    if size == 0:
        raise AudioError(f"{p}: the file is empty (0 bytes)")
    if not os.access(p, os.R_OK):
        raise AudioError(f"{p}: permission denied; make the file readable")
    return p


def _open(p: Path):  # -> av.container.InputContainer
    import av

    try:
        return av.open(str(p), metadata_errors="ignore")
    except av.EOFError:
        if _media_magic(p):
            raise AudioError(f"{p}: the file ends too early: it is truncated or damaged; "
                             "download or export it again") from None
        # FFmpeg chose a demuxer from the extension (.ogg) and found no header at all.
        raise AudioError(f"{p}: not an audio or video file that can be read (no "
                         f"{p.suffix.lstrip('.') or 'media'} header found); "
                         "convert it to mp3, wav, flac or ogg") from None
    except av.FFmpegError as err:
        if _mp4_without_index(p):
            raise AudioError(
                f"{p}: the file is incomplete: it has no index ('moov' box), as when a "
                "download or recording stops early; download or export it again") from None
        raise AudioError(
            f"{p}: not an audio or video file that can be read ({_reason(err)}); "
            "convert it to mp3, wav, flac or ogg"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise AudioError(f"{p}: cannot be opened ({err})") from None


def _head(p: Path, n: int = 16) -> bytes:
    try:
        with open(p, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _media_magic(p: Path) -> bool:
    """True if the file starts like a media container or an mp3/aac stream."""
    head = _head(p)
    return (head[:4] in (b"OggS", b"RIFF", b"RF64", b"fLaC", b"FORM", b"caff", b"wvpk",
                         b"\x1aE\xdf\xa3")
            or head[:3] == b"ID3" or head[4:8] == b"ftyp"
            or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0))


def _mp4_without_index(p: Path) -> bool:
    """True for an MP4/M4A/MOV file with no 'moov' box: it was cut before its index."""
    import struct

    if _head(p, 8)[4:8] != b"ftyp":
        return False
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            pos = 0
            while pos + 8 <= size:
                f.seek(pos)
                box = f.read(16)
                length, kind = struct.unpack(">I4s", box[:8])
                if kind == b"moov":
                    return False
                if length == 1 and len(box) == 16:  # 64-bit box size
                    length = struct.unpack(">Q", box[8:16])[0]
                if length < 8:  # 0: the box runs to the end of the file
                    break
                pos += length
    except OSError:
        return False
    return True


def _frame_key(frame) -> tuple[str, str, int]:
    """What must stay the same from frame to frame: sample format, channel layout, rate."""
    return frame.format.name, frame.layout.name, int(frame.sample_rate)


def _reason(err: Exception) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return str(text).rstrip(".")


def _audio_stream(container, p: Path):
    streams = list(container.streams.audio)
    if not streams:
        found = ", ".join(f"{s.type} {s.codec_context.name}" for s in container.streams) or "none"
        raise AudioError(f"{p}: has no audio track (streams found: {found})")
    # The default or first stream, as players choose.
    return streams[0]


def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Read a file's audio format from its headers without decoding it.

    Raises
    ------
    AudioError
        If the path is missing, empty, not a media file, or has no audio track.
    """
    p = _check_path(path)
    with _open(p) as container:
        stream = _audio_stream(container, p)
        return _info(container, stream, p)


def _info(container, stream, p: Path) -> AudioInfo:
    ctx = stream.codec_context
    duration_s: float | None = None
    if stream.duration and stream.time_base:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration:
        duration_s = container.duration / 1_000_000
    return AudioInfo(
        path=str(p),
        container=container.format.name,
        codec=ctx.name,
        sample_rate=int(ctx.sample_rate or 0),
        channels=int(ctx.channels or 0),
        duration_s=duration_s,
    )


def _wav_declared_duration(p: Path) -> float | None:
    """Length a WAV header declares (FFmpeg trusts the file size instead, which hides a cut)."""
    import struct

    try:
        with open(p, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        return None
    pos, rate, align = 12, 0, 0
    while pos + 8 <= len(head):
        tag, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if tag == b"fmt " and pos + 20 <= len(head):
            rate = struct.unpack("<I", head[pos + 12:pos + 16])[0]
            align = struct.unpack("<H", head[pos + 20:pos + 22])[0]
        elif tag == b"data":
            if rate and align and size not in (0, 0xFFFFFFFF):
                return size / align / rate
            return None
        pos += 8 + size + (size & 1)
    return None


def _ogg_cut(p: Path) -> bool:
    """True for an Ogg file whose last page does not end the stream (it was cut short)."""
    try:
        with open(p, "rb") as f:
            if f.read(4) != b"OggS":
                return False
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 65536))
            tail = f.read()
    except OSError:
        return False
    at = tail.rfind(b"OggS")
    if at < 0 or at + 27 > len(tail):
        return True
    header_type = tail[at + 5]
    segments = tail[at + 26]
    body = sum(tail[at + 27: at + 27 + segments])
    complete = at + 27 + segments + body <= len(tail)
    return not (header_type & 0x04) or not complete


def check_trim(start: float, duration: float | None) -> tuple[float, float | None]:
    """Validate ``start`` and ``duration`` (seconds) and return them as floats."""
    try:
        start = float(start)
    except (TypeError, ValueError):
        raise SettingsError(f"start={start!r} must be a number of seconds >= 0") from None
    if not math.isfinite(start) or not 0 <= start <= MAX_SECONDS:
        raise SettingsError(f"start={start!r} must be a number of seconds in "
                            f"[0, {MAX_SECONDS}]")
    if duration is not None:
        try:
            duration = float(duration)
        except (TypeError, ValueError):
            raise SettingsError(f"duration={duration!r} must be a number of seconds > 0") from None
        if not math.isfinite(duration) or not 0 < duration <= MAX_SECONDS:
            raise SettingsError(f"duration={duration!r} must be a number of seconds in "
                                f"(0, {MAX_SECONDS}]; leave it out to go to the end of the "
                                "song")
    return start, duration


def format_time(seconds: float) -> str:
    """``185.23`` → ``"3:05.23"``."""
    minutes, secs = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{secs:05.2f}"


class AudioStream:
    """Decode a file block by block: ``for block in AudioStream(path, ...)``.

    Each block is float32 [shape=(channels, n)] of the trimmed clip, resampled and mixed
    down as asked; consecutive blocks join seamlessly. Only a few blocks are ever in memory,
    so an hour-long file is analysed in bounded memory. When the iteration ends, the
    attributes describing the file (``native_sr``, ``native_channels``, ``file_duration_s``,
    ``start_s``, ``duration_s``) are set; warnings about damage are issued then, and a
    ``start`` past the end raises :class:`SettingsError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, start: float = 0.0,
                 duration: float | None = None, sr: int | None = None,
                 mono: bool = False) -> None:
        self.start, self.duration = check_trim(start, duration)
        if sr is not None and not (isinstance(sr, int) and 1000 <= sr <= 768_000):
            raise SettingsError(f"sr={sr!r} must be an integer sample rate in [1000, 768000]")
        self.path = _check_path(path)
        self.sr = sr
        self.mono = mono
        self.native_sr = 0
        self.native_channels = 0
        self.file_duration_s = 0.0
        self.start_s = 0.0
        self.duration_s = 0.0

    def __iter__(self):
        import av

        p = self.path
        n_native = 0  # samples of the whole file, at its own rate
        written = 0  # output samples produced so far (before trimming)
        begin_out = end_out = None
        non_finite = False
        errors = 0
        decoded_frames = 0
        last_error: Exception | None = None
        with _open(p) as container:
            stream = _audio_stream(container, p)
            header_duration = (_wav_declared_duration(p)
                               or _info(container, stream, p).duration_s)
            stream.codec_context.thread_type = "AUTO"
            resampler = None
            native_key = None
            # Frames whose rate, layout or sample format differ from the first frame's (files
            # joined together, chained streams) are converted to the first frame's format;
            # unconverted, they would play at the wrong speed or stop the resampler.
            conformer = conform_key = None
            changes: list[str] = []

            def conformed(frame):
                """``frame`` (``None``: flush) as frames in the first frame's format."""
                nonlocal conformer, conform_key
                key = None if frame is None else _frame_key(frame)
                out = []
                if conformer is not None and key != conform_key:
                    out += conformer.resample(None)
                    conformer = conform_key = None
                if key is None:
                    return out
                if key == native_key:
                    return [*out, frame]
                if conformer is None:
                    conformer = av.AudioResampler(format=native_key[0], layout=native_layout,
                                                  rate=native_key[2])
                    conform_key = key
                    changes.append(f"{key[2]} Hz {key[1]} at "
                                   f"{format_time(n_native / native_key[2])}")
                return [*out, *conformer.resample(frame)]

            def trimmed(frames):
                nonlocal written, non_finite
                for out in frames:
                    block = out.to_ndarray()
                    if block.ndim == 1:
                        block = block[None, :]
                    lo, hi = written, written + block.shape[1]
                    written = hi
                    a, b = max(lo, begin_out), min(hi, end_out)
                    if b <= a:
                        continue
                    block = block[:, a - lo:b - lo]
                    if self.mono and block.shape[0] > 1:
                        block = block.mean(axis=0, dtype=np.float32, keepdims=True)
                    if not np.isfinite(block).all():
                        non_finite = True
                        block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
                    yield np.ascontiguousarray(block, dtype=np.float32)

            try:
                for packet in container.demux(stream):
                    try:
                        frames = packet.decode()
                    except av.FFmpegError as err:
                        errors += 1
                        last_error = err
                        if errors > _MAX_DECODE_ERRORS and errors > decoded_frames:
                            break
                        continue
                    for frame in frames:
                        decoded_frames += 1
                        if resampler is None:
                            self.native_sr = int(frame.sample_rate)
                            self.native_channels = len(frame.layout.channels)
                            native_key, native_layout = _frame_key(frame), frame.layout
                            out_sr = self.sr or self.native_sr
                            # big output frames: far fewer Python round trips per minute of audio
                            resampler = av.AudioResampler(format="fltp", rate=out_sr,
                                                          frame_size=16384)
                            begin = round(self.start * self.native_sr)
                            begin_out = round(begin * out_sr / self.native_sr)
                            end_out = (np.inf if self.duration is None else round(
                                (begin + round(self.duration * self.native_sr))
                                * out_sr / self.native_sr))
                        for part in conformed(frame):
                            n_native += part.samples
                            if written < end_out:  # past the clip: only count the samples
                                yield from trimmed(resampler.resample(part))
                if resampler is not None:
                    for part in conformed(None):
                        n_native += part.samples
                        if written < end_out:
                            yield from trimmed(resampler.resample(part))
                    if written < end_out:
                        yield from trimmed(resampler.resample(None))
            except av.FFmpegError as err:
                # A truncated or damaged file: keep what decoded, say so below.
                errors += 1
                last_error = err
            except (ValueError, MemoryError) as err:
                raise AudioError(f"{p}: decoding failed ({err})") from None
        self._finish(n_native, decoded_frames, errors, last_error, header_duration, non_finite)
        if changes:
            warnings.warn(
                f"{p}: the audio format changes within the file (to {', '.join(changes)}), "
                "as in files joined together; converted to the first part's "
                f"{self.native_sr} Hz {native_layout.name}", SonicDreamsWarning, stacklevel=2)

    def _finish(self, n_native: int, decoded_frames: int, errors: int, last_error,
                header_duration: float | None, non_finite: bool) -> None:
        p = self.path
        if decoded_frames == 0 or n_native == 0:
            why = f" ({_reason(last_error)})" if last_error else ""
            raise AudioError(f"{p}: no audio could be decoded{why}; the file is damaged or "
                             "not audio")
        if errors > decoded_frames:
            raise AudioError(f"{p}: most of the file failed to decode ({errors} damaged "
                             "packets); it is damaged or not really audio")
        native_sr = self.native_sr
        self.file_duration_s = n_native / native_sr
        begin = round(self.start * native_sr)
        if begin >= n_native:
            raise SettingsError(
                f"start={self.start:g} s is past the end of {p.name}, which is "
                f"{format_time(self.file_duration_s)} ({self.file_duration_s:.3f} s) long")
        end = n_native if self.duration is None else min(
            n_native, begin + round(self.duration * native_sr))
        self.start_s = begin / native_sr
        self.duration_s = (end - begin) / native_sr
        declared = header_duration
        if not errors and _ogg_cut(p):
            warnings.warn(
                f"{p}: the file stops before the end of its audio stream: it is probably "
                f"truncated ({format_time(self.file_duration_s)} decoded)",
                SonicDreamsWarning, stacklevel=3)
        elif not errors and declared and self.file_duration_s < declared - max(0.5,
                                                                               0.02 * declared):
            warnings.warn(
                f"{p}: only {format_time(self.file_duration_s)} of audio decoded, but its "
                f"header says {format_time(declared)}: the file is probably truncated",
                SonicDreamsWarning, stacklevel=3)
        if errors:
            warnings.warn(
                f"{p}: {errors} damaged packet(s) skipped ({_reason(last_error)}); "
                "the file may be truncated or corrupt", SonicDreamsWarning, stacklevel=3)
        if non_finite:
            warnings.warn(f"{p}: contains NaN or infinite samples; they were replaced by "
                          "silence", SonicDreamsWarning, stacklevel=3)


def load(
    path: str | os.PathLike[str],
    *,
    start: float = 0.0,
    duration: float | None = None,
    sr: int | None = None,
    mono: bool = False,
) -> Audio:
    """Decode an audio file (or a video's audio track) to float32 samples.

    Parameters
    ----------
    path : str or path
        Any file FFmpeg can read.
    start, duration : float
        Trim to ``[start, start + duration)`` seconds; ``duration=None`` means to the end.
        A duration that runs past the end stops at the end.
    sr : int or None
        Resample to this rate; ``None`` keeps the file's own rate.
    mono : bool
        Mix down to one channel (the channel mean, as librosa does).

    Returns
    -------
    Audio
        ``samples`` of shape ``(channels, n)``, float32. Values beyond ±1 are kept;
        NaN and infinite samples are replaced by 0 with a :class:`SonicDreamsWarning`.

    Raises
    ------
    AudioError
        Missing path, directory, empty or unreadable file, no audio track, nothing decodable.
    SettingsError
        Invalid ``start``/``duration``, or ``start`` at or past the end of the song.

    See Also
    --------
    AudioStream : the same, block by block.
    """
    stream = AudioStream(path, start=start, duration=duration, sr=sr, mono=mono)
    blocks = list(stream)
    channels = 1 if mono else max(stream.native_channels, 1)
    samples = (np.concatenate(blocks, axis=1) if len(blocks) > 1 else
               blocks[0] if blocks else np.zeros((channels, 0), np.float32))
    return Audio(
        samples=samples,
        sr=stream.sr or stream.native_sr,
        path=str(stream.path),
        start_s=stream.start_s,
        duration_s=stream.duration_s,
        file_duration_s=stream.file_duration_s,
        native_sr=stream.native_sr,
        native_channels=stream.native_channels,
    )
