"""The studio's render queue: videos rendered one after another, kept across restarts.

Each render has a folder of its own under the studio's folder: ``job.json`` (what to render,
and how far it got), a copy of the song (the session that uploaded it may end first), the
work folder of :func:`sonicdreams.render` and, when complete, the video. The renders run one
at a time on a thread of their own (two at once would only share the same cores); a server
started again finds the unfinished ones and resumes them from their finished segments.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, OutputError, SettingsError, SonicDreamsError
from .options import FORMATS
from .songs import ID, display_name, new_id

__all__ = ["RenderJob", "RenderQueue"]

log = logging.getLogger(__name__)

_ACTIVE = ("queued", "running")


@dataclass(frozen=True, slots=True)
class RenderJob:
    """One render: its inputs and its state (saved as ``job.json``)."""

    id: str
    name: str  # the song's name as the user knows it
    values: dict[str, Any]
    format: str
    created: float
    state: str = "queued"  # queued | running | done | failed | cancelled
    done: int = 0
    total: int = 0
    eta_s: float | None = None
    elapsed_s: float = 0.0
    error: str | None = None
    width: int | None = None
    height: int | None = None
    fps: str | None = None
    song_suffix: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        stem = display_name(self.name).rsplit(".", 1)[0] or "song"
        style = self.values.get("style", "cppn")
        size = f"-{self.width}x{self.height}" if self.width and self.height else ""
        return display_name(f"{stem}-{style}{size}.{self.format}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        out["filename"] = self.filename
        out["file"] = f"/api/renders/{self.id}/file" if self.state == "done" else None
        return out


class _Cancel(Exception):
    """Raised from the progress callback to stop a render (its segments are kept)."""


class RenderQueue:
    """Renders waiting, running and done, in ``root`` (see the module notes)."""

    def __init__(self, root: Path, *, cache: bool = True) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cache = cache
        self._jobs: dict[str, RenderJob] = {}
        self._cancel: set[str] = set()
        self._cv = threading.Condition()
        self._closed = False
        for path in sorted(self.root.glob("*/job.json")):
            job = self._read(path)
            if job is None:
                continue
            if job.state in _ACTIVE:  # the server stopped during it: go on from its segments
                job = replace(job, state="queued", eta_s=None)
            self._jobs[job.id] = job
        self._shutdown: set[str] = set()  # running renders the server stops (not the user)
        self._thread = threading.Thread(target=self._run, name="renders", daemon=True)

    def start(self) -> RenderQueue:
        """Start rendering (what an earlier run left queued or running first)."""
        self._thread.start()
        return self

    # -- the page's requests ----------------------------------------------------------------

    def submit(self, song, values: dict[str, Any], fmt: str) -> RenderJob:
        """Queue a render of ``song`` (a ready Song) with ``values``; bad settings raise."""
        from ..settings import RenderSettings

        if fmt not in FORMATS:
            raise SettingsError(f"format {fmt!r} must be one of {', '.join(FORMATS)}")
        values = {k: v for k, v in dict(values).items() if v is not None}
        s = RenderSettings.create(values)  # checked now: the page hears of a bad value at once
        if s.backend != "local":
            raise SettingsError("the studio renders on this machine (backend local)")
        width, height = s.size[::-1] if s.size else (None, None)
        job = RenderJob(id=new_id(), name=song.name, values=values, format=fmt,
                        created=time.time(), width=width, height=height, fps=str(s.fps),
                        song_suffix=song.path.suffix)
        folder = self.root / job.id
        try:
            folder.mkdir()
            shutil.copyfile(song.path, folder / f"song{job.song_suffix}")
        except OSError as err:
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(err, FileNotFoundError):
                raise NotFoundError(f"{song.name} was closed meanwhile; open it again") from None
            raise OutputError(f"cannot keep a copy of {song.name} for the render "
                              f"({err.strerror or err}); free some disk space") from None
        with self._cv:
            self._jobs[job.id] = job
            self._save(job)
            self._cv.notify_all()
        return job

    def list(self) -> list[RenderJob]:
        with self._cv:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def get(self, job_id: Any) -> RenderJob:
        with self._cv:
            return self._get(job_id)

    def _get(self, job_id: Any) -> RenderJob:
        """(holding the lock) the job ``job_id``, or NotFoundError."""
        job = self._jobs.get(job_id) if isinstance(job_id, str) and ID.fullmatch(
            job_id) else None
        if job is None:
            raise NotFoundError("no such render (it was removed)")
        return job

    def cancel(self, job_id: str) -> RenderJob:
        with self._cv:
            job = self._get(job_id)
            if job.state == "queued":
                job = self._update(job, state="cancelled", eta_s=None)
            elif job.state == "running":
                self._cancel.add(job.id)
            return job

    def resume(self, job_id: str) -> RenderJob:
        with self._cv:
            job = self._get(job_id)
            if job.state in ("cancelled", "failed"):
                job = self._update(job, state="queued", error=None, eta_s=None)
                self._cv.notify_all()
            return job

    def remove(self, job_id: str) -> None:
        with self._cv:
            job = self._get(job_id)
            if job.state == "running":
                raise OutputError("cancel the render before removing it")
            self._jobs.pop(job.id)
        shutil.rmtree(self.root / job.id, ignore_errors=True)

    def output(self, job_id: str) -> tuple[RenderJob, Path]:
        job = self.get(job_id)
        path = self.root / job.id / f"video.{job.format}"
        if job.state != "done" or not path.is_file():
            raise NotFoundError("this render has no video yet")
        return job, path

    def wait(self, job_id: str, timeout: float) -> RenderJob:
        """The job once it is no longer queued or running (or after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._jobs[job_id].state in _ACTIVE and time.monotonic() < deadline:
                self._cv.wait(deadline - time.monotonic())
            return self._jobs[job_id]

    def close(self) -> None:
        """Stop: a running render is interrupted (its segments stay for the next start)."""
        with self._cv:
            self._closed = True
            self._shutdown.update(j.id for j in self._jobs.values() if j.state == "running")
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    # -- the render thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed and not any(j.state == "queued"
                                                   for j in self._jobs.values()):
                    self._cv.wait()
                if self._closed:
                    return
                job = min((j for j in self._jobs.values() if j.state == "queued"),
                          key=lambda j: j.created)
                job = self._update(job, state="running", done=0, eta_s=None)
            try:
                self._render(job)
            except Exception as err:  # (a full disk saving job.json): the next job goes on
                log.exception("render %s", job.id)
                with self._cv:
                    if job.id in self._jobs:
                        self._jobs[job.id] = replace(self._jobs[job.id], state="failed",
                                                     error=f"the render stopped ({err})")
                    self._cv.notify_all()

    def _render(self, job: RenderJob) -> None:
        from ..pipeline import render
        from ..settings import RenderSettings

        folder = self.root / job.id
        started = time.perf_counter()

        def progress(event) -> None:
            if job.id in self._cancel or job.id in self._shutdown:
                raise _Cancel
            if event.stage == "render":
                with self._cv:
                    current = self._jobs.get(job.id)
                    if current is not None:
                        self._update(current, done=event.done, total=event.total,
                                     eta_s=event.eta_s,
                                     elapsed_s=time.perf_counter() - started)

        state, error = "done", None
        try:
            render(folder / f"song{job.song_suffix}", folder / f"video.{job.format}",
                   settings=RenderSettings.create(job.values), progress=progress,
                   overwrite=True, cache=self.cache)
        except _Cancel:
            state = "cancelled"
        except KeyboardInterrupt:
            state = "cancelled"
        except SonicDreamsError as err:
            state, error = "failed", _scrub(str(err), job, folder)
        except Exception as err:  # shown on the page; the details go to the log
            log.exception("render %s failed", job.id)
            state = "failed"
            error = _scrub(f"the render failed unexpectedly ({err})", job, folder)
        with self._cv:
            if job.id in self._shutdown and job.id not in self._cancel \
                    and state == "cancelled":
                state = "queued"  # stopped by the server: resumed at its next start
            self._shutdown.discard(job.id)
            self._cancel.discard(job.id)
            current = self._jobs.get(job.id)
            if current is not None:
                done = current.total if state == "done" else current.done
                self._update(current, state=state, error=error, eta_s=None, done=done,
                             elapsed_s=time.perf_counter() - started)
            self._cv.notify_all()

    # -- state on disk ----------------------------------------------------------------------

    def _update(self, job: RenderJob, **changes: Any) -> RenderJob:
        """(holding the lock) the job with ``changes``, saved when its state changes."""
        new = replace(job, **changes)
        if new.id in self._jobs:
            self._jobs[new.id] = new
            if new.state != job.state or "error" in changes:
                self._save(new)
        return new

    def _save(self, job: RenderJob) -> None:
        path = self.root / job.id / "job.json"
        if not path.parent.is_dir():
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(job)), encoding="utf-8")
        os.replace(tmp, path)

    def _read(self, path: Path) -> RenderJob | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            job = RenderJob(**data)
            if job.id != path.parent.name or not ID.fullmatch(job.id):
                raise ValueError("id does not match its folder")
            return job
        except (OSError, ValueError, TypeError) as err:
            log.warning("ignoring %s: %s", path, err)
            return None


def _scrub(text: str, job: RenderJob, folder: Path) -> str:
    """A message fit for the page: no path of the render's folder in it."""
    text = text.replace(str(folder / f"song{job.song_suffix}"), job.name)
    return text.replace(str(folder), "the render's folder")

