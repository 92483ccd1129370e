"""Draw the README's pictures from a real song at default settings.

``docs/styles.png``: one row per built-in style, frames across the whole song (the middle of
each section, labelled with its time and palette), as the default render shows them.

    python docs/pictures.py [--song SONG] [--out docs/styles.png]

Without ``--song`` it uses *noiz2sa* stage 3 (Kenta Cho, BSD-2-Clause) from the Debian package
``noiz2sa-data`` if it is installed, else the excerpt in ``tests/data``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import sonicdreams

ROOT = Path(__file__).resolve().parents[1]
SONGS = (Path("/work/songs/noiz2sa-stg3.ogg"), Path("/usr/share/games/noiz2sa/sounds/stg3.ogg"),
         ROOT / "tests" / "data" / "noiz2sa-stg1-excerpt.ogg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--song", type=Path, default=next(p for p in SONGS if p.exists()))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "styles.png")
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--tile", default="224x126", help="WxH of each frame")
    args = parser.parse_args()
    from PIL import Image, ImageDraw

    w, h = (int(v) for v in args.tile.split("x"))
    features = sonicdreams.analyze(args.song, fps=30)
    direction = sonicdreams.direct(features, settings=sonicdreams.RenderSettings(),
                                   seed=int(features.song.digest[:15], 16))
    # A frame on a hit in the middle of each scene, then more across the song if needed.
    times = []
    for scene in direction.scenes:
        middle = 0.5 * (scene.start_s + scene.end_s)
        beats = features.beat_times
        times.append(float(beats[np.argmin(np.abs(beats - middle))]) if len(beats) else middle)
    times = sorted(times)[:args.columns]
    while len(times) < args.columns:
        times = sorted({*times, *np.linspace(1.0, features.duration_s - 1, args.columns)})
        times = times[:args.columns]
    labels = []
    for t in times:
        k = int(round(t * 30))
        scene = direction.scenes[int(direction.cue("scene_b")[min(k, features.n_frames - 1)])]
        labels.append(f"{int(t // 60)}:{t % 60:04.1f}  {scene.palette_name}")
    names = [s.name for s in sonicdreams.list_styles() if s.kind == "builtin"]
    label_w = 110
    sheet = Image.new("RGB", (label_w + len(times) * w, len(names) * h + 18), (14, 14, 18))
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(names):
        frames = sonicdreams.still_frames(args.song, times, style=name, width=w, height=h)
        for col, frame in enumerate(frames):
            sheet.paste(Image.fromarray(frame), (label_w + col * w, 18 + row * h))
        draw.text((8, 18 + row * h + h // 2 - 6), name, fill=(235, 235, 235))
    for col, label in enumerate(labels):
        draw.text((label_w + col * w + 4, 3), label, fill=(200, 200, 200))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"{args.out}: {len(names)} styles x {len(times)} moments of {args.song.name}")


if __name__ == "__main__":
    main()
