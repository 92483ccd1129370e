"""``render()``: song in, music video out — the only stateful stage.

The pipeline: analyse the song (cached) → plan the trajectory → load the style → render the
video in *segments* of frames. Inside a segment three stages overlap, connected by bounded
queues: the generator renders batches, a second thread applies the effects and fits the frames
to the output size, and the main thread encodes. Each finished segment is a file in a work
directory next to the output (``.<name>.sonicdreams/``); an interrupted render run again with
the same settings reuses them and produces the same video. When every segment exists they are
joined with the soundtrack into the output (atomically) and the work directory is removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SettingsError, SonicDreamsError
from .progress import Progress, ProgressCallback
from .settings import LSD_EFFECTS, NEW_EFFECTS, RenderSettings

__all__ = ["render", "RenderResult", "work_dir_for", "fit_frames"]

log = logging.getLogger(__name__)

_STATE = "state.json"
_STOP = object()


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


def work_dir_for(output: Path) -> Path:
    return output.with_name(f".{output.name}.sonicdreams")


# --------------------------------------------------------------------------------------------
# Frames: fit to the output size


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


# --------------------------------------------------------------------------------------------
# The pipeline


class _Cancelled(Exception):
    pass


def _threaded(source, work: Callable[[Any], Any], depth: int, stop: threading.Event):
    """Run ``work`` on each item of ``source`` in a thread; yield results in order.

    At most ``depth`` results wait in the queue, so a slow consumer holds back the producer
    (bounded memory). An exception in the thread is re-raised in the consumer.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)

    def run() -> None:
        try:
            for item in source:
                if stop.is_set():
                    break
                result = work(item)
                while not stop.is_set():
                    try:
                        q.put(result, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            q.put(("error", err))
            return
        q.put(_STOP)

    thread = threading.Thread(target=run, daemon=True, name="sonicdreams-stage")
    thread.start()
    try:
        while True:
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                if not thread.is_alive() and q.empty():
                    break
                continue
            if item is _STOP:
                break
            if isinstance(item, tuple) and len(item) == 2 and item[0] == "error":
                raise item[1]
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _fingerprint(song_digest: str, settings: RenderSettings, style_key: str,
                 size: tuple[int, int], n_frames: int, extra: str) -> str:
    from . import __version__

    payload = json.dumps({"song": song_digest, "settings": _settings_dict(settings),
                          "style": style_key, "size": size, "n": n_frames, "extra": extra,
                          "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _settings_dict(settings: RenderSettings) -> dict[str, Any]:
    data = settings.to_dict()
    if not isinstance(data["style"], str):
        data["style"] = f"<{type(data['style']).__name__}>"
    return data


def _style_key(style: Any) -> str:
    if isinstance(style, str):
        from .generators.styles import is_weights_path

        if is_weights_path(style) and os.path.isfile(style):
            st = os.stat(style)  # a changed weight file must not resume old segments
            return f"{os.path.abspath(style)}|{st.st_size}|{st.st_mtime_ns}"
        return style.lower()
    return f"{type(style).__module__}.{type(style).__qualname__}"


def _load_generator(style: Any, size: tuple[int, int] | None, s: RenderSettings):
    """A Generator for a style name, weight file or object."""
    from .generators.styles import load_style

    if isinstance(style, str):
        # Built-in styles draw any size: render straight at the output size; StyleGAN renders
        # at its own resolution and frames are fitted afterwards.
        return load_style(style, size=size or (512, 512), truncation_psi=s.truncation_psi,
                          noise_mode=s.noise_mode, device=s.device, precision=s.precision,
                          batch_size=s.batch_size)
    if hasattr(style, "render") and hasattr(style, "z_dim"):
        return style
    raise SettingsError(f"style={style!r} is not a style name or a generator")


def render(
    song: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    settings: RenderSettings | None = None,
    custom_effects: Sequence[Any] = (),
    progress: ProgressCallback | None = None,
    keep_work_dir: bool = False,
    **options: Any,
) -> RenderResult:
    """Render a music video of ``song`` into ``output`` (.mp4, .webm, .mov, .mkv or .gif).

    Parameters
    ----------
    song : path
        Any audio file, or a video whose audio track is the song.
    output : path
        The video to write; it appears only when complete.
    settings : RenderSettings or None
        Options; keywords (``style=…``, ``fps=…``, ``speed_fpm=…``…) override them.
    custom_effects : list of EffectsGenerator
        Effects with the original's contract, applied first, in order.
    progress : callable(Progress) or None
        Called as stages advance (``analyze``, ``render``, ``finalize``).

    Returns
    -------
    RenderResult

    Raises
    ------
    SonicDreamsError
        Bad input (``AudioError``, ``SettingsError``, ``StyleError``…); nothing is written.
    KeyboardInterrupt
        Finished segments are kept: the same call resumes.
    """
    from .audio.analyze import analyze
    from .audio.cache import file_digest
    from .effects import EffectsGenerator
    from .motion.trajectory import plan_stream
    from .video import AudioTrack, VideoSpec, container_for, encode_soundtrack, finalize

    t0 = time.perf_counter()
    s = (settings or RenderSettings()).update(**options) if options else (
        settings or RenderSettings())
    output = Path(output)
    container_for(output)  # a bad extension fails before any work
    if output.exists() and output.is_dir():
        raise SettingsError(f"output {output} is a directory; give a file name such as "
                            f"{output / 'video.mp4'}")
    if not output.parent.exists():
        raise SettingsError(f"output folder {output.parent} does not exist")
    for effect in custom_effects:
        if not isinstance(effect, EffectsGenerator):
            raise SettingsError(f"custom_effects: {effect!r} is not an EffectsGenerator")
    size = s.size

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(Progress(stage, done, total, time.perf_counter() - t0))

    # 1. Features, stems included (each effect's own audio too).
    stems = {role: getattr(s, role) for role in ("pulse_audio", "motion_audio", "class_audio",
                                                 "contrast_audio", "flash_audio")}
    custom_audio = {e.audio for e in custom_effects if e.audio is not None}
    features = analyze(song, fps=s.fps, start=s.start, duration=s.duration,
                       pulse_percussive=s.pulse_percussive, pulse_harmonic=s.pulse_harmonic,
                       motion_percussive=s.motion_percussive, motion_harmonic=s.motion_harmonic,
                       progress=progress, **stems)
    custom_features = {
        path: analyze(path, fps=s.fps, start=s.start, duration=s.duration)
        for path in sorted(custom_audio, key=str)
    }
    if s.output_audio is not None:
        from .audio.decode import probe

        probe(s.output_audio)  # a bad soundtrack fails now, not after rendering

    # 2. The generator and the output size.
    generator = _load_generator(s.style, size, s)
    gen_h, gen_w = generator.size
    out_size = size or (gen_h, gen_w)
    spec = VideoSpec.for_output(output, fps=s.fps, size=out_size, codec=s.codec, crf=s.crf,
                                preset=s.preset, audio_bitrate=s.audio_bitrate)

    # 3. Resume state: the same settings reuse finished segments (and the seed drawn for them).
    digest = features.song.digest or file_digest(song)
    work = work_dir_for(output)
    n = features.n_frames
    per_segment = max(1, int(round(s.segment_seconds * float(s.fps))))
    bounds = [(a, min(a + per_segment, n)) for a in range(0, n, per_segment)]
    custom_key = ",".join(repr(e) for e in custom_effects)
    fingerprint = _fingerprint(digest, s.update(seed=None) if s.seed is None else s,
                               _style_key(s.style), out_size, n, custom_key)
    state = _read_state(work)
    if state.get("fingerprint") != fingerprint and work.exists():
        log.info("settings changed since the last attempt; starting afresh")
        shutil.rmtree(work, ignore_errors=True)
    # No seed given: one derived from the song, so a --preview and the full render (and any
    # re-render) show the same video; --seed picks another look.
    seed = s.seed if s.seed is not None else int(digest[:15], 16)
    traj = plan_stream(features, z_dim=generator.z_dim, c_dim=generator.c_dim, seed=seed,
                       settings=s.update(seed=seed))
    seed = traj.seed
    work.mkdir(exist_ok=True)
    _write_state(work, {"fingerprint": fingerprint, "seed": seed, "n_frames": n,
                        "segments": len(bounds)})

    # 4. Effects: (name, strength or EffectsGenerator) in the original's order, then ours.
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

    frames_dir = output.with_name(f"{output.stem}_frames") if s.save_frames else None
    if frames_dir is not None:
        frames_dir.mkdir(exist_ok=True)

    # The soundtrack encodes on its own thread while the frames render.
    track = AudioTrack(str(s.output_audio or song), features.start_s, features.duration_s)
    soundtrack = work / "soundtrack.m4a" if spec.audio_codec == "aac" else None
    audio_job = None
    if soundtrack is not None and not soundtrack.exists():
        from concurrent.futures import ThreadPoolExecutor

        audio_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sonicdreams-audio")
        audio_job = audio_pool.submit(encode_soundtrack, track, soundtrack, spec)
        audio_pool.shutdown(wait=False)

    # 5. Render the missing segments.
    batch = s.batch_size or getattr(generator, "batch_size", 1) or 1
    segment_paths = [work / f"segment_{k:05d}.mp4" for k in range(len(bounds))]
    resumed = sum(p.exists() for p in segment_paths)
    done = sum(b - a for (a, b), p in zip(bounds, segment_paths, strict=True) if p.exists())
    report("render", done, n)
    for (a, b), path in zip(bounds, segment_paths, strict=True):
        if path.exists():
            continue
        base = done
        noise, classes = traj.segment(a, b)  # only this segment's vectors are in memory
        _render_segment(path, spec, generator, (noise, classes), chain, amplitudes, a, b,
                        batch, out_size, s.fit, frames_dir,
                        lambda k, base=base: report("render", base + k, n))
        done += b - a

    # 6. Join with the soundtrack.
    report("finalize", 0, 1)
    manifest = _manifest(song, digest, s.update(seed=seed), features, traj, out_size)
    if audio_job is not None:
        audio_job.result()  # re-raises an encoding error
    finalize(segment_paths, output, spec=spec, audio=track,
             audio_file=soundtrack if soundtrack is not None and soundtrack.exists() else None,
             metadata={"comment": json.dumps(manifest, separators=(",", ":")),
                       "encoder": "sonicdreams"})
    if not keep_work_dir:
        shutil.rmtree(work, ignore_errors=True)
    report("finalize", 1, 1)
    return RenderResult(output=output, n_frames=n, fps=Fraction(s.fps), size=out_size,
                        seed=seed, duration_s=features.duration_s,
                        elapsed_s=time.perf_counter() - t0, resumed_segments=resumed,
                        manifest=manifest)


def _render_segment(path: Path, spec, generator, vectors, chain, amplitudes, a: int, b: int,
                    batch: int, out_size: tuple[int, int], fit: str, frames_dir: Path | None,
                    on_frames: Callable[[int], None]) -> None:
    from .effects import apply_effects
    from .video import SegmentWriter

    starts = list(range(a, b, batch))
    stop = threading.Event()
    noise, classes = vectors

    def generate(start: int):
        end = min(start + batch, b)
        frames = generator.render(noise[start - a:end - a], classes[start - a:end - a])
        frames = np.asarray(frames, dtype=np.uint8)
        if frames.ndim != 4 or frames.shape[0] != end - start or frames.shape[-1] != 3:
            raise SonicDreamsError(f"the generator returned frames of shape {frames.shape}; "
                                   f"expected ({end - start}, height, width, 3)")
        return start, frames

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
    workers = max(1, int(getattr(generator, "concurrent_calls", 1)))
    with SegmentWriter(path, spec) as writer:
        if workers > 1:
            generated = _ordered_parallel(starts, generate, workers)
        else:
            generated = _threaded(iter(starts), generate, depth=2, stop=stop)
        for frames in _threaded(generated, post, depth=2, stop=threading.Event()):
            writer.write(frames)
            written += len(frames)
            on_frames(written)
        if written != b - a:
            raise SonicDreamsError(f"segment {path.name}: {written} of {b - a} frames rendered")


def _ordered_parallel(items, work, workers: int):
    """``map(work, items)`` on ``workers`` threads, in order, at most ``workers + 1`` ahead."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sonicdreams-gen") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(work, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _save_pngs(directory: Path, start: int, frames: np.ndarray) -> None:
    from PIL import Image

    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(directory / f"{start + i:06d}.png", compress_level=1)


def _read_state(work: Path) -> dict:
    try:
        return json.loads((work / _STATE).read_text())
    except (OSError, ValueError):
        return {}


def _write_state(work: Path, state: dict) -> None:
    tmp = work / f".{_STATE}.tmp"
    tmp.write_text(json.dumps(state))
    os.replace(tmp, work / _STATE)


def _manifest(song, digest: str, s: RenderSettings, features, traj, size) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "?"

    return {
        "generator": "sonicdreams",
        "version": __version__,
        "song": {"path": str(Path(song).resolve()), "sha256": digest},
        "settings": _settings_dict(s),
        "seed": traj.seed,
        "classes": list(traj.class_ids),
        "n_frames": features.n_frames,
        "fps": str(features.fps),
        "size": [size[1], size[0]],
        "versions": {name: v(name) for name in ("numpy", "librosa", "av", "scipy")},
    }
