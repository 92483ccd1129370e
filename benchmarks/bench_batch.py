"""The user's batch size against the default: prints one JSON object.

Lucid Sonic Dreams' ``hallucinate`` defaults to ``batch_size=1``. The batch is what the
generator is given per call; it must not also be the pipeline's step (threads, effects,
colour conversion per frame), which made ``batch_size=1`` 38 % slower. Renders 20 s of the
bundled excerpt with the default style at 512x512, 43 fps, preset veryfast (analysis cached
first, so the figures are the rendering), best of ``--repeats``:

- ``default_fps``: ``sonicdreams.render`` with the style's own batch;
- ``batch1_fps``: the same with ``batch_size=1``;
- ``compat_batch1_fps``: ``LucidSonicDream(...).hallucinate(batch_size=1)``;
- ``batch1_ratio``, ``compat_ratio``: those over ``default_fps`` (target: at least 0.95).

``--baseline DIR`` measures the same on another checkout (``DIR/src``) in a child process.

Usage: python benchmarks/bench_batch.py [--repeats 3] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = ROOT / "tests" / "data" / "noiz2sa-stg1-excerpt.ogg"
OPTIONS = dict(duration=20, fps=43, preset="veryfast", seed=1)


def measure(repeats: int) -> dict:
    from lucidsonicdreams import LucidSonicDream

    try:
        from sonicdreams.pipeline import render
    except ImportError:  # a checkout from before the pipeline module had its name
        from sonicdreams.render import render

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["SONICDREAMS_CACHE"] = str(folder / "cache")
        render(EXCERPT, folder / "warm.mp4", **OPTIONS)
        runs = {"default": [], "batch1": [], "compat_batch1": []}
        for k in range(repeats):
            for name in runs:
                out = folder / f"{name}{k}.mp4"
                t = time.perf_counter()
                if name == "compat_batch1":
                    LucidSonicDream(str(EXCERPT), style="cppn").hallucinate(
                        str(out), batch_size=1, resolution=512, quiet=True, **OPTIONS)
                    n = 860
                else:
                    n = render(EXCERPT, out, width=512, height=512,
                                batch_size=1 if name == "batch1" else None, **OPTIONS).n_frames
                runs[name].append(n / (time.perf_counter() - t))
    best = {name: max(values) for name, values in runs.items()}
    return {"default_fps": round(best["default"], 1),
            "batch1_fps": round(best["batch1"], 1),
            "compat_batch1_fps": round(best["compat_batch1"], 1),
            "batch1_ratio": round(best["batch1"] / best["default"], 3),
            "compat_ratio": round(best["compat_batch1"] / best["default"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.inner:
        print(json.dumps(measure(opts.repeats)))
        return
    report = {"ours": measure(opts.repeats), "target_ratio": 0.95}
    if opts.baseline is not None:
        env = {**os.environ, "PYTHONPATH": str(opts.baseline / "src")}
        done = subprocess.run([sys.executable, __file__, "--inner", "--repeats",
                               str(opts.repeats)], env=env, capture_output=True, text=True,
                              check=True)
        report["baseline"] = json.loads(done.stdout)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
