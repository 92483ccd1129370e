"""One segment of the video: generate → effects → encode, three stages side by side.

The generator renders chunks of frames on a worker thread (or several, for generators that
allow calls side by side), a second thread fits them to the output size and applies the
effects, and the caller's thread encodes. Bounded queues between the stages keep memory flat.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ._jobs import Jobs
from ._jobs import cores as available_cores
from .errors import SonicDreamsError

__all__ = ["render_segment", "fit_frames"]

_CHUNK_S = 0.1  # a pipeline step holds at least this much generator time (see _Chunks)


def fit_frames(frames: np.ndarray, size: tuple[int, int], fit: str) -> np.ndarray:
    """Scale frames [shape=(B, h, w, 3)] to ``size`` = (H, W): crop (cover), pad (contain) or
    stretch."""
    from PIL import Image

    h, w = frames.shape[1:3]
    big_h, big_w = size
    if (h, w) == (big_h, big_w):
        return frames
    out = np.zeros((len(frames), big_h, big_w, 3), dtype=np.uint8)
    if fit == "stretch":
        scale_h, scale_w = big_h / h, big_w / w
    else:
        pick = max if fit == "cover" else min
        scale_h = scale_w = pick(big_h / h, big_w / w)
    new_h, new_w = max(1, round(h * scale_h)), max(1, round(w * scale_w))
    for i, frame in enumerate(frames):
        img = Image.fromarray(frame).resize((new_w, new_h), Image.Resampling.LANCZOS)
        arr = np.asarray(img)
        top, left = (new_h - big_h) // 2, (new_w - big_w) // 2
        if fit == "contain":
            out[i, -top:-top + new_h if top else None, -left:-left + new_w if left else None] = arr
        else:
            out[i] = arr[max(top, 0):max(top, 0) + big_h, max(left, 0):max(left, 0) + big_w]
    return out


class _Chunks:
    """Frame ranges for the pipeline: whole generator batches, at least ``_CHUNK_S`` of work.

    The generator is always called with the same batches (``batch`` frames from the segment
    start), so chunking never changes the frames; grouping small batches keeps the per-step
    cost of threads, effects and conversion small when the user asks for batch_size=1.
    """

    def __init__(self, a: int, b: int, batch: int, workers: int = 1) -> None:
        self.a, self.b, self.batch, self.workers = a, b, batch, workers
        self.calls = workers  # generator calls per chunk, grown while calls are quick
        self.call_s: float | None = None

    def __iter__(self):
        start = self.a
        while start < self.b:
            end = min(start + self.calls * self.batch, self.b)
            yield start, end
            start = end

    def timed(self, seconds: float) -> None:
        self.call_s = seconds if self.call_s is None else 0.7 * self.call_s + 0.3 * seconds
        self.calls = max(self.workers, min(64, round(_CHUNK_S / max(self.call_s, 1e-4))))


def render_segment(path: Path, spec, generator, vectors, chain, amplitudes, a: int, b: int,
                    batch: int, out_size: tuple[int, int], fit: str, frames_dir: Path | None,
                    on_frames: Callable[[int], None], *, limiter=None,
                    warmup: int = 0) -> None:
    """Render frames ``[a, b)`` into the segment file ``path``.

    ``vectors`` hold the frames ``[a - warmup, b)``. With a ``limiter`` (a fresh
    :class:`~sonicdreams.flashsafe.FlashLimiter`), the ``warmup`` frames before ``a`` are
    rendered and fed to :meth:`~sonicdreams.flashsafe.FlashLimiter.prime` only, so its state at
    ``a`` does not depend on which process rendered the previous segment; then every frame
    passes through it, last, before encoding.
    """
    from threadpoolctl import threadpool_limits

    from .effects import apply_effects
    from .video import SegmentWriter

    noise, classes, cues = vectors
    first = a - warmup  # the frame index of vectors[0]
    # Calls side by side, as many as give each core a frame, if the generator allows it
    # (batch_size=1 must not leave a core idle; a big batch is parallel on its own).
    cores = available_cores()
    workers = max(1, min(int(getattr(generator, "concurrent_calls", 1)), -(-cores // batch)))
    chunks = _Chunks(a, b, batch, workers)
    fresh = bool(getattr(generator, "fresh_frames", False))  # new arrays on every call
    # The warm-up in batches of its own: the segment's batches stay those of a render without.
    warm = _Chunks(first, a, batch, workers)

    def generate(span: tuple[int, int]):
        start, end = span
        parts = []
        for lo in range(start, end, batch):
            hi = min(lo + batch, end)
            t = time.perf_counter()
            z, c = noise[lo - first:hi - first], classes[lo - first:hi - first]
            frames = np.asarray(generator.render(z, c) if cues is None else
                                generator.render(z, c, cues=cues[lo - first:hi - first]),
                                dtype=np.uint8)
            elapsed = time.perf_counter() - t
            warm.timed(elapsed)
            chunks.timed(elapsed)
            if frames.ndim != 4 or frames.shape[0] != hi - lo or frames.shape[-1] != 3:
                raise SonicDreamsError(f"the generator returned frames of shape "
                                       f"{frames.shape}; expected ({hi - lo}, height, width, 3)")
            parts.append(frames)
        if len(parts) > 1:
            return start, np.concatenate(parts), True
        return start, parts[0], fresh  # (a custom generator may hand out its own arrays)

    def post(item):
        start, frames, owned = item
        fitted = fit_frames(frames, out_size, fit)
        owned, frames = owned or fitted is not frames, fitted
        if chain:
            amps = {name: amplitudes[name][start:start + len(frames)] for name, _ in chain}
            frames, owned = apply_effects(frames, chain, amps,
                                          np.arange(start, start + len(frames))), True
        if start < a:
            limiter.prime(frames)
            return None
        if limiter is not None:
            frames = limiter.apply(frames, in_place=owned)
        if frames_dir is not None:
            _save_pngs(frames_dir, start, frames)
        return writer.prepare(frames)  # colour conversion here, not on the encoder's thread

    written = 0
    # The stages stop and are joined before the writer deletes its partial file. numpy's
    # BLAS gets one thread: the stages are the threads (its own spun beside them, a third
    # of the limiter's CPU time at 1080p).
    with threadpool_limits(limits=1, user_api="blas"), SegmentWriter(path, spec) as writer, \
            Jobs() as jobs:
        generated = jobs.stage(itertools.chain(warm, chunks), generate, name="generate",
                               workers=workers)
        for frames in jobs.stage(generated, post, name="effects"):
            if frames is None:  # warm-up
                continue
            writer.write(frames)
            written += len(frames)
            on_frames(written)
        if written != b - a:
            raise SonicDreamsError(f"segment {path.name}: {written} of {b - a} frames rendered")


def _save_pngs(directory: Path, start: int, frames: np.ndarray) -> None:
    from PIL import Image

    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(directory / f"{start + i:06d}.png", compress_level=1)
