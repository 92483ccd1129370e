"""How true the remaining time in the progress bar is: prints one JSON object.

Renders a real song with the default style at each size through :func:`sonicdreams.render`
(the CLI's bar shows the same ``eta_s``) and compares, at every progress event between 10 %
and 90 % of the frames, the estimate with the time the render really still took (until
``render`` returned: encoding's tail and the mux included). Issue 14's target: within 20 %
after the first 10 %. The last 10 % are left out of the summary: there a fraction of a
second of noise is a large share of what remains.

Usage: python benchmarks/bench_eta.py [--song PATH] [--seconds S] [--sizes 512x512,1280x720]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXCERPT = ROOT / "tests" / "data" / "noiz2sa-stg1-excerpt.ogg"


def measure(song: str, size: tuple[int, int], seconds: float | None, out_dir: str) -> dict:
    import sonicdreams

    w, h = size
    seen: list[tuple[float, int, int, float | None]] = []

    def progress(event) -> None:
        if event.stage == "render":
            seen.append((time.perf_counter(), event.done, event.total, event.eta_s))

    result = sonicdreams.render(song, os.path.join(out_dir, f"eta-{w}x{h}.mp4"), width=w,
                                height=h, duration=seconds, overwrite=True, cache=False,
                                progress=progress)
    end = time.perf_counter()
    rows = [(done / total, eta, end - t) for t, done, total, eta in seen
            if eta is not None and 0.1 <= done / total <= 0.9 and end - t > 0]
    errors = np.array([(eta - truth) / truth for _, eta, truth in rows])

    def at(share: float) -> float | None:
        later = [(eta - truth) / truth for frac, eta, truth in rows if frac >= share]
        return round(later[0], 3) if later else None

    return {
        "size": f"{w}x{h}",
        "frames": result.n_frames,
        "render_s": round(result.elapsed_s, 2),
        "events_10_to_90": len(rows),
        "error_at": {f"{p}%": at(p / 100) for p in (10, 25, 50, 75)},
        "max_abs_error": round(float(np.abs(errors).max()), 3) if len(errors) else None,
        "median_abs_error": round(float(np.median(np.abs(errors))), 3) if len(errors) else None,
        "share_within_20pct": round(float((np.abs(errors) <= 0.2).mean()), 3)
        if len(errors) else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--song", default=str(EXCERPT))
    parser.add_argument("--seconds", type=float, help="clip length (default: the whole song)")
    parser.add_argument("--sizes", default="512x512,1280x720")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="sonicdreams-eta-") as tmp:
        runs = [measure(args.song, size, args.seconds, tmp) for size in sizes]
    print(json.dumps({"benchmark": "eta", "song": Path(args.song).name, "target": "within 20 %",
                      "runs": runs, "cpu_count": os.cpu_count(),
                      "loadavg_1min": os.getloadavg()[0]}, indent=1))


if __name__ == "__main__":
    main()
