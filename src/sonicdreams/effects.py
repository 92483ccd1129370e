"""Audio-driven effects applied to frames: the original's contrast and flash, new ones, and
custom effects through the original's ``EffectsGenerator`` contract.

Every built-in effect takes a batch of frames uint8 [shape=(B, H, W, 3)], the per-frame
amplitudes [shape=(B,)] in [0, 1] (an envelope of the music) and a strength, and returns a
batch of the same shape. A chain of them runs fused: one compiled pass per frame reads each
pixel from where the geometric effects (zoom, shake, split) put it and maps its colour
through the colour effects (contrast, flash: 256-entry tables; hue: a 3×3 turn), so every
effect on costs about what one does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._compiled import lazy_kernel
from .errors import SettingsError

__all__ = ["contrast", "flash", "zoom", "hue", "rgb_split", "shake", "BUILTIN_EFFECTS",
           "EffectsGenerator", "apply_effects", "contrast_effect", "flash_effect"]

Frames = npt.NDArray[np.uint8]
_LEVELS = np.arange(256, dtype=np.float32)


_IDENTITY = np.arange(256, dtype=np.uint8)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_GEOMETRIC = ("zoom", "rgb_split", "shake")
_NO_TURN = np.eye(3, 4, dtype=np.float32)


class _Pass:
    """One frame's run of built-in effects as one pass: where each output channel is read
    from (the geometric effects, composed into one map), then what its colour becomes (the
    colour effects in chain order: a table, a hue turn, a table).

    The geometric effects act on the frame as it comes, the colour effects on what they
    moved; within each kind the chain's order holds. Running them one by one differs only in
    detail: a table is the same for every channel and pixel, so it gives the same picture
    before or after a whole-pixel move, but after a zoom's blend rather than before it (a
    level or two at edges); the hue turn of a red/blue split's fringes; and contrast's pivot
    (the mean grey) is measured on the frame before it is moved. Each map takes an output
    pixel ``p`` (row, column) to ``scale·(p − centre) + centre + shift[channel]``: a zoom
    scales about the centre, shake and the red/blue split shift, and their composition is
    again one such map (edges repeated).
    """

    def __init__(self, frame: Frames) -> None:
        self.frame = frame
        h, w = frame.shape[:2]
        self.centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
        self.scale = 1.0
        self.shift = np.zeros((3, 2))
        self.pre = None  # colour tables [shape=(256,)] before the hue turn, after it
        self.post = None
        self.matrix = None  # the hue turn (3×4, with an offset column), or None

    def add(self, name: str, a: float, strength: float, *, index: int) -> bool:
        """Add an effect at amplitude ``a``; False where it cannot join this pass (a second
        hue turn: the caller starts a new pass)."""
        if name in _GEOMETRIC:
            h, w = self.frame.shape[:2]
            if name == "zoom":
                self.scale /= max(1.0 + 0.25 * a * strength, 0.05)  # (never through zero)
            elif name == "rgb_split":
                dx = round(0.02 * w * a * strength)
                self.shift[0, 1] += self.scale * dx  # red read from the right, blue the left
                self.shift[2, 1] -= self.scale * dx
            else:  # shake
                angle = 2.399963 * index  # the golden angle: directions never repeat
                size = 0.03 * h * a * strength
                self.shift -= self.scale * np.array([round(size * np.sin(angle)),
                                                     round(size * np.cos(angle))])
            return True
        if name == "hue":
            if self.matrix is not None:
                return False
            angle = np.pi * a * strength
            if abs(angle) >= 1e-3:
                self.matrix = np.asarray(_hue_matrix(angle), np.float32).reshape(3, 4)
            return True
        table = _contrast_lut(self._grey(), a, strength) if name == "contrast" else \
            _flash_lut(a, strength)
        if self.matrix is None:
            self.pre = table if self.pre is None else table[self.pre]
        else:
            self.post = table if self.post is None else table[self.post]
        return True

    def _grey(self) -> float:
        # Pillow's ImageEnhance.Contrast pivots on the mean grey level of the frame it gets
        # (the colour effects before it applied); a 1/16 sample is enough.
        rgb = self.frame[::4, ::4].reshape(-1, 3)
        if self.pre is not None:
            rgb = self.pre[rgb]
        if self.matrix is not None:
            rgb = _turn(rgb, self.matrix)
        if self.post is not None:
            rgb = self.post[rgb]
        return float((rgb.astype(np.float32) @ _LUMA).mean())

    def run(self, out: Frames) -> None:
        h, w = self.frame.shape[:2]
        moved = self.scale != 1.0 or self.shift.any()
        if not moved and self.pre is None and self.matrix is None and self.post is None:
            out[...] = self.frame
            return
        # Source rows per output row (every channel's: only columns move apart), source
        # bytes per channel and output column.
        r0, r1, ry = (r[0] for r in _reads(h, self.centre[0], self.scale, self.shift[:1, 0]))
        c0, c1, cx = _columns(w, self.centre[1], self.scale, self.shift[:, 1])
        turn = self.matrix is not None
        # (with a turn: each row's R values, then G, then B; else the frame's own order)
        order = (lambda a: a.ravel()) if turn else (lambda a: a.T.ravel())
        pre, post = (self.pre, self.post) if turn else (None, _compose(self.pre, self.post))
        matrix = self.matrix if turn else _NO_TURN
        _fuse()(self.frame, r0, r1, ry, order(c0), order(c1), order(cx), bool(moved or turn),
                self.scale != 1.0, _compose(pre, None), matrix, turn, _compose(post, None),
                out)


def _compose(first: np.ndarray | None, then: np.ndarray | None) -> np.ndarray:
    first = _IDENTITY if first is None else first
    return first if then is None else then[first]


def _reads(n: int, centre: float, scale: float, shift: np.ndarray):
    """For each channel and output index: the source indices below and above and the weight
    of the one above (a bilinear read, edges repeated)."""
    at = scale * (np.arange(n) - centre) + centre + shift[:, None]
    at = np.clip(at, 0.0, n - 1.0)
    lo = np.floor(at)
    frac = (at - lo).astype(np.float32)
    lo = lo.astype(np.int32)
    return lo, np.minimum(lo + 1, n - 1).astype(np.int32), frac


def _columns(w: int, centre: float, scale: float, shift: np.ndarray):
    """:func:`_reads` of the columns, as indices into a row of interleaved RGB bytes
    [shape=(3, W)]."""
    c0, c1, cx = _reads(w, centre, scale, shift)
    channel = np.arange(3, dtype=np.uint32)[:, None]
    return 3 * c0.astype(np.uint32) + channel, 3 * c1.astype(np.uint32) + channel, cx


def _turn(rgb: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Colours [shape=(N, 3)] uint8 through the hue turn, rounded and clipped like Pillow."""
    v = rgb.astype(np.float32) @ matrix[:, :3].T + matrix[:, 3]
    return np.clip(v + 0.5, 0, 255).astype(np.uint8)


def _contrast_lut(grey: float, a: float, strength: float) -> np.ndarray:
    factor = 1.0 + a * strength
    return np.clip(grey + factor * (_LEVELS - grey) + 0.5, 0, 255).astype(np.uint8)


def _flash_lut(a: float, strength: float) -> np.ndarray:
    top = max(255.0 * (1.0 - a * strength), 1.0)
    return np.clip(np.minimum(_LEVELS, top) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)


def _fuse_py(frame, r0, r1, ry, c0, c1, cx, moved, smooth, pre, matrix, turn, post, out):
    """One pass over a frame: each output value read from its place, bilinearly (source rows
    ``r0``/``r1`` with weight ``ry`` per output row; source bytes ``c0``/``c1`` with weight
    ``cx`` per value of a row, [shape=(3 W,)]; without ``smooth`` only the first of each,
    whole pixels; without ``moved`` the value below it), through the table ``pre``, the hue
    turn (``turn``: ``matrix``) and the table ``post``.

    Without a turn the values of a row are in the frame's order (RGB interleaved) and each
    loop runs along a row's bytes; with one they are the row's channels apart (all its R,
    then G, then B: ``c0`` etc. in that order), so the turn runs in SIMD. Separable: a source
    row is blended along the row once and kept while the next output rows read it (a zoom
    reads each source row for one or two output rows), then two rows are blended per output
    row.
    """
    h, w = out.shape[0], out.shape[1]
    n = 3 * w
    f32 = np.float32
    half, lo, hi = f32(0.5), f32(0.0), f32(255.0)
    flat = frame.reshape(frame.shape[0], frame.shape[1] * 3)
    dst = out.reshape(h, n)
    kept = np.empty((2, n), dtype=np.float32)  # two source rows, blended along the row
    at0, at1 = -1, -1  # which source rows they are
    level = np.empty(n, dtype=np.uint32)
    turned = np.empty(n, dtype=np.uint32)
    for i in range(h):
        line = dst[i]
        if not moved and not turn:  # one table over the bytes
            src = flat[i]
            for m in range(n):
                line[m] = post[src[m]]
            continue
        if not smooth:
            src = flat[r0[i]]
            for m in range(n):
                level[m] = src[c0[m]]  # (unsigned indices: no test for negative ones)
        else:
            for k in range(2):
                y = r0[i] if k == 0 else r1[i]
                if y == at0 or y == at1:
                    continue
                slot = 0 if at0 != r0[i] and at0 != r1[i] else 1
                if slot == 0:
                    at0 = y
                else:
                    at1 = y
                src, row = flat[y], kept[slot]
                for m in range(n):
                    a = f32(src[c0[m]])
                    row[m] = a + cx[m] * (f32(src[c1[m]]) - a)
            above = kept[0] if at0 == r0[i] else kept[1]
            below = kept[0] if at0 == r1[i] else kept[1]
            ay = ry[i]
            for m in range(n):  # (apart from the tables' reads: these loops run in SIMD)
                level[m] = np.uint32(above[m] + ay * (below[m] - above[m]) + half)
        if not turn:
            for m in range(n):
                line[m] = post[level[m]]
            continue
        for m in range(n):
            level[m] = pre[level[m]]
        for ch in range(3):
            m0, m1, m2, m3 = matrix[ch, 0], matrix[ch, 1], matrix[ch, 2], matrix[ch, 3]
            for j in range(w):
                x = (m0 * f32(level[j]) + m1 * f32(level[w + j]) + m2 * f32(level[2 * w + j])
                     + m3 + half)
                turned[ch * w + j] = np.uint32(min(max(x, lo), hi))
        for j in range(w):
            for ch in range(3):
                line[3 * j + ch] = post[turned[ch * w + j]]
    return out


_fuse = lazy_kernel(_fuse_py)


def _run(frames: Frames, effects, frame_index: np.ndarray | None = None) -> Frames:
    """``effects``: (name, amplitudes [shape=(B,)], strength) in chain order, all built in;
    each frame in as few passes as its chain allows (one for the chains the options make)."""
    index = np.arange(len(frames)) if frame_index is None else np.asarray(frame_index)
    for name, amplitude, _ in effects:
        if len(amplitude) != len(frames) or len(index) != len(frames):
            raise ValueError(f"{name}: {len(amplitude)} amplitudes and {len(index)} frame "
                             f"indices for {len(frames)} frames")
    out = np.empty(frames.shape, dtype=np.uint8)  # (C order whatever the input's)
    for i in range(len(frames)):
        fused = _Pass(np.ascontiguousarray(frames[i], dtype=np.uint8))
        for name, amplitude, strength in effects:
            a = float(amplitude[i])
            if not fused.add(name, a, strength, index=int(index[i])):
                fused.run(out[i])
                fused = _Pass(out[i].copy())
                fused.add(name, a, strength, index=int(index[i]))
        fused.run(out[i])
    return out


def contrast(frames: Frames, amplitude: np.ndarray, strength: float) -> Frames:
    """The original's contrast: ``grey + f·(img − grey)`` with ``f = 1 + amplitude·strength``."""
    return _run(frames, [("contrast", amplitude, strength)])


def flash(frames: Frames, amplitude: np.ndarray, strength: float) -> Frames:
    """The original's flash: stretch ``[0, 255·(1 − amplitude·strength)]`` to the full range.

    At ``amplitude·strength = 1`` the original divided by zero and showed a black frame; here
    the frame goes (almost) white, which is what a flash means.
    """
    return _run(frames, [("flash", amplitude, strength)])


def zoom(frames: Frames, amplitude: np.ndarray, strength: float) -> Frames:
    """Zoom into the centre by up to ``1 + 0.25·strength`` on loud beats."""
    return _run(frames, [("zoom", amplitude, strength)])


def _hue_matrix(angle: float) -> tuple[float, ...]:
    # Rotation about the grey axis (YIQ chroma plane): luminance is kept, hues turn.
    c, s = np.cos(angle), np.sin(angle)
    to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    m = np.linalg.inv(to_yiq) @ rot @ to_yiq
    return tuple(np.concatenate([m, np.zeros((3, 1))], axis=1).ravel().tolist())


def hue(frames: Frames, amplitude: np.ndarray, strength: float) -> Frames:
    """Turn every hue by up to ``180°·strength`` with the music."""
    return _run(frames, [("hue", amplitude, strength)])


def rgb_split(frames: Frames, amplitude: np.ndarray, strength: float) -> Frames:
    """Chromatic aberration: red and blue slide apart by up to 2 %·strength of the width."""
    return _run(frames, [("rgb_split", amplitude, strength)])


def shake(frames: Frames, amplitude: np.ndarray, strength: float, *,
          frame_index: np.ndarray | None = None) -> Frames:
    """Camera shake: the frame jumps by up to 3 %·strength of its height on loud beats, in a
    direction that changes from frame to frame (fixed per frame index: renders repeat)."""
    return _run(frames, [("shake", amplitude, strength)], frame_index)


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

    ``amplitudes[name]`` holds the batch's amplitudes of each effect. Built-in effects next
    to each other run fused, in one compiled pass per frame (see :class:`_Pass`).
    """
    run: list = []
    for name, what in [*chain, (None, None)]:
        if name is not None and not isinstance(what, EffectsGenerator):
            if name not in BUILTIN_EFFECTS:
                raise SettingsError(f"unknown effect {name!r}; built in: "
                                    f"{', '.join(BUILTIN_EFFECTS)}")
            run.append((name, amplitudes[name], what))
            continue
        if run:
            frames, run = _run(frames, run, frame_index), []
        if isinstance(what, EffectsGenerator):
            frames = what.apply(frames, amplitudes[name])
    return frames


# The original's sample effects, with its signature (used through EffectsGenerator).
def contrast_effect(array: np.ndarray, strength: float, amplitude: float) -> np.ndarray:
    """Lucid Sonic Dreams' ``contrast_effect`` for one frame."""
    return contrast(np.asarray(array, np.uint8)[None], np.array([amplitude]), strength)[0]


def flash_effect(array: np.ndarray, strength: float, amplitude: float) -> np.ndarray:
    """Lucid Sonic Dreams' ``flash_effect`` for one frame."""
    return flash(np.asarray(array, np.uint8)[None], np.array([amplitude]), strength)[0]
