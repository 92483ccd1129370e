"""Draw the README's screenshots of the studio: the real page in headless Chromium.

``docs/studio.jpg``: a real song playing in the live preview, with the gallery and timeline.
``docs/studio-render.jpg``: a scene on a section (marked on the timeline), the render form and
a render in the queue.

    python docs/studio_pictures.py [--song SONG]

Needs the ``studio`` extra, Playwright and the distribution's Chromium (``make install``
brings all three). Without ``--song`` it uses *noiz2sa* stage 3 (Kenta Cho, BSD-2-Clause)
from the Debian package ``noiz2sa-data`` if installed, else the excerpt in ``tests/data``.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
SONGS = (Path("/work/songs/noiz2sa-stg3.ogg"), Path("/usr/share/games/noiz2sa/sounds/stg3.ogg"),
         ROOT / "tests" / "data" / "noiz2sa-stg1-excerpt.ogg")


def _save(png: bytes, path: Path) -> None:
    from PIL import Image

    Image.open(io.BytesIO(png)).convert("RGB").save(path, quality=88, optimize=True)
    print(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--song", type=Path, default=next(p for p in SONGS if p.exists()))
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from _browser import launch
    from _studio import running_studio
    from sonicdreams.studio.app import create_app

    with tempfile.TemporaryDirectory() as tmp, running_studio(create_app(data_dir=tmp)) as base, \
            sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(base + "/")
        page.set_input_files("#file-input", str(args.song))
        page.wait_for_selector("#timeline[data-ready='1']", timeout=300_000)
        page.click(".style-card[data-style='nebula']")
        page.evaluate("document.getElementById('audio').currentTime = 62")
        page.click("#play-button")
        page.wait_for_function("window.studio.framesDrawn > 60", timeout=60_000)
        time.sleep(3.5)  # (the thumbnails catch up with the music)
        _save(page.screenshot(), args.out / "studio.jpg")

        page.click("#play-button")
        box = page.locator("#timeline").bounding_box()
        sections = page.evaluate("window.studio.sections || null")
        duration = page.evaluate("document.getElementById('audio').duration")
        start = sections[1]["start"] if sections and len(sections) > 1 else duration / 3
        page.mouse.click(box["x"] + box["width"] * (start + 1) / duration, box["y"] + 8)
        page.wait_for_selector("#scene-editor:not([hidden])")
        page.select_option("#scene-editor select >> nth=0", "julia")
        page.click("#size-presets .seg[data-preset='16:9']")
        page.fill("#render-duration", "20")
        page.click("#render-button")
        page.wait_for_selector("#render-queue .render-item")
        time.sleep(4)
        page.evaluate("document.querySelector('#render-queue').scrollIntoView({block: 'end'})")
        time.sleep(0.5)
        _save(page.screenshot(), args.out / "studio-render.jpg")
        browser.close()


if __name__ == "__main__":
    main()
