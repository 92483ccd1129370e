"""Worker threads that stop together: bounded stages for the render loop, one-off jobs.

Every thread belongs to a :class:`Jobs` and is joined when it closes. Leaving the ``with``
block by any exception (Ctrl-C, a progress callback raising, an error in a stage) sets the
shared ``cancel`` event: each thread stops after the call it is in and is joined, so
nothing keeps running after :func:`sonicdreams.render` returns or raises.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["Jobs", "Cancelled", "Frontier", "cores"]

_POLL_S = 0.05
_END = object()


def cores() -> int:
    """The cores a render may keep busy: ``SONICDREAMS_THREADS`` where set (a Ray task sets
    it to the cores the cluster gave it), else the machine's."""
    try:
        given = int(os.environ.get("SONICDREAMS_THREADS", "0"))
    except ValueError:
        given = 0
    return given if given > 0 else (os.cpu_count() or 1)


class Cancelled(Exception):
    """Raised inside a job that noticed the cancel event."""


class Job:
    """A function running on its own thread; :meth:`result` joins it and re-raises."""

    def __init__(self, fn: Callable[..., Any], args: tuple, name: str) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn, args), name=name,
                                       daemon=True)

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            self._value = fn(*args)
        except BaseException as err:  # noqa: BLE001 - handed to whoever asks for the result
            self._error = err

    def result(self) -> Any:
        self.thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class Frontier:
    """A mark that only moves forward, for a job to keep behind: :meth:`wait_for` returns
    once the mark reached ``at`` (or ``cancel`` is set)."""

    def __init__(self, cancel: threading.Event) -> None:
        self._at = float("-inf")
        self._moved = threading.Condition()
        self._cancel = cancel

    def advance(self, at: float) -> None:
        with self._moved:
            if at > self._at:
                self._at = at
                self._moved.notify_all()

    def wait_for(self, at: float) -> None:
        with self._moved:
            while self._at < at and not self._cancel.is_set():
                self._moved.wait(_POLL_S)


class Jobs:
    """A group of threads sharing one ``cancel`` event; a context manager."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Jobs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Cancel what still runs and join every thread."""
        self.cancel.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def start(self, fn: Callable[..., Any], *args: Any, name: str) -> Job:
        """Run ``fn(*args)`` on a thread of its own."""
        job = Job(fn, args, f"sonicdreams-{name}")
        self._threads.append(job.thread)
        job.thread.start()
        return job

    def stage(self, source: Iterable, work: Callable[[Any], Any], *, name: str,
              depth: int = 2, workers: int = 1) -> Iterator:
        """``map(work, source)`` on a thread (or ``workers`` threads, results kept in order).

        At most ``depth`` results wait for the consumer, so a slow consumer holds the stage
        back and memory stays bounded. An exception in ``work`` is raised in the consumer.
        """
        q: queue.Queue = queue.Queue(maxsize=depth)
        cancel = self.cancel

        def put(item: Any) -> bool:
            while not cancel.is_set():
                try:
                    q.put(item, timeout=_POLL_S)
                    return True
                except queue.Full:
                    continue
            return False

        def results() -> Iterator:
            if workers <= 1:
                for item in source:
                    if cancel.is_set():
                        return
                    yield work(item)
                return
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix=f"sonicdreams-{name}") as pool:
                pending: deque = deque()
                try:
                    for item in source:
                        if cancel.is_set():
                            return
                        pending.append(pool.submit(work, item))
                        if len(pending) > workers:
                            yield pending.popleft().result()
                    while pending:
                        yield pending.popleft().result()
                finally:
                    for future in pending:
                        future.cancel()

        def run() -> None:
            try:
                for result in results():
                    if not put((True, result)):
                        return
                put((False, _END))
            except BaseException as err:  # noqa: BLE001 - raised again in the consumer
                put((False, err))

        thread = threading.Thread(target=run, name=f"sonicdreams-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return self._consume(q, thread)

    def _consume(self, q: queue.Queue, thread: threading.Thread) -> Iterator:
        while True:
            try:
                ok, value = q.get(timeout=_POLL_S)
            except queue.Empty:
                if self.cancel.is_set():
                    return
                if not thread.is_alive() and q.empty():
                    raise RuntimeError(f"{thread.name} ended without a result") from None
                continue
            if ok:
                yield value
            elif value is _END:
                return
            else:
                raise value
