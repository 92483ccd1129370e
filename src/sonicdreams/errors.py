"""The errors sonicdreams raises for bad input, all subclasses of :class:`SonicDreamsError`.

Every message says what was wrong and what to do about it. The command-line interface prints
the message on one line and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "SonicDreamsError",
    "AudioError",
    "SettingsError",
    "StyleError",
    "ModelFormatError",
    "UnsafeModelError",
    "DownloadError",
    "OutputError",
    "BusyError",
    "StudioError",
    "NotFoundError",
    "SonicDreamsWarning",
]


class SonicDreamsError(Exception):
    """Root of every error sonicdreams raises on purpose."""


class AudioError(SonicDreamsError):
    """An audio file cannot be used: missing, unreadable, empty, too short, or not audio."""


class SettingsError(SonicDreamsError, ValueError):
    """An option has a value outside its allowed range; the message names the option."""


class StyleError(SonicDreamsError):
    """A style name or generator cannot be used."""


class ModelFormatError(SonicDreamsError):
    """A weight file is not in any format sonicdreams can load."""


class UnsafeModelError(ModelFormatError):
    """A weight file asks to run code outside the allow-list; nothing from it was executed."""


class DownloadError(SonicDreamsError):
    """A download failed or did not verify."""


class OutputError(SonicDreamsError):
    """The video cannot be written where asked: it exists, it is an input, the disk is full,
    or the folder is read-only. Finished segments are kept, so the render can be resumed."""


class BusyError(SonicDreamsError):
    """Another render is writing the same video (its work folder is locked)."""


class StudioError(SonicDreamsError):
    """The studio cannot start as asked (an unsafe address, a port or folder in use)."""


class NotFoundError(SonicDreamsError):
    """What a studio request names does not exist (any more): a song, a render."""


class SonicDreamsWarning(UserWarning):
    """Something was repaired or guessed; the result is usable but the user should know."""
