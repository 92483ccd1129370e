"""The live preview: the video's frames at preview size, drawn just ahead of the song's clock.

A :class:`LivePlan` is the render's own plan (:func:`sonicdreams.pipeline._plan_video`: the
same direction, trajectory and effects) for the whole song at preview size, with every
frame's vectors at hand so that any frame can be drawn at once (seeking). A
:class:`PreviewStream` serves one page: the page reports its audio clock, the stream draws
the frames due a little later (a frame a task, on every core) and sends them as JPEG, each tagged
with its frame index, and the page shows the one its clock asks for. Frames are never drawn
for a time already past; when the machine falls behind, frames are skipped, never delayed.
"""

from __future__ import annotations

import io
import logging
import math
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SettingsError, SonicDreamsError

__all__ = ["LivePlan", "live_plan", "PreviewStream", "preview_settings", "frame_message",
           "jpeg"]

log = logging.getLogger(__name__)

PREVIEW_PIXELS = 256 * 256
"""A preview frame's area at first: 256² for a square video, the same area in other shapes.
Where the machine draws a style with time to spare, its preview grows (see :data:`GROWTH`)."""
GROWTH = (1.0, 2.25, 4.0)
"""The preview's areas, as multiples of the first: 256², 384², 512². A style whose frames
would keep the cores less than 70 % busy at the next size moves up to it (sharper on a large
screen); one that keeps them more than 90 % busy moves down."""
_GROW_BELOW, _SHRINK_ABOVE, _MEASURED_FRAMES = 0.7, 0.9, 45
MAX_PREVIEW_FPS = 30
_AHEAD_S = 0.5  # how far past the clock frames are drawn while playing
_HEADER = struct.Struct("<II")  # generation, frame index


def preview_settings(values: Mapping[str, Any], *, pixels: int = PREVIEW_PIXELS,
                     max_fps: float = MAX_PREVIEW_FPS):
    """The RenderSettings of a preview of ``values``: the whole song, at most ``max_fps``
    (the video's rate divided by a whole number), the video's shape at ``pixels`` pixels."""
    from ..settings import RenderSettings

    s = RenderSettings.create(values)
    width, height = (s.width or 1, s.height or 1) if s.size else (1, 1)
    scale = math.sqrt(pixels / (width * height))
    w = max(16, round(width * scale / 2) * 2)
    h = max(16, round(height * scale / 2) * 2)
    fps = s.fps if s.fps <= max_fps else s.fps / math.ceil(s.fps / max_fps)
    return s.update(width=w, height=h, fps=Fraction(fps), start=0.0, duration=None,
                    backend="local", save_frames=False)


@dataclass(frozen=True, slots=True)
class LivePlan:
    """Everything to draw any frame of a preview."""

    generation: int
    fps: Fraction
    size: tuple[int, int]  # (height, width)
    n_frames: int
    generator: Any
    noise: np.ndarray
    classes: np.ndarray
    cues: np.ndarray | None
    chain: list
    amplitudes: dict
    fit: str
    allow_flashing: bool

    def frames(self, a: int, b: int) -> np.ndarray:
        """Frames ``[a, b)`` with their effects (uint8, [b-a, H, W, 3]), as the render
        draws them (:func:`sonicdreams.pipeline.draw_frames`)."""
        from ..pipeline import draw_frames

        return draw_frames(self.generator, self.noise[a:b], self.classes[a:b],
                           np.arange(a, b), cues=self.cues, size=self.size, fit=self.fit,
                           chain=self.chain, amplitudes=self.amplitudes)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "plan", "generation": self.generation, "fps": float(self.fps),
                "width": self.size[1], "height": self.size[0], "n_frames": self.n_frames}


def live_plan(song, values: Mapping[str, Any], *, generation: int = 0,
              pixels: int = PREVIEW_PIXELS, max_fps: float = MAX_PREVIEW_FPS) -> LivePlan:
    """The preview of ``song`` (a ready :class:`~sonicdreams.studio.songs.Song`) with the
    settings ``values``; SettingsError or StyleError for a bad value.

    Every frame's vectors are kept (seeking draws any frame at once): 2 KB a frame, 15 MB
    for four minutes at 30 fps."""
    from ..pipeline import _plan_video
    from ..preflight import check_before_work

    s = preview_settings(values, pixels=pixels, max_fps=max_fps)
    check_before_work(song.path, None, s, (), overwrite=True, work_dir=None)
    plan = _plan_video(song.path, Path("preview.mp4"), s, (), progress=None, cache=True,
                       features=song.features(s))
    noise, classes = plan.traj.segment(0, plan.n_frames)
    return LivePlan(generation=generation, fps=Fraction(s.fps), size=plan.size,
                    n_frames=plan.n_frames, generator=plan.generator, noise=noise,
                    classes=classes, cues=plan.direction.cues if plan.directed else None,
                    chain=plan.chain, amplitudes=plan.amplitudes, fit=s.fit,
                    allow_flashing=s.allow_flashing)


def jpeg(frame: np.ndarray, *, quality: int = 88) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def frame_message(generation: int, index: int, frame: np.ndarray) -> bytes:
    """A frame as the page receives it: generation and index (little-endian uint32), JPEG."""
    return _HEADER.pack(generation, index) + jpeg(frame)


def option_of(err: Exception) -> str | None:
    """The option a SettingsError names (its messages start with ``name=`` or ``name:``)."""
    from ..settings import option_fields

    match = re.match(r"(?:--config [^:]*: )?(\w+)", str(err))
    names = {f.name for f in option_fields()}
    return match.group(1) if match and match.group(1) in names else None


class PreviewStream:
    """Draws one page's preview on a thread of its own (see the module notes).

    ``send_text(dict)`` and ``send_frame(bytes)`` deliver to the page; they may block (that
    is the back-pressure) and raise to stop the stream. ``on_stop(why, code)`` is called
    if the stream stops by itself (a failure, code 1011: the page should reconnect).
    """

    def __init__(self, song, *, send_text: Callable[[dict], None],
                 send_frame: Callable[[bytes], None],
                 on_stop: Callable[..., None] = lambda why, code=1011: None,
                 workers: int | None = None, pixels: int = PREVIEW_PIXELS) -> None:
        from .._jobs import cores

        self.song = song
        self.send_text, self.send_frame, self.on_stop = send_text, send_frame, on_stop
        self.pixels = pixels
        self.workers = max(1, workers or cores())
        self._wake = threading.Condition()
        self._values: dict | None = None  # settings waiting to be planned
        self._reason: str | None = None  # why: the page's change (None), or "size"
        self._clock = (0.0, False, time.monotonic())  # (t, playing, when it was told)
        self._closed = False
        self.plan: LivePlan | None = None
        self.generation = 0
        self.frames_sent = 0
        self._values_now: dict | None = None  # the settings of the plan on show
        self._size_of: dict[Any, int] = {}  # style → its step of GROWTH
        self._ceiling: dict[Any, int] = {}  # style → the largest step it may grow to again
        self._votes: dict[Any, int] = {}  # style → the last measurement's verdict (+1 / -1)
        self._meter = [0, 0.0, 0]  # the plan on show: frames drawn, their seconds, falls behind
        self.step_s = 0.05  # recent time to draw a step of frames (decides the lead)
        self._thread = threading.Thread(target=self._run, name="preview", daemon=True)

    # -- what the page says ---------------------------------------------------------------

    def start(self) -> PreviewStream:
        self._thread.start()
        return self

    def settings(self, values: Mapping[str, Any]) -> None:
        with self._wake:
            self._values, self._reason = dict(values), None
            self._wake.notify()

    def clock(self, t: float, playing: bool) -> None:
        t = float(t)
        if not math.isfinite(t) or t < 0:
            t = 0.0
        with self._wake:
            self._clock = (t, bool(playing), time.monotonic())
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    # -- the drawing thread -----------------------------------------------------------------

    def now_s(self) -> tuple[float, bool]:
        t, playing, told = self._clock
        return (t + time.monotonic() - told if playing else t), playing

    def _run(self) -> None:
        from threadpoolctl import threadpool_limits

        try:
            with threadpool_limits(limits=1, user_api="blas"), \
                    ThreadPoolExecutor(self.workers, thread_name_prefix="preview") as pool:
                self._loop(pool)
        except Exception as err:  # the page went away, or a style failed
            if self._closed:
                return
            log.warning("the preview stopped: %s", err, exc_info=log.isEnabledFor(10))
            try:
                self.send_text({"type": "error", "message": f"the preview stopped: {err}",
                                "option": None})
            except Exception:
                pass
            self.on_stop(str(err))

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        from ..flashsafe import FlashLimiter

        limiter = None
        flow = _Flow(pool, self.workers)  # frames being drawn while playing
        shown = None  # (generation, index) of the last still sent while paused
        while True:
            with self._wake:
                if self._closed:
                    return
                values, reason = self._values, self._reason
                self._values = self._reason = None
            if values is not None:
                if self._replan(values, reason=reason):
                    shown = None
                    flow.restart()
                continue
            plan = self.plan
            if plan is None:
                self._wait(None)
                continue
            t, playing = self.now_s()
            fps = float(plan.fps)
            want = min(plan.n_frames - 1, int(t * fps + 1e-6))
            if not playing:
                flow.restart()
                if shown != (plan.generation, want):
                    self._send(plan, want, plan.frames(want, want + 1)[0])
                    shown = (plan.generation, want)
                self._wait(0.25)
                continue
            shown = None
            if flow.plan is plan and want - fps < flow.cursor <= want:
                self._meter[2] += 1  # the drawing fell behind the clock (not a seek)
            if flow.plan is not plan or not want < flow.cursor <= want + 4 * _AHEAD_S * fps:
                # A start, a seek, a new plan, or the drawing fell behind: draw from a little
                # past the clock (the time a frame takes to come back, and a margin).
                lead = int(math.ceil((self.step_s * 1.3 + 0.03) * fps))
                flow.restart(plan, min(plan.n_frames - 1, want + lead))
                # One limiter for the stream (a new one per frame rate): a jump or a new plan
                # is a change of picture it must see, as a cut is in a render.
                if plan.allow_flashing:
                    limiter = None
                elif limiter is None or limiter.fps != float(plan.fps):
                    limiter = FlashLimiter(plan.fps)
            flow.top_up(until=min(plan.n_frames, want + int(_AHEAD_S * fps) + 1))
            done = flow.next()
            if done is None:
                self._wait(0.02)
                continue
            index, frame, took_s, draw_s = done
            self.step_s = 0.8 * self.step_s + 0.2 * took_s
            started = time.perf_counter()
            if limiter is not None:
                frame = limiter.apply(frame[None], in_place=True)[0]
            self._send(plan, index, frame)
            self._resize(plan, draw_s + time.perf_counter() - started, lanes=flow.depth - 1)

    def _resize(self, plan: LivePlan, cpu_s: float, *, lanes: int) -> None:
        """Measure how busy the plan keeps the lanes (``cpu_s``: a frame's drawing, limiting
        and sending); plan the preview a size up or down (:data:`GROWTH`) when two
        measurements in a row say so, or at once when the drawing keeps falling behind. A
        style that had to shrink does not grow back (no back and forth)."""
        self._meter[0] += 1
        if self._meter[0] <= 8:  # (the first frames of a plan warm caches: not counted)
            return
        self._meter[1] += cpu_s
        counted = self._meter[0] - 8
        if counted < _MEASURED_FRAMES or self._values_now is None:
            return
        busy = self._meter[1] / counted * float(plan.fps) / max(1, lanes)
        behind = self._meter[2]
        self._meter = [0, 0.0, 0]
        key = self._values_now.get("style")
        step = self._size_of.get(key, 0)
        ceiling = self._ceiling.get(key, len(GROWTH) - 1)
        if step > 0 and (busy > _SHRINK_ABOVE or behind >= 2):
            vote = -1
        elif step < ceiling and busy * GROWTH[step + 1] / GROWTH[step] < _GROW_BELOW:
            vote = +1
        else:
            vote = 0
        previous, self._votes[key] = self._votes.get(key, 0), vote
        if vote == 0 or (vote != previous and behind < 2):
            return
        if vote < 0:
            self._ceiling[key] = step - 1
        self._size_of[key] = step + vote
        self._votes[key] = 0
        with self._wake:
            if self._values is None:  # (the page's own change comes first)
                self._values, self._reason = dict(self._values_now), "size"

    def _send(self, plan: LivePlan, index: int, frame: np.ndarray) -> None:
        if plan.generation != self.generation:
            return
        self.send_frame(frame_message(plan.generation, index, frame))
        self.frames_sent += 1

    def _replan(self, values: dict, *, reason: str | None = None) -> bool:
        """Plan the preview of ``values``; False (and an error to the page) if they are bad.
        ``reason`` goes to the page with the plan ("size": the same settings, a new size)."""
        step = self._size_of.get(values.get("style"), 0)
        try:
            plan = live_plan(self.song, values, generation=self.generation + 1,
                             pixels=int(self.pixels * GROWTH[step]))
        except Exception as err:  # the earlier plan stays: the page hears why
            if not isinstance(err, SonicDreamsError):
                log.exception("the preview could not be planned")
            self.send_text({"type": "error", "message": self.song.scrub(str(err)),
                            "option": option_of(err) if isinstance(err, SettingsError)
                            else None})
            return False
        self.generation = plan.generation
        self.plan, self._values_now, self._meter = plan, values, [0, 0.0, 0]
        self.send_text({**plan.to_dict(), "reason": reason})
        return True

    def _wait(self, timeout: float | None) -> None:
        with self._wake:
            if not self._closed and self._values is None:
                self._wake.wait(timeout)


class _Flow:
    """Frames of one plan drawn in order on a pool, a frame a task, with a few tasks in
    flight so that no core waits for another's frame (a barrier per step of frames cost a
    third of the frame rate with julia)."""

    def __init__(self, pool: ThreadPoolExecutor, workers: int) -> None:
        self.pool, self.workers = pool, workers
        self.depth = workers + 1
        self._lanes = threading.Semaphore(workers)  # generator calls side by side
        self._lanes_of: LivePlan | None = None  # the plan they are counted for
        self.plan: LivePlan | None = None
        self.cursor = -1  # the next frame to hand out
        self._submit = 0  # the next frame to start
        self._inflight: deque = deque()

    def restart(self, plan: LivePlan | None = None, start: int = -1) -> None:
        """Draw ``plan`` from frame ``start`` on (frames in flight are dropped)."""
        for _, future in self._inflight:
            future.cancel()
        self._inflight.clear()
        self.plan, self.cursor, self._submit = plan, start, start
        if plan is not None and plan is not self._lanes_of:
            # As many calls at once as the plan's generator allows (frames still being drawn
            # for an earlier plan are another generator's).
            lanes = max(1, min(self.workers, int(getattr(plan.generator, "concurrent_calls",
                                                         1))))
            self._lanes, self._lanes_of, self.depth = threading.Semaphore(lanes), plan, lanes + 1

    def top_up(self, *, until: int) -> None:
        """Start frames up to (not including) ``until``, keeping ``depth`` in flight."""
        plan = self.plan
        while plan is not None and len(self._inflight) < self.depth and self._submit < until:
            self._inflight.append((time.perf_counter(), self.pool.submit(
                _one_frame, plan, self._submit, self._lanes)))
            self._submit += 1

    def next(self) -> tuple[int, np.ndarray, float, float] | None:
        """The next frame in order (index, frame, seconds since it was started, seconds it
        took to draw), or None if none was started."""
        if not self._inflight:
            return None
        started, future = self._inflight.popleft()
        frame, draw_s = future.result()
        index, self.cursor = self.cursor, self.cursor + 1
        return index, frame, time.perf_counter() - started, draw_s


def _one_frame(plan: LivePlan, k: int, lanes: threading.Semaphore) -> tuple[np.ndarray,
                                                                             float]:
    with lanes:
        started = time.perf_counter()
        return plan.frames(k, k + 1)[0], time.perf_counter() - started
