"""A user's function as a style: the original's ``style(noise_batch=…, class_batch=…)``."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from sonicdreams.generators.callable import CallableStyle
from sonicdreams.pipeline import render


class _Counter:
    """A function style that records how many calls ran at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls = 0

    def __call__(self, noise_batch, class_batch):
        with self.lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.02)  # long enough for a second thread to overlap if there is one
            level = (128 + 60 * np.tanh(noise_batch[:, 0])).astype(np.uint8)
            return [np.full((64, 64, 3), v, np.uint8) for v in level]
        finally:
            with self.lock:
                self.running -= 1


def _thread_safe(func):
    def style(noise_batch, class_batch):
        return func(noise_batch=noise_batch, class_batch=class_batch)

    style.thread_safe = True
    return style


@pytest.mark.parametrize(("declare", "expected"), [
    ("nothing", 1),
    ("thread_safe attribute", min(2, os.cpu_count() or 1)),
    ("concurrent_calls=2", 2),
])
def test_a_function_style_is_called_from_one_thread_unless_it_is_thread_safe(
        declare, expected, excerpt, tmp_path):
    counter = _Counter()
    if declare == "nothing":
        style = CallableStyle(counter, z_dim=8)
    elif declare == "thread_safe attribute":
        style = CallableStyle(_thread_safe(counter), z_dim=8)
    else:
        style = CallableStyle(counter, z_dim=8, concurrent_calls=2)
    result = render(excerpt, tmp_path / "v.mp4", style=style, duration=1.5, fps=12,
                    width=64, height=64, seed=1, preset="ultrafast")
    assert result.n_frames == 18
    assert counter.calls >= 18
    assert style.concurrent_calls == expected
    assert counter.most == expected


def test_concurrency_is_documented():
    doc = CallableStyle.__doc__
    assert "thread_safe" in doc and "concurrent_calls" in doc
