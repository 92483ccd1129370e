"""Audio-driven effects applied to frames: the original's contrast and flash, new ones, and
custom effects through the original's ``EffectsGenerator`` contract.

Every built-in effect takes a batch of frames uint8 [shape=(B, H, W, 3)], the per-frame
amplitudes [shape=(B,)] in [0, 1] (an envelope of the music) and a strength, and returns a
batch of the same shape. A chain of them runs fused: one compiled pass per frame reads each
pixel from where the geometric effects (zoom, shake, split) put it and maps its colour
through the colour effects (contrast, flash: each a line clipped to the byte range; hue: a
3×3 turn), so every effect on costs about what one does.
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
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_GEOMETRIC = ("zoom", "rgb_split", "shake")
_NO_TURN = np.eye(3, 4, dtype=np.float32)
#: a colour map ``clip(k·x + c, lo, hi)`` as (k, c, lo, hi): the identity on bytes
_SAME = np.array([1.0, 0.0, 0.0, 255.0], np.float32)


class _Pass:
    """One frame's run of built-in effects as one pass: where each output channel is read
    from (the geometric effects, composed into one map), then what its colour becomes (the
    colour effects in chain order: a colour map, a hue turn, a colour map).

    Contrast and flash are each a line clipped to the byte range, and lines clipped to a
    range compose into one (:func:`_then`): a run of them costs what one does, in arithmetic
    (not a table: a table read per byte is a gather, the line runs in SIMD), and values are
    rounded once, at the end. The geometric effects act on the frame as it comes, the colour
    effects on what they moved; within each kind the chain's order holds. Running them one by
    one differs only in detail: a colour map is the same for every channel and pixel, so it
    gives the same picture before or after a whole-pixel move, but after a zoom's blend
    rather than before it (a level or two at edges); the hue turn of a red/blue split's
    fringes; and contrast's pivot (the mean grey) is measured on the frame before it is
    moved. Each map takes an output pixel ``p`` (row, column) to ``scale·(p − centre) +
    centre + shift[channel]``: a zoom scales about the centre, shake and the red/blue split
    shift, and their composition is again one such map (edges repeated).
    """

    def __init__(self, frame: Frames) -> None:
        self.frame = frame
        h, w = frame.shape[:2]
        self.centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
        self.scale = 1.0
        self.shift = np.zeros((3, 2))
        self.pre = None  # colour maps (k, c, lo, hi) before the hue turn, after it
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
        line = _contrast_map(self._grey(), a, strength) if name == "contrast" else \
            _flash_map(a, strength)
        if self.matrix is None:
            self.pre = _then(self.pre, line)
        else:
            self.post = _then(self.post, line)
        return True

    def _grey(self) -> float:
        # Pillow's ImageEnhance.Contrast pivots on the mean grey level of the frame it gets
        # (the colour effects before it applied); a 1/64 sample is enough.
        rgb = self.frame[::8, ::8].reshape(-1, 3).astype(np.float32)
        if self.pre is not None:
            rgb = _mapped(rgb, self.pre)
        if self.matrix is not None:
            rgb = np.clip(rgb @ self.matrix[:, :3].T + self.matrix[:, 3], 0, 255)
        if self.post is not None:
            rgb = _mapped(rgb, self.post)
        return float((rgb @ _LUMA).mean())

    def run(self, out: Frames) -> None:
        h, w = self.frame.shape[:2]
        moved = self.scale != 1.0 or self.shift.any()
        if not moved and self.pre is None and self.matrix is None and self.post is None:
            out[...] = self.frame
            return
        # Source rows per output row (every channel's: only columns move apart), source
        # bytes per channel and output column.
        r0, r1, ry = (r[0] for r in _reads(h, self.centre[0], self.scale, self.shift[:1, 0]))
        c0, cx = _columns(w, self.centre[1], self.scale, self.shift[:, 1])
        turn = self.matrix is not None
        # (with a turn: each row's R values, then G, then B; else the frame's own order)
        order = (lambda a: a.ravel()) if turn else (lambda a: a.T.ravel())
        pre, post = (self.pre, self.post) if turn else (None, _then(self.pre, self.post))
        matrix = self.matrix if turn else _NO_TURN
        _fuse()(self.frame, r0, r1, ry, order(c0), order(cx), bool(moved or turn),
                self.scale != 1.0, _SAME if pre is None else pre, matrix, turn,
                _SAME if post is None else post, out)


def _then(first: np.ndarray | None, line: np.ndarray | None) -> np.ndarray | None:
    """The colour map ``first`` then ``line``, as one: ``clip(k2·clip(k1·x + c1, lo1, hi1) +
    c2, lo2, hi2)`` is ``clip(k2·k1·x + k2·c1 + c2, lo, hi)``, the first range carried
    through the second line and clipped to the second range."""
    if first is None or line is None:
        return line if first is None else first
    k1, c1, lo1, hi1 = (float(v) for v in first)
    k2, c2, lo2, hi2 = (float(v) for v in line)
    ends = sorted((k2 * lo1 + c2, k2 * hi1 + c2))
    lo, hi = (min(max(e, lo2), hi2) for e in ends)
    return np.array([k2 * k1, k2 * c1 + c2, lo, hi], np.float32)


def _mapped(x: np.ndarray, line: np.ndarray) -> np.ndarray:
    k, c, lo, hi = line
    return np.clip(k * x + c, lo, hi)


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
    """:func:`_reads` of the columns, the ones below as indices into a row of interleaved RGB
    bytes [shape=(3, W)] (the one above is the next pixel: see :func:`_fuse_py`)."""
    c0, _, cx = _reads(w, centre, scale, shift)
    channel = np.arange(3, dtype=np.uint32)[:, None]
    return 3 * c0.astype(np.uint32) + channel, cx


def _contrast_map(grey: float, a: float, strength: float) -> np.ndarray:
    """``grey + f·(x − grey)``, ``f = 1 + a·strength``, as a colour map."""
    factor = 1.0 + a * strength
    return np.array([factor, grey * (1.0 - factor), 0.0, 255.0], np.float32)


def _flash_map(a: float, strength: float) -> np.ndarray:
    """``[0, 255·(1 − a·strength)]`` stretched to ``[0, 255]``, as a colour map."""
    top = max(255.0 * (1.0 - a * strength), 1.0)
    return np.array([255.0 / top, 0.0, 0.0, 255.0], np.float32)


def _fuse_py(frame, r0, r1, ry, c0, cx, moved, smooth, pre, matrix, turn, post, out):
    """One pass over a frame: each output value read from its place, bilinearly (source rows
    ``r0``/``r1`` with weight ``ry`` per output row; source bytes ``c0`` and the same channel
    of the pixel to its right, with weight ``cx``, per value of a row, [shape=(3 W,)];
    without ``smooth`` only the first of each, whole pixels; without ``moved`` the value
    below it), through the colour map ``pre``, the hue turn (``turn``: ``matrix``) and the
    colour map ``post`` (each ``(k, c, lo, hi)``: ``clip(k·x + c, lo, hi)``), rounded once
    at the end.

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
    k0, b0, lo0, hi0 = pre[0], pre[1], pre[2], pre[3]
    k1, b1, lo1, hi1 = post[0], post[1], post[2], post[3]
    flat = frame.reshape(frame.shape[0], frame.shape[1] * 3)
    dst = out.reshape(h, n)
    kept = np.empty((2, n), dtype=np.float32)  # two source rows, blended along the row
    at0, at1 = -1, -1  # which source rows they are
    # A source row as floats, its last pixel once more after it: the pixel right of ``c0`` is
    # ``c0 + 3`` everywhere (at the edge its weight is 0). Reads of floats run as vector
    # gathers, reads of bytes one by one: twice as fast.
    values = np.empty(n + 3, dtype=np.float32)
    level = np.empty(n, dtype=np.float32)
    turned = np.empty(n, dtype=np.float32)
    for i in range(h):
        line = dst[i]
        if not moved and not turn:  # one colour map over the bytes
            src = flat[i]
            for m in range(n):
                line[m] = np.uint8(min(max(k1 * f32(src[m]) + b1, lo1), hi1) + half)
            continue
        if not smooth:
            src = flat[r0[i]]
            for m in range(n):
                values[m] = f32(src[m])
            for m in range(n):
                level[m] = values[c0[m]]  # (unsigned indices: no test for negative ones)
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
                    values[m] = f32(src[m])
                for m in range(3):
                    values[n + m] = values[n - 3 + m]
                for m in range(n):
                    a = values[c0[m]]
                    row[m] = a + cx[m] * (values[c0[m] + np.uint32(3)] - a)
            above = kept[0] if at0 == r0[i] else kept[1]
            below = kept[0] if at0 == r1[i] else kept[1]
            ay = ry[i]
            for m in range(n):
                level[m] = above[m] + ay * (below[m] - above[m])
        if not turn:
            for m in range(n):
                line[m] = np.uint8(min(max(k1 * level[m] + b1, lo1), hi1) + half)
            continue
        for m in range(n):
            level[m] = min(max(k0 * level[m] + b0, lo0), hi0)
        # (channels as views: ``level[w + j]`` is a signed index LLVM cannot tell the sign
        # of, tested for wrapping round on every read, and the loop would not run in SIMD)
        red, green, blue = level[:w], level[w:2 * w], level[2 * w:]
        for ch in range(3):
            m0, m1, m2, m3 = matrix[ch, 0], matrix[ch, 1], matrix[ch, 2], matrix[ch, 3]
            dst_ch = turned[ch * w:(ch + 1) * w]
            for j in range(w):
                x = min(max(m0 * red[j] + m1 * green[j] + m2 * blue[j] + m3, lo), hi)
                dst_ch[j] = min(max(k1 * x + b1, lo1), hi1) + half
        red, green, blue = turned[:w], turned[w:2 * w], turned[2 * w:]
        for j in range(w):
            line[3 * j] = np.uint8(red[j])
            line[3 * j + 1] = np.uint8(green[j])
            line[3 * j + 2] = np.uint8(blue[j])
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
