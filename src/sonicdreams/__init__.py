"""sonicdreams: music videos whose imagery pulses, morphs and changes with the music.

The pipeline is one function per stage; see ``DESIGN.md``. Importing this package is cheap:
numpy, scipy and PyAV are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import (
    AudioError,
    BusyError,
    DownloadError,
    ModelFormatError,
    OutputError,
    SettingsError,
    SonicDreamsError,
    SonicDreamsWarning,
    StyleError,
    UnsafeModelError,
)

try:
    from importlib.metadata import version as _version

    __version__ = _version("sonicdreams")
except Exception:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "__version__",
    "render",
    "RenderResult",
    "analyze",
    "Features",
    "plan",
    "Trajectory",
    "direct",
    "Direction",
    "still_frames",
    "RenderSettings",
    "list_styles",
    "load_style",
    "load_stylegan",
    "Audio",
    "load_audio",
    "probe_audio",
    "Progress",
    "SonicDreamsError",
    "AudioError",
    "SettingsError",
    "StyleError",
    "ModelFormatError",
    "UnsafeModelError",
    "DownloadError",
    "OutputError",
    "BusyError",
    "SonicDreamsWarning",
]

# name -> (module, attribute): resolved on first access so `import sonicdreams` stays light.
_LAZY = {
    "render": ("sonicdreams.pipeline", "render"),
    "RenderResult": ("sonicdreams.pipeline", "RenderResult"),
    "analyze": ("sonicdreams.audio.analyze", "analyze"),
    "Features": ("sonicdreams.audio.analyze", "Features"),
    "Audio": ("sonicdreams.audio.decode", "Audio"),
    "load_audio": ("sonicdreams.audio.decode", "load"),
    "probe_audio": ("sonicdreams.audio.decode", "probe"),
    "Progress": ("sonicdreams.progress", "Progress"),
    "plan": ("sonicdreams.motion.trajectory", "plan"),
    "direct": ("sonicdreams.direction", "direct"),
    "Direction": ("sonicdreams.direction", "Direction"),
    "still_frames": ("sonicdreams.pipeline", "still_frames"),
    "Trajectory": ("sonicdreams.motion.trajectory", "Trajectory"),
    "RenderSettings": ("sonicdreams.settings", "RenderSettings"),
    "list_styles": ("sonicdreams.generators.styles", "list_styles"),
    "load_style": ("sonicdreams.generators.styles", "load_style"),
    "load_stylegan": ("sonicdreams.generators.stylegan", "load_stylegan"),
}


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'sonicdreams' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from .audio.analyze import Features, analyze
    from .audio.decode import Audio
    from .audio.decode import load as load_audio
    from .audio.decode import probe as probe_audio
    from .direction import Direction, direct
    from .generators.stylegan import load_stylegan
    from .generators.styles import list_styles, load_style
    from .motion.trajectory import Trajectory, plan
    from .pipeline import RenderResult, render, still_frames
    from .progress import Progress
    from .settings import RenderSettings
