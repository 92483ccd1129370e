"""Songs in the studio: uploads checked by decoding them, kept per browser session, analysed
once and sampled at any frame rate afterwards.

An upload is written under a name of our own (no suffix: FFmpeg picks a reader by content,
never one that follows paths named in the file, such as a playlist) in the session's folder
(the user's file name is only shown, never part of a path), then opened and decoded by
PyAV: a file is a song because FFmpeg finds an audio track in it and decodes it, not because
of its extension. The folder goes when the session ends (idle, or the server stops).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import shutil
import threading
import time
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import AudioError, NotFoundError, SonicDreamsError

__all__ = ["Song", "Session", "Sessions", "display_name", "check_audio", "new_id", "ID"]

log = logging.getLogger(__name__)

ID = re.compile(r"[0-9a-f]{32}")
"""What every id the studio hands out looks like (and all a request may name)."""


def new_id() -> str:
    return secrets.token_hex(16)


def display_name(name: str, *, fallback: str = "song") -> str:
    """A file name fit to show and to offer as a download name: the last path part, printable
    characters only, at most 80 of them."""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*').strip(" .")
    return name[:80] or fallback


CONTAINERS = {"ogg": ".ogg", "mp3": ".mp3", "wav": ".wav", "flac": ".flac",
              "matroska,webm": ".mkv", "mov,mp4,m4a,3gp,3g2,mj2": ".m4a", "aac": ".aac"}
"""The containers a song may come in (FFmpeg's names), each with the suffix the studio's copy
gets: those a browser plays (the page plays the song), and no playlist or other format that
reads further files (hls, concat…)."""


def check_audio(path: Path, shown: str, *, max_minutes: float | None = None) -> tuple[float,
                                                                                      str]:
    """Open and decode the start of ``path`` with PyAV: (its duration in seconds, the suffix
    its container's files have).

    Raises AudioError naming the file as the user knows it (``shown``), never our path."""
    import av

    from ..audio.decode import load, probe

    # First with FFmpeg's readers of these containers only: nothing else opens the file
    # before it is known to be one of them.
    readers = ",".join(",".join(CONTAINERS).split(","))  # (FFmpeg's names, one by one)
    try:
        with av.open(str(path), metadata_errors="ignore",
                     options={"format_whitelist": readers}) as container:
            kind = container.format.name
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        kind = None
    if kind not in CONTAINERS:
        raise AudioError(f"{shown}: not an audio or video file the studio can play (it takes "
                         "mp3, wav, flac, ogg/opus, m4a/aac, mp4, mkv and webm); convert it")
    try:
        info = probe(path)
        audio = load(path, duration=1.0, mono=True)
    except AudioError as err:
        raise AudioError(str(err).replace(str(path), shown)) from None
    if audio.samples.size == 0:
        raise AudioError(f"{shown}: no audio could be decoded from it")
    duration = float(info.duration_s or audio.file_duration_s or 0.0)
    if max_minutes is not None and duration > max_minutes * 60:
        raise AudioError(f"{shown} is {duration / 60:.0f} minutes long; the studio takes songs "
                         f"up to {max_minutes:g} minutes (start it with a larger "
                         "--max-song-minutes, or render with `sonicdreams render`)")
    return duration, CONTAINERS[kind]


class Song:
    """An uploaded song, its analysis (once ready) and the features sampled from it."""

    def __init__(self, id: str, name: str, path: Path, duration_s: float, *,
                 max_minutes: float | None = None) -> None:
        self.id, self.name, self.path, self.duration_s = id, name, path, duration_s
        self.max_minutes = max_minutes
        self.state = "analysing"
        self.progress = 0.0
        self.error: str | None = None
        self.ready = threading.Event()
        self.closed = False  # its session ended (the file is gone)
        self._analysis = self._info = None
        self._features: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "duration_s": round(self.duration_s, 3),
                "state": self.state, "progress": round(self.progress, 3), "error": self.error}

    def analyse(self, *, cache: bool = True) -> None:
        """Analyse the whole song (on the caller's thread); state becomes ready or failed."""
        from ..audio.analyze import analyze_file
        from ..fingerprint import file_digest

        def progress(event) -> None:
            if event.total:
                self.progress = min(1.0, event.done / event.total)

        try:
            # (a header's length may be missing: the decoding stops at the cap either way)
            limit = None if self.max_minutes is None else self.max_minutes * 60 + 1
            analysis, info = analyze_file(self.path, duration=limit, cache=cache,
                                          progress=progress)
            if limit is not None and info.file_duration_s > limit:
                raise AudioError(f"{self.name} is longer than the studio takes "
                                 f"({self.max_minutes:g} minutes); start it with a larger "
                                 "--max-song-minutes, or render with `sonicdreams render`")
            self._info = replace(info, digest=info.digest or file_digest(self.path))
            self._analysis = analysis
            self.state, self.progress = "ready", 1.0
        except SonicDreamsError as err:
            self.state, self.error = "failed", self.scrub(str(err))
        except FileNotFoundError:  # closed meanwhile (the session ended, or more songs came)
            self.state, self.error = "failed", f"{self.name} was closed; open it again"
        except Exception as err:  # an analysis bug must not leave the page waiting forever
            if not self.closed:
                log.exception("analysis of %s failed", self.name)
            self.state = "failed"
            self.error = self.scrub(f"{self.name}: the analysis failed ({err})")
        finally:
            self.ready.set()

    def scrub(self, text: str) -> str:
        """A message fit for the page: the song's name where its path (or folder) was."""
        return text.replace(str(self.path), self.name).replace(str(self.path.parent),
                                                               "the studio's folder")

    def features(self, s) -> Any:
        """The song's features at the frames of ``s.fps`` with its source choices (whole
        song; kept for the next call with the same choices)."""
        from ..audio.analyze import frame_features
        from ..timing import parse_fps

        if self.state != "ready":
            raise NotFoundError(f"{self.name} is not analysed ({self.error or 'not yet'})")
        key = (str(s.fps), s.pulse_percussive, s.pulse_harmonic, s.motion_percussive,
               s.motion_harmonic)
        with self._lock:
            if key not in self._features:
                if len(self._features) > 8:
                    self._features.clear()
                self._features[key] = frame_features(
                    self._analysis, self._info, fps=parse_fps(s.fps),
                    pulse_percussive=s.pulse_percussive, pulse_harmonic=s.pulse_harmonic,
                    motion_percussive=s.motion_percussive, motion_harmonic=s.motion_harmonic)
            return self._features[key]

    def timeline(self, *, points: int = 2000) -> dict[str, Any]:
        """What the page's timeline draws: envelopes, beats and sections."""
        import numpy as np

        from ..settings import RenderSettings

        duration = self.duration_s = float(self._info.duration_s)
        fps = max(1, min(60, int(points / max(duration, 1e-3))))
        f = self.features(RenderSettings(fps=fps))
        starts = [float(t) for t in f.section_times if t < duration] or [0.0]
        if starts[0] > 0:
            starts.insert(0, 0.0)
        ends = starts[1:] + [duration]

        def curve(x) -> list[float]:
            x = np.asarray(x, dtype=np.float64)
            peak = float(x.max()) if x.size else 0.0
            return [round(v, 3) for v in (x / peak if peak > 0 else x).tolist()]

        return {"duration_s": round(duration, 3), "tempo_bpm": round(float(f.tempo_bpm), 1),
                "times": [round(t, 3) for t in (np.arange(f.n_frames) / fps).tolist()],
                "percussive": curve(f.percussive), "harmonic": curve(f.harmonic),
                "beats": [round(float(t), 3) for t in f.beat_times],
                "sections": [{"index": k + 1, "start": round(a, 3), "end": round(b, 3)}
                             for k, (a, b) in enumerate(zip(starts, ends, strict=True))]}


class Session:
    """One browser's songs, in a folder of its own (made with the first song)."""

    MAX_SONGS = 6  # the oldest goes when one more arrives

    def __init__(self, id: str, root: Path) -> None:
        self.id = id
        self.dir = root / id
        self.songs: dict[str, Song] = {}
        self.seen = time.monotonic()
        self._lock = threading.Lock()

    def upload_path(self) -> Path:
        """A new file's path in the session's folder, under a name of our own."""
        self.dir.mkdir(parents=True, exist_ok=True)
        return self.dir / new_id()

    def add(self, song: Song) -> None:
        with self._lock:
            self.songs[song.id] = song
            while len(self.songs) > self.MAX_SONGS:
                old = self.songs.pop(next(iter(self.songs)))
                old.closed = True
                if old.path.parent == self.dir:  # (not the bundled demo)
                    old.path.unlink(missing_ok=True)

    def song(self, song_id: Any) -> Song:
        """The session's song ``song_id``; a missing or malformed id is a NotFoundError."""
        with self._lock:
            song = self.songs.get(song_id) if isinstance(song_id, str) and ID.fullmatch(
                song_id) else None
        if song is None:
            raise NotFoundError("no such song in this session; open it again")
        return song

    def close(self) -> None:
        with self._lock:
            for song in self.songs.values():
                song.closed = True
            self.songs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


class Sessions:
    """The browser sessions, their folders under ``root``: at most ``limit`` of them, each
    ended (its folder removed) after ``idle_s`` unseen, or to make room for a new one."""

    def __init__(self, root: Path, *, idle_s: float = 6 * 3600, limit: int = 64) -> None:
        self.root = Path(root)
        # What an earlier run left (it was killed): nothing of it can be reached any more.
        # Only folders named as sessions are (``--dir`` may be a folder of the user's own).
        for folder in self.root.glob("*"):
            if ID.fullmatch(folder.name) and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
        self.idle_s, self.limit = idle_s, limit
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str | None) -> Session | None:
        with self._lock:
            self._expire()
            session = self._sessions.get(session_id) if session_id else None
            if session is not None:
                session.seen = time.monotonic()
            return session

    def create(self) -> Session:
        with self._lock:
            self._expire()
            if len(self._sessions) >= self.limit:  # the least recently seen makes room
                oldest = min(self._sessions.values(), key=lambda s: s.seen)
                self._sessions.pop(oldest.id).close()
            session = Session(new_id(), self.root)
            self._sessions[session.id] = session
            return session

    def end(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            session.close()

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()
        with contextlib.suppress(OSError):  # (only if empty)
            self.root.rmdir()

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if now - s.seen > self.idle_s]:
            self._sessions.pop(key).close()
