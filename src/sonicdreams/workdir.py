"""A render's work folder: locked while a render owns it, holding only verified pieces.

The folder (``.<output name>.sonicdreams/`` next to the output, or under ``--work-dir``)
keeps the finished segments and the soundtrack of a render, so that the same command run
again resumes. Every piece has a *record* beside it (``segment_00003.json``), written
atomically after the piece is complete, with the fingerprint of everything that decided it,
its size, SHA-256 and frame count. A piece is reused only when its record matches the current
render and the file still verifies; anything else is rendered again.

Two renders of the same output would mix their segments: an exclusive lock (``lock``, an OS
file lock the kernel drops when its process dies) makes the second one stop with an error that
names the first one's process. A lock left by a killed process is simply taken over.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BusyError, OutputError
from .fingerprint import Fingerprint, describe_changes, file_digest

__all__ = ["WorkDir", "work_dir_for", "Reuse", "disk_errors", "space_estimate"]

log = logging.getLogger(__name__)

_LOCK = "lock"
_OWNER = "owner.json"


def work_dir_for(output: str | os.PathLike[str], parent: str | os.PathLike[str] | None = None
                 ) -> Path:
    """The work folder of ``output``: beside it, or in ``parent`` when one is given."""
    output = Path(output)
    folder = Path(parent) if parent is not None else output.parent
    return folder / f".{output.name}.sonicdreams"


@dataclass(frozen=True, slots=True)
class Reuse:
    """Whether a finished piece can be reused, and if not, why (a few words)."""

    ok: bool
    why: str = ""


class WorkDir:
    """The locked work folder of one render; use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], *, label: str) -> None:
        self.path = Path(path)
        self.label = label  # the output's name, for messages
        self._lock: Any = None

    # -- ownership -------------------------------------------------------------------------

    def __enter__(self) -> WorkDir:
        from filelock import FileLock, Timeout

        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create the work folder {self.path} "
                              f"({err.strerror or err}); choose another with --work-dir"
                              ) from None
        lock = FileLock(self.path / _LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise BusyError(self._busy_message()) from None
        except OSError as err:
            raise OutputError(f"cannot lock the work folder {self.path} "
                              f"({err.strerror or err}); choose another with --work-dir"
                              ) from None
        self._lock = lock
        previous = self._read_json(self.path / _OWNER)
        if isinstance(previous, dict) and previous.get("pid") not in (None, os.getpid()):
            log.info("taking over the work folder of process %s, which is no longer running",
                     previous.get("pid"))
        try:
            self._write_json(self.path / _OWNER, {"pid": os.getpid(),
                                                  "host": socket.gethostname(),
                                                  "started": time.time()})
        except OSError as err:
            self.release()
            raise OutputError(f"cannot write in the work folder {self.path} "
                              f"({err.strerror or err}); free some space or choose another "
                              "with --work-dir") from None
        for stale in self.path.glob(".*.part*"):  # a piece whose writer died
            stale.unlink(missing_ok=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Stopped before any piece was finished: leave nothing behind.
        self.release(remove=self._lock is not None and not self._has_pieces())

    def _has_pieces(self) -> bool:
        return any(p.suffix == ".json" and p.name != _OWNER for p in self.path.iterdir())

    def release(self, *, remove: bool = False) -> None:
        """Give up the lock; with ``remove`` delete the folder first (the render is done)."""
        if self._lock is None:
            return
        if remove:
            for entry in self.path.iterdir():
                if entry.name != _LOCK:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
        self._lock.release()
        self._lock = None
        if remove:
            (self.path / _LOCK).unlink(missing_ok=True)
            try:
                self.path.rmdir()
            except OSError:  # another render has just claimed it: leave it to that one
                pass

    def _busy_message(self) -> str:
        owner = self._read_json(self.path / _OWNER)
        who = "another render"
        if isinstance(owner, dict) and owner.get("pid"):
            who = f"another render (process {owner['pid']}"
            if owner.get("host") and owner["host"] != socket.gethostname():
                who += f" on {owner['host']}"
            if isinstance(owner.get("started"), (int, float)):
                who += f", started {time.strftime('%H:%M:%S', time.localtime(owner['started']))}"
            who += ")"
        return (f"{self.label} is being rendered by {who}; wait for it to finish or stop it, "
                "or render to another file")

    # -- pieces ----------------------------------------------------------------------------

    def segment(self, k: int) -> Path:
        return self.path / f"segment_{k:05d}.mp4"

    def check(self, piece: Path, fingerprint: Fingerprint, key: str, n_frames: int | None, *,
              trust_opaque: bool) -> Reuse:
        """Whether ``piece`` can be reused for the fingerprint ``key`` (see the module doc)."""
        if not piece.exists():
            return Reuse(False)
        record = self._read_json(_record_path(piece))
        if not isinstance(record, dict):
            return Reuse(False, "unfinished")
        if record.get("fingerprint") != key:
            changed = fingerprint.changed(record.get("parts"))
            return Reuse(False, f"made with {describe_changes(changed)}")
        if fingerprint.opaque and not trust_opaque:
            return Reuse(False, "opaque")
        try:
            size = piece.stat().st_size
        except OSError:
            return Reuse(False, "unreadable")
        if size != record.get("size") or file_digest(piece) != record.get("sha256"):
            return Reuse(False, "damaged")
        if n_frames is not None and (record.get("n_frames") != n_frames
                                     or _count_video_packets(piece) != n_frames):
            return Reuse(False, "damaged")
        return Reuse(True)

    def record(self, piece: Path, fingerprint: Fingerprint, key: str,
               n_frames: int | None) -> None:
        """Write the record of a complete ``piece`` (atomically, after the piece itself)."""
        self._write_json(_record_path(piece), {
            "fingerprint": key, **fingerprint.to_dict(), "n_frames": n_frames,
            "size": piece.stat().st_size, "sha256": file_digest(piece)})

    def discard(self, piece: Path) -> None:
        _record_path(piece).unlink(missing_ok=True)
        piece.unlink(missing_ok=True)

    # -- small files -----------------------------------------------------------------------

    @staticmethod
    def _read_json(path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @staticmethod
    def _write_json(path: Path, data: dict) -> None:
        tmp = path.with_name(f".{path.name}.part")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())  # the record must never claim a piece that is not on disk
        os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Writing: the disk may fill up


def space_estimate(work: WorkDir, spec, n_frames: int, per_segment: int,
                    duration_s: float) -> Callable[[], int]:
    """A function giving the megabytes the render still needs (segments + the output)."""
    def needed() -> int:
        sizes = [p.stat().st_size for p in work.path.glob("segment_*.mp4")]
        # Bytes per frame of what is written, or ~0.1 bit per pixel before anything is.
        per_frame = (sum(sizes) / (len(sizes) * per_segment) if sizes
                     else spec.size[0] * spec.size[1] * 0.1 / 8)
        video = per_frame * n_frames
        audio = spec.audio_bitrate * duration_s / 8
        return int((2 * video + 2 * audio - sum(sizes)) / 1e6) + 1

    return needed


class disk_errors:  # noqa: N801 - used as a context manager, like contextlib's
    """Turn a full disk, a size limit or a read-only folder into a one-line OutputError."""

    def __init__(self, needed_mb: Callable[[], int]) -> None:
        self.needed_mb = needed_mb

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> None:
        import errno

        if exc is None or not isinstance(exc, OSError) or isinstance(exc, OutputError):
            return
        where = exc.filename or "the video"
        resume = "finished segments are kept: run the same command again to resume"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutputError(f"no space left on device while writing {where} (needs about "
                              f"{self.needed_mb()} MB more); free some space or choose "
                              f"--work-dir on another disk; {resume}") from None
        if exc.errno == errno.EFBIG:
            raise OutputError(f"{where} grew past the largest file allowed here (a file-size "
                              f"limit or the file system's); choose --work-dir or an output "
                              f"on another disk; {resume}") from None
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise OutputError(f"cannot write {where} ({exc.strerror}); choose a writable "
                              f"folder with -o or --work-dir; {resume}") from None


def _record_path(piece: Path) -> Path:
    return piece.with_suffix(".json")


def _count_video_packets(path: Path) -> int:
    import av

    try:
        with av.open(str(path)) as c:
            return sum(1 for p in c.demux(c.streams.video[0]) if p.dts is not None)
    except (av.FFmpegError, IndexError, OSError):
        return -1
