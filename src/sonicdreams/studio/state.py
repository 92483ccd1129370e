"""What a running studio holds: the browser sessions and their songs, the render queue, the
live previews and the gallery's thumbnails, in one data folder that one studio uses at a
time."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from ..errors import StudioError
from .live import PreviewStream, live_plan
from .renders import RenderQueue
from .songs import Session, Sessions, Song, check_audio, new_id

__all__ = ["Studio"]

log = logging.getLogger(__name__)

MAX_PREVIEWS = 8
"""Live previews at once (a browser's tabs): each keeps cores busy while its song plays."""


class Studio:
    """The server's state (see the module notes). :meth:`start` takes the data folder's lock
    and starts the render queue; :meth:`close` ends everything."""

    def __init__(self, data_dir: Path, *, max_upload_bytes: int, max_song_minutes: float,
                 cache: bool) -> None:
        self.root = Path(data_dir)
        self.max_upload_bytes = max_upload_bytes
        self.max_song_minutes = max_song_minutes
        self.cache = cache
        self.sessions: Sessions | None = None
        self.renders: RenderQueue | None = None
        self._lock_file = None
        self._previews: dict[str, PreviewStream] = {}  # session id → its live preview
        self._previews_lock = threading.Lock()
        self._thumbs: dict[tuple, dict[str, Any]] = {}  # (song, settings) → style → plan
        self._thumb_lock = threading.Lock()

    def start(self) -> Studio:
        from filelock import FileLock, Timeout

        if self.renders is not None:
            return self
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # (not thread-local: the server may stop it on another thread than started it)
            lock = FileLock(str(self.root / ".lock"), thread_local=False)
            lock.acquire(timeout=0)
        except Timeout:
            raise StudioError(f"another studio uses {self.root}: stop it, or start this one "
                              "with --dir set to another folder") from None
        except OSError as err:
            raise StudioError(f"cannot use {self.root} for the studio's files "
                              f"({err.strerror or err}); pass --dir with a folder you can "
                              "write to") from None
        try:
            self.sessions = Sessions(self.root / "sessions")
            self.renders = RenderQueue(self.root / "renders", cache=self.cache).start()
        except BaseException:
            self.sessions = self.renders = None
            lock.release()
            raise
        self._lock_file = lock
        return self

    def close(self) -> None:
        with self._previews_lock:
            streams, self._previews = list(self._previews.values()), {}
        for stream in streams:
            stream.close()
        if self.renders is not None:
            self.renders.close()
        if self.sessions is not None:
            self.sessions.close()
        if self._lock_file is not None:
            self._lock_file.release()
        self.renders = self.sessions = self._lock_file = None  # (it can start again)

    # -- songs ----------------------------------------------------------------------------

    def add_song(self, session: Session, path: Path, name: str) -> Song:
        """Check ``path`` by decoding it, name it by what FFmpeg found, start its analysis."""
        duration, suffix = check_audio(path, name, max_minutes=self.max_song_minutes)
        if path.parent == session.dir:  # an upload: a suffix for its container
            song_id, final = path.name, path.with_name(f"{path.name}{suffix}")
            path.rename(final)
        else:  # the bundled demo, read where it is
            song_id, final = new_id(), path
        song = Song(song_id, name, final, duration, max_minutes=self.max_song_minutes)
        session.add(song)
        threading.Thread(target=song.analyse, kwargs={"cache": self.cache},
                         name="analyse", daemon=True).start()
        return song

    # -- live previews ----------------------------------------------------------------------

    def open_preview(self, session: Session, stream: PreviewStream) -> None:
        """Start ``stream`` as the session's preview: its earlier one (another tab) stops,
        and so does the least recent one past :data:`MAX_PREVIEWS`."""
        with self._previews_lock:
            old = [self._previews.pop(session.id, None)]
            while len(self._previews) >= MAX_PREVIEWS:
                old.append(self._previews.pop(next(iter(self._previews))))
            self._previews[session.id] = stream
        for earlier in old:
            if earlier is not None:  # (its page hears why, and does not take it back)
                earlier.close()
                earlier.on_stop("the preview is open in another tab", 4409)
        stream.start()

    def close_preview(self, session: Session, stream: PreviewStream) -> None:
        with self._previews_lock:
            if self._previews.get(session.id) is stream:
                del self._previews[session.id]
        stream.close()

    # -- thumbnails -------------------------------------------------------------------------

    def thumbnails(self, song: Song, t: float, values: dict) -> dict[str, str]:
        """A small frame of every built-in style at time ``t`` (data: URLs)."""
        import base64

        from ..generators.builtin import BUILTIN_STYLES
        from .live import jpeg

        out = {}
        with self._thumb_lock:
            key = (song.id, json.dumps(values, sort_keys=True, default=str))
            plans = self._thumbs.get(key)
            if plans is None:
                # the latest settings of the two songs asked last: one song's plans per tab
                for old in [k for k in self._thumbs if k[0] == song.id]:
                    del self._thumbs[old]
                while len(self._thumbs) >= 2:
                    del self._thumbs[next(iter(self._thumbs))]
                plans = self._thumbs[key] = {}
            for style in BUILTIN_STYLES:
                plan = plans.get(style)
                if plan is None:
                    # at 6 fps: a thumbnail is refreshed every second or so, and a plan keeps
                    # every frame's vectors
                    plan = plans[style] = live_plan(song, {**values, "style": style},
                                                    pixels=112 * 112, max_fps=6)
                index = min(plan.n_frames - 1, max(0, int(t * float(plan.fps))))
                data = base64.b64encode(jpeg(plan.frames(index, index + 1)[0], quality=80))
                out[style] = "data:image/jpeg;base64," + data.decode("ascii")
        return out
