"""The studio end to end in a real browser: headless Chromium (the distribution's package)
driven by Playwright. A user opens the page, loads a song, plays it, watches the preview move
with the music, changes the style, renders 5 s and downloads the video, which must equal the
CLI's render of the settings file the page exports."""

from __future__ import annotations

import io
import time

import av
import numpy as np
import pytest

pytest.importorskip("starlette")
playwright = pytest.importorskip("playwright.sync_api")
from _browser import chromium_path, launch  # noqa: E402
from _studio import running_studio  # noqa: E402
from sonicdreams.cli import main  # noqa: E402
from sonicdreams.studio.app import create_app  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        pytest.fail("no Chromium: `make test` installs the distribution's chromium package "
                    "(apt-get install chromium); or set SONICDREAMS_CHROMIUM")
    with playwright.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def _picture(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def _studio_state(page) -> dict:
    return page.evaluate("""() => ({want: Math.floor(document.getElementById('audio').currentTime
                                    * window.studio.fps + 1e-6),
                                    index: window.studio.drawn.index,
                                    generation: window.studio.drawn.generation,
                                    drawn: window.studio.framesDrawn,
                                    paused: document.getElementById('audio').paused})""")


def _frames(path) -> tuple[list[np.ndarray], object, bool]:
    with av.open(str(path)) as f:
        rate = f.streams.video[0].average_rate
        has_audio = bool(f.streams.audio)
        frames = [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]
    return frames, rate, has_audio


def test_make_a_video_in_the_studio(browser, tmp_path, excerpt):
    app = create_app(data_dir=tmp_path / "studio", cache=False)
    with running_studio(app) as base:
        page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        problems = []
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.on("console", lambda m: m.type == "error" and "Failed to load resource"
                not in m.text and problems.append(m.text))
        page.goto(base + "/")
        page.wait_for_selector("#demo-button")

        # -- the song: opened like a user does, analysed, its timeline drawn
        page.set_input_files("#file-input", str(excerpt))
        page.wait_for_selector("#timeline[data-ready='1']", timeout=120_000)
        assert page.locator("#analysis-progress").is_hidden()

        # -- playing: the preview follows the audio clock and changes with the music
        page.click("#play-button")
        page.wait_for_function("window.studio && window.studio.framesDrawn > 30",
                               timeout=60_000)
        shots, offsets = [], []
        for _ in range(6):
            state = _studio_state(page)
            offsets.append(state["want"] - state["index"])
            shots.append(_picture(page.locator("#preview").screenshot()))
            time.sleep(0.6)
        assert not _studio_state(page)["paused"]
        assert min(offsets) >= 0, offsets  # never a frame from the future
        assert sorted(offsets)[len(offsets) // 2] <= 2, offsets  # on time (a frame or two)
        changes = [np.abs(a - b).mean() for a, b in zip(shots, shots[1:], strict=False)]
        assert min(changes) > 2.0, changes  # it moves all the time, with the music

        # -- a new style: the preview changes at once, the music plays on
        page.click("#play-button")  # pause: compare the same moment
        page.wait_for_function("document.getElementById('audio').paused")
        time.sleep(0.5)
        before_state = _studio_state(page)
        before = _picture(page.locator("#preview").screenshot())
        page.click(".style-card[data-style='kaleidoscope']")
        page.wait_for_function(f"window.studio.drawn.generation > {before_state['generation']}",
                               timeout=30_000)
        time.sleep(0.2)
        after = _picture(page.locator("#preview").screenshot())
        assert np.abs(before - after).mean() > 15
        page.click("#play-button")
        page.wait_for_function(f"window.studio.framesDrawn > {before_state['drawn'] + 20}",
                               timeout=30_000)
        assert not _studio_state(page)["paused"]

        # -- render 5 s at a small size and download it
        page.click("#size-presets .seg[data-preset='custom']")
        page.fill("#render-width", "160")
        page.fill("#render-height", "96")
        page.select_option("#render-fps", "24")
        page.fill("#render-start", "12")
        page.fill("#render-duration", "5")
        page.click("#render-button")
        link = page.locator("#render-queue .render-item a.download")
        link.wait_for(timeout=180_000)
        with page.expect_download() as got:
            link.click()
        studio_video = tmp_path / "studio.mp4"
        got.value.save_as(studio_video)
        with page.expect_download() as got:
            page.click("#export-config")
        config = tmp_path / "sonicdreams.toml"
        got.value.save_as(config)
        assert not problems, problems

    # -- the CLI renders the exported settings: the same video
    cli_video = tmp_path / "cli.mp4"
    assert main(["render", str(excerpt), "--config", str(config), "-o", str(cli_video),
                 "--quiet", "-y"]) == 0
    studio_frames, studio_rate, studio_audio = _frames(studio_video)
    cli_frames, cli_rate, cli_audio = _frames(cli_video)
    assert studio_rate == cli_rate == 24
    assert len(studio_frames) == len(cli_frames) == 120
    assert studio_frames[0].shape == (96, 160, 3)
    assert studio_audio and cli_audio
    for a, b in zip(studio_frames, cli_frames, strict=True):
        assert np.array_equal(a, b)
    with av.open(str(studio_video)) as f:
        audio = f.streams.audio[0]
        seconds = sum(fr.samples for fr in f.decode(audio=0)) / audio.sample_rate
    assert seconds == pytest.approx(5.0, abs=0.05)
