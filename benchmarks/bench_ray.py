"""Rendering on Ray: 1 against 2 workers on this machine, and the cost of a segment.

    python benchmarks/bench_ray.py [--song FILE] [--seconds 40] [--size 512]

A CPU-bound built-in style (julia, 512² by default) renders the same clip three ways, each in
one run of this script: locally (``backend="local"``, both cores), and on a local Ray instance
of one and of two workers, each worker confined to a core of its own (``backend="ray"``: a
segment a task, each task single-threaded; the driver, which only plans and joins, is not).
Each Ray figure is the second of two renders in the same Ray instance, so worker start-up and
kernel loading (a one-off per worker process) are reported apart (``*_first_s``).

- ``speedup_2_vs_1``: the 1-worker wall time over the 2-worker one (aim ≥ 1.7).
- ``segment_overhead_s``: what one more segment costs on one worker, from the same clip in
  segments of ``--long`` and ``--short`` seconds: (T_short − T_long) / (extra segments). It is
  the task's scheduling, the shipping of its vectors and its file, its encoder's start and the
  frames that prime its flash limiter (about 1.6 s of video, rendered but not kept).
- ``frame_s_one_core``: the wall time of a frame on one worker (2-segment clip / frames).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# Sectoid's "War of freedom" (2:55, Debian's fretsonfire-songs-sectoid, CC-BY-SA)
SONGS = (Path("/work/songs/sectoid-war-of-freedom.ogg"),
         Path("/usr/share/games/fretsonfire/data/songs/sectoid/War of freedom/song.ogg"))


def _render(song, out, *, backend, seconds, size, segment_s, start, style):
    from sonicdreams import render

    t0 = time.perf_counter()
    render(song, out, backend=backend, duration=seconds, start=start, width=size,
           height=size, segment_seconds=segment_s, seed=1, overwrite=True, style=style)
    return time.perf_counter() - t0


def _on_ray(cpus: int, runs, env: dict) -> list[float]:
    """The runs on a local Ray of ``cpus`` workers confined to ``cpus`` cores: Ray's
    processes start from this one and keep its CPU affinity (a task's stage threads and
    encoder would otherwise spread over every core, and 1 worker would use 2)."""
    import ray

    everything = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(sorted(everything)[:cpus]))
    try:
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": env})
    finally:
        os.sched_setaffinity(0, everything)  # (the driver itself is not a worker)
    try:
        return [run() for run in runs]
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--song", default=None, help="default: a real 3-minute song")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--start", type=float, default=30.0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--style", default="julia", help="a built-in style (julia: the most "
                        "CPU per frame, so the driver's own work weighs least)")
    parser.add_argument("--long", type=float, default=10.0, help="segment seconds (main runs)")
    parser.add_argument("--short", type=float, default=2.5, help="segment seconds (overhead)")
    args = parser.parse_args()
    song = args.song or next((p for p in SONGS if p.exists()), None)
    if song is None:
        sys.exit("no song: pass --song FILE, or apt-get install fretsonfire-songs-sectoid")
    env = {"SONICDREAMS_CACHE": os.environ.get("SONICDREAMS_CACHE", "")} if os.environ.get(
        "SONICDREAMS_CACHE") else {}
    result: dict = {"song": Path(song).name, "seconds": args.seconds,
                    "size": f"{args.size}x{args.size}", "style": args.style,
                    "cpu_count": os.cpu_count(), "segment_s": args.long}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "v.mp4"

        def run(backend, segment_s, seconds=args.seconds):
            return lambda: _render(song, out, backend=backend, seconds=seconds, size=args.size,
                                   segment_s=segment_s, start=args.start, style=args.style)

        # (the analysis cache and the kernels, for every run)
        _render(song, out, backend="local", seconds=2, size=args.size, segment_s=args.long,
                start=args.start, style=args.style)
        result["local_s"] = round(run("local", args.long)(), 2)
        first1, one, one_short = _on_ray(1, [run("ray", args.long, 2), run("ray", args.long),
                                             run("ray", args.short)], env)
        first2, two = _on_ray(2, [run("ray", args.long, 2), run("ray", args.long)], env)
    n_long = -(-args.seconds // args.long)
    n_short = -(-args.seconds // args.short)
    frames = round(args.seconds * 30)
    result.update({
        "ray_1_worker_s": round(one, 2), "ray_2_workers_s": round(two, 2),
        "ray_1_worker_first_s": round(first1, 2), "ray_2_workers_first_s": round(first2, 2),
        "speedup_2_vs_1": round(one / two, 3),
        "ray_2_workers_vs_local": round(two / result["local_s"], 3),
        "segment_overhead_s": round((one_short - one) / (n_short - n_long), 3),
        "frame_s_one_core": round(one / frames, 4),
        "realtime_ratio_2_workers": round(two / args.seconds, 3),
    })
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
