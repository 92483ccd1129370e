"""``plan()``: musical features in, the generator's inputs for every frame out.

The noise (latent) vector of frame ``i`` is Lucid Sonic Dreams' sum of three parts:

- a **base** moving between random keyframes (``speed_fpm`` per minute),
- a **pulse**: a push proportional to the pulse envelope that relaxes when the sound falls,
- a **motion**: a random walk whose speed follows the motion envelope and which turns back at
  ``±2·truncation``,

and the class vector follows the chromagram: each of the 12 pitch classes feeds one class.

The original's constants are per frame at 43 fps. Here the walk and the class vectors run on
a clock of 43 ticks per second and are read at the video's frame times, so the same song moves
the same way at any frame rate (at 43 fps the ticks are the frames); the original's bugs are
fixed (see DESIGN.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import SettingsError
from ..settings import EFFECT_SOURCES, LSD_EFFECTS, NEW_EFFECTS, PLAN_OPTIONS, RenderSettings
from ..timing import frame_times
from . import keyframes as kf

__all__ = ["Trajectory", "TrajectoryPlan", "plan", "plan_stream", "REFERENCE_FPS",
           "random_streams", "random_keys", "random_walk_factors"]

REFERENCE_FPS = 43.0
"""The frame rate at which the original's per-frame constants were defined (its default)."""
_EMA_AT_REFERENCE = 0.75  # pulse and motion smoothing per frame at REFERENCE_FPS
_MOTION_PER_SECOND = 20.0  # motion step per frame = motion_react * 20 / fps
_RANDOMNESS_PERIOD_S = 4.0  # motion randomness factors are redrawn this often
_N_PITCHES = 12
_DIRECTED_MOTION_SMOOTHING_S = 0.5  # a directed style's walk follows the loudness over this


@dataclass(frozen=True, slots=True)
class Trajectory:
    """The generator inputs of every frame, and everything needed to reproduce them."""

    noise: npt.NDArray[np.float32]
    """Latent vectors [shape=(n_frames, z_dim)]."""
    classes: npt.NDArray[np.float32]
    """Class vectors [shape=(n_frames, c_dim)], in [0, class_complexity]; c_dim may be 0."""
    fps: Fraction
    seed: int
    """The seed actually used (drawn when none was given): pass it back to reproduce."""
    class_ids: tuple[int, ...]
    """The classes given to the pitches C, C#, … B (after tiling and dominance ordering)."""
    keyframe_times: npt.NDArray[np.float64]
    """When each keyframe (base latent) is reached, in seconds of video."""
    settings: RenderSettings
    """The resolved options (``seed`` and ``classes`` filled in)."""
    effects: Mapping[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    """Per-frame amplitudes in [0, 1] of the audio-driven effects."""

    @property
    def n_frames(self) -> int:
        return int(self.noise.shape[0])

    @property
    def z_dim(self) -> int:
        return int(self.noise.shape[1])

    @property
    def c_dim(self) -> int:
        return int(self.classes.shape[1])


def _fresh_seed() -> int:
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))


def random_streams(seed: int) -> tuple[np.random.Generator, ...]:
    """Independent generators for keyframes, the walk and the classes, so that changing one
    option (say ``speed_fpm``) leaves the other draws of the same seed unchanged."""
    return tuple(np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(3))


def random_keys(rng: np.random.Generator, n_keys: int, z_dim: int,
                truncation: float) -> npt.NDArray[np.float32]:
    """Keyframe latents: ``truncation`` times a normal truncated to [-2, 2], as the original."""
    from scipy.stats import truncnorm

    return (truncation * truncnorm.rvs(-2, 2, size=(max(n_keys, 1), z_dim),
                                       random_state=rng)).astype(np.float32)


def random_walk_factors(rng: np.random.Generator, z_dim: int, n_blocks: int,
                        randomness: float) -> tuple[np.ndarray, np.ndarray]:
    """Initial directions (±1 per dimension) and, per 4-s block, each dimension's speed
    factor: 1 or ``1 - randomness`` with equal odds."""
    signs0 = rng.choice(np.array([-1.0, 1.0]), size=z_dim)
    r_blocks = np.where(rng.random((n_blocks, z_dim)) < 0.5, 1.0, 1.0 - randomness)
    return signs0, r_blocks


def plan(
    features,
    *,
    z_dim: int,
    c_dim: int = 0,
    seed: int | None = None,
    settings: RenderSettings | None = None,
    **options: Any,
) -> Trajectory:
    """Compute the noise and class vectors of every frame from a song's features.

    Parameters
    ----------
    features : Features
        From :func:`sonicdreams.analyze`; its fps and frame count are the video's.
    z_dim, c_dim : int
        The generator's latent and class sizes (``c_dim=0``: unconditional).
    seed : int or None
        The same seed gives bit-identical vectors; ``None`` draws one (reported in the result).
    settings : RenderSettings or None
        Options; keywords (``speed_fpm=…``, ``classes=[…]``…) override them.

    Returns
    -------
    Trajectory

    Raises
    ------
    SettingsError
        An option out of range, an unknown option, or a class id outside ``[0, c_dim)``.
    """
    s = _resolve(settings, seed, options)
    return _plan(features, s, z_dim=z_dim, c_dim=c_dim).materialize()


def _resolve(settings: RenderSettings | None, seed: int | None,
             options: dict[str, Any]) -> RenderSettings:
    for name in options:
        if name not in PLAN_OPTIONS:
            RenderSettings.create({name: None})  # raises "unknown option" with a suggestion
            raise SettingsError(f"{name} is not an option of plan(); pass it to render()")
    s = (settings or RenderSettings()).update(**options) if options else (
        settings or RenderSettings())
    if seed is not None:
        s = s.update(seed=seed)
    if s.seed is None:
        s = s.update(seed=_fresh_seed())
    return s


def plan_stream(features, *, z_dim: int, c_dim: int = 0, seed: int | None = None,
                settings: RenderSettings | None = None, direction=None,
                directed: bool = False, **options: Any) -> TrajectoryPlan:
    """Like :func:`plan`, but the vectors are computed segment by segment on request.

    Used by the renderer: memory stays the same for a 3-minute song and a 3-hour mix. The
    values are identical to :func:`plan`'s.

    A ``direction`` (:func:`sonicdreams.direction.direct`) drives the effects that follow the
    hits. For a generator that draws the director's cues (``directed``), the pulse is left
    out of the latents — the style draws the hits from the cues — and each scene of the plan
    moves the latents to a region of their own, through the scene's transition.
    """
    s = _resolve(settings, seed, options)
    return _plan(features, s, z_dim=z_dim, c_dim=c_dim, direction=direction,
                 directed=directed and direction is not None)


def _plan(features, s: RenderSettings, *, z_dim: int, c_dim: int, direction=None,
          directed: bool = False) -> TrajectoryPlan:
    if not isinstance(z_dim, int) or z_dim < 1:
        raise SettingsError(f"z_dim={z_dim!r} must be a positive integer")
    if not isinstance(c_dim, int) or c_dim < 0:
        raise SettingsError(f"c_dim={c_dim!r} must be an integer >= 0")
    fps = Fraction(features.fps)
    times = frame_times(int(features.n_frames), fps)
    keys_rng, walk_rng, class_rng = random_streams(s.seed)
    walk = _NoiseWalk(features, s.update(pulse_react=0.0) if directed else s,
                      z_dim=z_dim, times=times, keys_rng=keys_rng, walk_rng=walk_rng,
                      motion_smoothing_s=_DIRECTED_MOTION_SMOOTHING_S if directed else 0.0)
    track = _ClassTrack(features, s, c_dim=c_dim, times=times, rng=class_rng)
    if c_dim and s.classes is None:
        s = s.update(classes=track.class_ids)
    effects = {
        name: np.asarray(features.role_envelope(name, percussive=s.effect_percussive(name),
                                                harmonic=False), dtype=np.float32)
        for name in LSD_EFFECTS if s.effect_enabled(name) or _has_stem(features, name)
    }
    for name in NEW_EFFECTS:
        if getattr(s, f"{name}_strength") is not None:
            source = EFFECT_SOURCES[name]
            if source in ("kick", "snare"):
                # The director's hit swells: an attack on the onset, a decay after it
                # (without a director, the envelope the original's effects used).
                amp = (np.clip(direction.cue(source), 0.0, 1.0) if direction is not None
                       else features.percussive if source == "kick" else features.onset)
            else:
                amp = getattr(features, source)
            effects[name] = np.asarray(amp, np.float32)
    return TrajectoryPlan(n_frames=int(features.n_frames), z_dim=z_dim, c_dim=c_dim, fps=fps,
                          seed=s.seed, class_ids=track.class_ids,
                          keyframe_times=walk.key_times, settings=s, effects=effects,
                          _walk=walk, _track=track,
                          _scenes=_SceneRegions(direction, z_dim) if directed else None)


@dataclass(frozen=True, slots=True)
class TrajectoryPlan:
    """A trajectory whose vectors are computed on request (see :func:`plan_stream`)."""

    n_frames: int
    z_dim: int
    c_dim: int
    fps: Fraction
    seed: int
    class_ids: tuple[int, ...]
    keyframe_times: npt.NDArray[np.float64]
    settings: RenderSettings
    effects: Mapping[str, npt.NDArray[np.float32]]
    _walk: Any = field(repr=False, compare=False)
    _track: Any = field(repr=False, compare=False)
    _scenes: Any = field(default=None, repr=False, compare=False)

    def segment(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """(noise [b-a, z_dim], classes [b-a, c_dim]) of frames ``[a, b)``, in order."""
        noise = self._walk.frames(a, b)
        if self._scenes is not None:
            noise += self._scenes.frames(a, b)
        return noise, self._track.frames(a, b)

    def materialize(self) -> Trajectory:
        noise, classes = self.segment(0, self.n_frames)
        return Trajectory(noise=noise, classes=classes, fps=self.fps, seed=self.seed,
                          class_ids=self.class_ids, keyframe_times=self.keyframe_times,
                          settings=self.settings, effects=dict(self.effects))


class _SceneRegions:
    """Each scene's own offset of the latents (from its seed), blended through transitions."""

    _AMOUNT = 0.8  # how far apart scenes are, in units of a keyframe's spread

    def __init__(self, direction, z_dim: int) -> None:
        from ..direction import CUE

        self.offsets = np.stack([
            np.random.default_rng([scene.seed, z_dim]).standard_normal(z_dim)
            for scene in direction.scenes]).astype(np.float32) * np.float32(self._AMOUNT)
        cues = direction.cues
        self.a = cues[:, CUE["scene_a"]].astype(np.int64)
        self.b = cues[:, CUE["scene_b"]].astype(np.int64)
        self.mix = cues[:, CUE["mix"]][:, None]

    def frames(self, a: int, b: int) -> npt.NDArray[np.float32]:
        mix = self.mix[a:b]
        return (1 - mix) * self.offsets[self.a[a:b]] + mix * self.offsets[self.b[a:b]]


def _has_stem(features, role: str) -> bool:
    return f"{role}_audio" in getattr(features, "grids", {})


# --------------------------------------------------------------------------------------------
# Noise: base + pulse + motion


def _clock(duration_s: float, times: np.ndarray):
    """The walk's ticks (``REFERENCE_FPS`` per second) covering every frame time."""
    last = float(times[-1]) if len(times) else 0.0
    n_ticks = int(math.floor(max(last, duration_s) * REFERENCE_FPS)) + 2
    tick_times = np.arange(n_ticks, dtype=np.float64) / REFERENCE_FPS
    pos = times * REFERENCE_FPS
    frame_tick = np.floor(pos + 1e-9).astype(np.int64)
    frame_frac = np.clip(pos - frame_tick, 0.0, 1.0)
    frame_frac[frame_frac < 1e-9] = 0.0
    return tick_times, frame_tick, frame_frac


class _NoiseWalk:
    """The latent walk of one video, computed frame range by frame range, in order.

    Everything per tick or per frame is small (a few numbers each); only the requested
    frames' latents are materialised, so an hour-long video needs no hour-long array.
    """

    def __init__(self, features, s: RenderSettings, *, z_dim: int, times: np.ndarray,
                 keys_rng: np.random.Generator, walk_rng: np.random.Generator,
                 motion_smoothing_s: float = 0.0) -> None:
        n_keys = kf.keyframe_count(features.duration_s, s.speed_fpm)
        keys = random_keys(keys_rng, n_keys, z_dim, s.truncation)
        key_times = kf.keyframe_times(n_keys, features.duration_s)
        if s.sync_keyframes_to_beats and len(key_times) > 2:
            beats = np.asarray(features.beat_times, dtype=np.float64)
            onset_at = np.asarray(features.onset)[features.beat_frames] if len(beats) else None
            bars = kf.beat_bar_times(beats, onset_at)
            key_times = kf.snap_to_beats(key_times, beat_times=beats, bar_times=bars)
        self.key_times = key_times
        self.keys = keys.astype(np.float64)
        tick_times, self.frame_tick, self.frame_frac = _clock(features.duration_s, times)
        self.f_weights = kf.interpolation_weights(key_times, times, self.keys,
                                                  space=s.motion_space)
        self.t_weights = kf.interpolation_weights(key_times, tick_times, self.keys,
                                                  space=s.motion_space)
        period = int(round(_RANDOMNESS_PERIOD_S * REFERENCE_FPS))  # ticks between redraws
        self.block = np.arange(len(tick_times)) // period
        signs0, self.r_blocks = random_walk_factors(walk_rng, z_dim, int(self.block[-1]) + 1,
                                                    s.motion_randomness)
        self.pulse = np.asarray(s.pulse_react * features.role_envelope(
            "pulse", percussive=s.pulse_percussive, harmonic=s.pulse_harmonic,
            times=tick_times, how="max"), dtype=np.float64)
        self.motion = np.asarray((s.motion_react * _MOTION_PER_SECOND / REFERENCE_FPS)
                                 * features.role_envelope(
            "motion", percussive=s.motion_percussive, harmonic=s.motion_harmonic,
            times=tick_times, how="mean"), dtype=np.float64)
        if motion_smoothing_s > 0 and len(self.motion) > 1:
            from scipy.ndimage import gaussian_filter1d

            # The same distance, without bursts: the hits are the style's events, not the walk's.
            self.motion = gaussian_filter1d(self.motion, motion_smoothing_s * REFERENCE_FPS,
                                            mode="nearest")
        self.motion_react = float(s.motion_react)
        self.bound = 2.0 * s.truncation
        self.z_dim = z_dim
        self.n_ticks = len(tick_times)
        # walk state: directions, smoothed step, running sum, previous sum; pulse, previous
        self.state = np.zeros((4, z_dim))
        self.state[0] = signs0
        self.scalars = np.zeros(2)
        self.next_tick = 0
        self.next_frame = 0

    def frames(self, a: int, b: int) -> npt.NDArray[np.float32]:
        """Latents of frames ``[a, b)``; ranges must come in increasing order."""
        from ._kernels import latent_walk

        if a < self.next_frame:
            raise ValueError(f"frames {a}..{b} were asked after frame {self.next_frame}: "
                             "the walk only goes forward")
        out = np.empty((b - a, self.z_dim), dtype=np.float32)
        if b <= a:
            return out
        last_tick = min(self.n_ticks, int(self.frame_tick[b - 1]) + 2)
        self.next_frame = latent_walk(
            out, a, self.next_frame, self.next_tick, max(self.next_tick, last_tick),
            self.frame_tick, self.frame_frac, *self.f_weights, *self.t_weights, self.keys,
            self.pulse, self.motion, self.r_blocks, self.block, self.state, self.scalars,
            _EMA_AT_REFERENCE, self.motion_react, self.bound)
        self.next_tick = max(self.next_tick, last_tick)
        if self.next_frame != b:
            raise RuntimeError(f"walk emitted frames up to {self.next_frame}, expected {b}")
        return out


# --------------------------------------------------------------------------------------------
# Classes: pitch → class mapping, shuffles, smoothing


def _class_list(features, s: RenderSettings, c_dim: int, rng: np.random.Generator) -> list[int]:
    if s.classes is None:
        chosen = rng.choice(c_dim, size=min(c_dim, _N_PITCHES), replace=False).tolist()
    else:
        bad = [c for c in s.classes if c >= c_dim]
        if bad:
            raise SettingsError(f"classes: {bad[0]} is out of range; this generator has "
                                f"{c_dim} classes (0 to {c_dim - 1})")
        chosen = list(s.classes)
    if len(chosen) < _N_PITCHES:
        chosen = (chosen * _N_PITCHES)[:_N_PITCHES]
    if s.dominant_classes_first:
        head = [0] * _N_PITCHES
        for rank, pitch in enumerate(np.asarray(features.pitches_sorted)[:_N_PITCHES]):
            head[int(pitch)] = chosen[rank]
        chosen = head + chosen[_N_PITCHES:]
    return [int(c) for c in chosen]


def _shuffle_counts(features, s: RenderSettings, times: np.ndarray) -> np.ndarray:
    """How many shuffles happened up to and including each of the (tick) ``times``."""
    spec = s.class_shuffle_seconds
    n = len(times)
    if spec is None or n == 0:
        return np.zeros(n, dtype=np.int64)
    if isinstance(spec, float):
        return np.floor(times / spec + 1e-9).astype(np.int64)
    if spec == "sections":
        event_times = np.asarray(features.section_times, dtype=np.float64)[1:]
    else:  # absolute song times, as the original's list form
        event_times = np.asarray(spec, dtype=np.float64) - features.start_s
    events = np.floor(event_times * REFERENCE_FPS + 0.5).astype(np.int64)
    events = events[(events >= 1) & (events < n)]
    counts = np.zeros(n + 1, dtype=np.int64)
    np.add.at(counts, events, 1)
    return np.cumsum(counts[:n])


class _ClassTrack:
    """Class vectors on the walk's clock (small: one value per tick per used class), read
    at any frames on demand and scattered into the generator's ``c_dim`` slots."""

    def __init__(self, features, s: RenderSettings, *, c_dim: int, times: np.ndarray,
                 rng: np.random.Generator) -> None:
        from ._kernels import class_walk

        self.c_dim = c_dim
        self.times = times
        self.class_ids: tuple[int, ...] = ()
        if c_dim == 0:
            return
        chosen = _class_list(features, s, c_dim, rng)
        used = sorted(set(chosen) | {0})
        slot_of = {c: k for k, c in enumerate(used)}
        slots = np.array([slot_of[c] for c in chosen], dtype=np.int64)
        length = len(chosen)
        shift = int(round(_N_PITCHES * s.class_shuffle_strength))
        tick_times, _, _ = _clock(features.duration_s, times)
        rotation = (_shuffle_counts(features, s, tick_times) * shift) % length
        mapping = slots[(rotation[:, None] + np.arange(_N_PITCHES)[None, :]) % length]
        chroma_t = np.ascontiguousarray(
            np.asarray(features.chroma_at(tick_times, how="mean"), dtype=np.float64).T)
        voiced = np.flatnonzero(chroma_t.sum(axis=1) > 0)
        first = int(voiced[0]) if len(voiced) else 0
        compact = np.empty((len(tick_times), len(used)), dtype=np.float64)
        # The original's gain was class_pitch_react * 43 / fps per frame: per tick it is this.
        class_walk(compact, chroma_t, mapping, first, float(s.class_pitch_react),
                   float(s.class_complexity), c_dim > len(used), slot_of[0])
        self.compact = _smooth(compact, int(round(s.class_smooth_seconds * REFERENCE_FPS)))
        self.used = np.asarray(used, dtype=np.int64)
        self.class_ids = tuple(chosen[:_N_PITCHES])

    def frames(self, a: int, b: int) -> npt.NDArray[np.float32]:
        out = np.zeros((max(b - a, 0), self.c_dim), dtype=np.float32)
        if self.c_dim == 0 or b <= a:
            return out
        pos = self.times[a:b] * REFERENCE_FPS
        ticks = np.arange(self.compact.shape[0], dtype=np.float64)
        for k, class_id in enumerate(self.used):
            out[:, class_id] = np.interp(pos, ticks, self.compact[:, k])
        return out


def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Means of consecutive ``window``-frame blocks, linearly interpolated between the blocks'
    centres (the original placed each mean at its block's start: visuals led the audio)."""
    n = x.shape[0]
    if window <= 1 or n <= 1:
        return x
    starts = np.arange(0, n, window)
    sums = np.add.reduceat(x, starts, axis=0)
    sizes = np.diff(np.append(starts, n))
    means = sums / sizes[:, None]
    centres = starts + (sizes - 1) / 2.0
    frames = np.arange(n, dtype=np.float64)
    out = np.empty_like(x)
    for k in range(x.shape[1]):
        out[:, k] = np.interp(frames, centres, means[:, k])
    return out
