"""The render's compiled kernels, made while the song is analysed.

On a fresh install numba compiles each kernel on its first call: about 10 s for a demo's
kernels, one after another on the thread that needs them. Compiling spends most of its time
in LLVM, which releases the GIL, so a second thread compiling them while the song is decoded
and analysed costs the analysis little, and the render finds them ready. Each warmer calls
its kernel on tiny inputs of the types a render passes (a test renders after warming and
checks nothing compiles again); once cached, a warm-up only reads them back.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

__all__ = ["warm_kernels"]

log = logging.getLogger("sonicdreams.compile")


def _analysis() -> None:
    from .audio._median import median_filter_rows
    from .audio._tracker import track_beats

    median_filter_rows(np.ones((2, 8), np.float32), 3)
    onset = np.zeros(64, np.float32)
    onset[::8] = 1.0
    track_beats(onset, bpm=120.0, frame_rate=16.0)


def _motion(generator: Any, s: Any) -> None:
    """The trajectory of a second of synthetic music (the walk's and the classes' kernels)."""
    from fractions import Fraction

    from .audio.analyze import SourceInfo, frame_features
    from .audio.features import Analysis
    from .direction import direct
    from .motion.trajectory import plan_stream

    n = 44
    wave = np.abs(np.sin(np.arange(n, dtype=np.float32) / 3.0))
    grid = Analysis(sr=22050, hop_length=512, duration_s=1.0, full=wave, percussive=wave,
                    harmonic=wave, onset=wave, rms=wave, chroma=np.tile(wave, (12, 1)),
                    onset_bands=np.tile(wave, (4, 1)), tuning=0.0, tempo_bpm=120.0,
                    beat_times=np.array([0.25, 0.75]), section_times=np.array([0.0]))
    features = frame_features(grid, SourceInfo(None, None, 22050, 1, 1.0, 0.0, 1.0),
                              fps=Fraction(s.fps))
    settings = s.update(seed=0)
    direction = direct(features, settings=settings, seed=0)
    traj = plan_stream(features, z_dim=generator.z_dim, c_dim=generator.c_dim, seed=0,
                       settings=settings, direction=direction,
                       directed=bool(getattr(generator, "directed", False)))
    traj.segment(0, int(features.n_frames))


def _effects() -> None:
    from .effects import apply_effects

    n = len(_FLASHING)
    apply_effects(_FLASHING, [("contrast", 0.5)], {"contrast": np.ones(n)}, np.arange(n))


def _limiter(fps: Any) -> None:
    from fractions import Fraction

    from .flashsafe import FlashLimiter

    FlashLimiter(Fraction(fps)).apply(_FLASHING.copy(), in_place=True)


def _yuv() -> None:
    from .video import _yuv420

    _yuv420()(np.zeros((2, 2, 3), np.uint8), np.empty(6, np.uint8))


_FLASHING = np.zeros((8, 8, 8, 3), np.uint8)
_FLASHING[::2] = 255  # the limiter holds pixels: both its kernels compile


def warm_kernels(generator: Any, s: Any, *, yuv420: bool, cancel: threading.Event) -> None:
    """Compile (or read from the cache) the kernels a render of ``generator`` with settings
    ``s`` will call, step by step until ``cancel`` is set: the analysis', the trajectory's,
    a built-in style's (one frame drawn: its ``warm_up()``), the effects' (whether effects are
    on is known only once the song is planned; once cached, reading the kernel costs little), the
    flash limiter's and the YUV 4:2:0 conversion's. Run it on a thread of its own (see
    :meth:`sonicdreams._jobs.Jobs.start`); failures are only logged: the render compiles
    whatever this did not."""
    from .generators.builtin._toolkit import ProceduralStyle

    steps = [_analysis, lambda: _motion(generator, s)]
    if isinstance(generator, ProceduralStyle):  # (drawing is safe: frames are pure)
        steps.append(generator.warm_up)
    steps.append(_effects)
    if not s.allow_flashing:
        steps.append(lambda: _limiter(s.fps))
    if yuv420:
        steps.append(_yuv)
    for step in steps:
        if cancel.is_set():
            return
        try:
            step()
        except Exception as e:  # noqa: BLE001
            log.debug("warming the kernels: %r", e)
