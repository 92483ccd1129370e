"""Every check a render can fail without doing any work: paths, style, audio, codecs.

:func:`sonicdreams.render` runs them before it takes the work folder's lock, loads a style or
analyses anything, so a misspelt style or a missing stem is reported at once, and an output
that is one of the inputs (the same path, a symlink or a hard link to it) is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import OutputError, SettingsError
from .settings import RenderSettings

__all__ = ["check_before_work", "check_output", "input_files", "same_file", "STEM_OPTIONS",
           "WEIGHTS"]

STEM_OPTIONS = ("pulse_audio", "motion_audio", "class_audio", "contrast_audio", "flash_audio")
WEIGHTS = "the style's weights"


def input_files(song, s: RenderSettings, custom_effects) -> list[tuple[str, Path]]:
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
            files.append((WEIGHTS, Path(s.style)))
    return files


def check_before_work(song, output: Path | None, s: RenderSettings, custom_effects, *,
                       overwrite: bool, work_dir) -> None:
    """Every check that can fail without doing the work: paths, style, audio, codecs."""
    from .audio.decode import probe
    from .effects import EffectsGenerator
    from .generators.styles import check_style
    from .video import VideoSpec

    for effect in custom_effects:
        if not isinstance(effect, EffectsGenerator):
            raise SettingsError(f"custom_effects: {effect!r} is not an EffectsGenerator")
    inputs = input_files(song, s, custom_effects)
    if output is not None:  # None: frames are wanted, not a video (still_frames)
        spec_size = s.size or (2, 2)  # the real size may come from the style; checked later
        VideoSpec.for_output(output, fps=s.fps, size=spec_size, codec=s.codec, crf=s.crf,
                             preset=s.preset, audio_bitrate=s.audio_bitrate)
        check_output(output, inputs, overwrite=overwrite)
    if s.backend == "ray":
        from .cluster import require_ray

        require_ray()
        if s.save_frames:
            raise SettingsError("save_frames works with backend='local' only: the frames of a "
                                "Ray render are drawn on the cluster's machines")
        if s.device not in ("auto", "cpu", "cuda", "cuda:0"):
            raise SettingsError(f"device={s.device!r} with backend='ray': a Ray task sees the "
                                "GPU it is given as cuda; use --device cuda (or cpu, auto)")
    if work_dir is not None and not Path(work_dir).is_dir():
        raise SettingsError(f"--work-dir {work_dir}: no such folder")
    for style in (s.style, *(dict(row).get("style") for row in s.scenes or ())):
        if isinstance(style, str):
            check_style(style)
        elif style is not None and not (hasattr(style, "render") and hasattr(style, "z_dim")):
            raise SettingsError(f"style={style!r} is not a style name or a generator")
    for what, path in inputs:
        if what != WEIGHTS:
            info = probe(path)  # a bad file fails now, not after the analysis
            if what == "the song" and info.duration_s and s.start > info.duration_s + 1:
                from .audio.decode import format_time

                raise SettingsError(
                    f"start={s.start:g} s is past the end of {path.name}, which is "
                    f"{format_time(info.duration_s)} ({info.duration_s:.3f} s) long")


def check_output(output: Path, inputs: list[tuple[str, Path]], *, overwrite: bool) -> None:
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
        if same_file(output, path):
            raise OutputError(f"output {output} is {what} ({path}); sonicdreams never writes "
                              "over its input: choose another output name with -o")
    if output.exists() and not overwrite:
        raise OutputError(f"output {output} already exists; add -y (--overwrite) to replace "
                          "it, or choose another name with -o")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths are one file: the same path, a symlink to it, or a hard link."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)
