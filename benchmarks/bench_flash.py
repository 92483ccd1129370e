"""Photosensitivity limiter: flashes per worst second on an 8-hits-per-second click track at
flash_strength 1.0 (limiter on vs allow_flashing=True, counted by the test suite's
independent counter), the limiter's cost per 1280x720 frame, and the warm-up's render-time
overhead at the default segment length. Prints one JSON object."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from sonicdreams.flashsafe import FlashLimiter, history_frames  # noqa: E402
from sonicdreams.pipeline import render  # noqa: E402
from test_flashsafe import _click_song, _decode, count_flashes  # noqa: E402

FPS = 30


def _per_frame_ms(frames: np.ndarray, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        limiter = FlashLimiter(FPS)
        t = time.perf_counter()
        limiter.apply(frames)
        best = min(best, time.perf_counter() - t)
    return 1000 * best / len(frames)


def main() -> None:
    small = dict(style="cppn", fps=FPS, width=96, height=96, seed=1, cache=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        song = _click_song(tmp / "clicks.wav", duration_s=4.0)
        flashes = {}
        for name, allow in (("limiter_on", False), ("allow_flashing", True)):
            r = render(song, tmp / f"{name}.mp4", flash_strength=1.0, allow_flashing=allow,
                       **small)
            flashes[name] = count_flashes(_decode(r.output))

        # Render-time overhead of the warm-up: 20 s in two 10-second segments.
        long_song = _click_song(tmp / "long.wav", duration_s=20.0, hz=2.0)
        times = {}
        for name, allow in (("limiter_on", False), ("allow_flashing", True)):
            best = np.inf
            for k in range(2):
                t = time.perf_counter()
                render(long_song, tmp / f"t{name}{k}.mp4", allow_flashing=allow, **small)
                best = min(best, time.perf_counter() - t)
            times[name] = best

    rng = np.random.default_rng(0)
    calm = np.clip(rng.normal(110, 20, (1, 720, 1280, 3)), 0, 255).astype(np.uint8)
    calm = np.repeat(calm, 30, axis=0)
    strobe = calm.copy()
    strobe[::4] = 255  # a full-screen strobe: the limiter works on every frame after the first
    print(json.dumps({
        "click_track": "8 hits/s, 4 s, cppn 96x96, 30 fps, flash_strength 1.0",
        "flashes_worst_second": flashes,
        "target_flashes_worst_second": 3,
        "ms_per_1280x720_frame": {"no_flash_risk": round(_per_frame_ms(calm), 2),
                                  "strobe_limited": round(_per_frame_ms(strobe), 2)},
        "warmup_frames_per_segment": history_frames(FPS),
        "warmup_share_of_10s_segment": round(history_frames(FPS) / (10 * FPS), 3),
        "render_20s_s": {k: round(v, 2) for k, v in times.items()},
        "render_overhead_ratio": round(times["limiter_on"] / times["allow_flashing"], 3),
        "target_overhead_ratio": 1.10,
    }, indent=1))


if __name__ == "__main__":
    main()
