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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ._jobs import Jobs
from .errors import OutputError, SettingsError, SonicDreamsError
from .fingerprint import Fingerprint, library_versions
from .progress import Progress, ProgressCallback
from .settings import LSD_EFFECTS, NEW_EFFECTS, RenderSettings
from .workdir import WorkDir, work_dir_for

__all__ = ["render", "RenderResult", "work_dir_for", "fit_frames"]

log = logging.getLogger(__name__)

STEM_OPTIONS = ("pulse_audio", "motion_audio", "class_audio", "contrast_audio", "flash_audio")
# Options outside the picture fingerprint's "settings" part: they never reach the picture
# (the soundtrack has a fingerprint of its own), or another part holds what they decide.
_NOT_SETTINGS = frozenset({"output_audio", "audio_bitrate", "segment_seconds", "style", "seed",
                           "fps", "start", "duration", "width", "height", "fit", "codec", "crf",
                           "preset", *STEM_OPTIONS})
_WEIGHTS = "the style's weights"
_CHUNK_S = 0.1  # a pipeline step holds at least this much generator time (see _chunks)


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
    _check_before_work(song, output, s, custom_effects, overwrite=overwrite,
                       work_dir=work_dir)

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(Progress(stage, done, total, time.perf_counter() - t0))

    with WorkDir(work_dir_for(output, work_dir), label=str(output)) as work, Jobs() as jobs:
        result = _render(song, output, s, custom_effects, work, jobs, report=report,
                         progress=progress, overwrite=overwrite, resume=resume, cache=cache)
        work.release(remove=not keep_work_dir)
    return RenderResult(**result, elapsed_s=time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# Before any work


def _inputs(song, s: RenderSettings, custom_effects) -> list[tuple[str, Path]]:
    """Every file the render reads: (what, path)."""
    files = [("the song", Path(song))]
    for name in (*STEM_OPTIONS, "output_audio"):
        if getattr(s, name) is not None:
            files.append((f"{name}", Path(getattr(s, name))))
    files += [("a custom effect's audio", Path(e.audio)) for e in custom_effects
              if e.audio is not None]
    if isinstance(s.style, str):
        from .generators.styles import is_weights_path

        if is_weights_path(s.style):
            files.append((_WEIGHTS, Path(s.style)))
    return files


def _check_before_work(song, output: Path, s: RenderSettings, custom_effects, *,
                       overwrite: bool, work_dir) -> None:
    """Every check that can fail without doing the work: paths, style, audio, codecs."""
    from .audio.decode import probe
    from .effects import EffectsGenerator
    from .generators.styles import check_style
    from .video import VideoSpec

    for effect in custom_effects:
        if not isinstance(effect, EffectsGenerator):
            raise SettingsError(f"custom_effects: {effect!r} is not an EffectsGenerator")
    spec_size = s.size or (2, 2)  # the real size may come from the style; checked again then
    VideoSpec.for_output(output, fps=s.fps, size=spec_size, codec=s.codec, crf=s.crf,
                         preset=s.preset, audio_bitrate=s.audio_bitrate)
    _check_output(output, _inputs(song, s, custom_effects), overwrite=overwrite)
    if work_dir is not None and not Path(work_dir).is_dir():
        raise SettingsError(f"--work-dir {work_dir}: no such folder")
    if isinstance(s.style, str):
        check_style(s.style)
    elif not (hasattr(s.style, "render") and hasattr(s.style, "z_dim")):
        raise SettingsError(f"style={s.style!r} is not a style name or a generator")
    for what, path in _inputs(song, s, custom_effects):
        if what != _WEIGHTS:
            info = probe(path)  # a bad file fails now, not after the analysis
            if what == "the song" and info.duration_s and s.start > info.duration_s + 1:
                from .audio.decode import format_time

                raise SettingsError(
                    f"start={s.start:g} s is past the end of {path.name}, which is "
                    f"{format_time(info.duration_s)} ({info.duration_s:.3f} s) long")


def _check_output(output: Path, inputs: list[tuple[str, Path]], *, overwrite: bool) -> None:
    folder = output.parent
    if output.is_dir():
        raise SettingsError(f"output {output} is a directory; give a file name such as "
                            f"{output / 'video.mp4'}")
    if not folder.is_dir():
        raise SettingsError(f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write to the folder {folder} (read-only or permission "
                          "denied); choose another output path with -o")
    for what, path in inputs:
        if _same_file(output, path):
            raise OutputError(f"output {output} is {what} ({path}); sonicdreams never writes "
                              "over its input: choose another output name with -o")
    if output.exists() and not overwrite:
        raise OutputError(f"output {output} already exists; add -y (--overwrite) to replace "
                          "it, or choose another name with -o")


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths are one file: the same path, a symlink to it, or a hard link."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


# --------------------------------------------------------------------------------------------
# The render


def _render(song, output: Path, s: RenderSettings, custom_effects, work: WorkDir, jobs: Jobs,
            *, report, progress, overwrite: bool, resume: bool, cache: bool) -> dict:
    from .audio.analyze import analyze
    from .audio.cache import file_digest
    from .motion.trajectory import plan_stream
    from .video import AudioTrack, VideoSpec, encode_soundtrack, finalize

    generator = _load_generator(s.style, s.size, s, cache=cache)
    stems = {role: getattr(s, role) for role in STEM_OPTIONS}
    features = analyze(song, fps=s.fps, start=s.start, duration=s.duration,
                       pulse_percussive=s.pulse_percussive, pulse_harmonic=s.pulse_harmonic,
                       motion_percussive=s.motion_percussive, motion_harmonic=s.motion_harmonic,
                       cache=cache, progress=progress, **stems)
    custom_features = {
        path: analyze(path, fps=s.fps, start=s.start, duration=s.duration, cache=cache)
        for path in sorted({e.audio for e in custom_effects if e.audio is not None}, key=str)
    }
    out_size = s.size or tuple(generator.size)
    spec = VideoSpec.for_output(output, fps=s.fps, size=out_size, codec=s.codec, crf=s.crf,
                                preset=s.preset, audio_bitrate=s.audio_bitrate)

    digest = features.song.digest or file_digest(song)
    # No seed given: one derived from the song, so a --preview and the full render (and any
    # re-render) show the same video; --seed picks another look.
    seed = s.seed if s.seed is not None else int(digest[:15], 16)
    traj = plan_stream(features, z_dim=generator.z_dim, c_dim=generator.c_dim, seed=seed,
                       settings=s.update(seed=seed))
    n = features.n_frames
    digests = {path: file_digest(path) for what, path in _inputs(song, s, custom_effects)[1:]
               if what != _WEIGHTS}  # the style's weights are in its own fingerprint
    fingerprint = _picture_fingerprint(s, digest, digests, generator, custom_effects, features,
                                       traj.seed, out_size, spec)

    chain, amplitudes = _effects_chain(s, traj, features, custom_effects, custom_features)
    frames_dir = output.with_name(f"{output.stem}_frames") if s.save_frames else None
    per_segment = max(1, int(round(s.segment_seconds * float(s.fps))))
    needed_mb = _space_estimate(work, spec, n, per_segment, features.duration_s)

    with _disk_errors(needed_mb):
        if frames_dir is not None:
            frames_dir.mkdir(exist_ok=True)
        # The soundtrack encodes on its own thread while the frames render.
        source = s.output_audio or song
        track = AudioTrack(str(source), features.start_s, features.duration_s)
        soundtrack = work.path / "soundtrack.m4a" if spec.audio_codec == "aac" else None
        sound_print = Fingerprint.of({
            "soundtrack": [digests.get(Path(source), digest), track.start_s, track.duration_s,
                           spec.audio_codec, spec.audio_bitrate],
            "versions": library_versions()})
        sound_key = sound_print.for_range(0, 0)
        audio_job = None
        if soundtrack is not None and not work.check(soundtrack, sound_print, sound_key, None,
                                                     trust_opaque=True).ok:
            audio_job = jobs.start(_encode_and_record, work, encode_soundtrack, track,
                                   soundtrack, spec, sound_print, sound_key, jobs.cancel,
                                   name="soundtrack")

        # The segments: reuse what verifies, render the rest.
        bounds = [(a, min(a + per_segment, n)) for a in range(0, n, per_segment)]
        checks = [work.check(work.segment(k), fingerprint, fingerprint.for_range(a, b), b - a,
                             trust_opaque=resume) for k, (a, b) in enumerate(bounds)]
        _say_what_is_redone(checks, fingerprint)
        done = sum(b - a for (a, b), c in zip(bounds, checks, strict=True) if c.ok)
        report("render", done, n)
        batch = s.batch_size or getattr(generator, "batch_size", 1) or 1
        for k, ((a, b), check) in enumerate(zip(bounds, checks, strict=True)):
            if check.ok:
                continue
            path = work.segment(k)
            work.discard(path)
            noise, classes = traj.segment(a, b)  # only this segment's vectors are in memory
            _render_segment(path, spec, generator, (noise, classes), chain, amplitudes, a, b,
                            batch, out_size, s.fit, frames_dir,
                            lambda i, base=done: report("render", base + i, n))
            work.record(path, fingerprint, fingerprint.for_range(a, b), b - a)
            done += b - a

        # Join with the soundtrack.
        report("finalize", 0, 1)
        manifest = _manifest(song, digest, digests, s.update(seed=traj.seed), features, traj,
                             out_size, getattr(generator, "weights_sha256", None))
        if audio_job is not None:
            audio_job.result()  # re-raises an encoding error
        finalize([work.segment(k) for k in range(len(bounds))], output, spec=spec,
                 audio=track, audio_file=soundtrack, overwrite=overwrite,
                 metadata={"comment": json.dumps(manifest, separators=(",", ":")),
                           "encoder": "sonicdreams"})
    report("finalize", 1, 1)
    return dict(output=output, n_frames=n, fps=Fraction(s.fps), size=out_size, seed=traj.seed,
                duration_s=features.duration_s, resumed_segments=sum(c.ok for c in checks),
                manifest=manifest)


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
        "encoder": [spec.codec, spec.crf, spec.preset, spec.pix_fmt],
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


def _encode_and_record(work: WorkDir, encode, track, path: Path, spec, fingerprint, key,
                       cancel) -> None:
    work.discard(path)
    encode(track, path, spec, cancel=cancel)
    work.record(path, fingerprint, key, None)


# --------------------------------------------------------------------------------------------
# Writing: the disk may fill up


def _space_estimate(work: WorkDir, spec, n_frames: int, per_segment: int,
                    duration_s: float) -> Callable[[], int]:
    """A function giving the megabytes the render still needs (segments + the output)."""
    def needed() -> int:
        sizes = [p.stat().st_size for p in work.path.glob("segment_*.mp4")]
        # Bytes per frame of what is written, or ~0.1 bit per pixel before anything is.
        per_frame = (sum(sizes) / (len(sizes) * per_segment) if sizes
                     else spec.size[0] * spec.size[1] * 0.1 / 8)
        video = per_frame * n_frames
        audio = spec.audio_bitrate * duration_s / 8
        return int((2 * video + 2 * audio - sum(sizes)) / 1e6) + 1

    return needed


class _disk_errors:  # noqa: N801 - used as a context manager, like contextlib's
    """Turn a full disk, a size limit or a read-only folder into a one-line OutputError."""

    def __init__(self, needed_mb: Callable[[], int]) -> None:
        self.needed_mb = needed_mb

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> None:
        import errno

        if exc is None or not isinstance(exc, OSError) or isinstance(exc, SonicDreamsError):
            return
        where = exc.filename or "the video"
        resume = "finished segments are kept: run the same command again to resume"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutputError(f"no space left on device while writing {where} (needs about "
                              f"{self.needed_mb()} MB more); free some space or choose "
                              f"--work-dir on another disk; {resume}") from None
        if exc.errno == errno.EFBIG:
            raise OutputError(f"{where} grew past the largest file allowed here (a file-size "
                              f"limit or the file system's); choose --work-dir or an output "
                              f"on another disk; {resume}") from None
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise OutputError(f"cannot write {where} ({exc.strerror}); choose a writable "
                              f"folder with -o or --work-dir; {resume}") from None


# --------------------------------------------------------------------------------------------
# Frames


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


def _render_segment(path: Path, spec, generator, vectors, chain, amplitudes, a: int, b: int,
                    batch: int, out_size: tuple[int, int], fit: str, frames_dir: Path | None,
                    on_frames: Callable[[int], None]) -> None:
    from .effects import apply_effects
    from .video import SegmentWriter

    noise, classes = vectors
    workers = max(1, int(getattr(generator, "concurrent_calls", 1)))
    chunks = _Chunks(a, b, batch, workers)

    def generate(span: tuple[int, int]):
        start, end = span
        parts = []
        for lo in range(start, end, batch):
            hi = min(lo + batch, end)
            t = time.perf_counter()
            frames = np.asarray(generator.render(noise[lo - a:hi - a], classes[lo - a:hi - a]),
                                dtype=np.uint8)
            chunks.timed(time.perf_counter() - t)
            if frames.ndim != 4 or frames.shape[0] != hi - lo or frames.shape[-1] != 3:
                raise SonicDreamsError(f"the generator returned frames of shape "
                                       f"{frames.shape}; expected ({hi - lo}, height, width, 3)")
            parts.append(frames)
        return start, parts[0] if len(parts) == 1 else np.concatenate(parts)

    def post(item):
        start, frames = item
        frames = fit_frames(frames, out_size, fit)
        if chain:
            amps = {name: amplitudes[name][start:start + len(frames)] for name, _ in chain}
            frames = apply_effects(frames, chain, amps, np.arange(start, start + len(frames)))
        if frames_dir is not None:
            _save_pngs(frames_dir, start, frames)
        return writer.prepare(frames)  # colour conversion here, not on the encoder's thread

    written = 0
    # The stages stop and are joined before the writer deletes its partial file.
    with SegmentWriter(path, spec) as writer, Jobs() as jobs:
        generated = jobs.stage(chunks, generate, name="generate", workers=workers)
        for frames in jobs.stage(generated, post, name="effects"):
            writer.write(frames)
            written += len(frames)
            on_frames(written)
        if written != b - a:
            raise SonicDreamsError(f"segment {path.name}: {written} of {b - a} frames rendered")


def _save_pngs(directory: Path, start: int, frames: np.ndarray) -> None:
    from PIL import Image

    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(directory / f"{start + i:06d}.png", compress_level=1)


def _manifest(song, digest: str, digests: dict, s: RenderSettings, features, traj,
              size, weights_sha256: str | None) -> dict[str, Any]:
    """What made the video, without paths: names and SHA-256 of the files, every setting."""
    settings = s.to_dict()
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
