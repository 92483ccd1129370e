"""Lucid Sonic Dreams' API, running on sonicdreams.

Code written for the original package runs unchanged::

    from lucidsonicdreams import LucidSonicDream

    L = LucidSonicDream(song="song.mp3", style="cppn")
    L.hallucinate(file_name="song.mp4", speed_fpm=0, motion_react=0.8,
                  contrast_strength=0.5, flash_strength=0.7)

Same names, arguments and defaults; what the original did badly is fixed: the video has
exactly the requested fps (43 by default) and every frame, the soundtrack keeps the song's
quality (stereo, full sample rate), results are reproducible with ``seed=``, errors are
exceptions instead of ``sys.exit``, and importing does nothing (no git clone, no network, no
files in the current folder).

One thing is deliberately *not* as the original: the photosensitivity limiter of sonicdreams
stays on (at most three flashes a second, WCAG 2.3.1), so ``flash_strength`` near 1 on a fast
track softens its strobe. Pass ``allow_flashing=True`` to ``hallucinate`` (it forwards
sonicdreams options) for the original's unlimited flashes.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonicdreams.effects import EffectsGenerator, contrast_effect, flash_effect
from sonicdreams.errors import SettingsError, StyleError

__all__ = [
    "LucidSonicDream",
    "EffectsGenerator",
    "show_styles",
    "contrast_effect",
    "flash_effect",
    "download_weights",
    "consolidate_models",
    "get_spec_norm",
    "interpolate",
    "full_frame_interpolation",
]

log = logging.getLogger("lucidsonicdreams")


def _resolve_style(style: Any, input_shape: int | None, num_possible_classes: int | None):
    """The original's three kinds of style: a name, a weights path, or a callable."""
    from sonicdreams.generators.callable import CallableStyle
    from sonicdreams.generators.styles import (
        catalog_entry,
        is_weights_path,
        list_catalog,
        list_styles,
    )

    if callable(style) and not hasattr(style, "render"):
        if input_shape is None or num_possible_classes is None:
            raise SettingsError("a custom style (a function) needs input_shape and "
                                "num_possible_classes, e.g. LucidSonicDream(song, style=fn, "
                                "input_shape=128, num_possible_classes=1000)")
        return CallableStyle(style, z_dim=int(input_shape), c_dim=int(num_possible_classes))
    if hasattr(style, "render"):
        return style
    if not isinstance(style, (str, os.PathLike)):
        raise StyleError(f"style={style!r} must be a style name, a path to weights, or a "
                         "function taking noise_batch and class_batch")
    text = os.fspath(style).strip()
    names = {s.name for s in list_styles()}
    if text.lower() in names:
        return text.lower()
    if is_weights_path(text) or catalog_entry(text) is not None:
        return text  # a weight file or a catalogue style: loaded (and downloaded) at render
    known = sorted(names) + [r.name for r in list_catalog()]
    close = difflib.get_close_matches(text.lower(), known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise StyleError(f"style={text!r} is not a style name or an existing weight file{hint}; "
                     "show_styles() lists every name")


class LucidSonicDream:
    """A song to turn into a video (the original's class, same arguments).

    Parameters
    ----------
    song : path
        The main audio file: drives everything without its own audio and is the soundtrack.
    pulse_audio, motion_audio, class_audio, contrast_audio, flash_audio : path or None
        Separate audio (e.g. stems) for pulse, motion, classes and the two effects.
        ``contrast_audio``/``flash_audio`` also switch those effects on.
    style : str or callable
        A style name (case-insensitive), a weights file, or a function
        ``style(noise_batch, class_batch) -> images``.
    input_shape, num_possible_classes : int
        Latent and class sizes of a function style.
    """

    def __init__(self, song, pulse_audio=None, motion_audio=None, class_audio=None,
                 contrast_audio=None, flash_audio=None, style="wikiart", input_shape=None,
                 num_possible_classes=None) -> None:
        self.song = song
        self.pulse_audio = pulse_audio
        self.motion_audio = motion_audio
        self.class_audio = class_audio
        self.contrast_audio = contrast_audio
        self.flash_audio = flash_audio
        self.style = style
        self.input_shape = input_shape
        self.num_possible_classes = num_possible_classes
        self.style_exists = False

    def hallucinate(self, file_name, output_audio=None, fps=43, resolution=None, start=0,
                    duration=None, save_frames=False, batch_size=1, speed_fpm=12,
                    pulse_percussive=True, pulse_harmonic=False, pulse_react=0.5,
                    motion_percussive=False, motion_harmonic=True, motion_react=0.5,
                    motion_randomness=0.5, truncation=1, classes=None,
                    dominant_classes_first=False, class_pitch_react=0.5,
                    class_smooth_seconds=1, class_complexity=1, class_shuffle_seconds=None,
                    class_shuffle_strength=0.5, contrast_strength=None,
                    contrast_percussive=None, flash_strength=None, flash_percussive=None,
                    custom_effects=None, *, seed=None, **options):
        """Render the video to ``file_name`` (``.mp4`` is added if missing).

        Every argument keeps the original's name, default and meaning. ``seed`` (new) makes
        the result reproducible; other sonicdreams options (``width``, ``crf``…) may be
        passed as keywords. Returns the path of the video.
        """
        from sonicdreams.pipeline import render

        name = os.fspath(file_name)
        if not name.lower().endswith((".mp4", ".webm", ".mov", ".mkv", ".gif")):
            name += ".mp4"
        custom = list(custom_effects or [])  # the caller's list is left alone
        for effect in custom:
            if not isinstance(effect, EffectsGenerator):
                raise SettingsError(f"custom_effects: {effect!r} is not an EffectsGenerator")
        style = _resolve_style(self.style, self.input_shape, self.num_possible_classes)
        self.style_exists = True
        if resolution is not None:
            options.setdefault("width", int(resolution))
            options.setdefault("height", int(resolution))
            options.setdefault("fit", "stretch")  # the original resized to a square
        progress = None if options.pop("quiet", False) else _ProgressBar()
        options.setdefault("overwrite", True)  # the original replaced file_name (not the song)
        # The original's defaults exactly: no effects unless asked, no scene changes.
        options.setdefault("look", "original")
        try:
            result = render(
                self.song, name, style=style, fps=fps, start=start, duration=duration,
                output_audio=output_audio, save_frames=bool(save_frames),
                batch_size=batch_size, speed_fpm=speed_fpm, pulse_percussive=pulse_percussive,
                pulse_harmonic=pulse_harmonic, pulse_react=pulse_react,
                motion_percussive=motion_percussive, motion_harmonic=motion_harmonic,
                motion_react=motion_react, motion_randomness=motion_randomness,
                truncation=truncation, classes=classes,
                dominant_classes_first=dominant_classes_first,
                class_pitch_react=class_pitch_react, class_smooth_seconds=class_smooth_seconds,
                class_complexity=class_complexity, class_shuffle_seconds=class_shuffle_seconds,
                class_shuffle_strength=class_shuffle_strength,
                contrast_strength=contrast_strength, contrast_percussive=contrast_percussive,
                flash_strength=flash_strength, flash_percussive=flash_percussive,
                pulse_audio=self.pulse_audio, motion_audio=self.motion_audio,
                class_audio=self.class_audio, contrast_audio=self.contrast_audio,
                flash_audio=self.flash_audio, custom_effects=custom, seed=seed,
                progress=progress, **options)
        finally:
            if progress is not None:
                progress.close()
        self.file_name = str(result.output)
        self.seed = result.seed
        self.fps = fps
        return self.file_name


class _ProgressBar:
    """The original showed tqdm bars; so do we (in notebooks too)."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, event) -> None:
        if event.stage != "render":
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=event.total, unit="frame", desc="Hallucinating",
                            initial=event.done)
        self.bar.update(event.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def consolidate_models() -> list[dict[str, str]]:
    """Every named style as ``{"name", "download_url", "description"}`` (no network needed):
    the built-in styles, then the StyleGAN catalogue with the original's names."""
    from sonicdreams.generators.styles import list_catalog, list_styles

    builtin = [{"name": s.name, "download_url": "", "description": s.description}
               for s in list_styles()]
    return builtin + [{"name": r.name, "download_url": r.url,
                       "description": f"StyleGAN ({r.arch}), licence: {r.licence}"}
                      for r in list_catalog()]


def show_styles() -> None:
    """Print the name of every style, one per line (as the original did)."""
    for record in consolidate_models():
        print(record["name"])


def download_weights(url: str, output: str | os.PathLike[str]) -> str:
    """Download a weights file to ``output`` (the original's helper), through sonicdreams'
    downloader: streamed, resumable, checked to be weights and not a web page, and renamed
    into place only when complete (Google Drive's confirmation page is handled)."""
    import tempfile

    from sonicdreams.generators.download import download

    output = Path(output)
    folder = output.parent if str(output.parent) else Path(".")
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as tmp:
        os.replace(download(url, cache_dir=tmp), output)
    return str(output)


def get_spec_norm(wav: np.ndarray, sr: int, n_mels: int, hop_length: int) -> np.ndarray:
    """The original's loudness envelope: max over mel bands of the power, min-max to [0, 1]
    (silence gives zeros instead of NaN)."""
    import librosa

    spec = librosa.feature.melspectrogram(y=np.asarray(wav, np.float32), sr=sr, n_mels=n_mels,
                                          hop_length=hop_length).max(axis=0)
    span = np.ptp(spec)
    return (spec - spec.min()) / span if span > 0 else np.zeros_like(spec)


def interpolate(array_1: np.ndarray, array_2: np.ndarray, steps: int) -> list[np.ndarray]:
    """``steps`` points from ``array_1`` to ``array_2``, both ends included."""
    return [(1 - t) * np.asarray(array_1) + t * np.asarray(array_2)
            for t in np.linspace(0, 1, steps)]


def full_frame_interpolation(frame_init: Sequence[np.ndarray], steps: int,
                             len_output: int) -> list[np.ndarray]:
    """The original's keyframe path: ``steps`` points per pair, then the last repeated."""
    frames: list[np.ndarray] = []
    for a, b in zip(frame_init[:-1], frame_init[1:], strict=True):
        frames.extend(interpolate(a, b, steps))
    while frames and len(frames) < len_output:
        frames.append(frames[-1])
    return frames[:len_output] if len_output else frames

