"""``analyze()``: a song (plus optional stems) in, per-video-frame features out."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import AudioError, SonicDreamsWarning
from ..progress import ProgressCallback, Reporter
from ..timing import frame_times, n_frames, parse_fps
from .decode import Audio, check_trim, load
from .features import (
    Analysis,
    AnalysisSettings,
    EnvelopeSource,
    analyze_audio,
    envelope_source,
    pitch_dominance,
    sample_at_frames,
)

__all__ = ["Features", "SourceInfo", "analyze", "analyze_file"]

log = logging.getLogger(__name__)

PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

AudioSource = str | os.PathLike | Audio


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The audio file behind an analysis."""

    path: str | None
    digest: str | None
    sample_rate: int
    channels: int
    file_duration_s: float
    start_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class Features:
    """Musical features sampled at the video's frames: frame ``i`` is at ``i / fps`` seconds.

    Every per-frame array has exactly ``n_frames = round(duration_s * fps)`` entries. Envelopes,
    onset strength and chroma are in [0, 1]; silence gives zeros. Times (beats, sections) are
    seconds from ``start_s`` of the song, i.e. video time.
    """

    fps: Fraction
    n_frames: int
    start_s: float
    duration_s: float
    song: SourceInfo
    pulse: npt.NDArray[np.float32]
    """Pulse envelope [shape=(n_frames,)]: loudness of the part chosen for pulse."""
    motion: npt.NDArray[np.float32]
    """Motion envelope [shape=(n_frames,)]."""
    full: npt.NDArray[np.float32]
    """Loudness envelope of the song's full mix."""
    percussive: npt.NDArray[np.float32]
    harmonic: npt.NDArray[np.float32]
    onset: npt.NDArray[np.float32]
    rms: npt.NDArray[np.float32]
    chroma: npt.NDArray[np.float32]
    """[shape=(12, n_frames)] rows C … B (from ``class_audio`` when given)."""
    pitches_sorted: npt.NDArray[np.int64]
    """Pitch classes from most to least dominant (Lucid Sonic Dreams' ``pitches_sorted``)."""
    tempo_bpm: float
    beat_times: npt.NDArray[np.float64]
    section_times: npt.NDArray[np.float64]
    pulse_source: str
    """Where pulse came from: ``"percussive"``, ``"harmonic"``, ``"full"`` or a stem's path."""
    motion_source: str
    class_source: str

    @property
    def times(self) -> npt.NDArray[np.float64]:
        """Frame times in seconds, ``i / fps``."""
        return frame_times(self.n_frames, self.fps)

    @property
    def beat_frames(self) -> npt.NDArray[np.int64]:
        """Index of the frame nearest to each beat."""
        return self._nearest_frames(self.beat_times)

    @property
    def section_frames(self) -> npt.NDArray[np.int64]:
        return self._nearest_frames(self.section_times)

    def _nearest_frames(self, times: np.ndarray) -> npt.NDArray[np.int64]:
        idx = np.floor(np.asarray(times) * float(self.fps) + 0.5).astype(np.int64)
        return np.clip(idx, 0, max(self.n_frames - 1, 0))

    def envelope(self, *, percussive: bool, harmonic: bool) -> npt.NDArray[np.float32]:
        """The song's envelope picked by Lucid Sonic Dreams' percussive/harmonic rule."""
        return getattr(self, envelope_source(percussive, harmonic))

    @property
    def dominant_pitches(self) -> list[str]:
        return [PITCH_NAMES[i] for i in self.pitches_sorted]

    def to_dict(self) -> dict:
        """Everything as JSON-ready Python types."""
        def arr(x: np.ndarray, digits: int = 5) -> list:
            return np.round(np.asarray(x, dtype=np.float64), digits).tolist()

        return {
            "fps": str(self.fps),
            "fps_float": float(self.fps),
            "n_frames": self.n_frames,
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "song": {
                "path": self.song.path,
                "sha256": self.song.digest,
                "sample_rate": self.song.sample_rate,
                "channels": self.song.channels,
                "file_duration_s": self.song.file_duration_s,
            },
            "tempo_bpm": round(self.tempo_bpm, 3),
            "beat_times": arr(self.beat_times, 4),
            "section_times": arr(self.section_times, 4),
            "dominant_pitches": self.dominant_pitches,
            "pitches_sorted": self.pitches_sorted.tolist(),
            "sources": {"pulse": self.pulse_source, "motion": self.motion_source,
                        "class": self.class_source},
            "frames": {
                "time": arr(self.times, 6),
                "pulse": arr(self.pulse),
                "motion": arr(self.motion),
                "full": arr(self.full),
                "percussive": arr(self.percussive),
                "harmonic": arr(self.harmonic),
                "onset": arr(self.onset),
                "rms": arr(self.rms, 6),
                "chroma": arr(self.chroma),
            },
        }


def _meta_arrays(info: SourceInfo) -> dict[str, np.ndarray]:
    return {
        "meta_sample_rate": np.asarray(info.sample_rate),
        "meta_channels": np.asarray(info.channels),
        "meta_file_duration_s": np.asarray(info.file_duration_s),
        "meta_start_s": np.asarray(info.start_s),
        "meta_duration_s": np.asarray(info.duration_s),
    }


def analyze_file(
    source: AudioSource,
    *,
    start: float = 0.0,
    duration: float | None = None,
    settings: AnalysisSettings | None = None,
    cache: bool = True,
    progress: ProgressCallback | None = None,
) -> tuple[Analysis, SourceInfo]:
    """Analyse one file (or decoded :class:`Audio`) on the grid, using the on-disk cache."""
    from . import cache as feature_cache

    s = settings or AnalysisSettings()
    start, duration = check_trim(start, duration)
    if isinstance(source, Audio):
        audio = _trim_audio(source, start, duration)
        info = SourceInfo(source.path, None, audio.native_sr, audio.native_channels,
                          audio.file_duration_s, audio.start_s, audio.duration_s)
        return analyze_audio(audio, settings=s, progress=Reporter(progress, "analyze")), info

    path = Path(source)
    root = feature_cache.cache_dir() if cache else None
    digest = key = None
    if root is not None and path.is_file():
        digest = feature_cache.file_digest(path)
        key = feature_cache.entry_key(digest, start=start, duration=duration, **s.cache_key())
        stored = feature_cache.load_entry(root, key)
        if stored is not None:
            try:
                analysis = Analysis.from_arrays(stored)
                info = SourceInfo(
                    str(path), digest, int(stored["meta_sample_rate"]),
                    int(stored["meta_channels"]), float(stored["meta_file_duration_s"]),
                    float(stored["meta_start_s"]), float(stored["meta_duration_s"]),
                )
                log.debug("features of %s from the cache", path)
                return analysis, info
            except (KeyError, ValueError, TypeError) as err:
                log.warning("ignoring damaged cache entry for %s (%s)", path, err)
    Reporter(progress, "decode")(0, 1)
    audio = load(path, start=start, duration=duration, sr=s.sr, mono=True)
    Reporter(progress, "decode")(1, 1)
    analysis = analyze_audio(audio, settings=s, progress=Reporter(progress, "analyze"))
    info = SourceInfo(str(path), digest, audio.native_sr, audio.native_channels,
                      audio.file_duration_s, audio.start_s, audio.duration_s)
    if root is not None and key is not None:
        feature_cache.save_entry(root, key, {**analysis.to_arrays(), **_meta_arrays(info)})
    return analysis, info


def _trim_audio(audio: Audio, start: float, duration: float | None) -> Audio:
    from .decode import format_time
    from ..errors import SettingsError

    begin = round(start * audio.sr)
    if begin >= audio.n_samples:
        raise SettingsError(
            f"start={start:g} s is past the end of the audio, which is "
            f"{format_time(audio.duration_s)} ({audio.duration_s:.3f} s) long"
        )
    if begin == 0 and duration is None:
        return audio
    end = audio.n_samples if duration is None else min(audio.n_samples,
                                                       begin + round(duration * audio.sr))
    return Audio(np.ascontiguousarray(audio.samples[:, begin:end]), audio.sr, path=audio.path,
                 start_s=audio.start_s + begin / audio.sr, duration_s=(end - begin) / audio.sr,
                 file_duration_s=audio.file_duration_s, native_sr=audio.native_sr,
                 native_channels=audio.native_channels)


def _describe(source: AudioSource) -> str:
    if isinstance(source, Audio):
        return source.path or "<array>"
    return str(source)


def analyze(
    song: AudioSource,
    *,
    fps: int | float | str | Fraction = 30,
    start: float = 0.0,
    duration: float | None = None,
    pulse_audio: AudioSource | None = None,
    motion_audio: AudioSource | None = None,
    class_audio: AudioSource | None = None,
    pulse_percussive: bool = True,
    pulse_harmonic: bool = False,
    motion_percussive: bool = False,
    motion_harmonic: bool = True,
    cache: bool = True,
    settings: AnalysisSettings | None = None,
    progress: ProgressCallback | None = None,
) -> Features:
    """Analyse a song and sample its features at the frames of a video at ``fps``.

    Parameters
    ----------
    song : path or Audio
        Any audio file (mp3, wav, flac, ogg, opus, m4a, a video's audio track…).
    fps : int, float, str or Fraction
        Video frame rate, e.g. ``30``, ``29.97`` or ``"30000/1001"``.
    start, duration : float
        The part of the song to use, in seconds (``duration=None``: to the end).
    pulse_audio, motion_audio, class_audio : path or None
        Separate files (stems) driving pulse, motion and the chromagram; they are trimmed
        like the song. A stem overrides the percussive/harmonic choice.
    pulse_percussive, pulse_harmonic, motion_percussive, motion_harmonic : bool
        Lucid Sonic Dreams' choice of source: both flags equal → full mix; otherwise the
        percussive or harmonic part of the song.
    cache : bool
        Reuse and store results in the on-disk cache (see :mod:`sonicdreams.audio.cache`).

    Returns
    -------
    Features

    Raises
    ------
    AudioError
        The song or a stem cannot be decoded, or the clip is shorter than one frame.
    SettingsError
        ``fps``, ``start`` or ``duration`` out of range (e.g. ``start`` past the end).
    """
    fps_q = parse_fps(fps)
    start, duration = check_trim(start, duration)
    analysis, info = analyze_file(song, start=start, duration=duration, settings=settings,
                                  cache=cache, progress=progress)
    n = n_frames(info.duration_s, fps_q)
    if n < 1:
        raise AudioError(
            f"{_describe(song)}: the audio is too short ({info.duration_s * 1000:.2f} ms) to "
            f"make even one frame at {float(fps_q):g} fps; use a longer song"
        )
    times = frame_times(n, fps_q)
    fps_f = float(fps_q)

    def sample(a: Analysis, values: np.ndarray, how: str) -> np.ndarray:
        out = sample_at_frames(values, grid_rate=a.frame_rate, frame_times=times, fps=fps_f,
                               how=how)
        if a is not analysis:  # a stem shorter than the song is silent after its end
            out[..., times >= a.duration_s] = 0.0
        return out

    def stem(source: AudioSource | None, role: str) -> Analysis | None:
        if source is None:
            return None
        a, stem_info = analyze_file(source, start=start, duration=duration, settings=settings,
                                    cache=cache, progress=progress)
        gap = info.duration_s - stem_info.duration_s
        if abs(gap) > 0.5:
            warnings.warn(
                f"{role}={_describe(source)} is {abs(gap):.1f} s "
                f"{'shorter' if gap > 0 else 'longer'} than the song; "
                + ("the missing part counts as silence" if gap > 0 else "the rest is ignored"),
                SonicDreamsWarning, stacklevel=3,
            )
        return a

    env: dict[EnvelopeSource, np.ndarray] = {
        name: sample(analysis, analysis.envelope(name), "max")
        for name in ("full", "percussive", "harmonic")
    }

    def pick(stem_source, role: str, percussive: bool, harmonic: bool) -> tuple[np.ndarray, str]:
        a = stem(stem_source, role)
        if a is not None:
            return sample(a, a.full, "max"), _describe(stem_source)
        name = envelope_source(percussive, harmonic)
        return env[name], name

    pulse, pulse_src = pick(pulse_audio, "pulse_audio", pulse_percussive, pulse_harmonic)
    motion, motion_src = pick(motion_audio, "motion_audio", motion_percussive, motion_harmonic)
    class_analysis = stem(class_audio, "class_audio") or analysis
    chroma = sample(class_analysis, class_analysis.chroma, "mean")
    return Features(
        fps=fps_q,
        n_frames=n,
        start_s=info.start_s,
        duration_s=info.duration_s,
        song=info,
        pulse=pulse,
        motion=motion,
        full=env["full"],
        percussive=env["percussive"],
        harmonic=env["harmonic"],
        onset=sample(analysis, analysis.onset, "max"),
        rms=sample(analysis, analysis.rms, "mean"),
        chroma=chroma,
        pitches_sorted=pitch_dominance(class_analysis.chroma),
        tempo_bpm=analysis.tempo_bpm,
        beat_times=analysis.beat_times[analysis.beat_times < info.duration_s],
        section_times=analysis.section_times,
        pulse_source=pulse_src,
        motion_source=motion_src,
        class_source="full" if class_audio is None else _describe(class_audio),
    )
