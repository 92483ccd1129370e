"""Render one video's segments on a Ray cluster (``backend="ray"``).

The driver (the process that called :func:`sonicdreams.render`) does everything but the frames,
as for a local render: it analyses the song, plans the trajectory, keeps the work folder and
encodes the soundtrack. The style, the effects and what every segment shares go into Ray's
object store once; each segment is then a Ray task that renders and encodes its frames, exactly
as :func:`~sonicdreams.segment.render_segment` does here (its own limiter primed on the frames
before it, the batches the driver chose), and returns the encoded file. The driver verifies it
(frame count, hash), writes it into the work folder with its fingerprint and joins the segments
as usual: the video is the one a local render makes, and an interrupted render resumes from the
segments that arrived, whichever backend made them.

Ray brings the fault tolerance: a task whose worker process dies is run again (``max_retries``),
and a finished segment is never rendered again. A worker process loads the style once (the
first task on it takes it from the object store, later tasks find it in
:data:`_loaded`). Tasks report their frames to a small actor, which the driver reads into the
same progress bar. Only a few tasks per slot are in flight, so the driver's memory holds a few
segments' vectors, whatever the song's length.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SettingsError, SonicDreamsError
from .paths import write_atomic

__all__ = ["render_on_ray", "require_ray"]

log = logging.getLogger(__name__)

_IN_FLIGHT = 2  # tasks submitted per slot of the cluster (one runs, one waits its turn)
_RETRIES = 3  # runs of a task whose worker process died, after the first
_REPORT_S = 0.25  # a task tells its progress at most this often
_loaded: dict[str, Any] = {}  # in a worker process: what the render shares, by object id


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every segment of one render needs besides its own vectors."""

    generator: Any
    spec: Any
    chain: list
    amplitudes: dict
    batch: int
    size: tuple[int, int]
    fit: str
    fps: Any
    allow_flashing: bool
    threads: int


def require_ray():
    """The ``ray`` module, or a :class:`SettingsError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise SettingsError("backend='ray' needs Ray, which is not installed: pip install "
                            "'sonicdreams[cluster]' (on every machine of the cluster)") from None
    return ray


def _connect(ray, address: str | None) -> bool:
    """Join the cluster at ``address`` unless this process already has; whether we joined."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    _reachable(address)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SettingsError(f"could not join the Ray cluster at {address or 'this machine'}: "
                            f"{e}; start it with `ray start --head` or check --ray-address"
                            ) from None
    return True


def _reachable(address: str | None) -> None:
    """Refuse at once an address nothing answers at (Ray itself retries for minutes)."""
    if address in (None, "auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise SettingsError(f"ray_address={address!r} must be host:port, ray://host:port, "
                            "auto or local")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise SettingsError(f"could not join the Ray cluster at {address}: nothing answers "
                            f"there ({e.strerror or e}); start it with `ray start --head` or "
                            "check --ray-address") from None


def _ship(ray, shared: _Shared):
    """Put ``shared`` in the object store, or say what cannot be sent.

    cloudpickle sends a function by name when its module can be imported, and a user's own
    module (a script's neighbour, a notebook's helper file) is not on the cluster's machines:
    the code of the modules the style and the custom effects come from travels with them.
    """
    from ray import cloudpickle

    users = _user_modules([shared.generator, *getattr(shared.generator, "styles", ()),
                           *(effect for _, effect in shared.chain)])
    for module in users:
        cloudpickle.register_pickle_by_value(module)
    try:
        return ray.put(shared)
    except Exception as e:  # (cloudpickle raises whatever the object's __reduce__ raises)
        raise SettingsError(
            f"the style or the custom effects cannot be sent to the Ray cluster ({e}); a "
            "function style must be a plain function (cloudpickle sends its code), without "
            "open files, locks or threads in what it uses") from None
    finally:
        for module in users:
            cloudpickle.unregister_pickle_by_value(module)


def _user_modules(objects) -> list:
    """The modules of these objects, their classes and functions (``func``) that are the
    user's own: neither sonicdreams nor installed (site-packages, the standard library)."""
    import sysconfig

    installed = tuple(str(Path(p).resolve()) for p in {
        *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))})
    found = {}
    for obj in objects:
        for thing in (obj, type(obj), getattr(obj, "func", None)):
            module = sys.modules.get(getattr(thing, "__module__", None) or "")
            path = getattr(module, "__file__", None)
            if (module is None or path is None or module.__name__ == "__main__"
                    or module.__name__.partition(".")[0] in ("sonicdreams", "lucidsonicdreams")
                    or str(Path(path).resolve()).startswith(installed)):
                continue
            found[module.__name__] = module
    return list(found.values())


def render_on_ray(plan, work, todo, *, batch: int, done: int, units_total: int, report,
                  rendered_to) -> None:
    """Render the segments ``todo`` (:class:`~sonicdreams.pipeline.SegmentJob`) of ``plan``
    on the cluster into ``work``; ``done`` frames (and as many work units) already are."""
    ray = require_ray()
    s, n = plan.settings, plan.n_frames
    joined = _connect(ray, s.ray_address)
    gpu = getattr(getattr(plan.generator, "device", None), "type", "cpu") == "cuda"
    resources = ray.cluster_resources()
    slots = max(1, int(resources.get("GPU" if gpu else "CPU", 1)))
    # A CPU style's task takes one core (a slot per core: segments are the parallelism). A
    # GPU's task takes a GPU and its share of the cores: its effects, limiter and encoder are
    # CPU work (about 0.1 s of it for a 1024² frame), which one core would make the bottleneck.
    cpus = min(8, max(1, int(resources.get("CPU", 1)) // slots)) if gpu else 1
    shared = _ship(ray, _Shared(plan.generator, plan.spec, plan.chain, plan.amplitudes, batch,
                                plan.size, s.fit, s.fps, s.allow_flashing, threads=cpus))
    task = ray.remote(_render_task).options(
        num_cpus=cpus, num_gpus=1 if gpu else 0, max_retries=_RETRIES, retry_exceptions=False)
    progress = ray.remote(_Progress).options(num_cpus=0).remote()
    log.info("rendering on Ray: %d %s slot(s), %d core(s) a task", slots,
             "GPU" if gpu else "CPU", cpus)
    pending: dict[Any, Any] = {}  # task → SegmentJob
    arrived: set[int] = set()
    bounds = plan.bounds
    first_missing = 0  # segments before it are all in the work folder
    frames_done, units = done, done
    jobs = iter(todo)
    more = True
    try:
        while more or pending:
            while more and len(pending) < _IN_FLIGHT * slots:
                job = next(jobs, None)
                if job is None:
                    more = False
                    break
                pending[task.remote([shared], job, progress)] = job
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=_REPORT_S)
            for ref in ready:
                job = pending.pop(ref)
                _store(work, plan, job, _result(ray, ref))
                arrived.add(job.k)
                frames_done += job.b - job.a
                units += job.warmup + job.b - job.a
            running = ray.get(progress.report.remote(list(arrived)))
            shown = frames_done + sum(i for i, _ in running.values())
            report("render", shown, n, work=(units + sum(i + w for i, w in running.values()),
                                            units_total))
            while first_missing < len(bounds) and (
                    first_missing in arrived or work.segment(first_missing).exists()):
                first_missing += 1
            rendered_to(bounds[first_missing][0] if first_missing < len(bounds) else n)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        ray.kill(progress)
        if joined:
            ray.shutdown()


def _result(ray, ref) -> tuple[bytes, str]:
    """A task's (file, sha256), its own error raised as itself."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = e.as_instanceof_cause()
        raise cause from None
    except ray.exceptions.WorkerCrashedError as e:
        raise SonicDreamsError(f"a Ray worker died {_RETRIES + 1} times rendering one "
                               f"segment: {e}") from None


def _store(work, plan, job, result: tuple[bytes, str]) -> None:
    """Write a segment that came back into the work folder, verified, with its record."""
    from .workdir import _count_video_packets

    data, sha256 = result
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SonicDreamsError(f"segment {job.k} arrived damaged from the Ray cluster")
    path = work.segment(job.k)
    work.discard(path)
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(data))
    if _count_video_packets(path) != job.b - job.a:
        work.discard(path)
        raise SonicDreamsError(f"segment {job.k} from the Ray cluster does not hold its "
                               f"{job.b - job.a} frames")
    fingerprint = plan.fingerprint
    work.record(path, fingerprint, fingerprint.for_range(job.a, job.b), job.b - job.a)


class _Progress:
    """An actor: the frames each running segment has rendered (a rerun task starts again)."""

    def __init__(self) -> None:
        self.frames: dict[int, tuple[int, int]] = {}

    def tell(self, k: int, frames: int, warmup: int) -> None:
        self.frames[k] = (frames, warmup)

    def report(self, arrived: list[int]) -> dict[int, tuple[int, int]]:
        for k in arrived:
            self.frames.pop(k, None)
        return dict(self.frames)


def _render_task(shared_box: list, job, progress) -> tuple[bytes, str]:
    """On a worker: render and encode segment ``job``; the file's bytes and SHA-256."""
    import ray

    from .flashsafe import segment_limiter
    from .segment import render_segment

    ref = shared_box[0]  # (in a list: Ray hands the reference over, not a copy per task)
    key = ref.hex()
    if key not in _loaded:
        _loaded.clear()  # one render's style at a time
        _loaded[key] = ray.get(ref)
    shared: _Shared = _loaded[key]
    _limit_threads(shared.threads)
    limiter, _ = segment_limiter(shared.fps, job.a, allow_flashing=shared.allow_flashing)
    told = [0.0]
    progress.tell.remote(job.k, 0, job.warmup)

    def on_frames(i: int) -> None:
        now = time.monotonic()
        if now - told[0] >= _REPORT_S or i == job.b - job.a:
            told[0] = now
            progress.tell.remote(job.k, i, job.warmup)

    with tempfile.TemporaryDirectory(prefix="sonicdreams-") as tmp:
        path = Path(tmp) / f"segment_{job.k:05d}.mp4"
        render_segment(path, shared.spec, shared.generator, job.vectors, shared.chain,
                       shared.amplitudes, job.a, job.b, shared.batch, shared.size, shared.fit,
                       None, on_frames, limiter=limiter, warmup=job.warmup)
        data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def _limit_threads(threads: int) -> None:
    """Keep a task to the cores Ray gave it (its kernels, frame calls and PyTorch)."""
    os.environ["SONICDREAMS_THREADS"] = str(threads)
    torch = sys.modules.get("torch")  # (loaded with a StyleGAN style; importing it takes 10 s)
    if torch is not None:
        torch.set_num_threads(threads)
