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
and a finished segment is never rendered again. A CPU worker process loads the style once (the
first task on it takes it from the object store, later tasks find it in :data:`_loaded`); a
GPU task gets a fresh process, as Ray gives every GPU task by default (a process keeps the
device it first used), so there the style loads once a segment: use long segments. Tasks
report their frames to a small actor, which the driver reads into the same progress bar.
Only a few tasks per slot are in flight, so the driver's memory holds a few segments'
vectors, whatever the song's length.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
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
    # ray.init sets its own SIGTERM handler (an exit): the CLI's, which stops a render
    # cleanly and keeps its segments, stays.
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SettingsError(f"could not join the Ray cluster at {address or 'this machine'}: "
                            f"{e}; start it with `ray start --head` or check --ray-address"
                            ) from None
    finally:
        if main and sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)
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


def render_on_ray(plan, work, todo, *, batch: int, done: int, units_total: int,
                  reused: set[int], report, rendered_to) -> None:
    """Render the segments ``todo`` (:class:`~sonicdreams.pipeline.SegmentJob`) of ``plan``
    on the cluster into ``work``; ``done`` frames (and as many work units) already are, in
    the segments ``reused``."""
    ray = require_ray()
    s = plan.settings
    joined = _connect(ray, s.ray_address)
    progress = None
    pending: dict[Any, Any] = {}  # task → SegmentJob
    try:
        gpu = any(getattr(getattr(g, "device", None), "type", "cpu") == "cuda"
                  for g in (plan.generator, *getattr(plan.generator, "styles", ())))
        slots, cpus = _slots(ray, gpu=gpu)
        shared = _ship(ray, _Shared(plan.generator, plan.spec, plan.chain, plan.amplitudes,
                                    batch, plan.size, s.fit, s.fps, s.allow_flashing,
                                    threads=cpus))
        # (resources given to ray.remote itself: a GPU task's worker then serves one task,
        # as Ray does by default, and a network never stays on another task's device)
        task = ray.remote(num_cpus=cpus, num_gpus=1 if gpu else 0, max_retries=_RETRIES,
                          retry_exceptions=False)(_render_task)
        progress = _progress_actor(ray)
        log.info("rendering on Ray: %d %s slot(s), %d core(s) a task", slots,
                 "GPU" if gpu else "CPU", cpus)
        _run(ray, plan, work, todo, task, shared, progress, pending, slots=slots, done=done,
             units_total=units_total, reused=reused, report=report, rendered_to=rendered_to)
    finally:
        for ref in pending:
            _quietly(ray.cancel, ref, force=True)
        if progress is not None:
            _quietly(ray.kill, progress)
        if joined:
            _quietly(ray.shutdown)


def _run(ray, plan, work, todo, task, shared, progress, pending: dict, *, slots: int,
         done: int, units_total: int, reused: set[int], report, rendered_to) -> None:
    """Keep ``_IN_FLIGHT`` tasks a slot submitted, store what arrives, report the progress."""
    n, bounds = plan.n_frames, plan.bounds
    there = set(reused)  # segments in the work folder, verified
    first_missing = 0  # segments before it are all there
    frames_done, units = done, done
    jobs = iter(todo)
    more = True
    while more or pending:
        while more and len(pending) < _IN_FLIGHT * slots:
            job = next(jobs, None)
            if job is None:
                more = False
                break
            pending[task.remote([shared], job, progress)] = job
        try:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=_REPORT_S)
        except (ray.exceptions.RayError, ConnectionError) as e:
            raise SonicDreamsError(f"lost the Ray cluster: {e}") from None
        for ref in ready:
            job = pending.pop(ref)
            _store(work, plan, job, _result(ray, ref))
            there.add(job.k)
            frames_done += job.b - job.a
            units += job.warmup + job.b - job.a
        running = _poll(ray, progress, sorted(there - set(reused))) if progress else {}
        if running is None:  # (the actor is gone or hangs: the bar moves by segments)
            progress, running = None, {}
        report("render", frames_done + sum(i for i, _ in running.values()), n,
               work=(units + sum(i + w for i, w in running.values()), units_total))
        while first_missing < len(bounds) and first_missing in there:
            first_missing += 1
        rendered_to(bounds[first_missing][0] if first_missing < len(bounds) else n)


def _slots(ray, *, gpu: bool) -> tuple[int, int]:
    """(tasks the cluster runs at once, cores a task): a CPU style's task takes one core (a
    slot per core: segments are the parallelism); a GPU's task takes a GPU and its share of
    the cores of the least-equipped GPU machine (its effects, limiter and encoder are CPU work,
    about 0.1 s of it for a 1024² frame, which one core would make the bottleneck)."""
    resources = ray.cluster_resources()
    if not gpu:
        return max(1, int(resources.get("CPU", 1))), 1
    if resources.get("GPU", 0) < 1:
        raise SettingsError("the style runs on a GPU but the Ray cluster has none: add "
                            "machines with GPUs to it, or render with --device cpu")
    shares = [int(node["Resources"].get("CPU", 0) // node["Resources"]["GPU"])
              for node in ray.nodes()
              if node.get("Alive") and node.get("Resources", {}).get("GPU")]
    return int(resources["GPU"]), min(8, max(1, min(shares, default=1)))


def _progress_actor(ray):
    """The progress actor, on the driver's machine (through Ray Client: the head's), which
    outlives any worker machine."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    return ray.remote(_Progress).options(num_cpus=0, scheduling_strategy=here).remote()


def _poll(ray, progress, arrived: list[int]) -> dict[int, tuple[int, int]] | None:
    """The running segments' (frames, warm-up) from the progress actor; None if it is gone."""
    try:
        return ray.get(progress.report.remote(arrived), timeout=10)
    except ray.exceptions.RayError as e:
        log.debug("no progress from the cluster: %s", e)
        return None


def _quietly(call, *args, **kwargs) -> None:
    """Clean-up that must not hide the error being raised (the cluster may be gone)."""
    try:
        call(*args, **kwargs)
    except Exception as e:  # noqa: BLE001
        log.debug("Ray clean-up: %s", e)


def _result(ray, ref) -> tuple[bytes, str, dict]:
    """A task's (file, sha256, library versions), its own error raised as itself."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        raise e.as_instanceof_cause() from None
    except (ray.exceptions.RayError, ConnectionError) as e:  # workers lost, memory…
        raise SonicDreamsError(f"the Ray cluster could not render a segment "
                               f"({type(e).__name__}, after Ray's retries): "
                               f"{str(e).splitlines()[0] if str(e) else e!r}") from None


def _store(work, plan, job, result: tuple[bytes, str, dict]) -> None:
    """Write a segment that came back into the work folder, verified, with its record."""
    data, sha256, versions = result
    ours = _versions()
    differ = sorted(k for k in {*ours} & {*versions} if ours[k] != versions[k])
    if differ:
        raise SonicDreamsError(
            "a machine of the Ray cluster has other versions than this one ("
            + ", ".join(f"{k} {versions.get(k)} there, {ours.get(k)} here" for k in differ)
            + "): install the same ones on every machine, so that every segment is made "
            "alike")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SonicDreamsError(f"segment {job.k} arrived damaged from the Ray cluster")
    path = work.segment(job.k)
    work.discard(path)
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(data))
    fingerprint, n_frames = plan.fingerprint, job.b - job.a
    key = fingerprint.for_range(job.a, job.b)
    work.record(path, fingerprint, key, n_frames)
    # (the work folder's own verification, as a resumed render does it: frames counted)
    if not work.check(path, fingerprint, key, n_frames, trust_opaque=True).ok:
        work.discard(path)
        raise SonicDreamsError(f"segment {job.k} from the Ray cluster does not hold its "
                               f"{n_frames} frames")


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


def _render_task(shared_box: list, job, progress) -> tuple[bytes, str, dict]:
    """On a worker: render and encode segment ``job``; the file's bytes, its SHA-256 and
    the versions of the libraries that made it."""
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

    def on_frames(i: int) -> None:
        now = time.monotonic()
        if progress is not None and (now - told[0] >= _REPORT_S or i in (0, job.b - job.a)):
            told[0] = now
            progress.tell.remote(job.k, i, job.warmup)

    on_frames(0)

    with tempfile.TemporaryDirectory(prefix="sonicdreams-") as tmp:
        path = Path(tmp) / f"segment_{job.k:05d}.mp4"
        render_segment(path, shared.spec, shared.generator, job.vectors, shared.chain,
                       shared.amplitudes, job.a, job.b, shared.batch, shared.size, shared.fit,
                       None, on_frames, limiter=limiter, warmup=job.warmup)
        data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest(), _versions()


def _versions() -> dict[str, str]:
    """The versions of the libraries that shape the frames, torch's too where it is loaded
    (a StyleGAN style)."""
    from .fingerprint import library_versions

    out = library_versions()
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = f"{torch.__version__} (CUDA {torch.version.cuda or 'none'})"
    return out


def _limit_threads(threads: int) -> None:
    """Keep a task to the cores Ray gave it (its kernels, frame calls and PyTorch)."""
    os.environ["SONICDREAMS_THREADS"] = str(threads)
    torch = sys.modules.get("torch")  # (loaded with a StyleGAN style; importing it takes 10 s)
    if torch is not None:
        torch.set_num_threads(threads)
