"""Motion engine benchmark: prints one JSON object.

- ``plan_60min_s`` / ``peak_rss_60min_mb``: ``sonicdreams.plan`` for a 60-minute song at 30 fps
  (108,000 frames, z_dim 512, c_dim 1000), in a fresh subprocess (after a warm-up on a short
  song, so numba's one-time compilation is not counted).
- ``speedup_vs_original_5000``: the same engine against a direct O(N²) transcription of the
  original's formulas (tests/lsd_reference.py) on 5,000 frames, measured in this run.

Usage: python benchmarks/bench_motion.py [--skip-60min]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

CHILD = r"""
import json, sys, time
sys.path.insert(0, {tests!r})
sys.path.insert(0, {bench!r})
from _peak import peak_rss_mb
from test_motion import synthetic_features
import sonicdreams
warm = synthetic_features(5.0, 30)
sonicdreams.plan(warm, z_dim=512, c_dim=1000, seed=0)  # numba compile / load
features = synthetic_features({duration}, 30)
base_rss = peak_rss_mb() * 1024
t0 = time.perf_counter()
traj = sonicdreams.plan(features, z_dim=512, c_dim=1000, seed=1)
elapsed = time.perf_counter() - t0
print(json.dumps({{"seconds": elapsed, "frames": traj.n_frames,
                  "noise_mb": traj.noise.nbytes / 2**20, "classes_mb": traj.classes.nbytes / 2**20,
                  "rss_before_plan_mb": base_rss / 1024,
                  "peak_rss_mb": peak_rss_mb()}}))
"""


def _sixty_minutes(duration_s: float) -> dict:
    code = CHILD.format(tests=str(ROOT / "tests"), bench=str(ROOT / "benchmarks"),
                        duration=duration_s)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _versus_original(n_frames: int = 5000, z_dim: int = 512) -> dict:
    import sonicdreams
    from lsd_reference import lsd_noise
    from sonicdreams.motion.trajectory import random_keys, random_streams, random_walk_factors
    from test_motion import synthetic_features

    features = synthetic_features(n_frames / 43, 43)
    sonicdreams.plan(synthetic_features(2.0, 43), z_dim=z_dim, seed=0)  # warm-up
    t0 = time.perf_counter()
    ours = sonicdreams.plan(features, z_dim=z_dim, seed=4, speed_fpm=0)
    ours_s = time.perf_counter() - t0

    keys_rng, walk_rng, _ = random_streams(4)
    key = random_keys(keys_rng, 0, z_dim, 1.0).astype(np.float64)
    signs0, r_blocks = random_walk_factors(walk_rng, z_dim, features.n_frames // 172 + 1, 0.5)
    base = np.repeat(key, features.n_frames, axis=0)
    t0 = time.perf_counter()
    original = lsd_noise(base, features.pulse, features.motion, fps=43, pulse_react=0.5,
                         motion_react=0.5, motion_randomness=0.5, truncation=1.0,
                         signs0=signs0, r_draws=r_blocks)
    original_s = time.perf_counter() - t0
    return {
        "frames": int(features.n_frames),
        "engine_s": round(ours_s, 4),
        "original_transcription_s": round(original_s, 3),
        "speedup_vs_original_5000": round(original_s / ours_s, 1),
        "max_abs_difference": float(np.abs(ours.noise - original).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-60min", action="store_true")
    args = parser.parse_args()
    result: dict = {"benchmark": "motion", "cpu_count": os.cpu_count()}
    result.update(_versus_original())
    if not args.skip_60min:
        child = _sixty_minutes(3600.0)
        result.update({
            "plan_60min_s": round(child["seconds"], 3),
            "frames_60min": child["frames"],
            "peak_rss_60min_mb": round(child["peak_rss_mb"], 1),
            "rss_before_plan_60min_mb": round(child["rss_before_plan_mb"], 1),
            "output_arrays_60min_mb": round(child["noise_mb"] + child["classes_mb"], 1),
        })
    result["targets"] = {"plan_60min_s": "<= 3", "peak_rss_60min_mb": "<= 1024"}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
