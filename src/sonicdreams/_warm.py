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


def _frames(s: Any, effects: list[str], yuv420: bool) -> None:
    from fractions import Fraction

    from .effects import apply_effects
    from .flashsafe import FlashLimiter
    from .video import _yuv420

    frames = np.zeros((8, 8, 8, 3), np.uint8)
    frames[::2] = 255  # flashing: the limiter holds pixels, so both its kernels compile
    # Frames with a hue turn take one kernel, the others another (any effect's amplitude,
    # the hue's included, is 0 on some frames).
    for chain in ([("hue", 0.5)], [("contrast", 0.5)]) if effects else ():
        amplitudes = {name: np.ones(len(frames)) for name, _ in chain}
        apply_effects(frames, chain, amplitudes, np.arange(len(frames)))
    if not s.allow_flashing:
        FlashLimiter(Fraction(s.fps)).apply(frames, in_place=True)
    if yuv420:
        _yuv420()(np.zeros((2, 2, 3), np.uint8), np.empty(6, np.uint8))


def warm_kernels(generator: Any, s: Any, *, effects: list[str],
                 yuv420: bool) -> threading.Thread:
    """Start a thread compiling (or reading from the cache) the kernels a render of
    ``generator`` with settings ``s`` will call: the analysis', the trajectory's, the style's (its
    ``warm_up()``, if any), the built-in ``effects``', the flash limiter's and the YUV 4:2:0
    conversion's. Join it before the process ends."""
    warm_style = getattr(generator, "warm_up", None)

    def run() -> None:
        try:
            _analysis()
            _motion(generator, s)
            if warm_style is not None:
                warm_style()
            _frames(s, effects, yuv420)
        except Exception as e:  # the render compiles whatever this did not
            log.debug("warming the kernels stopped: %r", e)

    thread = threading.Thread(target=run, name="sonicdreams-warm", daemon=True)
    thread.start()
    return thread
