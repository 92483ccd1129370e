"""Progress events passed to the ``progress`` callback of long-running functions."""

from __future__ import annotations

import time
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

    def __call__(self, done: int, total: int) -> None:
        if self.callback is not None:
            elapsed = time.perf_counter() - self.t0
            self.callback(Progress(self.stage, done, total, elapsed,
                                   self._eta(done, total, elapsed)))


class Eta:
    """The remaining time of a stage from its progress so far.

    The rate is the average since the first step finished: what came before it (analysis,
    compiling kernels, filling the pipeline) is paid once and does not recur, so counting it
    would make a steady render look slower than it is; averaging over everything after it
    (not a moving window) keeps the estimate steady from one update to the next. Steps done
    before the stage began here (a resumed render's finished segments) do not count either.
    """

    def __init__(self) -> None:
        self._initial: int | None = None
        self._first: tuple[int, float] | None = None  # (done, elapsed_s) when steps began
        self._last = 0

    def __call__(self, done: int, total: int, elapsed_s: float) -> float | None:
        """Seconds still needed after ``done`` of ``total`` at ``elapsed_s``; ``None``
        until the rate can be told (0 once the stage is done)."""
        going_back = done < self._last
        self._last = done
        if self._initial is None or going_back:  # a new pass of the stage
            self._initial, self._first = done, None
        if done >= total:
            return 0.0
        if done == self._initial:
            return None
        if self._first is None:
            self._first = (done, elapsed_s)
            return None
        d0, t0 = self._first
        if done <= d0 or elapsed_s <= t0:
            return None
        return (total - done) * (elapsed_s - t0) / (done - d0)
