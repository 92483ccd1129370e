"""``render()``: song in, music video out — the only stateful stage.

Every setting and input is checked before any work starts. Then, holding the lock of the work
folder: load the style, analyse the song (cached), plan the trajectory and render the video in
*segments* of frames. Inside a segment three stages overlap, connected by bounded queues: the
generator renders chunks of frames, a second thread applies the effects and fits the frames to
the output size, and the main thread encodes; the soundtrack encodes on a thread of its own.
Each finished segment is a file in the work folder with a record of what made it (see
:mod:`sonicdreams.workdir`); the same render run again reuses the segments whose record
matches and verifies, and renders the others. When every segment exists they are joined with
the soundtrack into the output (atomically) and the work folder is removed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ._jobs import Frontier, Jobs
from ._warm import warm_kernels
from .fingerprint import Fingerprint, library_versions
from .flashsafe import segment_limiter, warmup_frames
from .preflight import STEM_OPTIONS, WEIGHTS, check_before_work, input_files
from .progress import ProgressCallback, Reporter
from .segment import fit_frames, render_segment
from .settings import LSD_EFFECTS, NEW_EFFECTS, RenderSettings
from .workdir import WorkDir, disk_errors, space_estimate, work_dir_for

__all__ = ["render", "RenderResult", "still_frames", "work_dir_for", "fit_frames"]

log = logging.getLogger(__name__)

# Options outside the picture fingerprint's "settings" part: they never reach the picture
# (the soundtrack has a fingerprint of its own), or another part holds what they decide.
_NOT_SETTINGS = frozenset({"output_audio", "audio_bitrate", "segment_seconds", "style", "seed",
                           "fps", "start", "duration", "width", "height", "fit", "codec", "crf",
                           "preset", "backend", "ray_address", *STEM_OPTIONS})


@dataclass(frozen=True, slots=True)
class RenderResult:
    """What :func:`render` made."""

    output: Path
    n_frames: int
    fps: Fraction
    size: tuple[int, int]
    seed: int
    duration_s: float
    elapsed_s: float
    resumed_segments: int
    manifest: dict[str, Any]


def render(
    song: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    settings: RenderSettings | None = None,
    custom_effects: Sequence[Any] = (),
    progress: ProgressCallback | None = None,
    overwrite: bool = False,
    resume: bool = False,
    work_dir: str | os.PathLike[str] | None = None,
    cache: bool = True,
    keep_work_dir: bool = False,
    **options: Any,
) -> RenderResult:
    """Render a music video of ``song`` into ``output`` (.mp4, .webm, .mov, .mkv or .gif).

    Parameters
    ----------
    song : path
        Any audio file, or a video whose audio track is the song.
    output : path
        The video to write; it appears only when complete, and never over an input file.
    settings : RenderSettings or None
        Options; keywords (``style=…``, ``fps=…``, ``speed_fpm=…``…) override them.
    custom_effects : list of EffectsGenerator
        Effects with the original's contract, applied first, in order.
    progress : callable(Progress) or None
        Called as stages advance (``analyze``, ``render``, ``finalize``). An exception it
        raises cancels the render cleanly (finished segments are kept) and is raised again.
    overwrite : bool
        Replace ``output`` if it exists (otherwise :class:`OutputError`).
    resume : bool
        Reuse the segments of an interrupted render even though they were made with Python
        callables (a function style, custom effects), which cannot be fingerprinted.
    work_dir : path or None
        Where the work folder goes (default: beside the output).
    cache : bool
        Use the on-disk caches (analyses, converted weights).

    Returns
    -------
    RenderResult

    Raises
    ------
    SonicDreamsError
        Bad input (``AudioError``, ``SettingsError``, ``StyleError``, ``OutputError``…),
        reported before any work; ``BusyError`` if another render writes the same output.
    KeyboardInterrupt
        Every thread is stopped and joined; finished segments are kept: the same call resumes.
    """
    t0 = time.perf_counter()
    s = (settings or RenderSettings()).update(**options) if options else (
        settings or RenderSettings())
    output = Path(output)
    check_before_work(song, output, s, custom_effects, overwrite=overwrite,
                       work_dir=work_dir)

    reporters: dict[str, Reporter] = {}  # one per stage, all timed from the call's start

    def report(stage: str, done: int, total: int, *,
               work: tuple[int, int] | None = None) -> None:
        if stage not in reporters:
            reporters[stage] = Reporter(progress, stage, t0=t0)
        reporters[stage](done, total, work=work)

    with WorkDir(work_dir_for(output, work_dir), label=str(output)) as work, Jobs() as jobs:
        result = _render(song, output, s, custom_effects, work, jobs, report=report,
                         progress=progress, overwrite=overwrite, resume=resume, cache=cache)
        work.release(remove=not keep_work_dir)
    return RenderResult(**result, elapsed_s=time.perf_counter() - t0)


def still_frames(song: str | os.PathLike[str], times_s: Sequence[float], *,
                 settings: RenderSettings | None = None, cache: bool = True,
                 **options: Any) -> np.ndarray:
    """Frames of the video :func:`render` would make, at the given times only.

    For posters, thumbnails and contact sheets of a whole song without rendering it: the
    song is analysed and directed as for the video and only these frames are drawn, with
    the effects; the photosensitivity limiter, which needs the frames before, is left out.

    Returns
    -------
    np.ndarray
        uint8 [shape=(len(times_s), height, width, 3)].
    """
    s = (settings or RenderSettings()).update(**options) if options else (
        settings or RenderSettings())
    check_before_work(song, None, s, (), overwrite=True, work_dir=None)
    plan = _plan_video(song, Path("stills.mp4"), s, (), progress=None, cache=cache)
    n = plan.n_frames
    index = np.clip(np.round(np.asarray(times_s, dtype=np.float64) * float(s.fps)), 0,
                    n - 1).astype(np.int64)
    # The walk only runs forward: walk it segment by segment, keeping the frames asked for
    # (memory stays flat for an hour-long mix).
    z = np.empty((len(index), plan.traj.z_dim), np.float32)
    c = np.empty((len(index), plan.traj.c_dim), np.float32)
    for a, b in plan.bounds:
        wanted = np.flatnonzero((index >= a) & (index < b))
        if not len(wanted):
            if a > index.max(initial=-1):
                break
            plan.traj.segment(a, b)
            continue
        noise, classes = plan.traj.segment(a, b)
        z[wanted], c[wanted] = noise[index[wanted] - a], classes[index[wanted] - a]
    return draw_frames(plan.generator, z, c, index,
                       cues=plan.direction.cues if plan.directed else None, size=plan.size,
                       fit=s.fit, chain=plan.chain, amplitudes=plan.amplitudes)


def draw_frames(generator, z: np.ndarray, c: np.ndarray, index: np.ndarray, *,
                cues: np.ndarray | None, size: tuple[int, int], fit: str, chain: list,
                amplitudes: dict) -> np.ndarray:
    """The video's frames numbered ``index`` from their vectors ``z``, ``c`` (and the
    director's ``cues`` of every frame, for a directed style): drawn, fitted to ``size``,
    with the effects; not the flash limiter, which needs the frames before."""
    from .effects import apply_effects

    frames = (generator.render(z, c) if cues is None
              else generator.render(z, c, cues=cues[index]))
    frames = fit_frames(np.asarray(frames, dtype=np.uint8), size, fit)
    if chain:
        amps = {name: amplitudes[name][index] for name, _ in chain}
        frames = apply_effects(frames, chain, amps, index)
    return frames


# --------------------------------------------------------------------------------------------
# The render


def _render(song, output: Path, s: RenderSettings, custom_effects, work: WorkDir, jobs: Jobs,
            *, report, progress, overwrite: bool, resume: bool, cache: bool) -> dict:
    plan = _plan_video(song, output, s, custom_effects, progress=progress, cache=cache,
                       jobs=jobs)
    # The soundtrack encodes behind the frames, spread over the render: all at its start it
    # slowed the first frames by a third (at 512²), and the remaining time looked longer.
    rendered_s = Frontier(jobs.cancel)  # seconds of the video there without a gap
    with disk_errors(plan.space_mb(work)):
        soundtrack = _start_soundtrack(plan, work, jobs, pace=rendered_s.wait_for)
        reused = _render_segments(plan, work, report=report, resume=resume,
                                  rendered_to=lambda k: rendered_s.advance(k / float(s.fps)))
        rendered_s.advance(float("inf"))
        report("finalize", 0, 1)
        manifest = _finalize(plan, work, soundtrack, overwrite=overwrite)
    report("finalize", 1, 1)
    return dict(output=output, n_frames=plan.n_frames, fps=Fraction(s.fps), size=plan.size,
                seed=plan.traj.seed, duration_s=plan.features.duration_s,
                resumed_segments=reused, manifest=manifest)


@dataclass(frozen=True, slots=True)
class _VideoPlan:
    """Everything decided before the first frame: the stages' inputs, and the fingerprint."""

    song: Any
    output: Path
    settings: RenderSettings
    generator: Any
    directed: bool
    features: Any
    direction: Any
    traj: Any
    spec: Any
    size: tuple[int, int]
    digest: str
    digests: dict
    fingerprint: Fingerprint
    chain: list
    amplitudes: dict

    @property
    def n_frames(self) -> int:
        return int(self.features.n_frames)

    @property
    def per_segment(self) -> int:
        return max(1, int(round(self.settings.segment_seconds * float(self.settings.fps))))

    @property
    def bounds(self) -> list[tuple[int, int]]:
        n, step = self.n_frames, self.per_segment
        return [(a, min(a + step, n)) for a in range(0, n, step)]

    @property
    def frames_dir(self) -> Path | None:
        out = self.output
        return out.with_name(f"{out.stem}_frames") if self.settings.save_frames else None

    def space_mb(self, work: WorkDir) -> float:
        return space_estimate(work, self.spec, self.n_frames, self.per_segment,
                              self.features.duration_s)


def _plan_video(song, output: Path, s: RenderSettings, custom_effects, *, progress,
                cache: bool, jobs: Jobs | None = None, features=None) -> _VideoPlan:
    """Load the style, analyse the song, direct it, plan the trajectory and the effects.

    With ``jobs``, the render's kernels compile on a job of its own meanwhile (see
    :mod:`sonicdreams._warm`), done when the plan is. ``features``: the song's, analysed
    already for these settings (the studio keeps them while the user tunes).
    """
    from .audio.analyze import analyze
    from .audio.cache import file_digest
    from .direction import direct
    from .generators.scenes import scene_styles
    from .motion.trajectory import plan_stream
    from .video import VideoSpec

    generator = _load_generator(s.style, s.size, s, cache=cache)
    size = s.size or tuple(generator.size)
    spec = VideoSpec.for_output(output, fps=s.fps, size=size, codec=s.codec, crf=s.crf,
                                preset=s.preset, audio_bitrate=s.audio_bitrate)
    warming = None
    if jobs is not None:
        # SciPy's ndimage, which the direction and the warm-up both need, imported here first:
        # its first import on two threads at once failed in a test run (KeyError 'scipy'
        # inside the import system).
        import scipy.ndimage  # noqa: F401

        warming = jobs.start(partial(warm_kernels, generator, s,
                                     yuv420=spec.pix_fmt == "yuv420p", cancel=jobs.cancel),
                             name="warm")
    stems = {role: getattr(s, role) for role in STEM_OPTIONS}
    if features is None:
        features = analyze(
            song, fps=s.fps, start=s.start, duration=s.duration,
            pulse_percussive=s.pulse_percussive, pulse_harmonic=s.pulse_harmonic,
            motion_percussive=s.motion_percussive, motion_harmonic=s.motion_harmonic,
            cache=cache, progress=progress, **stems)
    custom_features = {
        path: analyze(path, fps=s.fps, start=s.start, duration=s.duration, cache=cache)
        for path in sorted({e.audio for e in custom_effects if e.audio is not None}, key=str)
    }
    digest = features.song.digest or file_digest(song)
    # No seed given: one derived from the song, so a --preview and the full render (and any
    # re-render) show the same video; --seed picks another look.
    seed = s.seed if s.seed is not None else int(digest[:15], 16)
    direction = direct(features, settings=s, seed=seed)
    generator = scene_styles(generator, direction, size=size, fit=s.fit,
                             load=lambda style: _load_generator(style, size, s, cache=cache))
    directed = bool(getattr(generator, "directed", False))
    traj = plan_stream(features, z_dim=generator.z_dim, c_dim=generator.c_dim, seed=seed,
                       settings=s.update(seed=seed), direction=direction, directed=directed)
    digests = {path: file_digest(path) for what, path in input_files(song, s, custom_effects)[1:]
               if what != WEIGHTS}  # the style's weights are in its own fingerprint
    fingerprint = _picture_fingerprint(s, digest, digests, generator, custom_effects, features,
                                       traj.seed, size, spec)
    chain, amplitudes = _effects_chain(s, traj, features, custom_effects, custom_features)
    if warming is not None:
        warming.result()  # (the frames need them now; a style's frames never overlap it)
    return _VideoPlan(song=song, output=output, settings=s, generator=generator,
                      directed=directed, features=features, direction=direction, traj=traj,
                      spec=spec, size=size, digest=digest, digests=digests,
                      fingerprint=fingerprint, chain=chain, amplitudes=amplitudes)


def _render_segments(plan: _VideoPlan, work: WorkDir, *, report, resume: bool,
                     rendered_to=lambda frame: None) -> int:
    """Reuse the segments that verify, render the others (here, or on a Ray cluster); the
    number reused. ``rendered_to(k)``: the frames before frame ``k`` are all there."""
    s, n, fingerprint = plan.settings, plan.n_frames, plan.fingerprint
    if plan.frames_dir is not None:
        plan.frames_dir.mkdir(exist_ok=True)
    bounds = plan.bounds
    checks = [work.check(work.segment(k), fingerprint, fingerprint.for_range(a, b), b - a,
                         trust_opaque=resume) for k, (a, b) in enumerate(bounds)]
    _say_what_is_redone(checks, fingerprint)
    done = sum(b - a for (a, b), c in zip(bounds, checks, strict=True) if c.ok)
    # The remaining time counts the frames each segment renders to prime its limiter too
    # (unseen in the bar: 16 % more after the first segment of a render at 30 fps).
    units_total = n + sum(warmup_frames(s.fps, a, allow_flashing=s.allow_flashing)
                          for (a, _), c in zip(bounds, checks, strict=True) if not c.ok)
    report("render", done, n, work=(done, units_total))
    batch = s.batch_size or getattr(plan.generator, "batch_size", 1) or 1
    todo = _segment_jobs(plan, checks)
    if s.backend == "ray" and not all(c.ok for c in checks):
        from .cluster import render_on_ray

        render_on_ray(plan, work, todo, batch=batch, done=done, units_total=units_total,
                      reused={k for k, c in enumerate(checks) if c.ok}, report=report,
                      rendered_to=rendered_to)
        return sum(c.ok for c in checks)
    units = done
    for job in todo:
        path = work.segment(job.k)
        work.discard(path)
        # Last stage: the photosensitivity limiter, primed on the frames before ``a``.
        limiter, _ = segment_limiter(s.fps, job.a, allow_flashing=s.allow_flashing)
        units += job.warmup
        rendered_to(job.a)

        def on_frames(i: int, base: int = done, at: int = units, a: int = job.a) -> None:
            report("render", base + i, n, work=(at + i, units_total))
            rendered_to(a + i)

        render_segment(path, plan.spec, plan.generator, job.vectors, plan.chain,
                       plan.amplitudes, job.a, job.b, batch, plan.size, s.fit, plan.frames_dir,
                       on_frames, limiter=limiter, warmup=job.warmup)
        work.record(path, fingerprint, fingerprint.for_range(job.a, job.b), job.b - job.a)
        done += job.b - job.a
        units += job.b - job.a
    return sum(c.ok for c in checks)


@dataclass(frozen=True, slots=True)
class SegmentJob:
    """A segment to render: number ``k``, frames ``[a, b)``, and the vectors (noise, classes,
    cues or None) of the frames ``[a - warmup, b)``, the warm-up priming its limiter."""

    k: int
    a: int
    b: int
    warmup: int
    vectors: tuple


def _segment_jobs(plan: _VideoPlan, checks):
    """The segments to render, in order, each with its vectors (fetched from the forward-only
    trajectory as the segment comes: only its own are in memory)."""
    s = plan.settings
    tail = None  # the vectors fetched last: a warm-up reaches back into them
    for k, ((a, b), check) in enumerate(zip(plan.bounds, checks, strict=True)):
        if check.ok:
            continue
        warmup = warmup_frames(s.fps, a, allow_flashing=s.allow_flashing)
        noise, classes, tail = _segment_vectors(plan.traj, a - warmup, b, tail)
        cues = plan.direction.segment(a - warmup, b) if plan.directed else None
        yield SegmentJob(k, a, b, warmup, (noise, classes, cues))


def _finalize(plan: _VideoPlan, work: WorkDir, soundtrack, *, overwrite: bool) -> dict:
    """Join the segments with the soundtrack into the output; the manifest it carries."""
    from .video import finalize

    s = plan.settings
    manifest = _manifest(plan.song, plan.digest, plan.digests, s.update(seed=plan.traj.seed),
                         plan.features, plan.traj, plan.size,
                         getattr(plan.generator, "weights_sha256", None))
    manifest["direction"] = plan.direction.summary()
    track, path, job = soundtrack
    if job is not None:
        job.result()  # re-raises an encoding error
    finalize([work.segment(k) for k in range(len(plan.bounds))], plan.output, spec=plan.spec,
             audio=track, audio_file=path, overwrite=overwrite,
             metadata={"comment": json.dumps(manifest, separators=(",", ":")),
                       "encoder": "sonicdreams"})
    return manifest


def _segment_vectors(traj, a: int, b: int, tail):
    """(noise, classes) of frames ``[a, b)`` from the forward-only trajectory, the part
    before the previous fetch's end taken from ``tail``; and the new tail. Only this
    segment's vectors (and its warm-up's) are in memory."""
    if tail is not None and tail[0] <= a < tail[1]:
        start, end, noise0, classes0 = tail
        noise1, classes1 = traj.segment(end, b)
        noise = np.concatenate([noise0[a - start:], noise1])
        classes = np.concatenate([classes0[a - start:], classes1])
    else:
        noise, classes = traj.segment(a, b)
    return noise, classes, (a, b, noise, classes)


def _load_generator(style: Any, size: tuple[int, int] | None, s: RenderSettings, *,
                    cache: bool):
    """A Generator for a style name, weight file or object."""
    from .generators.styles import load_style

    if isinstance(style, str):
        # Built-in styles draw any size: render straight at the output size; StyleGAN renders
        # at its own resolution and frames are fitted afterwards.
        return load_style(style, size=size or (512, 512), truncation_psi=s.truncation_psi,
                          noise_mode=s.noise_mode, device=s.device, precision=s.precision,
                          batch_size=s.batch_size, cache=cache)
    return style


def _picture_fingerprint(s: RenderSettings, song_digest: str, digests: dict, generator,
                         custom_effects, features, seed: int, size, spec) -> Fingerprint:
    """Everything that decides the frames, as named parts (see :mod:`.fingerprint`)."""
    opaque = []
    style = getattr(generator, "fingerprint", None)
    if not isinstance(style, str):
        style = f"{type(generator).__module__}.{type(generator).__qualname__}"
        opaque.append(f"the style {generator!r}")
    if custom_effects:
        opaque.append("custom effects")
    settings = {k: v for k, v in s.to_dict().items() if k not in _NOT_SETTINGS}
    return Fingerprint.of({
        "song": song_digest,
        "clip": [str(features.fps), features.start_s, features.duration_s, features.n_frames],
        "audio": {role: digests.get(Path(getattr(s, role))) for role in STEM_OPTIONS
                  if getattr(s, role) is not None},
        "settings": settings,
        "style": style,
        "effects": [repr(e) for e in custom_effects],
        "seed": seed,
        "size": [*size, s.fit],
        "encoder": [spec.codec, spec.crf, spec.preset, spec.pix_fmt,
                    sorted(spec.encoder_options().items())],
        "versions": library_versions(),
    }, tuple(opaque))


def _say_what_is_redone(checks, fingerprint: Fingerprint) -> None:
    """One line about earlier segments that are not reused, and why."""
    redo = [c.why for c in checks if not c.ok and c.why]
    if not redo:
        return
    if "opaque" in redo:
        log.warning("%d segment(s) of an earlier attempt are rendered again: %s cannot be "
                    "fingerprinted, so they may differ; pass resume=True to reuse them",
                    len(redo), " and ".join(fingerprint.opaque))
        return
    reasons: dict[str, int] = {}
    for why in redo:
        reasons[why] = reasons.get(why, 0) + 1
    text = "; ".join(f"{count} {why}" for why, count in reasons.items())
    log.warning("rendering again %d of %d segment(s) of an earlier attempt (%s)", len(redo),
                len(checks), text)


def _effects_chain(s: RenderSettings, traj, features, custom_effects, custom_features):
    """(name, strength or EffectsGenerator) in the original's order, then ours; amplitudes."""
    chain: list[tuple[str, Any]] = []
    amplitudes: dict[str, np.ndarray] = {}
    for k, effect in enumerate(custom_effects):
        key = f"custom{k}"
        source = custom_features.get(effect.audio, features)
        amplitudes[key] = source.envelope(percussive=effect.percussive, harmonic=False)
        chain.append((key, effect))
    for name in (*LSD_EFFECTS, *NEW_EFFECTS):
        if name in traj.effects:
            strength = (s.effect_strength(name) if name in LSD_EFFECTS
                        else getattr(s, f"{name}_strength"))
            amplitudes[name] = traj.effects[name]
            chain.append((name, strength))
    return chain, amplitudes


def _start_soundtrack(plan: _VideoPlan, work: WorkDir, jobs: Jobs, *, pace):
    """(track, file, job): the soundtrack, its file (None where the container's audio is
    encoded at the end) and the job encoding it on its own thread while the frames render,
    held back by ``pace`` (None if a verified one is there already)."""
    from .video import AudioTrack, encode_soundtrack

    s, spec = plan.settings, plan.spec
    source = s.output_audio or plan.song
    track = AudioTrack(str(source), plan.features.start_s, plan.features.duration_s)
    if spec.audio_codec != "aac":
        return track, None, None
    source_sha256 = plan.digests.get(Path(source), plan.digest)
    path = work.path / "soundtrack.m4a"
    fingerprint = Fingerprint.of({
        "soundtrack": [source_sha256, track.start_s, track.duration_s, spec.audio_codec,
                       spec.audio_bitrate],
        "versions": library_versions()})
    key = fingerprint.for_range(0, 0)
    if work.check(path, fingerprint, key, None, trust_opaque=True).ok:
        return track, path, None

    def encode() -> None:
        work.discard(path)
        encode_soundtrack(track, path, spec, cancel=jobs.cancel, pace=pace)
        work.record(path, fingerprint, key, None)

    return track, path, jobs.start(encode, name="soundtrack")


def _manifest(song, digest: str, digests: dict, s: RenderSettings, features, traj,
              size, weights_sha256: str | None) -> dict[str, Any]:
    """What made the video, without paths: names and SHA-256 of the files, every setting."""
    settings = s.to_dict()
    del settings["ray_address"]  # (where a cluster was: nothing of the video, and private)
    if not isinstance(s.style, str):
        settings["style"] = f"<{type(s.style).__name__}>"
    files = {}
    for name in (*STEM_OPTIONS, "output_audio"):
        value = getattr(s, name)
        if value is not None:
            settings[name] = Path(value).name
            files[name] = {"name": Path(value).name, "sha256": digests.get(Path(value))}
    if weights_sha256 is not None:  # a weights file or a downloaded catalogue style
        settings["style"] = Path(s.style).name if Path(s.style).exists() else s.style
        files["style"] = {"name": settings["style"], "sha256": weights_sha256}
    return {
        "generator": "sonicdreams",
        "version": library_versions()["sonicdreams"],
        "song": {"name": Path(song).name, "sha256": digest},
        "files": files,
        "settings": settings,
        "seed": traj.seed,
        "classes": list(traj.class_ids),
        "n_frames": features.n_frames,
        "fps": str(features.fps),
        "size": [size[1], size[0]],
        "versions": library_versions(),
    }
