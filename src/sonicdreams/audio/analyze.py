"""``analyze()``: a song (plus optional stems) in, per-video-frame features out."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import AudioError, SonicDreamsWarning
from ..progress import ProgressCallback, Reporter
from ..timing import frame_times, n_frames, parse_fps
from .decode import Audio, AudioStream, check_trim
from .features import (
    Analysis,
    AnalysisSettings,
    analyze_audio,
    analyze_stream,
    envelope_source,
    pitch_dominance,
    sample_at_frames,
)

__all__ = ["Features", "SourceInfo", "analyze", "analyze_file", "frame_features"]

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
    onset_bands: npt.NDArray[np.float32]
    """[shape=(4, n_frames)] percussive onset strength in the low, mid and high bands and
    over all bands."""
    pitches_sorted: npt.NDArray[np.int64]
    """Pitch classes from most to least dominant (Lucid Sonic Dreams' ``pitches_sorted``)."""
    tempo_bpm: float
    beat_times: npt.NDArray[np.float64]
    section_times: npt.NDArray[np.float64]
    pulse_source: str
    """Where pulse came from: ``"percussive"``, ``"harmonic"``, ``"full"`` or a stem's path."""
    motion_source: str
    class_source: str
    grids: Mapping[str, Analysis] = field(default_factory=dict, repr=False, compare=False)
    """The grid analyses behind the frames: ``"song"`` and any stems (``"pulse_audio"``,
    ``"motion_audio"``, ``"class_audio"``); used to read features at other times."""

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

    def role_envelope(self, role: str, *, percussive: bool, harmonic: bool,
                      times: np.ndarray | None = None, how: str = "max") -> np.ndarray:
        """Envelope driving ``role`` (``"pulse"``, ``"motion"``…) at ``times`` (default: frames).

        A stem given for the role (``pulse_audio=…``) wins; otherwise the song's part chosen
        by the percussive/harmonic flags. ``how`` pools over the spacing of ``times``.
        """
        stem = self.grids.get(f"{role}_audio")
        if stem is not None:
            return self._at(stem, stem.full, times, how)
        song = self.grids["song"]
        return self._at(song, song.envelope(envelope_source(percussive, harmonic)), times, how)

    def chroma_at(self, times: np.ndarray | None = None, how: str = "mean") -> np.ndarray:
        """The chromagram (``class_audio``'s if given) at ``times``, [shape=(12, len(times))]."""
        grid = self.grids.get("class_audio", self.grids["song"])
        return self._at(grid, grid.chroma, times, how)

    def _at(self, grid: Analysis, values: np.ndarray, times: np.ndarray | None,
            how: str) -> np.ndarray:
        times = self.times if times is None else np.asarray(times, dtype=np.float64)
        rate = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else float(self.fps)
        return _read_grid(grid, values, times, rate=rate, how=how,
                          stem=grid is not self.grids["song"])

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
                "onset_bands": arr(self.onset_bands),
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
    stream = AudioStream(path, start=start, duration=duration, sr=s.sr, mono=True)
    analysis = analyze_stream(stream, settings=s, progress=Reporter(progress, "analyze"))
    info = SourceInfo(str(path), digest, stream.native_sr, stream.native_channels,
                      stream.file_duration_s, stream.start_s, stream.duration_s)
    if root is not None and key is not None:
        feature_cache.save_entry(root, key, {**analysis.to_arrays(), **_meta_arrays(info)})
    return analysis, info


def _trim_audio(audio: Audio, start: float, duration: float | None) -> Audio:
    from ..errors import SettingsError
    from .decode import format_time

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
    contrast_audio: AudioSource | None = None,
    flash_audio: AudioSource | None = None,
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
    pulse_audio, motion_audio, class_audio, contrast_audio, flash_audio : path or None
        Separate files (stems) driving pulse, motion, the chromagram and the contrast and
        flash effects; they are trimmed like the song. A stem overrides the
        percussive/harmonic choice.
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
    if n_frames(info.duration_s, fps_q) < 1:
        raise AudioError(
            f"{_describe(song)}: the audio is too short ({info.duration_s * 1000:.2f} ms) to "
            f"make even one frame at {float(fps_q):g} fps; use a longer song"
        )
    stems: dict[str, tuple[Analysis, str]] = {}
    for role, source in (("pulse_audio", pulse_audio), ("motion_audio", motion_audio),
                         ("class_audio", class_audio), ("contrast_audio", contrast_audio),
                         ("flash_audio", flash_audio)):
        if source is None:
            continue
        stem, stem_info = analyze_file(source, start=start, duration=duration,
                                       settings=settings, cache=cache, progress=progress)
        gap = info.duration_s - stem_info.duration_s
        if abs(gap) > 0.5:
            warnings.warn(
                f"{role}={_describe(source)} is {abs(gap):.1f} s "
                f"{'shorter' if gap > 0 else 'longer'} than the song; "
                + ("the missing part counts as silence" if gap > 0 else "the rest is ignored"),
                SonicDreamsWarning, stacklevel=2,
            )
        stems[role] = (stem, _describe(source))
    return frame_features(analysis, info, fps=fps_q, stems=stems,
                          pulse_percussive=pulse_percussive, pulse_harmonic=pulse_harmonic,
                          motion_percussive=motion_percussive, motion_harmonic=motion_harmonic)


def frame_features(
    song: Analysis,
    info: SourceInfo,
    *,
    fps: Fraction,
    stems: Mapping[str, tuple[Analysis, str]] | None = None,
    pulse_percussive: bool = True,
    pulse_harmonic: bool = False,
    motion_percussive: bool = False,
    motion_harmonic: bool = True,
) -> Features:
    """Read grid analyses at the frames of a video at ``fps`` (see :func:`analyze`).

    ``stems`` maps ``"pulse_audio"``, ``"motion_audio"``, ``"class_audio"``,
    ``"contrast_audio"``, ``"flash_audio"`` to the analysis of that file and a name for it.
    """
    stems = dict(stems or {})
    grids = {"song": song, **{role: a for role, (a, _) in stems.items()}}
    names = {role: name for role, (_, name) in stems.items()}
    n = n_frames(info.duration_s, fps)
    times = frame_times(n, fps)
    fps_f = float(fps)

    def at(grid: Analysis, values: np.ndarray, how: str) -> np.ndarray:
        return _read_grid(grid, values, times, rate=fps_f, how=how, stem=grid is not song)

    env = {name: at(song, song.envelope(name), "max") for name in ("full", "percussive",
                                                                  "harmonic")}

    def role(name: str, percussive: bool, harmonic: bool, how: str) -> tuple[np.ndarray, str]:
        stem = grids.get(f"{name}_audio")
        if stem is not None:
            return at(stem, stem.full, how), names[f"{name}_audio"]
        source = envelope_source(percussive, harmonic)
        return (env[source] if how == "max" else at(song, song.envelope(source), how)), source

    pulse, pulse_src = role("pulse", pulse_percussive, pulse_harmonic, "max")
    # Motion accumulates: mean pooling keeps its integral, so the walk covers the same
    # distance per second at any fps.
    motion, motion_src = role("motion", motion_percussive, motion_harmonic, "mean")
    class_grid = grids.get("class_audio", song)
    class_chroma = class_grid.chroma
    if class_grid is not song:  # a longer stem: only what plays with the song counts
        class_chroma = class_chroma[:, class_grid.times < info.duration_s]
    return Features(
        fps=fps,
        n_frames=n,
        start_s=info.start_s,
        duration_s=info.duration_s,
        song=info,
        pulse=pulse,
        motion=motion,
        full=env["full"],
        percussive=env["percussive"],
        harmonic=env["harmonic"],
        onset=at(song, song.onset, "max"),
        rms=at(song, song.rms, "mean"),
        chroma=at(class_grid, class_grid.chroma, "mean"),
        # A hit shows on the first frame that starts after its attack, never on one shown
        # before the sound (a frame is on screen from its time to the next frame's).
        onset_bands=_read_grid(song, song.onset_bands, times - 0.5 / fps_f, rate=fps_f,
                               how="max", stem=False),
        pitches_sorted=pitch_dominance(class_chroma),
        tempo_bpm=song.tempo_bpm,
        beat_times=song.beat_times[song.beat_times < info.duration_s],
        section_times=song.section_times,
        pulse_source=pulse_src,
        motion_source=motion_src,
        class_source=names.get("class_audio", "full"),
        grids=grids,
    )


def _read_grid(grid: Analysis, values: np.ndarray, times: np.ndarray, *, rate: float, how: str,
               stem: bool) -> np.ndarray:
    """Grid curve ``values`` at ``times`` (pooled over 1/rate); a stem is silent past its end."""
    out = sample_at_frames(values, grid_rate=grid.frame_rate, frame_times=times, fps=rate,
                           how=how)
    if stem:
        out[..., times >= grid.duration_s] = 0.0
    return out
