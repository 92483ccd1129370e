"""Compiled kernels: kept in sonicdreams' cache folder, written on the first run and read on
the next; the CLI says when it compiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import EXCERPT

PROBE = """
import json, numpy as np
from sonicdreams import effects
frames = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(1, 8, 8, 3)
out = effects.contrast(frames, np.ones(1), 0.5)
kernel = effects._fuse()
print(json.dumps({"hits": sum(kernel.stats.cache_hits.values()),
                  "misses": sum(kernel.stats.cache_misses.values()),
                  "sum": int(out.astype(int).sum())}))
"""


def _probe(env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_kernels_are_cached_in_the_cache_folder_and_read_back(tmp_path):
    env = {**os.environ, "SONICDREAMS_CACHE": str(tmp_path / "cache")}
    first = _probe(env)
    folder = tmp_path / "cache" / "numba"
    index = list(folder.rglob("*.nbi"))
    assert any(p.name.startswith("effects._fuse_py") for p in index), index
    assert list(folder.rglob("*.nbc"))  # the machine code itself
    assert first["misses"] >= 1 and first["hits"] == 0  # compiled
    second = _probe(env)
    assert second["hits"] >= 1 and second["misses"] == 0  # read back, not compiled again
    assert second["sum"] == first["sum"]


def test_the_cli_says_when_it_compiles(tmp_path):
    env = {**os.environ, "SONICDREAMS_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "v.mp4"
    done = subprocess.run(
        [sys.executable, "-m", "sonicdreams", "render", str(EXCERPT), "-o", str(out),
         "--duration", "1", "--size", "64x48", "--json-progress"],
        env=env, capture_output=True, text=True, check=True)
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    compiled = {e["kernel"] for e in events if e["stage"] == "compile"}
    assert "cppn.paint" in compiled, compiled  # the default style's painter, compiled here
    assert out.is_file()
    assert list((tmp_path / "cache" / "numba").rglob("cppn._paint_py*.nbi"))
