"""Progress events passed to the ``progress`` callback of long-running functions."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "Reporter", "Eta"]


@dataclass(frozen=True, slots=True)
class Progress:
    """``done`` of ``total`` steps of ``stage`` are finished, ``elapsed_s`` after it began;
    ``eta_s``: the time still needed, where the stage can tell (see :class:`Eta`)."""

    stage: str
    done: int
    total: int
    elapsed_s: float
    eta_s: float | None = None


ProgressCallback = Callable[[Progress], None]


class Reporter:
    """Sends :class:`Progress` events for one stage to an optional callback, with the time
    since ``t0`` (default: now) and the stage's :class:`Eta`."""

    def __init__(self, callback: ProgressCallback | None, stage: str, *,
                 t0: float | None = None) -> None:
        self.callback = callback
        self.stage = stage
        self.t0 = time.perf_counter() if t0 is None else t0
        self._eta = Eta()

    def __call__(self, done: int, total: int, *,
                 work: tuple[int, int] | None = None) -> None:
        """``work``: (done, total) in units of what the stage really costs, where steps
        alone do not tell (frames rendered but not shown): the remaining time is told from
        them."""
        if self.callback is not None:
            elapsed = time.perf_counter() - self.t0
            eta = self._eta(*(work or (done, total)), elapsed)
            self.callback(Progress(self.stage, done, total, elapsed, eta))


class Eta:
    """The remaining time of a stage from its progress so far.

    The rate is measured over the later half of the time since the first step finished.
    What came before that step (analysis, compiling kernels, filling the pipeline) is paid
    once and does not recur, and the first steps run slower while the caches and the
    encoder warm up (a fifth of a short render at 512²); a render's speed also drifts with
    its content. Half the time so far still averages over enough steps to keep the estimate
    steady from one update to the next. Steps done before the stage began here (a resumed
    render's finished segments) do not count either.
    """

    def __init__(self) -> None:
        self._initial: int | None = None
        self._start: float | None = None  # elapsed_s when steps began
        self._seen: deque[tuple[int, float]] = deque()  # (done, elapsed_s) since the window
        self._last = 0

    def __call__(self, done: int, total: int, elapsed_s: float) -> float | None:
        """Seconds still needed after ``done`` of ``total`` at ``elapsed_s``; ``None``
        until the rate can be told (0 once the stage is done)."""
        going_back = done < self._last
        self._last = done
        if self._initial is None or going_back:  # a new pass of the stage
            self._initial, self._start = done, None
            self._seen.clear()
        if done >= total:
            return 0.0
        if done == self._initial:
            return None
        self._seen.append((done, elapsed_s))
        if self._start is None:
            self._start = elapsed_s
            return None
        half = self._start + (elapsed_s - self._start) / 2
        while len(self._seen) > 2 and self._seen[1][1] <= half:
            self._seen.popleft()
        d0, t0 = self._seen[0]
        if done <= d0 or elapsed_s <= t0:
            return None
        return (total - done) * (elapsed_s - t0) / (done - d0)
