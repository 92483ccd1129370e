"""Video files with PyAV: segments of encoded frames, then one atomic mux with the song's audio.

Frames are encoded straight from memory (no image files) into *segments*, small MP4 files of
consecutive frames, each written under a temporary name and renamed when complete, so an
interrupted render keeps every finished segment. :func:`finalize` then copies the segments'
packets into the output without re-encoding, adds the soundtrack (the song's own audio at its
own rate and channels, trimmed to the clip) and renames the result into place: the output
file exists only when it is complete.

Timestamps come from integer frame indices in a ``1/fps`` time base, never from accumulated
floats, so frame ``i`` is shown at exactly ``i / fps`` and audio and video stay in sync.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ._compiled import lazy_kernel
from .errors import OutputError, SettingsError

__all__ = ["VideoSpec", "SegmentWriter", "finalize", "container_for", "read_manifest",
           "probe_video", "VideoInfo", "PRESETS", "auto_preset"]

log = logging.getLogger(__name__)

PRESETS = ("auto", "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
           "slower", "veryslow")
# container by extension: (format, default video codec, default audio codec)
_CONTAINERS = {
    ".mp4": ("mp4", "libx264", "aac"),
    ".m4v": ("mp4", "libx264", "aac"),
    ".mov": ("mov", "libx264", "aac"),
    ".mkv": ("matroska", "libx264", "aac"),
    ".webm": ("webm", "libvpx-vp9", "libopus"),
    ".gif": ("gif", "gif", None),
}
_CODEC_ALIASES = {"h264": "libx264", "x264": "libx264", "avc": "libx264", "hevc": "libx265",
                  "h265": "libx265", "x265": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1",
                  "opus": "libopus"}
# Codecs each container accepts (what players handle; FFmpeg accepts more).
_ALLOWED = {
    "mp4": {"libx264", "libx265", "libvpx-vp9", "libsvtav1"},
    "mov": {"libx264", "libx265", "prores_ks"},
    "matroska": {"libx264", "libx265", "libvpx-vp9", "libsvtav1", "ffv1"},
    "webm": {"libvpx-vp9", "libsvtav1"},
    "gif": {"gif"},
}
_VP9_SPEED = {"ultrafast": 8, "superfast": 7, "veryfast": 6, "faster": 5, "fast": 5,
              "medium": 4, "slow": 2, "slower": 1, "veryslow": 0}
_SVT_SPEED = {"ultrafast": 12, "superfast": 11, "veryfast": 10, "faster": 9, "fast": 8,
              "medium": 7, "slow": 5, "slower": 4, "veryslow": 2}


def container_for(path: str | os.PathLike[str]) -> tuple[str, str, str | None]:
    """(format, video codec, audio codec) for an output path, chosen by its extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in _CONTAINERS:
        raise SettingsError(f"output {Path(path).name!r}: unsupported extension "
                            f"{suffix or '(none)'}; use one of {', '.join(sorted(_CONTAINERS))}")
    return _CONTAINERS[suffix]


def auto_preset(cores: int | None = None) -> str:
    """The encoder speed for this machine: superfast on fewer than 4 cores, else veryfast.

    x264 is a large share of a render's work (veryfast: about 12 ms of CPU a 512² frame of a
    built-in style, 90 ms at 1080p; superfast: 6 and 56 ms). At crf 18 both look the
    same; superfast's files are larger. On 2 cores the picture and the encoder share them,
    and superfast keeps a 1080p render under twice the song's length."""
    cores = (os.cpu_count() or 1) if cores is None else cores
    return "superfast" if cores < 4 else "veryfast"


def _yuv420_py(img, out):
    """RGB (uint8 rows × columns × 3, even sides) → planar YUV 4:2:0 in ``out`` (Y, then U,
    then V, flat), BT.601 limited range in swscale's integer arithmetic. Rows read flat with
    unsigned arithmetic: the loops compile to SIMD."""
    h, w = img.shape[0], img.shape[1]
    n = h * w
    flat = img.reshape(h, 3 * w)
    for i in range(h):
        src = flat[i]
        luma = out[i * w:(i + 1) * w]
        for j in range(w):
            luma[j] = np.uint8(((np.uint32(66) * src[3 * j] + np.uint32(129) * src[3 * j + 1]
                                 + np.uint32(25) * src[3 * j + 2] + np.uint32(128)) >> 8)
                               + np.uint32(16))
    hc, wc = h // 2, w // 2
    for i in range(hc):
        a, b = flat[2 * i], flat[2 * i + 1]
        u = out[n + i * wc:n + (i + 1) * wc]
        v = out[n + n // 4 + i * wc:n + n // 4 + (i + 1) * wc]
        for j in range(wc):
            k = 6 * j
            r = np.int32(a[k]) + np.int32(a[k + 3]) + np.int32(b[k]) + np.int32(b[k + 3])
            g = (np.int32(a[k + 1]) + np.int32(a[k + 4]) + np.int32(b[k + 1])
                 + np.int32(b[k + 4]))
            bl = (np.int32(a[k + 2]) + np.int32(a[k + 5]) + np.int32(b[k + 2])
                  + np.int32(b[k + 5]))
            u[j] = np.uint8(((-38 * r - 74 * g + 112 * bl + 512) >> 10) + 128)
            v[j] = np.uint8(((112 * r - 94 * g - 18 * bl + 512) >> 10) + 128)
    return out


_yuv420 = lazy_kernel(_yuv420_py)


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """How frames are encoded."""

    fps: Fraction
    size: tuple[int, int]
    """(height, width) of the encoded frames."""
    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"
    audio_codec: str | None = "aac"
    audio_bitrate: int = 192_000
    threads: int = 0
    """Encoder threads (0 = as many as useful)."""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_output(cls, output: str | os.PathLike[str], *, fps: Fraction, size: tuple[int, int],
                   codec: str | None = None, crf: int = 18, preset: str = "auto",
                   audio_bitrate: int = 192_000) -> VideoSpec:
        """The spec for an output file: codecs from its extension unless ``codec`` is given."""
        import av

        fmt, default_video, default_audio = container_for(output)
        wanted = (codec or default_video).lower()
        name = _CODEC_ALIASES.get(wanted, wanted)
        if name not in _ALLOWED[fmt]:
            raise SettingsError(f"codec={codec!r} cannot go in a {Path(output).suffix} file; "
                                f"use one of {', '.join(sorted(_ALLOWED[fmt]))}")
        try:
            av.Codec(name, "w")
        except Exception:
            raise SettingsError(f"codec={name!r} is not available in this FFmpeg build") from None
        if preset not in PRESETS:
            raise SettingsError(f"preset={preset!r} must be one of {', '.join(PRESETS)}")
        h, w = size
        if name != "gif" and (h % 2 or w % 2):
            raise SettingsError(f"size={w}x{h}: width and height must be even for {name}; "
                                f"use {w + w % 2}x{h + h % 2}")
        if preset == "auto":
            preset = auto_preset()
        return cls(fps=Fraction(fps), size=(h, w), codec=name, crf=int(crf), preset=preset,
                   audio_codec=default_audio, audio_bitrate=int(audio_bitrate))

    def encoder_options(self) -> dict[str, str]:
        if self.codec in ("libx264", "libx265"):
            opts = {"crf": str(self.crf), "preset": self.preset}
            if self.codec == "libx264":
                # x264's macroblock-tree lookahead reads memory it never wrote (at 64², 192²,
                # 480x854 …, not at 512² or 720p): the same frames encoded differently from
                # run to run, and a resumed render did not equal an uninterrupted one.
                # FFmpeg's own option, so a user's x264-params do not undo it.
                opts["mbtree"] = "0"
        elif self.codec == "libvpx-vp9":
            opts = {"crf": str(self.crf + 13), "b": "0", "row-mt": "1", "deadline": "good",
                    "cpu-used": str(_VP9_SPEED[self.preset])}
        elif self.codec == "libsvtav1":
            opts = {"crf": str(self.crf + 12), "preset": str(_SVT_SPEED[self.preset])}
        else:
            opts = {}
        return {**opts, **self.extra}

    @property
    def pix_fmt(self) -> str:
        return {"gif": "rgb8", "ffv1": "yuv444p", "prores_ks": "yuv422p10le"}.get(self.codec,
                                                                                  "yuv420p")


class SegmentWriter:
    """Encodes consecutive frames into one segment file; the file appears only when complete.

    Use as a context manager: leaving the block normally finishes and renames the segment,
    leaving it by an exception deletes the partial file.
    """

    def __init__(self, path: str | os.PathLike[str], spec: VideoSpec) -> None:
        import av

        self.path = Path(path)
        self.spec = spec
        self.tmp = self.path.with_name(f".{self.path.name}.part")
        # Segments are MP4 (or MKV for codecs MP4 cannot hold): exact 1/fps time bases.
        fmt = "matroska" if spec.codec in ("ffv1", "prores_ks") else "mp4"
        self._container = av.open(str(self.tmp), mode="w", format=fmt)
        codec = "libx264rgb" if spec.codec == "gif" else spec.codec
        options = ({"crf": "0", "preset": "ultrafast"} if spec.codec == "gif"
                   else spec.encoder_options())
        stream = self._container.add_stream(codec, rate=spec.fps, options=options)
        stream.height, stream.width = spec.size
        stream.pix_fmt = "rgb24" if spec.codec == "gif" else spec.pix_fmt
        stream.codec_context.time_base = 1 / spec.fps
        stream.time_base = 1 / spec.fps
        stream.codec_context.thread_type = "AUTO"
        if spec.threads:
            stream.codec_context.thread_count = spec.threads
        self._stream = stream
        self.frames_written = 0

    def prepare(self, frames: npt.NDArray[np.uint8]) -> list:
        """RGB frames [shape=(B, height, width, 3)] converted to the encoder's pixel format.

        The conversion is a good part of the cost of encoding; it may run on another thread
        than :meth:`write` (YUV 4:2:0 in our compiled pass, other formats in FFmpeg's
        swscale; both release the GIL).
        """
        import av

        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.shape[1:] != (*self.spec.size, 3) or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 (B, {self.spec.size[0]}, "
                             f"{self.spec.size[1]}, 3), got {frames.dtype} {frames.shape}")
        pix_fmt = self._stream.pix_fmt
        h, w = self.spec.size
        out = []
        if pix_fmt == "yuv420p" and h % 2 == 0 and w % 2 == 0:
            # Our own pass: a third of swscale's time (BT.601 limited range like it; chroma
            # the mean of each 2×2 block, within a level or two of swscale's filter).
            convert = _yuv420()
            planes = np.empty(h * w * 3 // 2, dtype=np.uint8)
            for img in frames:
                convert(np.ascontiguousarray(img), planes)
                out.append(av.VideoFrame.from_ndarray(planes.reshape(-1, w), format="yuv420p"))
            return out
        for img in frames:
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            out.append(frame if pix_fmt == "rgb24" else frame.reformat(format=pix_fmt))
        return out

    def write(self, frames) -> None:
        """Encode a batch: RGB frames [shape=(B, height, width, 3)] or :meth:`prepare`'s."""
        if not isinstance(frames, list):
            frames = self.prepare(frames)
        for frame in frames:
            frame.pts = self.frames_written
            frame.time_base = self._stream.codec_context.time_base
            self._container.mux(self._stream.encode(frame))
            self.frames_written += 1

    def close(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:  # a half-written file may fail to close; it is deleted anyway
            pass
        try:
            self.tmp.unlink()
        except OSError:
            pass

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """The soundtrack: ``path`` trimmed to ``[start_s, start_s + duration_s)``."""

    path: str
    start_s: float
    duration_s: float


def _video_packets(segments: Sequence[Path], out_stream,
                   fps: Fraction) -> Iterator[tuple[float, object]]:
    """Packets of all segments in order, re-timed to follow each other, with their times."""
    import av

    offset = 0  # frames before the current segment
    for path in segments:
        with av.open(str(path)) as src:
            stream = src.streams.video[0]
            shift = int(round(offset / fps / stream.time_base))
            n_packets = 0
            for packet in src.demux(stream):
                if packet.dts is None:
                    continue  # the demuxer's empty flush packet
                packet.pts += shift
                packet.dts += shift
                packet.stream = out_stream
                n_packets += 1
                yield float(packet.dts * stream.time_base), packet
            offset += stream.frames or n_packets


def _audio_packets(track: AudioTrack, out_stream, cancel: threading.Event | None = None,
                   pace: Callable[[float], None] | None = None
                   ) -> Iterator[tuple[float, object]]:
    """Encode the trimmed soundtrack; packets with their times. Stops with
    :class:`~sonicdreams._jobs.Cancelled` soon after ``cancel`` is set; ``pace(t)`` is called
    before the audio from ``t`` seconds of the trimmed track on is read (it may wait)."""
    import av

    from ._jobs import Cancelled

    rate = out_stream.codec_context.sample_rate
    with av.open(track.path, metadata_errors="ignore") as src:
        stream = src.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=out_stream.codec_context.layout,
                                      rate=rate)
        begin = round(track.start_s * rate)
        end = begin + round(track.duration_s * rate)
        pos = 0  # samples seen (at the output rate)
        written = 0
        time_base = Fraction(1, rate)

        def emit(frames):
            nonlocal pos, written
            for frame in frames:
                n = frame.samples
                lo, hi = max(begin - pos, 0), min(end - pos, n)
                pos += n
                if hi <= lo:
                    continue
                data = frame.to_ndarray()
                if (lo, hi) != (0, n) or not np.isfinite(data).all():
                    # trimmed, or NaN/inf samples (the encoder refuses them; analysis warned)
                    data = np.nan_to_num(data[:, lo:hi], nan=0.0, posinf=0.0, neginf=0.0)
                    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp",
                                                       layout=out_stream.codec_context.layout)
                    frame.sample_rate = rate
                frame.pts = written
                frame.time_base = time_base
                written += hi - lo
                for packet in out_stream.encode(frame):
                    yield _packet_time(packet), packet

        for packet in src.demux(stream):
            if pace is not None:
                pace(max(pos - begin, 0) / rate)
            if cancel is not None and cancel.is_set():
                raise Cancelled("the soundtrack was cancelled")
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue  # the decoder already warned the user about damage during analysis
            for frame in frames:
                yield from emit(resampler.resample(frame))
            if pos >= end:
                break
        else:
            yield from emit(resampler.resample(None))
        for packet in out_stream.encode(None):
            yield _packet_time(packet), packet


def _packet_time(packet) -> float:
    return float(packet.pts * packet.time_base) if packet.pts is not None else 0.0


def encode_soundtrack(track: AudioTrack, path: Path, spec: VideoSpec, *,
                      cancel: threading.Event | None = None,
                      pace: Callable[[float], None] | None = None) -> Path:
    """Encode the soundtrack into its own file (atomically), to be copied by :func:`finalize`.

    Run while the frames render, so the output is only a copy job at the end; ``cancel``
    stops it within a packet or so; ``pace(t)``, called before the audio from ``t`` seconds
    of the track on, may hold it back (behind the frames).
    """
    import av

    tmp = path.with_name(f".{path.name}.part")
    try:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            stream = _audio_stream(out, track, spec)
            for _, packet in _audio_packets(track, stream, cancel, pace):
                out.mux(packet)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path


def _copied_packets(path: Path, out_stream) -> Iterator[tuple[float, object]]:
    import av

    with av.open(str(path)) as src:
        stream = src.streams.audio[0]
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            yield float(packet.dts * stream.time_base), packet


def finalize(segments: Sequence[Path], output: str | os.PathLike[str], *, spec: VideoSpec,
             audio: AudioTrack | None, metadata: dict[str, str] | None = None,
             audio_file: Path | None = None, overwrite: bool = True) -> Path:
    """Join the segments and the soundtrack into ``output``, atomically.

    Video packets are copied (no re-encoding); audio is encoded once. GIF output is the
    exception: its frames are decoded from the segments and encoded with a palette. Without
    ``overwrite`` a file that appeared at ``output`` meanwhile is left alone
    (:class:`OutputError`).
    """
    import av

    output = Path(output)
    fmt, _, _ = container_for(output)
    tmp = output.with_name(f".{output.stem}.part{output.suffix}")
    try:
        if spec.codec == "gif":
            _write_gif(segments, tmp, spec)
        else:
            with av.open(str(segments[0])) as first:
                template = first.streams.video[0]
                with av.open(str(tmp), mode="w", format=fmt,
                             options={"movflags": "+faststart"} if fmt in ("mp4", "mov")
                             else {}) as out:
                    for key, value in (metadata or {}).items():
                        out.metadata[key] = value
                    vstream = out.add_stream_from_template(template)
                    vstream.time_base = 1 / spec.fps
                    sources = [_video_packets(segments, vstream, spec.fps)]
                    if audio_file is not None and spec.audio_codec:
                        with av.open(str(audio_file)) as encoded:
                            astream = out.add_stream_from_template(encoded.streams.audio[0])
                        sources.append(_copied_packets(audio_file, astream))
                    elif audio is not None and spec.audio_codec:
                        sources.append(_audio_packets(audio, _audio_stream(out, audio, spec)))
                    # Interleave by time so players can stream the file.
                    for _, packet in heapq.merge(*sources, key=lambda item: item[0]):
                        out.mux(packet)
        _move_into_place(tmp, output, overwrite=overwrite)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return output


def _move_into_place(tmp: Path, output: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, output)
        return
    try:
        os.link(tmp, output)  # atomic, and fails if the name is taken: never clobbers
    except FileExistsError:
        raise OutputError(f"output {output} appeared while rendering; add -y (--overwrite) "
                          "to replace it (the rendered pieces are kept: it takes seconds)"
                          ) from None
    except OSError:  # a file system without hard links
        if output.exists():
            raise OutputError(f"output {output} appeared while rendering; add -y "
                              "(--overwrite) to replace it") from None
        os.replace(tmp, output)
        return
    tmp.unlink()


def _audio_stream(out, track: AudioTrack, spec: VideoSpec):
    import av

    with av.open(track.path, metadata_errors="ignore") as src:
        ctx = src.streams.audio[0].codec_context
        rate, channels = int(ctx.sample_rate), int(ctx.channels)
    if spec.audio_codec == "libopus":
        rate = 48000  # Opus only runs at 48 kHz
        layout = "stereo" if channels >= 2 else "mono"
    else:
        if rate > 96000:
            rate = 96000
        layout = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1",
                  8: "7.1"}.get(channels, "stereo")
    stream = out.add_stream(spec.audio_codec, rate=rate)
    stream.layout = layout
    stream.bit_rate = spec.audio_bitrate
    return stream


def _write_gif(segments: Sequence[Path], tmp: Path, spec: VideoSpec) -> None:
    import av

    with av.open(str(tmp), mode="w", format="gif") as out:
        stream = out.add_stream("gif", rate=spec.fps)
        stream.height, stream.width = spec.size
        stream.pix_fmt = "rgb8"
        index = 0
        for path in segments:
            with av.open(str(path)) as src:
                for frame in src.decode(video=0):
                    rgb = frame.to_ndarray(format="rgb24")
                    new = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                    new.pts = index
                    index += 1
                    out.mux(stream.encode(new))
        out.mux(stream.encode(None))


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a rendered file holds (read back with PyAV)."""

    n_frames: int
    fps: Fraction
    size: tuple[int, int]
    video_codec: str
    duration_s: float
    audio_codec: str | None
    audio_rate: int | None
    audio_channels: int | None
    audio_duration_s: float | None
    metadata: dict[str, str]


def probe_video(path: str | os.PathLike[str], *, count: bool = True) -> VideoInfo:
    """Read a video's streams; with ``count`` the frames are decoded and counted exactly."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(v)) if count else int(v.frames)
        a = c.streams.audio[0] if c.streams.audio else None
        return VideoInfo(
            n_frames=n,
            fps=Fraction(v.average_rate) if v.average_rate else Fraction(0),
            size=(v.codec_context.height, v.codec_context.width),
            video_codec=v.codec_context.name,
            duration_s=float(v.duration * v.time_base) if v.duration else 0.0,
            audio_codec=a.codec_context.name if a else None,
            audio_rate=a.codec_context.sample_rate if a else None,
            audio_channels=a.codec_context.channels if a else None,
            audio_duration_s=float(a.duration * a.time_base) if a is not None and a.duration
            else None,
            metadata=dict(c.metadata),
        )


def read_manifest(path: str | os.PathLike[str]) -> dict:
    """The render manifest embedded in a video made by sonicdreams."""
    import av

    if not Path(path).is_file():
        raise SettingsError(f"{path}: no such video file" if not Path(path).exists()
                            else f"{path}: not a video file")
    try:
        with av.open(str(path)) as c:
            # mp4/mov store "comment"; Matroska and WebM upper-case their tag names
            text = next((v for k, v in c.metadata.items() if k.lower() == "comment"), "")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        reason = " ".join(str(getattr(err, "strerror", None) or err).split())
        raise SettingsError(f"{path}: cannot be read as a video ({reason})") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("generator") != "sonicdreams":
        raise SettingsError(f"{path}: has no sonicdreams manifest; it was not made by "
                            "sonicdreams, or its metadata was stripped")
    song = data.get("song")
    if not isinstance(data.get("settings"), dict) or not isinstance(song, dict) or \
            not isinstance(song.get("sha256"), str) or not isinstance(data.get("files", {}), dict):
        raise SettingsError(f"{path}: its sonicdreams manifest is damaged (no settings or song "
                            "record); it cannot be reproduced from it")
    return data
