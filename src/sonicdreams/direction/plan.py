"""``direct()``: how a song is filmed, decided once — scenes, palettes and per-frame cues.

The director reads the song's features (sections, beats and bars, key and mode, energy, the
percussive onsets by band) and makes a **scene plan**: one scene per section (or per row of the
user's ``scenes`` table), each with a palette, a place in the style's space (a seed), a variant
(symmetry, camera) and an intensity (louder sections move faster and hit harder). Scenes change
through a transition of one beat to one bar that *lands on the downbeat* of the section.

From the plan it computes the **cues**, a few numbers per frame that the built-in styles draw
from (see :data:`CUES`): the hits (kick, snare, hats shaped as a swell with an attack on the
onset and a decay of a few hundred milliseconds), the surge (a phase that steps forward on
every hit and never comes back, so a style can move with the beat without a decay to undo),
the song's energy, the flow (a phase that advances with the harmonic loudness), where pitch
sits in the palette, and which scenes and palettes are showing. A hit lands on the first frame
shown after its attack. Styles draw what they are told instead of each inventing its own
reaction to the music.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .palettes import PALETTES, get_palette, palette_distances

__all__ = ["CUES", "CUE", "Scene", "Direction", "direct", "neutral_cues", "key_and_mode"]

CUES = ("hit", "kick", "snare", "hat", "energy", "flow", "hue", "mix", "scene_a", "scene_b",
        "palette_a", "palette_b", "variant_a", "variant_b", "intensity", "surge")
"""The cue columns, in order. ``hit`` (every percussive onset), ``kick``, ``snare``, ``hat``
(by band): swells, 0 at rest, about 1 on a strong hit at ``pulse_react`` 0.5 (2 at
``pulse_react`` 1); ``energy``: the song's loudness
over bars, 0 … 1; ``flow``: a phase that grows about 1 per second at ``motion_react`` 0.5;
``hue``: where pitch places the colours in the palette (a phase, about ±0.06); ``mix``: 0 in
scene ``scene_a``, 1 in ``scene_b`` (a transition in between: eased, or past ``pulse_react``
0.5 more and more paced by the onsets); ``palette_*``: indices into
:data:`~sonicdreams.direction.palettes.PALETTES`; ``variant_*``: a number in [0, 1) per scene
(symmetry, camera); ``intensity``: how hard the current scene plays, about 0.7 … 1.3;
``surge``: a phase that steps forward on every hit's frame by the hit's size (about 0.4 for a
strong hit at ``pulse_react`` 0.5, 1 at most at any; most of it on the hit's frame, the rest
on the next; from ``pulse_react`` 0.5 to 1, more and more on every frame by its onset
strength instead) and never comes back — styles turn their view by it, so a hit moves the
picture with no decay to undo it."""

CUE = {name: k for k, name in enumerate(CUES)}
"""Column of each cue."""

_REFERENCE_PULSE = 0.5  # pulse_react at which a strong hit is a cue of about 1
_REFERENCE_MOTION = 0.5
_DECAY_S = {"hit": 0.15, "kick": 0.22, "snare": 0.14, "hat": 0.07}  # swell decay times
_SURGE_CAP = 0.6  # the largest step of the surge (per unit of gain): loud hits never cut
_SURGE_TOP = 0.5  # and after the scene's gain (per unit of pulse; of its square past 0.5)
_SURGE_MAX = 1.0  # the largest step at any pulse_react (at 2: a storm of cuts on dense songs)
_SURGE_SHAPE = (0.65, 0.35)  # how a hit's step is shared by its frame and the next
_STRENGTH_MAX = 1.3  # onset strength: 1 at the song's 98th percentile, at most this
_FOLLOW_KNEE = 1.6  # past pulse_react 0.5: a mid onset steps the surge 0.7 of a strong one
_FOLLOW_FLOOR = 25  # ... counted from this percentile of the song's onset strength
_PALETTE_CONTRAST = 2.5  # score per unit of colour distance from the previous scene's palette
_MIN_SCENE_S = 4.0  # sections shorter than this merge into the one before
_TRANSITION_PACE = 0.02  # a silent frame's weight in a paced transition (an onset's: up to 1)
_TRANSITION_JOLT = 0.2  # the most of a paced transition one frame takes (the eased: 3/frames)
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True, slots=True)
class Scene:
    """One stretch of the video with its own look."""

    start_s: float
    """Video time at which the scene is fully shown (its transition ends here, on a downbeat)."""
    end_s: float
    transition_s: float
    """How long the move into this scene takes (it starts ``transition_s`` before ``start_s``)."""
    palette: int
    seed: int
    variant: float
    intensity: float
    style: Any = None
    """The style of this scene when the ``scenes`` table names one (else the render's)."""
    pulse_react: float | None = None
    motion_react: float | None = None
    transition: str = "morph"
    """How a change of style into this scene blends the two: "morph" or "crossfade"."""

    @property
    def palette_name(self) -> str:
        return PALETTES[self.palette].name

    def to_dict(self) -> dict[str, Any]:
        out = {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
               "transition_s": round(self.transition_s, 3), "palette": self.palette_name,
               "seed": self.seed, "variant": round(self.variant, 4),
               "intensity": round(self.intensity, 3)}
        if self.style is not None:
            out["style"] = self.style if isinstance(self.style, str) else repr(self.style)
        return out


@dataclass(frozen=True, slots=True)
class Direction:
    """A song's scene plan and its per-frame cues."""

    scenes: tuple[Scene, ...]
    key: str
    mode: str
    downbeat_times: npt.NDArray[np.float64]
    cues: npt.NDArray[np.float32]
    """[shape=(n_frames, len(CUES))]."""

    def segment(self, a: int, b: int) -> npt.NDArray[np.float32]:
        return self.cues[a:b]

    def cue(self, name: str) -> npt.NDArray[np.float32]:
        return self.cues[:, CUE[name]]

    def summary(self) -> dict[str, Any]:
        return {"key": f"{self.key} {self.mode}",
                "scenes": [scene.to_dict() for scene in self.scenes]}


def neutral_cues(n: int) -> npt.NDArray[np.float32]:
    """Cues of a still scene: no hits, mid energy, the first palette (a style called without a
    director, e.g. for a preview)."""
    cues = np.zeros((n, len(CUES)), dtype=np.float32)
    cues[:, CUE["energy"]] = 0.5
    cues[:, CUE["intensity"]] = 1.0
    return cues


def key_and_mode(chroma: np.ndarray) -> tuple[int, str, float]:
    """(tonic pitch class, "major"/"minor", confidence) of a chromagram [12, n] by the
    Krumhansl–Schmuckler key profiles; flat chroma (noise, silence) gives low confidence."""
    profile = np.asarray(chroma, dtype=np.float64).mean(axis=1)
    if not np.isfinite(profile).all() or profile.std() < 1e-9:
        return 0, "major", 0.0
    best = (-2.0, 0, "major")
    for mode, template in (("major", _MAJOR), ("minor", _MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(profile, np.roll(template, tonic))[0, 1])
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2], max(best[0], 0.0)


# --------------------------------------------------------------------------------------------


def direct(features, *, settings, seed: int) -> Direction:
    """The scene plan and cues of a song (see the module docstring).

    Parameters
    ----------
    features : Features
        From :func:`sonicdreams.analyze`, at the video's frame rate.
    settings : RenderSettings
        ``pulse_react``, ``motion_react``, ``palette``, ``scenes``, ``scene_changes`` and the
        percussive/harmonic choice of the pulse are read.
    seed : int
        The render's seed: the same seed, the same plan.
    """
    s = settings
    fps = float(features.fps)
    n = int(features.n_frames)
    times = np.arange(n, dtype=np.float64) / fps
    beats = np.asarray(features.beat_times, dtype=np.float64)
    downbeats = _downbeats(features, beats)
    chroma = np.asarray(features.chroma, dtype=np.float64)
    tonic, mode, _ = key_and_mode(chroma)
    energy = _energy(features, fps)
    scenes = _scenes(features, s, seed, downbeats, beats, energy, chroma, tonic, mode)

    cues = np.zeros((n, len(CUES)), dtype=np.float32)
    bands, hits, strength = _band_swells(features, s, fps)
    # every onset, in proportion: 0 … 1
    drive = np.tanh(_FOLLOW_KNEE * strength) / np.tanh(_FOLLOW_KNEE * _STRENGTH_MAX)
    drive = np.convolve(drive, _SURGE_SHAPE)[:n]
    reacts = np.array([s.pulse_react if sc.pulse_react is None else sc.pulse_react
                       for sc in scenes])  # each scene's pulse_react
    a, b, mix = _scene_mix(scenes, times, drive=drive, follow=_follow(reacts))
    cues[:, CUE["scene_a"]], cues[:, CUE["scene_b"]], cues[:, CUE["mix"]] = a, b, mix
    pal = np.array([sc.palette for sc in scenes], dtype=np.float32)
    var = np.array([sc.variant for sc in scenes], dtype=np.float32)
    cues[:, CUE["palette_a"]], cues[:, CUE["palette_b"]] = pal[a], pal[b]
    cues[:, CUE["variant_a"]], cues[:, CUE["variant_b"]] = var[a], var[b]

    def blended(values: np.ndarray) -> np.ndarray:
        return (1.0 - mix) * values[a] + mix * values[b]

    intensity = blended(np.array([sc.intensity for sc in scenes]))
    react = blended(reacts)  # pulse_react, frame by frame
    pulse = react / _REFERENCE_PULSE
    motion = blended(np.array([s.motion_react if sc.motion_react is None else sc.motion_react
                               for sc in scenes])) / _REFERENCE_MOTION
    cues[:, CUE["intensity"]] = intensity
    cues[:, CUE["energy"]] = energy

    gain = pulse * (0.55 + 0.45 * intensity)
    for name in ("hit", "kick", "snare", "hat"):
        cues[:, CUE[name]] = bands[name] * gain
    # Past pulse_react 0.5 the lurch grows once more with the pulse: the swells saturate
    # (soft knees in the styles), so a stronger look shows its hits as movement.
    boost = np.maximum(pulse, 1.0)
    steps = boost * gain * _SURGE_CAP * np.tanh(hits / _SURGE_CAP)
    top = np.minimum(_SURGE_TOP * np.maximum(pulse, 1e-9) * boost, _SURGE_MAX)
    steps = top * np.tanh(steps / top)  # (whole-picture jumps at default: 2 → 0 a minute)
    # ... and follows the onset strength itself, in proportion, frame by frame (more and
    # more from pulse_react 0.5 to 1): a strong look moves with every onset as hard as it
    # sounds, where the steps above make every picked hit much alike (held-out songs,
    # beat_corr of the intense look: cppn and nebula +0.1).
    follow = _follow(react)
    # Most of the lurch on the hit's frame, the rest on the next: as quick, never a cut.
    steps = np.convolve(steps, _SURGE_SHAPE)[:n]
    steps = (1.0 - follow) * steps + follow * np.minimum(gain / 2 * drive, _SURGE_MAX)
    cues[:, CUE["surge"]] = np.cumsum(steps)

    harmonic = np.asarray(features.harmonic, dtype=np.float64)
    speed = motion * intensity * (0.35 + 0.65 * _smooth(harmonic, fps, 1.0))
    cues[:, CUE["flow"]] = np.cumsum(speed) / fps
    cues[:, CUE["hue"]] = _pitch_phase(chroma, fps, beats)
    return Direction(scenes=tuple(scenes), key=_PITCHES[tonic], mode=mode,
                     downbeat_times=downbeats, cues=cues)


def _downbeats(features, beats: np.ndarray) -> np.ndarray:
    from ..motion.keyframes import beat_bar_times

    if len(beats) == 0:
        return beats
    onset_at = np.asarray(features.onset)[features.beat_frames]
    return beat_bar_times(beats, onset_at)


def _smooth(x: np.ndarray, fps: float, seconds: float) -> np.ndarray:
    """Zero-phase smoothing over about ``seconds`` (no lead, no lag)."""
    from scipy.ndimage import gaussian_filter1d

    if len(x) < 2:
        return np.asarray(x, dtype=np.float64)
    return gaussian_filter1d(np.asarray(x, dtype=np.float64), sigma=max(seconds * fps / 2, 0.5),
                             mode="nearest")


def _energy(features, fps: float) -> np.ndarray:
    """Loudness over bars, 0 (the song's quiet parts) … 1 (its loud parts)."""
    rms = np.asarray(features.rms, dtype=np.float64)
    if len(rms) == 0 or rms.max() <= 0:
        return np.zeros(len(rms))
    db = 20.0 * np.log10(np.maximum(rms, 1e-5))
    db = _smooth(db, fps, 2.0)
    lo, hi = np.percentile(db, 5), np.percentile(db, 95)
    return np.clip((db - lo) / max(hi - lo, 3.0), 0.0, 1.0)


def _band_swells(features, s,
                 fps: float) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per band, hits as swells: normalised per song (percentiles, so quiet mixes hit as hard
    as loud ones), compressed (one huge hit does not flatten the rest), an attack on the
    onset's frame and an exponential decay. Also the hits that step the surge (every onset,
    every snare and, at half weight, every kick), on their frames only, and the onset
    strength of every frame (0 up to the song's ``_FOLLOW_FLOOR`` percentile, 1 at its 98th,
    at most 1.3)."""
    from ..audio.features import envelope_source

    source = envelope_source(s.pulse_percussive, s.pulse_harmonic)
    bands = np.asarray(features.onset_bands, dtype=np.float64)
    if source != "percussive" or "pulse_audio" in getattr(features, "grids", {}):
        # Pulse from another part: its loudness rises are the hits, in every band alike.
        env = np.asarray(features.pulse, dtype=np.float64)
        rise = np.maximum(np.diff(env, prepend=env[:1] if len(env) else env), 0.0)
        bands = np.stack([rise, rise, rise, rise])
    out, hits = {}, {}
    # ``hit``: every percussive onset, what a listener taps along to; the bands drive the
    # secondary reactions (kick: weight, snare: accents, hats: texture).
    for k, name in enumerate(("kick", "snare", "hat", "hit")):
        x = bands[k] if len(bands) > k else np.zeros(features.n_frames)
        hits[name] = _hits(x, fps)
        if name == "hit":  # dense percussion (rolls, riffs) keeps pushing between the peaks
            hits[name] = np.maximum(hits[name], 0.7 * _strength(x))
        out[name] = _swell(hits[name], fps, _DECAY_S[name])
    # Every onset and every snare: what a listener taps along to; the kick band at half
    # weight (it hears bass notes as well as kicks; its hits drive the swells).
    every = bands[3] if len(bands) > 3 else np.zeros(features.n_frames)
    return (out, np.maximum.reduce([hits["hit"], hits["snare"], 0.5 * hits["kick"]]),
            _strength(every, gate=0.0, floor_percentile=_FOLLOW_FLOOR))


def _strength(x: np.ndarray, *, gate: float = 0.2,
              floor_percentile: float | None = None) -> np.ndarray:
    """Onset strength above the song's ``floor_percentile`` (default: its median, so the
    picture rests between the beats), 1 at its 98th percentile, at most 1.3; 0 below
    ``gate``."""
    if len(x) == 0:
        return np.zeros(0)
    lo = float(np.median(x) if floor_percentile is None else np.percentile(x, floor_percentile))
    top = float(np.percentile(x, 98))
    if not top - lo > 1e-9:  # flat, or not finite
        return np.zeros(len(x))
    y = np.clip((x - lo) / (top - lo), 0.0, _STRENGTH_MAX)
    y[y < gate] = 0.0
    return y


def _hits(x: np.ndarray, fps: float) -> np.ndarray:
    """Onset strength → hits: 0 everywhere except on the frames where an onset peaks above
    its surroundings, there its size relative to the song's strong hits (percentiles, so a
    quiet mix hits as hard as a loud one; capped, so one huge hit does not flatten the
    rest; weak peaks shrink, so the picture rests between the beats)."""
    from scipy.ndimage import maximum_filter1d, median_filter

    n = len(x)
    out = np.zeros(n)
    if n < 3 or not (x > 0).any():
        return out
    width = max(3, int(round(0.07 * fps)) * 2 + 1)  # one peak per ~70 ms
    local = median_filter(x, size=max(3, int(fps)) | 1, mode="nearest")
    excess = x - local
    peak = (x == maximum_filter1d(x, width, mode="nearest")) & (excess > 0)
    if not peak.any():
        return out
    # The weakest peaks are not hits (the picture rests through them); the others scale
    # from 0 to 1 at the 95th percentile of the song's peaks.
    sizes = excess[peak]
    floor, top = float(np.percentile(sizes, 40)), float(np.percentile(sizes, 95))
    if top - floor <= 1e-9:
        return out
    y = np.clip((sizes - floor) / (top - floor), 0.0, 1.3)
    out[peak] = np.sqrt(y)  # a mid-sized hit still shows
    out[out < 0.15] = 0.0
    return out


def _swell(x: np.ndarray, fps: float, decay_s: float) -> np.ndarray:
    """Peak follower: jumps to each hit, then falls exponentially (time constant ``decay_s``)."""
    k = math.exp(-1.0 / max(decay_s * fps, 1e-6))
    # Sequential by nature; a few numbers per frame, so a plain loop is fast enough (0.1 s
    # for an hour of video).
    y = np.empty(len(x), dtype=np.float64)
    prev = 0.0
    for t, v in enumerate(x.tolist()):
        prev = max(v, prev * k)
        y[t] = prev
    return y


def _pitch_phase(chroma: np.ndarray, fps: float, beats: np.ndarray) -> np.ndarray:
    """Where pitch sits in the palette: the chroma's direction on the circle of fifths,
    smoothed over about two beats and unwrapped, scaled to a small phase (±0.06 around its
    mean), so chords move the colours within the palette and never jump."""
    n = chroma.shape[1] if chroma.ndim == 2 else 0
    if n == 0:
        return np.zeros(0)
    fifths = (np.arange(12) * 7) % 12  # pitch class k sits at position fifths[k] on the circle
    angle = 2 * np.pi * fifths / 12.0
    vec = (chroma * np.exp(1j * angle)[:, None]).sum(axis=0)
    beat_s = float(np.median(np.diff(beats))) if len(beats) > 2 else 0.5
    vec = _smooth(vec.real, fps, 2 * beat_s) + 1j * _smooth(vec.imag, fps, 2 * beat_s)
    phase = np.unwrap(np.angle(vec)) if np.abs(vec).max() > 1e-9 else np.zeros(n)
    phase -= phase.mean()
    return 0.06 * np.tanh(phase / np.pi)


# --------------------------------------------------------------------------------------------
# Scenes


def _scenes(features, s, seed: int, downbeats: np.ndarray, beats: np.ndarray,
            energy: np.ndarray, chroma: np.ndarray, tonic: int, mode: str) -> list[Scene]:
    fps = float(features.fps)
    duration = float(features.duration_s)
    table = [dict(row) for row in (s.scenes or ())]
    timed = [row for row in table if "start" in row]
    if timed:
        starts = [max(0.0, float(row["start"]) - features.start_s) for row in timed]
        rows = timed
        snap = [bool(row.get("snap", True)) for row in timed]
    else:
        starts = list(np.asarray(features.section_times, dtype=np.float64))
        if not s.scene_changes:
            starts = [0.0]
        by_section = {int(row["section"]): row for row in table if "section" in row}
        rows = [by_section.get(k + 1, {}) for k in range(len(starts))]
        snap = [True] * len(starts)
    if not starts or starts[0] > 0.0:
        starts, rows, snap = [0.0, *starts], [{}, *rows], [False, *snap]
    starts, rows = _placed(starts, rows, snap, downbeats, beats, duration, timed=bool(timed))

    beat_s = float(np.median(np.diff(beats))) if len(beats) > 2 else 0.5
    ends = [*starts[1:], duration]
    feats = []
    for a, b in zip(starts, ends, strict=True):
        i0, i1 = int(a * fps), max(int(a * fps) + 1, int(b * fps))
        level = float(energy[i0:i1].mean()) if i1 <= len(energy) and i1 > i0 else 0.5
        prof = chroma[:, i0:i1].mean(axis=1) if chroma.shape[1] >= i1 > i0 else np.zeros(12)
        feats.append((level, prof))
    palettes = _choose_palettes(feats, s, seed, tonic, mode, rows)
    levels = np.array([f[0] for f in feats])
    scenes = []
    for k, (a, b, row) in enumerate(zip(starts, ends, rows, strict=True)):
        rng = np.random.default_rng([seed & 0xFFFFFFFF, 7919, k])
        scene_seed = int(row["seed"]) if "seed" in row else int(rng.integers(0, 2**31))
        variant = float(np.random.default_rng([scene_seed, 31]).random())
        intensity = float(row.get("intensity", 0.7 + 0.6 * levels[k]))
        if k == 0:
            transition = 0.0
        else:
            louder = levels[k] > levels[k - 1] + 0.15
            transition = beat_s if louder else 4 * beat_s  # a hit into a louder part
            transition = float(row.get("transition_s", transition))
            transition = min(transition, 0.5 * (a - starts[k - 1]))
        scenes.append(Scene(start_s=float(a), end_s=float(b), transition_s=transition,
                            palette=palettes[k], seed=scene_seed, variant=variant,
                            intensity=intensity, style=row.get("style"),
                            pulse_react=row.get("pulse_react"),
                            motion_react=row.get("motion_react"),
                            transition=row.get("transition", "morph")))
    return scenes


def _placed(starts, rows, snap, downbeats, beats, duration: float, *, timed: bool):
    """Scene starts on the nearest downbeat (else beat) within half a bar; scenes shorter
    than ``_MIN_SCENE_S`` merge into the one before (unless the user timed them)."""
    bar = 4 * float(np.median(np.diff(beats))) if len(beats) > 2 else 2.0
    out_starts, out_rows = [], []
    for t, row, want_snap in zip(starts, rows, snap, strict=True):
        t = float(t)
        if want_snap and t > 0.0:
            for grid in (downbeats, beats):
                if len(grid):
                    nearest = float(grid[np.argmin(np.abs(grid - t))])
                    if abs(nearest - t) <= 0.5 * bar:
                        t = nearest
                        break
        if out_starts and (t - out_starts[-1] < (0.5 if timed else _MIN_SCENE_S)):
            if row:  # the user's row wins over a detected section
                out_rows[-1] = row
            continue
        if t >= duration - (0.5 if timed else _MIN_SCENE_S / 2) and out_starts:
            continue
        out_starts.append(t)
        out_rows.append(row)
    return out_starts, out_rows


def _choose_palettes(feats, s, seed: int, tonic: int, mode: str, rows) -> list[int]:
    """A palette per scene: matched to the key's mood and the scene's energy, a repeat of an
    earlier palette for a section that sounds like an earlier one (a returning chorus), and
    otherwise one that looks clearly different from the scene before (never the same)."""
    names = [p.name for p in PALETTES]
    if s.palette is not None:
        fixed = names.index(get_palette(s.palette).name)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(b"palettes")])
    # The song's mood: major keys lean warm, minor cool; the key's place on the circle of
    # fifths and the seed spread songs over the palettes.
    warmth = (0.45 if mode == "major" else -0.45) + 0.25 * math.cos(2 * math.pi * tonic * 7 / 12)
    jitter = rng.normal(0.0, 0.35, len(PALETTES))
    chosen: list[int] = []
    for k, ((level, prof), row) in enumerate(zip(feats, rows, strict=True)):
        if "palette" in row:
            chosen.append(names.index(get_palette(row["palette"]).name))
            continue
        if s.palette is not None:
            chosen.append(fixed)
            continue
        similar = None
        for j in range(k - 1):  # not the one just before: that would show no change
            lj, pj = feats[j]
            cos = float(prof @ pj / max(np.linalg.norm(prof) * np.linalg.norm(pj), 1e-9))
            if cos > 0.985 and abs(lj - level) < 0.12 and chosen[j] != chosen[-1]:
                similar = chosen[j]
                break
        if similar is not None:
            chosen.append(similar)
            continue
        score = np.array([-abs(p.warmth - warmth) - 1.2 * abs(p.heat - (0.25 + 0.7 * level))
                          for p in PALETTES]) + jitter
        if chosen:  # a new section should look new: away from the colours just shown
            score += _PALETTE_CONTRAST * palette_distances()[chosen[-1]]
        for recent in chosen[-2:]:
            score[recent] -= 10.0
        chosen.append(int(np.argmax(score)))
        jitter = rng.normal(0.0, 0.35, len(PALETTES))
    return chosen


def _follow(pulse_react: np.ndarray) -> np.ndarray:
    """How much the picture moves with every onset in proportion (0 up to pulse_react 0.5,
    1 from pulse_react 1) instead of in steps on the picked hits and eased transitions."""
    return np.clip(np.asarray(pulse_react) / _REFERENCE_PULSE - 1.0, 0.0, 1.0)


def _capped_shares(weights: np.ndarray, cap: float) -> np.ndarray:
    """Shares of a whole (summing to 1) in proportion to ``weights`` (all > 0), none above
    ``cap`` (>= 1/len): what a share over the cap loses goes to the others, in proportion."""
    share = weights / weights.sum()
    full = np.zeros(len(share), bool)
    while (share > cap + 1e-12).any():
        full |= share > cap
        share[full] = cap
        free = ~full
        share[free] = weights[free] * (1.0 - cap * full.sum()) / weights[free].sum()
    return share


def _scene_mix(scenes, times: np.ndarray, *, drive: np.ndarray, follow: np.ndarray):
    """For each frame: the scene before, the scene after, and how far the move has gone.

    The move into scene k eases in (slow, then fast) and ends on its start (a downbeat): the
    biggest change lands on the beat. With ``follow[k]`` (its scene's :func:`_follow`) it
    advances instead by ``drive``, every onset's strength: in jolts on the hits, resting
    between them (an even pace through silence), so the new scene arrives with the music;
    no frame takes more than ``_TRANSITION_JOLT`` of the move (never a cut)."""
    n = len(times)
    a = np.zeros(n, dtype=np.int64)
    b = np.zeros(n, dtype=np.int64)
    mix = np.zeros(n, dtype=np.float64)
    for k, scene in enumerate(scenes):
        if k == 0:
            continue
        begin = scene.start_s - scene.transition_s
        after = times >= scene.start_s
        a[after], b[after], mix[after] = k, k, 0.0
        during = (times >= begin) & (times < scene.start_s)
        if scene.transition_s > 0 and during.any():
            u = (times[during] - begin) / scene.transition_s
            idx = np.flatnonzero(during)
            # the last step lands on the scene's first frame (a downbeat)
            w = drive[idx[0]:min(idx[-1] + 2, n)] + _TRANSITION_PACE
            paced = np.cumsum(_capped_shares(w, max(_TRANSITION_JOLT, 1.0 / len(w))))
            paced = paced[:len(idx)]
            mix_k = (1.0 - follow[k]) * u ** 3 + follow[k] * paced
            a[during], b[during], mix[during] = k - 1, k, mix_k
    return a, b, mix
