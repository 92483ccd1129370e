"""Audio-driven effects applied to frames: the original's contrast and flash, new ones, and
custom effects through the original's ``EffectsGenerator`` contract.

Every built-in effect takes a batch of frames uint8 [shape=(B, H, W, 3)], the per-frame
amplitudes [shape=(B,)] in [0, 1] (an envelope of the music) and a strength, and returns a
batch of the same shape. Colour effects are per-frame 256-entry lookup tables or Pillow
conversions, so each costs a millisecond or two per 512x512 frame.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .errors import SettingsError

__all__ = ["contrast", "flash", "zoom", "hue", "rgb_split", "shake", "BUILTIN_EFFECTS",
           "EffectsGenerator", "apply_effects", "contrast_effect", "flash_effect"]

Frames = npt.NDArray[np.uint8]
_LEVELS = np.arange(256, dtype=np.float32)


def _luma_mean(frame: Frames) -> float:
    # Pillow's ImageEnhance.Contrast pivots on the mean grey level; a 1/16 sample is enough.
    sample = frame[::4, ::4].astype(np.float32)
    return float((sample @ np.array([0.299, 0.587, 0.114], np.float32)).mean())


def _apply_lut(frame: Frames, lut: np.ndarray) -> Frames:
    return np.clip(lut, 0, 255).astype(np.uint8)[frame]


def contrast(frames: Frames, amplitude: np.ndarray, strength: float) -> Frames:
    """The original's contrast: ``grey + f·(img − grey)`` with ``f = 1 + amplitude·strength``."""
    out = np.empty_like(frames)
    for i, (frame, a) in enumerate(zip(frames, amplitude, strict=True)):
        grey = _luma_mean(frame)
        factor = 1.0 + float(a) * strength
        out[i] = _apply_lut(frame, grey + factor * (_LEVELS - grey) + 0.5)
    return out


def flash(frames: Frames, amplitude: np.ndarray, strength: float) -> Frames:
    """The original's flash: stretch ``[0, 255·(1 − amplitude·strength)]`` to the full range.

    At ``amplitude·strength = 1`` the original divided by zero and showed a black frame; here
    the frame goes (almost) white, which is what a flash means.
    """
    out = np.empty_like(frames)
    for i, (frame, a) in enumerate(zip(frames, amplitude, strict=True)):
        top = max(255.0 * (1.0 - float(a) * strength), 1.0)
        out[i] = _apply_lut(frame, np.minimum(_LEVELS, top) * (255.0 / top) + 0.5)
    return out


def zoom(frames: Frames, amplitude: np.ndarray, strength: float) -> Frames:
    """Zoom into the centre by up to ``1 + 0.25·strength`` on loud beats."""
    from PIL import Image

    h, w = frames.shape[1:3]
    out = np.empty_like(frames)
    for i, (frame, a) in enumerate(zip(frames, amplitude, strict=True)):
        factor = 1.0 + 0.25 * float(a) * strength
        if factor <= 1.0 + 1e-4:
            out[i] = frame
            continue
        cw, ch = w / factor, h / factor
        box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
        out[i] = np.asarray(Image.fromarray(frame).resize((w, h), Image.Resampling.BILINEAR,
                                                          box=box))
    return out


def _hue_matrix(angle: float) -> tuple[float, ...]:
    # Rotation about the grey axis (YIQ chroma plane): luminance is kept, hues turn.
    c, s = np.cos(angle), np.sin(angle)
    to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    m = np.linalg.inv(to_yiq) @ rot @ to_yiq
    return tuple(np.concatenate([m, np.zeros((3, 1))], axis=1).ravel().tolist())


def hue(frames: Frames, amplitude: np.ndarray, strength: float) -> Frames:
    """Turn every hue by up to ``180°·strength`` with the music."""
    from PIL import Image

    out = np.empty_like(frames)
    for i, (frame, a) in enumerate(zip(frames, amplitude, strict=True)):
        angle = np.pi * float(a) * strength
        if abs(angle) < 1e-3:
            out[i] = frame
            continue
        out[i] = np.asarray(Image.fromarray(frame).convert("RGB", _hue_matrix(angle)))
    return out


def _shifted(channel: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """A channel moved by (dx, dy) pixels, edges repeated."""
    h, w = channel.shape
    xs = np.clip(np.arange(w) - dx, 0, w - 1)
    ys = np.clip(np.arange(h) - dy, 0, h - 1)
    return channel[ys][:, xs]


def rgb_split(frames: Frames, amplitude: np.ndarray, strength: float) -> Frames:
    """Chromatic aberration: red and blue slide apart by up to 2 %·strength of the width."""
    out = frames.copy()
    w = frames.shape[2]
    for i, a in enumerate(amplitude):
        dx = int(round(0.02 * w * float(a) * strength))
        if dx:
            out[i, :, :, 0] = _shifted(frames[i, :, :, 0], -dx, 0)
            out[i, :, :, 2] = _shifted(frames[i, :, :, 2], dx, 0)
    return out


def shake(frames: Frames, amplitude: np.ndarray, strength: float, *,
          frame_index: np.ndarray | None = None) -> Frames:
    """Camera shake: the frame jumps by up to 3 %·strength of its height on loud beats, in a
    direction that changes from frame to frame (fixed per frame index: renders repeat)."""
    h = frames.shape[1]
    index = np.arange(len(frames)) if frame_index is None else np.asarray(frame_index)
    out = np.empty_like(frames)
    for i, (frame, a) in enumerate(zip(frames, amplitude, strict=True)):
        angle = 2.399963 * float(index[i])  # the golden angle: directions never repeat
        size = 0.03 * h * float(a) * strength
        dx, dy = int(round(size * np.cos(angle))), int(round(size * np.sin(angle)))
        if dx == 0 and dy == 0:
            out[i] = frame
            continue
        ys = np.clip(np.arange(h) - dy, 0, h - 1)
        xs = np.clip(np.arange(frame.shape[1]) - dx, 0, frame.shape[1] - 1)
        out[i] = frame[ys][:, xs]
    return out


@dataclass(frozen=True, slots=True)
class EffectInfo:
    name: str
    function: Callable[..., Frames]
    description: str


BUILTIN_EFFECTS: dict[str, EffectInfo] = {
    e.name: e for e in (
        EffectInfo("contrast", contrast, "contrast boost on loud sounds (the original's)"),
        EffectInfo("flash", flash, "brightness flash on loud sounds (the original's)"),
        EffectInfo("zoom", zoom, "zoom pulse on beats"),
        EffectInfo("hue", hue, "hue shift with the harmonic loudness"),
        EffectInfo("rgb_split", rgb_split, "red/blue split on onsets"),
        EffectInfo("shake", shake, "camera shake on beats"),
    )
}


class EffectsGenerator:
    """A custom effect with the original's contract (compatible with Lucid Sonic Dreams).

    Parameters
    ----------
    func : callable
        ``func(array, strength, amplitude) -> array``: one HxWx3 uint8 frame in, one out.
    audio : path or None
        File whose loudness drives the effect; ``None`` means the song.
    strength : float
        Passed to ``func`` unchanged.
    percussive : bool
        Follow the percussive part of the audio (True) or the full mix.
    """

    def __init__(self, func: Callable[..., np.ndarray], audio=None, strength: float = 0.5,
                 percussive: bool = True) -> None:
        if not callable(func):
            raise SettingsError(f"EffectsGenerator: func={func!r} must be a function")
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):
            params = {}
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        missing = [n for n in ("array", "strength", "amplitude") if n not in params]
        if missing and not takes_kwargs:
            raise SettingsError(
                f"EffectsGenerator: {getattr(func, '__name__', func)} must take the arguments "
                f"array, strength and amplitude (missing: {', '.join(missing)})")
        self.func = func
        self.audio = audio
        self.strength = strength
        self.percussive = percussive

    def __repr__(self) -> str:
        return (f"EffectsGenerator({getattr(self.func, '__name__', self.func)!s}, "
                f"audio={self.audio!r}, strength={self.strength}, percussive={self.percussive})")

    def apply(self, frames: Frames, amplitude: np.ndarray) -> Frames:
        out = np.empty_like(frames)
        for i, (frame, a) in enumerate(zip(frames, amplitude, strict=True)):
            result = np.asarray(self.func(array=frame.copy(), strength=self.strength,
                                          amplitude=float(a)))
            if result.shape != frame.shape:
                from PIL import Image

                result = np.asarray(Image.fromarray(result.astype(np.uint8)).convert("RGB")
                                    .resize((frame.shape[1], frame.shape[0])))
            out[i] = np.clip(result, 0, 255).astype(np.uint8)
        return out


def apply_effects(frames: Frames, chain, amplitudes: dict[str, np.ndarray],
                  frame_index: np.ndarray) -> Frames:
    """Run ``chain``, a list of ``(name, strength_or_effects_generator)``, over a batch.

    ``amplitudes[name]`` holds the batch's amplitudes of each effect.
    """
    for name, what in chain:
        amp = amplitudes[name]
        if isinstance(what, EffectsGenerator):
            frames = what.apply(frames, amp)
        elif name == "shake":
            frames = shake(frames, amp, what, frame_index=frame_index)
        else:
            frames = BUILTIN_EFFECTS[name].function(frames, amp, what)
    return frames


# The original's sample effects, with its signature (used through EffectsGenerator).
def contrast_effect(array: np.ndarray, strength: float, amplitude: float) -> np.ndarray:
    """Lucid Sonic Dreams' ``contrast_effect`` for one frame."""
    return contrast(np.asarray(array, np.uint8)[None], np.array([amplitude]), strength)[0]


def flash_effect(array: np.ndarray, strength: float, amplitude: float) -> np.ndarray:
    """Lucid Sonic Dreams' ``flash_effect`` for one frame."""
    return flash(np.asarray(array, np.uint8)[None], np.array([amplitude]), strength)[0]
