"""Built-in styles benchmark: frames/s of every style at 256x256, 512x512 and 1280x720.

Prints one JSON object. Each figure is the best of 3 timed batches of 16 frames (after a
warm-up batch, so numba compilation is not counted), through ``render()`` as the pipeline
calls it. Targets: the default style >= 60 frames/s at 512x512, every style >= 15.

Usage: python benchmarks/bench_styles.py [--styles a,b]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

SIZES = {"256x256": (256, 256), "512x512": (512, 512), "1280x720": (720, 1280)}


def frames_per_second(name: str, size: tuple[int, int], batch: int = 16, rounds: int = 3) -> float:
    import sonicdreams

    style = sonicdreams.load_style(name, size=size)
    rng = np.random.default_rng(0)
    z = np.clip(rng.standard_normal((batch, 512)), -2, 2).astype(np.float32)
    c = rng.random((batch, 12)).astype(np.float32)
    style.render(z, c)  # warm-up
    best = float("inf")
    for k in range(rounds):
        t0 = time.perf_counter()
        style.render(z + 0.01 * k, c)
        best = min(best, time.perf_counter() - t0)
    return batch / best


def main() -> None:
    from sonicdreams.generators.builtin import BUILTIN_STYLES, DEFAULT_STYLE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", default=",".join(sorted(BUILTIN_STYLES)))
    args = parser.parse_args()
    result: dict = {"benchmark": "styles", "cpu_count": os.cpu_count(),
                    "default_style": DEFAULT_STYLE, "fps": {}}
    for name in args.styles.split(","):
        result["fps"][name] = {label: round(frames_per_second(name, size), 1)
                               for label, size in SIZES.items()}
    result["targets"] = {"default 512x512": ">= 60", "every style 512x512": ">= 15"}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
