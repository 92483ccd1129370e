"""Progress events passed to the ``progress`` callback of long-running functions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "Reporter"]


@dataclass(frozen=True, slots=True)
class Progress:
    """``done`` of ``total`` steps of ``stage`` are finished, ``elapsed_s`` after it began."""

    stage: str
    done: int
    total: int
    elapsed_s: float


ProgressCallback = Callable[[Progress], None]


class Reporter:
    """Sends :class:`Progress` events for one stage to an optional callback."""

    def __init__(self, callback: ProgressCallback | None, stage: str) -> None:
        self.callback = callback
        self.stage = stage
        self.t0 = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        if self.callback is not None:
            self.callback(Progress(self.stage, done, total, time.perf_counter() - self.t0))
