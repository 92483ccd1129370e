"""Photosensitivity limiter: at most three flashes a second (WCAG 2.3.1, ITU-R BT.1702).

The last stage before encoding. A *general flash* is a pair of opposing changes in relative
luminance (linear sRGB, ``Y = 0.2126 R + 0.7152 G + 0.0722 B``) of at least 0.1 where the
darker state is below 0.8, over at least a quarter of the screen; a *red flash* is a pair of
opposing changes of a saturated red (``R / (R + G + B) >= 0.8``) of more than 20 in
``(R - G - B)·320``. The limiter works on a grid of ``GRID × GRID`` cells of each frame
(mean linear luminance ``Y`` and a red level ``Q``, scaled so that the red threshold is 0.1
as well) and never drops or repeats a frame: it lowers the *amplitude* of what flashes.

How it decides (everything from the **input** frames, with a safety margin)
---------------------------------------------------------------------------
* **Risk.** Two ways, each over a window of recent frames:

  - *Quick flashes.* A frame completes a quick flash when cells covering ``AREA`` (25 %) of
    the picture went up within the last ``K = ⌈fps/3⌉ + 1`` frames (each at any of them)
    and come down now (or down and up) by ``DETECT`` (0.08, against the rule's 0.10),
    moving at least ``DETECT/4`` a frame (a strobe that moves across the screen, or a band
    that moves while it is lit, still puts out a quarter of the screen at once). They are
    counted as the rule counts: completions on consecutive frames the same way are one
    transition (a fade completes one on each frame), a train of m transitions less than
    ``K`` frames apart is ``(m + 1) // 2`` flashes. While ``QUICK_BUDGET`` (2) were
    counted within the last second, the whole picture is held. One hit, fading or not, and
    a double hit pass untouched; two a second pass until the third.
  - *Every flash, slow ones too, cell by cell.* Over the last ``D = ⌈fps⌉ + 1`` frames (one
    second) each cell's transitions are counted as the rule counts them: a rise of
    ``DETECT`` from its lowest value since its last transition, or a fall from its highest,
    opposite to the last one, however fast or slow (a hit that fades out over five frames
    is a flash like a strobe), on blocks of 2×2 grid cells (detail that moves across a small
    cell is not a flash). Cells with ``BUDGET`` (5) transitions or more are held once they
    cover ``AREA`` of the picture.

  Both in luminance (darker state below 0.8) and in red.
* **Limit.** For the ``R = ⌈fps/4⌉`` frames after a cell was at risk, its luminance is held
  within ``m`` above ``S``, the cell's lowest input luminance over the last ``L = ⌈fps/2⌉``
  frames: ``T = S + clip(Y − S, 0, m)`` (``Y`` is never below ``S``). ``m`` is
  ``HALF_SWING`` (0.045) at a risky frame and opens linearly to 1 (no limit) over ``R``
  frames, so the cell glides back to the input; a held hit still shows, at about half a
  transition. The darker state, not a mean: a bright flash never moves ``S`` (a mean holds the
  flash that set the hold off, rises and falls as it passes through the window and so adds
  a flash of its own: full-screen flashes 2.5 times a second came out at 4). The price: a
  held cell is as dark as its darkest recent frame (a bright picture with black dips stays
  dark for the whole hold), and a hold that starts while a cell is bright steps it down,
  which can be a transition of its own. With these settings, on 164 regular full-screen
  strobes (0.7–3.8 flashes a second, 1–9 frames lit, dark or bright) an independent counter
  finds at most 2 flashes in a second out and never more out than in; on 240 random
  sequences (full-screen, half-screen, moving bands, red) never more than 3 and never more
  than in. Saturated red in a held cell is capped (0.05 at a risky frame, opening with
  ``m``; released cells keep their red) by desaturating toward each pixel's own luminance.
* **Pixels.** Each grid cell gets a gain in linear light (``a·x``, ``a ≤ 1``: a hold only
  darkens) that moves its mean to ``T``, and a saturation factor; the maps
  are interpolated bilinearly between cell centres, so there are no block edges. Frames
  whose cells all keep their value are returned as they came — **byte for byte**: on
  content without flash risk the limiter changes nothing.

How the state crosses segments
------------------------------
The limiter's decision for frame ``t`` is a pure function of the input grids of frames
``[t − HISTORY, t]`` (``HISTORY = R + max(D, C + K − 1) − 1``: risk flags of the last ``R``
frames, each from ``D`` grids or from the quick flashes of the last ``C = ⌈fps⌉`` frames,
each from ``K`` grids; ``S`` needs fewer) and its output is a function of that
decision and input frame ``t``. It never looks at its own earlier output. So a segment
starting at frame ``a`` renders the ``HISTORY`` frames before ``a``
(:meth:`FlashLimiter.prime`, grids only, then discarded) and its state is then *exactly* the
state an uninterrupted run has at ``a``: a segment gives the same bytes whichever process
renders it, and a resumed render equals an uninterrupted one. The warm-up costs ``HISTORY``
frames (47 at 30 fps, 1.6 s: 16 % of a 10-second segment).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from fractions import Fraction
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from ._compiled import lazy_kernel
from ._sampling import sampling

__all__ = ["FlashLimiter", "history_frames", "segment_limiter", "warmup_frames", "measure",
           "GRID", "DETECT", "AREA", "BUDGET", "QUICK_BUDGET", "HALF_SWING"]

Frames = npt.NDArray[np.uint8]

GRID = 32
"""Cells across and down the picture that luminance and red are measured and corrected in
(flashes are looked for on 2×2 of them). Fine, because each cell gets one affine map: a
coarse cell whose bright parts are darkened while its dark parts are lifted keeps its mean
and still flashes inside (at 8×8, a counter on 16×16 cells saw 4–5 flashes a second get
through on an 8-hits-a-second strobe; at 32×32, none)."""
DETECT = 0.08
"""A change this large counts as a flash transition (the rule: 0.10; the margin absorbs
encoding noise: at 0.09, two intense renders with three flashes a second before encoding
had four after H.264)."""
DARK = 0.8
"""A luminance flash needs its darker state below this."""
AREA = 0.25
"""Fraction of the picture that must flash (cells over their budget) for a risk."""
BUDGET = 5
"""A cell is held from its fifth transition within a second: four pass (two flashes), when no
quick flash holds it sooner. Not more: cells out of step add up (the rule's quarter of the
screen is any cells that flashed), and a hold that starts while a cell is bright steps it
down, a transition of its own (at 6, a full-screen strobe of 2.5 flashes a second came out
at 3). Not fewer: at 4, legal content was held (on 30 s of the default look, 19–119 of 900
frames per style, where the rule's counter found at most 2 flashes a second)."""
QUICK_BUDGET = 2
"""Quick flashes within a second from which the whole picture is held. Not the rule's 3: a
flash is seen when it completes, so the hold must be on before the third one rises."""
HALF_SWING = 0.045
"""How far above its recent darkest state a cell may go while the limiter holds it: about half
a transition, so a held beat still shows."""

_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], np.float32)
_RED_SCALE = 320 / 20 * 0.1  # (R−G−B)·320 > 20  ⇔  Q > 0.1
_RED_HOLD = 0.05  # the most saturated red a held cell keeps (half the rule's red step)
_STEP = DETECT / 4  # a quick flash moves its cells at least this much a frame
_SAMPLES = 128  # measure on about this many pixel rows (a strided sample of the frame)
_GAINS = 1023  # gain steps of 0.1 %: far below a visible step, and below DETECT by 80 times


def _decode_table() -> np.ndarray:
    c = np.arange(256, dtype=np.float64) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin.astype(np.float32)


_DECODE = _decode_table()


@lru_cache(maxsize=1)
def _encode_table() -> np.ndarray:
    """uint8 sRGB code for ``round(lin·65535)``; exact inverse of ``_DECODE`` on its values."""
    lin = _DECODE.astype(np.float64)
    edges = (lin[1:] + lin[:-1]) / 2
    table = np.searchsorted(edges, np.arange(65536) / 65535).astype(np.uint8)
    codes = table[np.rint(_DECODE * 65535).astype(np.int64)]
    assert np.array_equal(codes, np.arange(256)), "sRGB tables do not round-trip"
    return table


def _params(fps: float) -> tuple[int, int, int, int]:
    """(D, K, R, L): detection window (one second and a frame), quick-flash window, release
    frames, reference window."""
    return (math.ceil(fps) + 1, math.ceil(fps / 3) + 1, math.ceil(fps / 4),
            max(1, math.ceil(fps / 2)))


def _quick_count_frames(fps: float) -> int:
    """Frames over which quick flashes are counted: one second."""
    return max(1, math.ceil(fps))


def history_frames(fps: float | Fraction) -> int:
    """Frames before a segment that :meth:`FlashLimiter.prime` needs for an exact state."""
    d, k, r, ref = _params(float(fps))
    count = _quick_count_frames(float(fps))
    # a risk flag of the last r frames; from D grids, or from the quick flags of the last
    # second, each from K grids
    return max(r + max(d, count + k - 1) - 1, ref - 1)


def segment_limiter(fps: float | Fraction, a: int, *,
                    allow_flashing: bool) -> tuple[FlashLimiter | None, int]:
    """(a fresh limiter, frames of warm-up) for a segment starting at frame ``a``; (None, 0)
    when flashing is allowed."""
    limiter = None if allow_flashing else FlashLimiter(fps)
    return limiter, warmup_frames(fps, a, allow_flashing=allow_flashing)


def warmup_frames(fps: float | Fraction, a: int, *, allow_flashing: bool) -> int:
    """Frames rendered before a segment starting at frame ``a`` to prime its limiter."""
    return 0 if allow_flashing else min(a, history_frames(fps))


def _edges(n: int, cells: int) -> np.ndarray:
    return np.floor(np.arange(cells) * n / cells).astype(np.int64)


def measure(frame: Frames) -> tuple[np.ndarray, np.ndarray]:
    """Cell means of relative luminance ``Y`` and red level ``Q`` of one frame.

    Parameters
    ----------
    frame : np.ndarray [shape=(H, W, 3), uint8]

    Returns
    -------
    (Y, Q) : two float32 arrays [shape=(GRID, GRID)] (fewer cells for tiny frames)
    """
    h, w = frame.shape[:2]
    step = max(1, min(h, w) // _SAMPLES)
    sh, sw = -(-h // step), -(-w // step)  # the sample's size
    ch, cw = min(GRID, sh), min(GRID, sw)
    # (each sample row and column: its cell)
    rows = np.repeat(np.arange(ch, dtype=np.int64), np.diff(np.append(_edges(sh, ch), sh)))
    cols = np.repeat(np.arange(cw, dtype=np.int64), np.diff(np.append(_edges(sw, cw), sw)))
    count = np.bincount(rows, minlength=ch)[:, None] * np.bincount(cols, minlength=cw)[None, :]
    sums = _cells()(frame, step, rows, cols, _DECODE, _WEIGHTS, np.float32(_RED_SCALE),
                    np.zeros((2, ch, cw), dtype=np.float64))
    return (sums[0] / count).astype(np.float32), (sums[1] / count).astype(np.float32)


def _cells_py(frame, step, rows, cols, decode, weights, red_scale, sums):
    """Sums per cell of ``Y`` and ``Q`` over the pixels of a strided sample of ``frame``."""
    for i in range(rows.shape[0]):
        src = frame[i * step]
        y_row, q_row = sums[0, rows[i]], sums[1, rows[i]]
        for j in range(cols.shape[0]):
            r, g, b = decode[src[j * step, 0]], decode[src[j * step, 1]], decode[src[j * step, 2]]
            k = cols[j]
            y_row[k] += weights[0] * r + weights[1] * g + weights[2] * b
            diff = r - g - b
            if diff > 0 and r >= np.float32(0.8) * (r + g + b):
                q_row[k] += diff * red_scale
    return sums


_cells = lazy_kernel(_cells_py)


def _pooled(grid: np.ndarray) -> np.ndarray:
    """A grid [shape=(h, w)] → means over 2×2 blocks of cells [shape=(cells,)]: transitions
    are counted on cells twice as large as the ones corrected (detail that moves across a
    small cell is not a flash). Grids with an odd side (frames under 64 pixels) stay as
    they are."""
    h, w = grid.shape
    if h % 2 or w % 2:
        return grid.ravel()
    return grid.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).ravel()


def _unpooled(flags: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if h % 2 or w % 2:
        return flags.reshape(shape)
    return flags.reshape(h // 2, 1, w // 2, 1).repeat(2, axis=1).repeat(2, axis=3).reshape(shape)


def _flashed(window: np.ndarray, dark: float) -> int:
    """Does the newest frame of ``window`` [shape=(n, cells)] complete a quick flash: did
    ``AREA`` of the picture change by ``DETECT`` one way at earlier frames of the window
    (each cell at any) and the other way now? +1 if it completes one by a rise, -1 by a
    fall, else 0. A cell counts at a frame where it is moving by ``_STEP`` or more and has
    moved ``DETECT`` from its extreme earlier in the window. Catches quick flashes of any
    cells at once, wherever they move on the screen."""
    window = np.ascontiguousarray(window, dtype=np.float32)
    if len(window) < 3:
        return 0
    return int(_completes()(window, np.float32(dark), np.float32(DETECT), np.float32(_STEP),
                            AREA))


def _completes_py(window, dark, detect, step, area):
    """:func:`_flashed`, compiled: one pass over each cell's values, in float32 as numpy
    compares them."""
    n, cells = window.shape
    falls = 0  # cells that rose at an earlier frame and fall now
    rises = 0
    for c in range(cells):
        low = high = window[0, c]
        up_before = down_before = up_now = down_now = False
        for t in range(n - 1):  # window[t + 1] against the extremes of window[:t + 1]
            if t > 0:
                low = min(low, window[t, c])
                high = max(high, window[t, c])
            now = window[t + 1, c]
            move = now - window[t, c]
            up = now - low >= detect and move >= step and low < dark  # risen that far, fast
            down = high - now >= detect and move <= -step and now < dark
            if t < n - 2:
                up_before = up_before or up
                down_before = down_before or down
            else:
                up_now, down_now = up, down
        # cells that moved one way at any earlier frame and back at the newest (a band that
        # moves while it is lit lights each cell at another frame, and puts it out at once)
        falls += up_before and down_now
        rises += down_before and up_now
    if falls / cells >= area:
        return -1
    if rises / cells >= area:
        return 1
    return 0


# (no fastmath: ``dark`` may be infinite)
_completes = lazy_kernel(_completes_py, fastmath=False)


def _quick_flashes(completes: Iterable[int], *, count: int, gap: int) -> int:
    """Quick flashes among the last ``count`` of ``completes`` (per frame: +1 / -1 where a
    quick flash completes by a rise / a fall, else 0), counted as the rule counts
    transitions: completions on consecutive frames the same way are one transition (a fade
    completes one on each of its frames); a train of transitions less than ``gap`` frames
    apart makes (m + 1) // 2 flashes for m transitions. A pure function of the last ``count``
    values (a segment's warm-up restores it exactly)."""
    flags = list(completes)[-count:]
    total, m, last_sign, last_t = 0, 0, 0, -gap
    for t, sign in enumerate(flags):
        if not sign:
            continue
        if t - last_t >= gap:  # a new train
            total += (m + 1) // 2
            m, last_sign = 1, sign
        elif sign != last_sign or t - last_t > 1:
            m, last_sign = m + 1, sign
        last_t = t
    return total + (m + 1) // 2


class _Counter:
    """Per cell, the most transitions any stretch of the last ``frames`` values makes, each
    tracked from its start: a rise of ``DETECT`` from the lowest value since the cell's
    last transition (with that low below ``dark``), or a fall of ``DETECT`` from the
    highest (to below ``dark``), opposite to the cell's last transition. Fast or slow
    alike: a flash is a pair of opposing changes however long each takes.

    One tracker per start frame, in a ring, all stepped together: a new value costs one
    compiled pass over the trackers, not a pass over the window."""

    def __init__(self, frames: int, dark: float) -> None:
        self.frames, self.dark, self.t = frames, np.float32(dark), 0
        self.lo: np.ndarray | None = None
        self.hi = self.direction = self.count = self.lo

    def push(self, now: np.ndarray) -> np.ndarray:
        """Take in the next value [shape=(cells,)]; the most transitions of each cell that
        any stretch of the last ``frames`` values makes (tracked from its start)."""
        if self.lo is None or self.lo.shape[1] != now.size:  # (a new size: start again)
            shape = (self.frames, now.size)
            # rows not started yet follow from the first value: they count what row 0 does
            self.lo = np.broadcast_to(now, shape).astype(np.float32)
            self.hi = self.lo.copy()
            self.direction = np.zeros(shape, np.int8)
            self.count = np.zeros(shape, np.int32)
        most = np.empty(now.size, np.int32)
        _push()(self.lo, self.hi, self.direction, self.count,
                np.ascontiguousarray(now, dtype=np.float32), self.t % self.frames,
                np.float32(DETECT), self.dark, most)
        self.t += 1
        return most


def _push_py(lo, hi, direction, count, now, row, detect, dark, most):
    """:meth:`_Counter.push` for every tracker (rows) and cell (columns): the tracker of
    ``row`` starts at ``now``, the others take it in; ``most`` gets each cell's most
    transitions (a tracker that started later can see one more: its extremes start
    elsewhere)."""
    rows, cells = lo.shape
    for c in range(cells):
        most[c] = 0
    for r in range(rows):
        for c in range(cells):
            v = now[c]
            if r == row:  # (it replaces the tracker that started a window ago)
                low, high, way, n = v, v, 0, 0
            else:
                low, high = min(lo[r, c], v), max(hi[r, c], v)
                way, n = direction[r, c], count[r, c]
            rise = way <= 0 and v - low >= detect and low < dark
            fall = not rise and way >= 0 and high - v >= detect and v < dark
            if rise or fall:
                n += 1
                way = 1 if rise else -1
                low = high = v
            lo[r, c], hi[r, c], direction[r, c], count[r, c] = low, high, way, n
            most[c] = max(most[c], n)
    return most


_push = lazy_kernel(_push_py, fastmath=False)  # (``dark`` may be infinite)


def _risky(counts: np.ndarray) -> np.ndarray:
    """Cells [shape=(cells,)] that made ``BUDGET`` transitions or more, where such cells
    cover ``AREA`` of the picture (a smaller patch may flash freely)."""
    over = counts >= BUDGET
    return over if over.mean() >= AREA else np.zeros_like(over)


class FlashLimiter:
    """Streaming limiter: feed frames in order through :meth:`apply` (see the module notes).

    Parameters
    ----------
    fps : float or Fraction
        Frame rate of the video: the rule counts flashes per second.
    """

    def __init__(self, fps: float | Fraction) -> None:
        self.fps = float(fps)
        (self.detect_frames, self.quick_frames, self.release_frames,
         self.reference_frames) = _params(self.fps)
        self.quick_count_frames = _quick_count_frames(self.fps)
        self.history = history_frames(fps)
        keep = max(self.quick_frames, self.reference_frames)
        self._y: deque[np.ndarray] = deque(maxlen=keep)
        self._q: deque[np.ndarray] = deque(maxlen=keep)
        self._since_risk: np.ndarray | None = None  # per cell: frames since its last risk
        # per frame of the last second: does it complete a quick flash (+1 / -1 / 0)
        self._quick: deque[int] = deque(maxlen=self.quick_count_frames)
        self._counters = (_Counter(self.detect_frames, DARK),
                          _Counter(self.detect_frames, np.inf))
        self.limited_frames = 0

    def __repr__(self) -> str:
        return (f"FlashLimiter(fps={self.fps:g}, detect_frames={self.detect_frames}, "
                f"release_frames={self.release_frames}, "
                f"reference_frames={self.reference_frames})")

    def _step(self, frame: Frames) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Take in one input frame; its (Y, Q) grids and each cell's half swing if any cell
        must be limited."""
        y, q = measure(frame)
        self._y.append(y)
        self._q.append(q)
        over = [_risky(counter.push(_pooled(grid)))
                for counter, grid in zip(self._counters, (y, q), strict=True)]
        risky = _unpooled(over[0] | over[1], y.shape)
        k = self.quick_frames
        quick = (_flashed(np.stack(list(self._y)[-k:]).reshape(-1, y.size), DARK)
                 or _flashed(np.stack(list(self._q)[-k:]).reshape(-1, q.size), np.inf))
        # (looked for on every frame, held or not: the flags are a function of the input)
        self._quick.append(quick)
        if _quick_flashes(self._quick, count=self.quick_count_frames, gap=k) >= QUICK_BUDGET:
            risky[:] = True  # quick flashes, anywhere: hold the whole picture
        since = self._since_risk
        if since is None or since.shape != risky.shape:
            since = np.full(risky.shape, self.release_frames, np.int32)
        self._since_risk = since = np.where(risky, 0, np.minimum(since + 1,
                                                                 self.release_frames))
        if (since >= self.release_frames).all():
            return None
        m = HALF_SWING + (1 - HALF_SWING) * since.reshape(y.shape) / self.release_frames
        return y, q, m.astype(np.float32)

    def prime(self, frames: Frames) -> None:
        """Take in the frames before a segment (at least :attr:`history` of them, or all from
        the first frame of the video) without making output."""
        for frame in frames:
            self._step(frame)

    def apply(self, frames: Frames, *, in_place: bool = False) -> Frames:
        """The next frames [shape=(B, H, W, 3), uint8], limited; untouched frames are the
        input's own bytes. ``in_place``: limit them where they are (no copy of the batch)."""
        out = frames if in_place and frames.flags.c_contiguous else None
        for i, frame in enumerate(frames):
            decision = self._step(frame)
            maps = None if decision is None else self._maps(*decision)
            if maps is None:
                continue
            if out is None:
                out = frames.copy()
            h, w = frame.shape[:2]
            gain, saturation = maps
            _pixels()(np.ascontiguousarray(frame), gain, saturation,
                      sampling(h, gain.shape[0]), sampling(w, gain.shape[1]),
                      bool((saturation < 1).any()), _DECODE, _WEIGHTS, _encode_table(),
                      _scaled_table(), out[i])
            self.limited_frames += 1
        return frames if out is None else out

    def _maps(self, y: np.ndarray, q: np.ndarray,
              m: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Each cell's gain and saturation factor, or None where no cell needs a change."""
        # The darkest recent state, not a mean: a mean still holds the flash that set the
        # hold off and would rise and fall with it (an added flash on each real one).
        s = np.min(list(self._y)[-self.reference_frames:], axis=0)
        target = np.where(m >= 1, y, s + np.clip(y - s, 0, m))  # released cells: exactly y
        darken = target < y  # never above: T <= Y
        gain = np.ones_like(y)
        gain[darken] = target[darken] / y[darken]
        cap = np.where(m >= 1, np.inf, _RED_HOLD * m / HALF_SWING)  # opens with m
        saturation = np.where(q > cap, cap / np.maximum(q, 1e-6), 1).astype(np.float32)
        if not (darken.any() or (saturation < 1).any()):
            return None
        # (the saturation softened: held red showed as grey squares; softening the gain too
        # takes more than the hits can spare, see _soft)
        return gain, _soft(saturation)


def _soft(cells: np.ndarray) -> np.ndarray:
    """A cell map [shape=(h, w)] smoothed without weakening it anywhere: each cell the mean,
    over its 3×3 neighbourhood, of the neighbours' lowest value around them. Every value is
    then at most the cell's own (each neighbour's 3×3 holds the cell), and a cell held alone
    fades over three cells instead of showing as a square: cells side by side hold a flash
    by different amounts. (It holds a wider area, too: on the gain it dims the hits next to
    a held change enough to cost the look tests' kicks.)"""
    from scipy.ndimage import minimum_filter, uniform_filter

    low = minimum_filter(cells, size=3, mode="nearest")
    return np.minimum(uniform_filter(low, size=3, mode="nearest"), cells).astype(np.float32)


@lru_cache(maxsize=1)
def _scaled_table() -> np.ndarray:
    """uint8 [shape=(_GAINS + 1, 256)]: sRGB code ``v`` scaled in linear light by
    ``k / _GAINS``, for every ``k``."""
    k = np.arange(_GAINS + 1, dtype=np.float64)[:, None] / _GAINS
    lin = np.clip(_DECODE.astype(np.float64)[None, :] * k, 0, 1)
    return np.ascontiguousarray(_encode_table()[np.rint(lin * 65535).astype(np.int64)])


def _pixels_py(frame, gain, saturation, rows_at, cols_at, desaturate, decode, weights,
               encode, scaled, out):
    """Each pixel in linear light: pulled towards its luminance by the saturation factor (if
    ``desaturate``), scaled by the gain, both bilinear between cell centres; sRGB again
    through ``encode`` (indexed by ``round(lin·65535)``).

    Row by row, a run of columns between the same two cell centres at a time: a run whose
    ends keep their value (gain and saturation 1) is not touched (``out`` holds the frame's
    bytes already: it is the frame, or a copy of it); one that only darkens
    reads each code from ``scaled`` at its gain, rounded to a step of ``1 / _GAINS`` (one
    read per value instead of a decode, a product and an encode); one that desaturates goes
    through linear light. ``out`` may be ``frame``: a run is read before it is written."""
    h, w = out.shape[0], out.shape[1]
    f32, u64 = np.float32, np.uint64
    one = f32(1.0)
    r0, r1, ry = rows_at
    c0, c1, cx = cols_at
    cells = gain.shape[1]
    # Runs of columns, [starts[k], starts[k + 1]). (Unsigned indices throughout: a signed
    # index whose sign LLVM cannot tell is tested for wrapping round on every read, and a
    # run's copy no longer runs in SIMD: ten times slower.)
    starts = np.empty(w + 1, dtype=np.uint64)
    runs = 0
    for j in range(w):
        if j == 0 or c0[j] != c0[j - 1] or c1[j] != c1[j - 1]:
            starts[runs] = j
            runs += 1
    starts[runs] = w
    steps = f32(scaled.shape[0] - 1)
    g_cells = np.empty(cells, dtype=np.float32)
    s_cells = np.ones(cells, dtype=np.float32)
    g_row = np.empty(w, dtype=np.float32)
    lin = np.empty((3, w), dtype=np.float32)
    for i in range(h):
        a, b, t = r0[i], r1[i], ry[i]
        for k in range(cells):
            g_cells[k] = gain[a, k] + t * (gain[b, k] - gain[a, k])
        for k in range(cells if desaturate else 0):
            s_cells[k] = saturation[a, k] + t * (saturation[b, k] - saturation[a, k])
        # (reshape, not ravel: ravel copies a row that is not contiguous, and the writes
        # would be lost; reshape refuses to compile for one)
        src = frame[i].reshape(-1)
        line = out[i].reshape(-1)
        for r in range(runs):
            j0, j1 = starts[r], starts[r + 1]
            p, q = c0[j0], c1[j0]
            gp, gq, sp, sq = g_cells[p], g_cells[q], s_cells[p], s_cells[q]
            if gp >= one and gq >= one and sp >= one and sq >= one:
                continue
            for j in range(j0, j1):
                g_row[j] = min(max(gp + cx[j] * (gq - gp), f32(0.0)), one)
            if sp >= one and sq >= one:
                for j in range(j0, j1):
                    table = scaled[np.uint32(g_row[j] * steps + f32(0.5))]
                    m = u64(3) * j
                    line[m] = table[src[m]]
                    line[m + u64(1)] = table[src[m + u64(1)]]
                    line[m + u64(2)] = table[src[m + u64(2)]]
                continue
            for j in range(j0, j1):
                m = u64(3) * j
                for ch in range(3):
                    lin[ch, j] = decode[src[m + u64(ch)]]
            for j in range(j0, j1):
                s = sp + cx[j] * (sq - sp)
                luma = weights[0] * lin[0, j] + weights[1] * lin[1, j] + weights[2] * lin[2, j]
                for ch in range(3):
                    lin[ch, j] = luma + s * (lin[ch, j] - luma)
            for ch in range(3):
                row = lin[ch]
                for j in range(j0, j1):
                    v = min(max(row[j] * g_row[j], f32(0.0)), one)
                    row[j] = v * f32(65535.0) + f32(0.5)
            for j in range(j0, j1):
                m = u64(3) * j
                for ch in range(3):
                    line[m + u64(ch)] = encode[np.uint32(lin[ch, j])]
    return out


_pixels = lazy_kernel(_pixels_py)
