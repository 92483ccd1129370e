"""The studio's live preview: frames per second, slider-to-preview latency, audio-to-picture
offset.

    python benchmarks/bench_studio.py [--song FILE] [--styles cppn,julia] [--no-browser]

Runs the real server (uvicorn on a loopback port, in this process) on a real song (War of
freedom from Debian's fretsonfire-songs-sectoid if installed, else the bundled excerpt):

- ``capacity_fps``: frames per second the preview can draw at 256² per style, on every core
  (its own loop: the generator, effects, flash limiter and JPEG of each frame), over 6 s of
  the song from 0:40. Aim: ≥ 24 for every built-in style on 2 cores.
- ``delivered_fps``: frames that arrived over the WebSocket per second of a 6 s playback
  clock (the page's own video fps, 30, is the most there is to deliver); ``preview_size``:
  the size the preview grew to meanwhile (a style drawn with time to spare is previewed at
  384² or 512²).
- ``latency_ms``: slider to preview: from a settings message (``pulse_react`` moved) while
  playing until the first frame of the new plan arrives; median and max of 8 moves.
  ``latency_to_screen_ms``: until the page's clock reaches that frame (it arrives a few
  frames early, by design). Aim: ≤ 500 ms.
- ``browser``: the page in headless Chromium (Debian's), the song playing for 8 s: the
  offset in frames between the frame the audio clock asks for and the one on screen, sampled
  every 50 ms (mean, max, share of samples at 0), and the frames drawn per second. Skipped
  with ``--no-browser``.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SONGS = (Path("/work/songs/sectoid-war-of-freedom.ogg"),
         Path("/usr/share/games/fretsonfire/data/songs/sectoid/War of freedom/song.ogg"))
EXCERPT = Path(__file__).resolve().parent.parent / "tests" / "data" / "noiz2sa-stg1-excerpt.ogg"
STYLES = ("cppn", "nebula", "kaleidoscope", "flow", "julia")


def capacity(song, style: str, *, seconds: float = 6.0, start_s: float = 40.0) -> float:
    """Frames per second of the preview's own drawing loop (no clock to wait for): frames
    drawn on every core a frame a task, then the flash limiter and JPEG, as while playing."""
    from sonicdreams._jobs import cores
    from sonicdreams.flashsafe import FlashLimiter
    from sonicdreams.studio.live import _Flow, frame_message, live_plan

    plan = live_plan(song, {"style": style})
    start = min(int(start_s * plan.fps), plan.n_frames - 1)
    end = min(plan.n_frames, start + int(seconds * plan.fps))
    limiter = FlashLimiter(plan.fps)
    with ThreadPoolExecutor(cores()) as pool:
        flow = _Flow(pool, cores())
        flow.restart(plan, max(0, start - 8))  # (kernels loaded, pool warm)
        flow.top_up(until=start)
        while flow.next() is not None:
            pass
        t0 = time.perf_counter()
        flow.restart(plan, start)
        sent = 0
        while True:
            flow.top_up(until=end)
            done = flow.next()
            if done is None:
                break
            index, frame, *_ = done
            frame_message(1, index, limiter.apply(frame[None], in_place=True)[0])
            sent += 1
        return sent / (time.perf_counter() - t0)


def over_socket(base: str, cookie: str, song_id: str, style: str) -> dict:
    """Delivered frames per second and slider-to-preview latency, as a page sees them."""
    from websockets.sync.client import connect

    url = base.replace("http", "ws") + f"/api/preview?song={song_id}"
    with connect(url, additional_headers={"Cookie": cookie}, origin=base,
                 max_size=None) as ws:
        def frame_or_text(timeout=30):
            message = ws.recv(timeout=timeout)
            if isinstance(message, str):
                return json.loads(message)
            return struct.unpack("<II", message[:8])

        ws.send(json.dumps({"type": "settings", "values": {"style": style}}))
        while not isinstance(frame_or_text(), dict):
            pass
        ws.send(json.dumps({"type": "clock", "t": 40.0, "playing": True}))
        t0 = time.monotonic()
        fps = None
        frames = 0
        size = None
        while time.monotonic() - t0 < 6.0:
            item = frame_or_text()
            if isinstance(item, tuple):
                frames += 1
            elif item.get("type") == "plan":
                size = f"{item['width']}x{item['height']}"
        delivered = frames / (time.monotonic() - t0)
        latencies, on_screen = [], []
        for k in range(8):
            time.sleep(0.3)
            generation = None
            sent = time.monotonic()
            ws.send(json.dumps({"type": "settings", "values": {"style": style,
                                                               "pulse_react": 0.5 + 0.2 * k}}))
            while True:
                item = frame_or_text()
                if isinstance(item, dict) and item.get("type") == "plan":
                    generation, fps = item["generation"], item["fps"]
                elif isinstance(item, tuple) and item[0] == generation:
                    now = time.monotonic()
                    latencies.append((now - sent) * 1000)
                    due = t0 + item[1] / fps - 40.0  # when the page's clock reaches it
                    on_screen.append((max(now, due) - sent) * 1000)
                    break
    return {"delivered_fps": round(delivered, 1), "preview_size": size or "256x256",
            "latency_ms": {"median": round(statistics.median(latencies)),
                           "max": round(max(latencies))},
            "latency_to_screen_ms": {"median": round(statistics.median(on_screen)),
                                     "max": round(max(on_screen))}}


def in_browser(base: str, song: Path, style: str, *, seconds: float = 8.0) -> dict:
    """Offset between the audio clock's frame and the frame on screen, in Chromium."""
    from playwright.sync_api import sync_playwright

    from _browser import launch  # tests/_browser.py

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.goto(base + "/")
        page.set_input_files("#file-input", str(song))
        page.wait_for_selector("#timeline[data-ready='1']", timeout=180_000)
        page.click(f".style-card[data-style='{style}']")
        page.evaluate("document.getElementById('audio').currentTime = 40")
        page.click("#play-button")
        page.wait_for_function("window.studio && window.studio.framesDrawn > 10")
        offsets, drawn0, t0 = [], page.evaluate("window.studio.framesDrawn"), time.monotonic()
        while time.monotonic() - t0 < seconds:
            want, index = page.evaluate("[Math.floor(document.getElementById('audio')"
                                        ".currentTime * window.studio.fps + 1e-6), "
                                        "window.studio.drawn.index]")
            offsets.append(want - index)
            time.sleep(0.05)
        drawn = page.evaluate("window.studio.framesDrawn") - drawn0
        elapsed = time.monotonic() - t0
        browser.close()
    return {"offset_frames_mean": round(statistics.fmean(offsets), 2),
            "offset_frames_max": max(offsets),
            "offset_zero_share": round(sum(o == 0 for o in offsets) / len(offsets), 3),
            "drawn_fps": round(drawn / elapsed, 1), "samples": len(offsets)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--song", type=Path)
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    song_path = args.song or next((p for p in SONGS if p.exists()), EXCERPT)
    styles = [s for s in args.styles.split(",") if s]

    from _studio import client, cookie_header, running_studio, wait_ready
    from sonicdreams.studio.app import create_app
    from sonicdreams.studio.songs import Song, check_audio

    song = Song("0" * 32, song_path.name, song_path, check_audio(song_path, song_path.name))
    song.analyse()
    results: dict = {"song": song_path.name, "cores": __import__("os").cpu_count(),
                     "styles": {}}
    for style in styles:
        results["styles"][style] = {"capacity_fps": round(capacity(song, style), 1)}
    with tempfile.TemporaryDirectory() as tmp, \
            running_studio(create_app(data_dir=tmp)) as base:
        c = client(base)
        song_id = c.post("/api/songs", params={"name": song_path.name},
                         content=song_path.read_bytes()).json()["id"]
        wait_ready(c, song_id, timeout=600)
        cookie = cookie_header(c)["Cookie"]
        for style in styles:
            results["styles"][style].update(over_socket(base, cookie, song_id, style))
        if not args.no_browser:
            results["browser"] = {style: in_browser(base, song_path, style)
                                  for style in ("cppn", "julia") if style in styles}
    results["targets"] = {"capacity_fps": ">= 24", "latency_ms": "<= 500",
                          "met": all(r["capacity_fps"] >= 24
                                     and r["latency_to_screen_ms"]["max"] <= 500
                                     for r in results["styles"].values())}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
