"""Run one ``sonicdreams render`` command line in this process and print, as one JSON line,
its wall time and the CPU time of each stage (on whichever threads it runs).

Each stage's functions are wrapped to add up the CPU time (``time.thread_time``) of the
thread that runs them: the style's frames on its threads, the limiter and the colour
conversion on the effects thread, and so on. x264 encodes on threads of its own that no
Python function runs on, so ``encode_and_rest`` is what is left of the process's CPU time
after the other stages and the start-up (the imports): x264, and the small leftovers of
the rest (loading the style, the segment files' checks).

Usage: python benchmarks/_stages.py render SONG -o OUT [options…]
"""

from __future__ import annotations

import functools
import json
import resource
import sys
import threading
import time
from collections import defaultdict

_cpu: dict[str, float] = defaultdict(float)
_depth = threading.local()
_lock = threading.Lock()


def _process_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _wrap(owner, name: str, stage: str) -> None:
    """Count the thread CPU of ``owner.name`` as ``stage`` (the outermost stage of a thread
    wins: a stage called from inside another is not counted twice)."""
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def timed(*args, **kwargs):
        if getattr(_depth, "busy", False):
            return inner(*args, **kwargs)
        _depth.busy = True
        t = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent = time.thread_time() - t
            _depth.busy = False
            with _lock:
                _cpu[stage] += spent

    setattr(owner, name, timed)


def _wrap_decoding(cls) -> None:
    """Count the CPU of each block an audio stream decodes as ``decode`` (it runs inside the
    analysis, which is counted without it)."""
    inner = cls.__iter__

    def blocks(self):
        it = inner(self)
        while True:
            t = time.thread_time()
            try:
                block = next(it)
            except StopIteration:
                return
            finally:
                with _lock:
                    _cpu["decode"] += time.thread_time() - t
            yield block

    cls.__iter__ = blocks


def _instrument() -> None:
    import sonicdreams.audio.analyze as analyze
    import sonicdreams.audio.decode as decode
    import sonicdreams.direction as direction
    import sonicdreams.effects as effects
    import sonicdreams.flashsafe as flashsafe
    import sonicdreams.motion.trajectory as trajectory
    import sonicdreams.pipeline as pipeline
    import sonicdreams.segment as segment
    import sonicdreams.video as video
    from sonicdreams.generators.builtin import BUILTIN_STYLES

    _wrap_decoding(decode.AudioStream)
    _wrap(analyze, "analyze", "analysis")
    from sonicdreams.audio import _grid  # the analysis' own pool of threads

    _wrap(_grid, "_spectral_job", "analysis")
    _wrap(_grid, "_chroma_job", "analysis")
    _wrap(direction, "direct", "trajectory")
    _wrap(trajectory, "plan_stream", "trajectory")
    _wrap(pipeline, "_segment_vectors", "trajectory")
    for cls in BUILTIN_STYLES.values():
        _wrap(cls, "frame", "style")
    _wrap(segment, "fit_frames", "effects")
    _wrap(effects, "apply_effects", "effects")
    _wrap(flashsafe.FlashLimiter, "apply", "limiter")
    _wrap(flashsafe.FlashLimiter, "prime", "limiter")
    _wrap(video.SegmentWriter, "prepare", "colour conversion")
    _wrap(video, "encode_soundtrack", "mux")
    _wrap(pipeline, "_finalize", "mux")


def main(argv: list[str]) -> dict:
    t0, c0 = time.perf_counter(), _process_cpu()
    import av  # noqa: F401  (the start-up: what every render imports)
    import numba  # noqa: F401

    import sonicdreams.pipeline  # noqa: F401
    from sonicdreams.cli import main as cli

    _instrument()
    startup = _process_cpu() - c0
    try:
        code = cli(argv)
    except SystemExit as exit_:
        code = exit_.code
    if code:
        raise SystemExit(f"the render failed (exit {code})")
    wall, cpu = time.perf_counter() - t0, _process_cpu() - c0
    # decode runs inside analysis: analysis is the rest of it
    stages = {"startup": startup, **dict(_cpu)}
    stages["analysis"] = stages.get("analysis", 0.0) - stages.get("decode", 0.0)
    stages["encode_and_rest"] = max(0.0, cpu - sum(stages.values()))
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "stage_cpu_s": {k: round(v, 2) for k, v in stages.items()},
            "stage_share": {k: round(v / cpu, 3) for k, v in stages.items()}}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
