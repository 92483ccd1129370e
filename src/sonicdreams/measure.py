"""How a video follows its song: look metrics and an independent flash counter.

Every function here works on decoded frames (``uint8 [N, H, W, 3]`` RGB) and, where the music
matters, on an onset envelope sampled at the frame times. Nothing here uses sonicdreams' own
rendering or analysis state, so the numbers measure any video against any song.

The definitions are those of issue 13 ("Music you can see"):

- ``beat_corr``: Pearson r between the per-frame visual change and a percussive onset
  envelope (the better of lag 0 and of the picture one frame late);
- ``hit_ratio``: visual change on the strongest 10 % of onset peaks over the 40 % of frames
  with the weakest onset;
- ``flicker``: on quiet frames, Σ|L[t+1]−2L[t]+L[t−1]| / Σ|L[t+1]−L[t−1]|;
- ``cuts_per_min``: frames whose mean luma change exceeds 40/255, away from sections;
- ``colourfulness``: median Hasler–Süsstrunk M (0–255 scale);
- ``section_ratio``: colour-histogram change across section boundaries over the change
  across mid-section points.

And, for issue 14 ("Sharp at every size"), ``fine_detail``: how much detail a frame holds at
its own pixels (a stretched picture loses it).

PyAV and librosa are imported only by the functions that need them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

__all__ = [
    "luma",
    "visual_change",
    "read_video",
    "read_manifest",
    "percussive_onset",
    "LookMetrics",
    "look_metrics",
    "fine_detail",
    "FlashReport",
    "count_flashes",
    "CUT_THRESHOLD",
    "HIST_BINS",
]

#: Rec.709 luma weights, applied to the gamma-encoded values.
_REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
#: A frame whose mean absolute luma change exceeds this is a cut (40 levels of 255).
CUT_THRESHOLD = 40.0 / 255.0
#: Bins per RGB channel of the colour histograms behind ``section_ratio`` (8×8×8 = 512).
HIST_BINS = 8
_CHUNK = 64  # frames converted at a time, to keep float copies small
_HIT_FLOOR = 1e-4  # luma units: a quiet picture that does not move at all
_SECTION_FLOOR = 1e-3  # total-variation distance: mid-section points that never change


def _as_frames(frames: npt.ArrayLike) -> np.ndarray:
    a = np.asarray(frames)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"frames must be [N, H, W, 3] RGB, got shape {a.shape}")
    return a


def luma(frames: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Rec.709 luma in [0, 1] of RGB frames.

    Parameters
    ----------
    frames : np.ndarray [shape=(N, H, W, 3)], uint8
        RGB frames (gamma-encoded, as decoded).

    Returns
    -------
    np.ndarray [shape=(N, H, W)], float32
        ``(0.2126 R + 0.7152 G + 0.0722 B) / 255`` of the encoded values.
    """
    a = _as_frames(frames)
    out = np.empty(a.shape[:3], dtype=np.float32)
    w = _REC709 / np.float32(255.0)
    for i in range(0, len(a), _CHUNK):
        out[i:i + _CHUNK] = a[i:i + _CHUNK].astype(np.float32) @ w
    return out


def _luma_of(frames_or_luma: npt.ArrayLike) -> np.ndarray:
    a = np.asarray(frames_or_luma)
    if a.ndim == 4:
        return luma(a)
    if a.ndim != 3:
        raise ValueError(f"expected frames [N, H, W, 3] or luma [N, H, W], got shape {a.shape}")
    return a.astype(np.float32, copy=False)


def visual_change(frames_or_luma: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Per-frame mean absolute luma change, ``mean |L[t] − L[t−1]|``; 0 for the first frame.

    Parameters
    ----------
    frames_or_luma : np.ndarray
        RGB frames ``uint8 [N, H, W, 3]`` or luma ``float [N, H, W]`` in [0, 1].

    Returns
    -------
    np.ndarray [shape=(N,)], float32
        In luma units (0–1; a change of 40 levels of 255 is about 0.157).
    """
    L = _luma_of(frames_or_luma)
    out = np.zeros(len(L), dtype=np.float32)
    for i in range(1, len(L), _CHUNK):
        j = min(i + _CHUNK, len(L))
        out[i:j] = np.abs(L[i:j] - L[i - 1:j - 1]).mean(axis=(1, 2))
    return out


def read_video(
    path: str | os.PathLike[str], *, height: int | None = 144
) -> tuple[npt.NDArray[np.uint8], Fraction]:
    """Decode every frame of a video, scaled down to ``height`` rows.

    Parameters
    ----------
    path : path
        Any video PyAV can decode.
    height : int or None
        Rows of the returned frames (the width keeps the aspect ratio, rounded to even);
        a smaller video is not scaled up. ``None`` keeps the native size.

    Returns
    -------
    frames : np.ndarray [shape=(N, h, w, 3)], uint8
    fps : Fraction
        The video stream's average frame rate.

    Raises
    ------
    SettingsError
        The file is missing, is not a video, or has no video stream.
    """
    import av

    from .errors import SettingsError

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SettingsError(f"{path}: no such video file" if not os.path.exists(path)
                            else f"{path}: not a video file")
    frames = []
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise SettingsError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = Fraction(stream.average_rate) if stream.average_rate else Fraction(0)
            src_h, src_w = stream.codec_context.height, stream.codec_context.width
            if height is None or height >= src_h or src_h == 0:
                out_h, out_w = src_h, src_w
            else:
                out_h = int(height)
                out_w = max(2, int(round(src_w * out_h / src_h / 2)) * 2)
            for frame in container.decode(stream):
                if (frame.height, frame.width) != (out_h, out_w):
                    frame = frame.reformat(width=out_w, height=out_h, format="rgb24",
                                           interpolation="AREA")
                frames.append(frame.to_ndarray(format="rgb24"))
    except av.FFmpegError as err:
        reason = " ".join(str(err).split())
        raise SettingsError(f"{path}: cannot be decoded as a video ({reason})") from None
    if not frames:
        raise SettingsError(f"{path}: has no video frames")
    return np.stack(frames), fps


def read_manifest(path: str | os.PathLike[str]) -> dict | None:
    """The JSON manifest sonicdreams embeds in a video's ``comment`` tag, or ``None``.

    Unlike :func:`sonicdreams.video.read_manifest`, a video without a (valid) manifest is not
    an error here: any video can be measured.
    """
    import av

    try:
        with av.open(os.fspath(path)) as c:
            text = next((v for k, v in c.metadata.items() if k.lower() == "comment"), "")
    except (av.FFmpegError, OSError, UnicodeDecodeError):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("generator") != "sonicdreams":
        return None
    return data


def percussive_onset(
    y: npt.ArrayLike, sr: int, times: npt.ArrayLike, *, hop_length: int = 256
) -> npt.NDArray[np.float32]:
    """Onset strength of the percussive part of ``y``, max-pooled over each frame's interval.

    Computed independently of sonicdreams' analysis: librosa's median-filter HPSS, then
    ``librosa.onset.onset_strength`` of the percussive signal. Frame ``i`` is on screen during
    ``[times[i], times[i+1])`` (the last one for the median frame spacing); its value is the
    maximum of the envelope over that interval (the nearest envelope sample if the interval
    holds none).

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        The song (the audio of the clip the video shows; time 0 = first frame).
    sr : int
        Sample rate of ``y``.
    times : np.ndarray [shape=(N,)]
        Frame times in seconds.

    Returns
    -------
    np.ndarray [shape=(N,)], float32
        Non-negative, in librosa's onset-strength units.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=0) if y.shape[0] < y.shape[1] else y.mean(axis=1)
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0:
        return np.zeros(0, dtype=np.float32)
    perc = librosa.effects.percussive(y, margin=1.0)
    env = librosa.onset.onset_strength(y=perc, sr=sr, hop_length=hop_length)
    env_t = librosa.frames_to_time(np.arange(len(env)), sr=sr, hop_length=hop_length)
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / 30
    ends = np.append(times[1:], times[-1] + dt)
    lo = np.searchsorted(env_t, times, side="left")
    hi = np.searchsorted(env_t, ends, side="left")
    out = np.zeros(len(times), dtype=np.float32)
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        if b > a:
            out[i] = env[a:b].max()
        elif len(env):
            out[i] = env[min(a, len(env) - 1)]
    return out


@dataclass(frozen=True)
class LookMetrics:
    """How a video follows its song (see the module docstring for the definitions).

    Attributes
    ----------
    beat_corr : float
        Pearson r of visual change and percussive onset (best of lag 0 and 1 frame).
    hit_ratio : float
        Median change at the strongest 10 % of onset peaks / at the 40 % weakest-onset frames.
    flicker : float
        Second-difference over first-difference luma energy on quiet frames.
    cuts_per_min : float
        Whole-picture jumps (mean luma change > 40/255) a minute, away from sections.
    cuts_per_min_all : float
        The same, counting every frame.
    colourfulness : float
        Median Hasler–Süsstrunk M of the frames (0–255 scale).
    section_ratio : float
        Colour-histogram change across section boundaries / across mid-section points
        (NaN without a boundary at least 3 s from both ends).
    mean_saturation : float
        Mean HSV saturation (0–255).
    mean_luma : float
        Mean Rec.709 luma (0–1).
    n_frames : int
    duration_s : float
    """

    beat_corr: float
    hit_ratio: float
    flicker: float
    cuts_per_min: float
    cuts_per_min_all: float
    colourfulness: float
    section_ratio: float
    mean_saturation: float
    mean_luma: float
    n_frames: int
    duration_s: float

    def to_dict(self) -> dict:
        """Plain floats and ints (NaN stays NaN; JSON writers decide how to show it)."""
        return asdict(self)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return float("nan")
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def _onset_peaks(onset: np.ndarray) -> np.ndarray:
    """Frames where the onset envelope has a local maximum (plateaus count once)."""
    o = onset.astype(np.float64)
    if len(o) < 3:
        return np.zeros(0, dtype=int)
    left = np.concatenate([[-np.inf], o[:-1]])
    right = np.concatenate([o[1:], [-np.inf]])
    return np.flatnonzero((o > left) & (o >= right) & (o > 0))


def _strong_peaks(onset: np.ndarray) -> np.ndarray:
    """The strongest 10 % of the onset peaks (frame indices)."""
    peaks = _onset_peaks(onset)
    if len(peaks) == 0:
        return peaks
    order = peaks[np.argsort(onset[peaks], kind="stable")]
    return order[len(order) - max(1, int(round(0.10 * len(order)))):]


def _weakest(onset: np.ndarray) -> np.ndarray:
    """The 40 % of frames with the weakest onset (frame indices)."""
    order = np.argsort(onset, kind="stable")
    return order[: max(1, int(round(0.40 * len(order))))]


def _hit_ratio(change: np.ndarray, onset: np.ndarray) -> float:
    strong = _strong_peaks(onset)
    if len(strong) == 0 or len(onset) < 3:
        return float("nan")
    weak = _weakest(onset)
    nxt = np.append(change[1:], change[-1])
    response = np.maximum(change, nxt)  # the frame of the onset or the next one
    return float(np.median(response[strong]) / max(float(np.median(response[weak])), _HIT_FLOOR))


def _flicker(L: np.ndarray, onset: np.ndarray) -> float:
    n = len(L)
    if n < 3:
        return float("nan")
    strong = _strong_peaks(onset)
    near = np.zeros(n, dtype=bool)
    for d in range(-2, 3):
        idx = strong + d
        near[idx[(idx >= 0) & (idx < n)]] = True
    quiet = (onset < np.median(onset)) & ~near
    quiet[0] = quiet[-1] = False
    num = den = 0.0
    for t in np.flatnonzero(quiet):
        a, b, c = L[t - 1], L[t], L[t + 1]
        num += float(np.abs(c - 2 * b + a).sum(dtype=np.float64))
        den += float(np.abs(c - a).sum(dtype=np.float64))
    if den > 0:
        return num / den
    return 0.0 if num == 0 else float("inf")


def _colour_stats(frames: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-frame Hasler–Süsstrunk M (0–255) and the mean HSV saturation (0–255)."""
    m = np.empty(len(frames))
    sat_sum = 0.0
    for i in range(0, len(frames), _CHUNK):
        f = frames[i:i + _CHUNK].astype(np.float32)
        r, g, b = f[..., 0], f[..., 1], f[..., 2]
        rg = (r - g).reshape(len(f), -1)
        yb = (0.5 * (r + g) - b).reshape(len(f), -1)
        m[i:i + _CHUNK] = (np.sqrt(rg.var(axis=1) + yb.var(axis=1))
                           + 0.3 * np.sqrt(rg.mean(axis=1) ** 2 + yb.mean(axis=1) ** 2))
        hi, lo = f.max(axis=-1), f.min(axis=-1)
        sat = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0.0) * 255.0
        sat_sum += float(sat.sum(dtype=np.float64))
    n_px = frames.shape[0] * frames.shape[1] * frames.shape[2]
    return m, sat_sum / max(n_px, 1)


def _histograms(frames: np.ndarray) -> np.ndarray:
    """Normalised 8×8×8 RGB histograms, one per frame ``[N, 512]``."""
    shift = 8 - int(np.log2(HIST_BINS))
    n_bins = HIST_BINS ** 3
    out = np.empty((len(frames), n_bins), dtype=np.float32)
    for i, f in enumerate(frames):
        q = (f >> shift).astype(np.int32)
        code = (q[..., 0] * HIST_BINS + q[..., 1]) * HIST_BINS + q[..., 2]
        h = np.bincount(code.ravel(), minlength=n_bins).astype(np.float32)
        out[i] = h / max(h.sum(), 1.0)
    return out


def _window_hist(hists: np.ndarray, times: np.ndarray, a: float, b: float) -> np.ndarray | None:
    sel = (times >= a) & (times <= b)
    return hists[sel].mean(axis=0) if sel.any() else None


def _section_ratio(frames: np.ndarray, times: np.ndarray, section_times) -> float:
    duration = float(times[-1]) + (float(times[1] - times[0]) if len(times) > 1 else 0.0)
    starts = np.unique(np.asarray(section_times, dtype=np.float64))
    boundaries = starts[(starts > 0) & (starts >= 3.0) & (starts <= duration - 3.0)]
    if len(boundaries) < 1:
        return float("nan")
    edges = np.concatenate([[0.0], starts[(starts > 0) & (starts < duration)], [duration]])
    mids = 0.5 * (edges[:-1] + edges[1:])
    hists = _histograms(frames)

    def change(t: float) -> float | None:
        before = _window_hist(hists, times, t - 2.5, t - 1.5)
        after = _window_hist(hists, times, t + 0.5, t + 1.5)
        if before is None or after is None or t - 2.5 < 0 or t + 1.5 > duration:
            return None
        return 0.5 * float(np.abs(before - after).sum())

    at_b = [c for c in (change(t) for t in boundaries) if c is not None]
    at_m = [c for c in (change(t) for t in mids) if c is not None]
    if not at_b or not at_m:
        return float("nan")
    return float(np.mean(at_b) / max(float(np.mean(at_m)), _SECTION_FLOOR))


def look_metrics(
    frames: npt.ArrayLike,
    *,
    fps: float | Fraction,
    onset: npt.ArrayLike,
    section_times: npt.ArrayLike = (),
) -> LookMetrics:
    """Measure how the frames of a video follow the onsets and sections of its song.

    Parameters
    ----------
    frames : np.ndarray [shape=(N, H, W, 3)], uint8
        The video, decoded (e.g. by :func:`read_video`).
    fps : float or Fraction
        Frame rate; frame ``i`` is at ``i / fps`` seconds.
    onset : np.ndarray [shape=(N,)]
        Percussive onset envelope at the frame times (e.g. :func:`percussive_onset`).
    section_times : sequence of float
        Section start times in seconds (0 may be included; it is not a boundary).

    Returns
    -------
    LookMetrics

    Notes
    -----
    Onset peaks are the local maxima of ``onset``; the response to a peak at frame ``t`` is
    ``max(change[t], change[t+1])``. ``hit_ratio`` compares the median response of the
    strongest 10 % of peaks with that of the 40 % of frames with the weakest onset (the
    same response, floor 1e-4 below); with evenly loud hits (a click track) the weak
    frames are the quiet ones between them. Quiet frames
    (``flicker``) have an onset below its median and are more than 2 frames from a strong
    peak. ``cuts_per_min`` divides by the whole duration and leaves out frames within ±1 s of
    a section start after 0. ``section_ratio`` compares normalised 8×8×8-bin RGB histograms
    averaged over ``[t−2.5, t−1.5]`` and ``[t+0.5, t+1.5]`` s (total-variation distance) at
    the boundaries and at the middle of every section (floor 1e-3 below).
    """
    a = _as_frames(frames)
    n = len(a)
    onset = np.asarray(onset, dtype=np.float64).ravel()
    if len(onset) != n:
        raise ValueError(f"onset has {len(onset)} values for {n} frames")
    fps_f = float(fps)
    times = np.arange(n) / fps_f
    duration_s = n / fps_f
    L = luma(a)
    change = visual_change(L).astype(np.float64)

    corr0 = _pearson(change, onset)
    corr1 = _pearson(change[1:], onset[:-1])
    beat_corr = float(np.nanmax([corr0, corr1])) if not (np.isnan(corr0) and np.isnan(corr1)) \
        else float("nan")

    cuts = change > CUT_THRESHOLD
    starts = np.asarray(section_times, dtype=np.float64).ravel()
    near_section = np.zeros(n, dtype=bool)
    for s in starts[starts > 0]:
        near_section |= np.abs(times - s) <= 1.0
    minutes = duration_s / 60.0 if duration_s > 0 else float("nan")
    m, mean_sat = _colour_stats(a)
    return LookMetrics(
        beat_corr=beat_corr,
        hit_ratio=_hit_ratio(change, onset),
        flicker=_flicker(L, onset),
        cuts_per_min=float((cuts & ~near_section).sum() / minutes),
        cuts_per_min_all=float(cuts.sum() / minutes),
        colourfulness=float(np.median(m)) if n else float("nan"),
        section_ratio=_section_ratio(a, times, starts) if n > 1 else float("nan"),
        mean_saturation=mean_sat,
        mean_luma=float(L.mean(dtype=np.float64)) if n else float("nan"),
        n_frames=n,
        duration_s=duration_s,
    )


# ----------------------------------------------------------------------------------------
# Flashes (WCAG 2.3.1 / ITU-R BT.1702), counted from the rule, independent of any limiter.

#: A general-flash transition: a change in relative luminance of at least this much …
FLASH_DELTA = 0.1
#: … where the darker state is below this relative luminance.
FLASH_DARK_MAX = 0.8
#: A flash counts when at least this fraction of the screen flashed.
FLASH_AREA = 0.25
#: Saturated red: R / (R + G + B) at least this (linear values), and a change of
#: (R − G − B) × 320 (negative values set to 0) of more than RED_DELTA.
RED_RATIO = 0.8
RED_DELTA = 20.0
_GRID = 16  # cells per side of the grid the screen is cut into


@dataclass(frozen=True)
class FlashReport:
    """Flashes found in a video.

    Attributes
    ----------
    general_times, red_times : tuple of float
        Times (s) at which a general / red flash completed (the frame of its second
        transition); a time appears once per flash.
    max_general_per_s, max_red_per_s : int
        The most flashes in any one-second window ``[t, t + 1)``.
    """

    general_times: tuple[float, ...]
    red_times: tuple[float, ...]
    max_general_per_s: int
    max_red_per_s: int

    @property
    def passes(self) -> bool:
        """At most three general and three red flashes in every second (WCAG 2.3.1)."""
        return self.max_general_per_s <= 3 and self.max_red_per_s <= 3

    def to_dict(self) -> dict:
        return {"general_flashes": len(self.general_times), "red_flashes": len(self.red_times),
                "max_general_per_s": self.max_general_per_s,
                "max_red_per_s": self.max_red_per_s}


def fine_detail(frames: npt.ArrayLike) -> float:
    """Mean absolute difference between the grey picture and itself blurred by one pixel
    (a Gaussian of sigma 1): the detail a picture drawn on a coarser grid and stretched
    bilinearly lacks. Three times coarser and stretched, a picture keeps about half of it."""
    from scipy.ndimage import gaussian_filter

    grey = _as_frames(frames).astype(np.float32).mean(axis=-1)
    return float(np.abs(grey - gaussian_filter(grey, (0, 1.0, 1.0))).mean())


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = c / np.float32(255.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _cell_edges(size: int) -> np.ndarray:
    k = min(_GRID, size)
    return np.unique(np.linspace(0, size, k + 1).round().astype(int))


def _cell_means(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Mean of ``x [N, H, W]`` over each grid cell → ``[N, cells]``."""
    s = np.add.reduceat(np.add.reduceat(x, rows[:-1], axis=1), cols[:-1], axis=2)
    area = np.outer(np.diff(rows), np.diff(cols)).astype(np.float32)
    return (s / area).reshape(len(x), -1)


class _Transitions:
    """Per-cell tracker of opposing transitions of one signal.

    For every cell it keeps the lowest and highest value since its last transition. A rise
    of at least ``delta`` from that low, or a fall of ``delta`` from that high, is a
    transition when ``ok(low_state, high_state)`` holds and it opposes the cell's previous
    transition (a continuing rise or fall extends the same transition). Every second
    transition completes a flash of that cell.
    """

    def __init__(self, first: np.ndarray, first_flag: np.ndarray, *, delta: float, kind: str):
        self.lo = first.copy()
        self.hi = first.copy()
        self.lo_flag = first_flag.copy()
        self.hi_flag = first_flag.copy()
        self.direction = np.zeros(first.shape, dtype=np.int8)
        self.transitions = np.zeros(first.shape, dtype=np.int64)
        self.delta = delta
        self.kind = kind

    def _ok(self, dark: np.ndarray, bright_flag: np.ndarray, dark_flag: np.ndarray) -> np.ndarray:
        if self.kind == "general":
            return dark < FLASH_DARK_MAX
        return bright_flag | dark_flag  # one of the two states is a saturated red

    def step(self, v: np.ndarray, flag: np.ndarray) -> None:
        # extend the extremes first so a fast full swing is seen within one frame
        rise = (v - self.lo >= self.delta) & (self.direction != 1) & \
            self._ok(self.lo, flag, self.lo_flag)
        fall = (self.hi - v >= self.delta) & (self.direction != -1) & \
            self._ok(v, self.hi_flag, flag)
        if self.kind == "red":  # "more than 20", not "at least"
            rise &= v - self.lo > self.delta
            fall &= self.hi - v > self.delta
        both = rise & fall  # cannot happen with delta > 0 unless lo/hi are stale; prefer larger
        if both.any():
            up_more = (v - self.lo) >= (self.hi - v)
            rise &= ~both | up_more
            fall &= ~both | ~up_more
        moved = rise | fall
        self.transitions += moved
        self.direction[rise] = 1
        self.direction[fall] = -1
        # after a transition the new state starts at v; otherwise widen the extremes
        grow_hi = v > self.hi
        grow_lo = v < self.lo
        self.hi = np.where(moved, v, np.where(grow_hi, v, self.hi))
        self.hi_flag = np.where(moved | grow_hi, flag, self.hi_flag)
        self.lo = np.where(moved, v, np.where(grow_lo, v, self.lo))
        self.lo_flag = np.where(moved | grow_lo, flag, self.lo_flag)
        # a rise keeps tracking the peak it climbs to, a fall the trough it sinks to
        # (handled by the widening above on the following frames)

    def flashes(self) -> np.ndarray:
        return self.transitions // 2


def _area_count(per_cell: np.ndarray, weights: np.ndarray) -> int:
    """The largest k such that cells with at least k flashes cover ≥ 25 % of the area."""
    order = np.argsort(-per_cell, kind="stable")
    covered = np.cumsum(weights[order])
    idx = int(np.searchsorted(covered, FLASH_AREA - 1e-9))
    return int(per_cell[order[idx]]) if idx < len(order) else 0


def _max_per_window(times: np.ndarray, window_s: float = 1.0) -> int:
    if len(times) == 0:
        return 0
    ends = np.searchsorted(times, times + window_s - 1e-9, side="left")
    return int((ends - np.arange(len(times))).max())


def count_flashes(frames: npt.ArrayLike, *, fps: float | Fraction) -> FlashReport:
    """Count general and red flashes by the rule of WCAG 2.3.1 / ITU-R BT.1702.

    The screen is cut into a 16×16 grid of cells; each cell's relative luminance is the mean
    of the linearised-sRGB ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` of its pixels. A cell makes
    a *transition* when its luminance rises by at least 0.1 from the lowest value since its
    previous transition, or falls by 0.1 from the highest, with the darker of the two states
    below 0.8, and in the direction opposite to its previous transition. Two transitions
    make one flash of that cell. A *general flash* of the picture completes at the frame
    where the cells that have completed that many flashes first cover a quarter of the screen.

    Red flashes use the same tracker on ``max(R − G − B, 0) × 320`` (linear values, cell
    means) with a change of more than 20, where one of the two states is saturated red (at
    least half the cell's pixels have ``R / (R + G + B) ≥ 0.8``).

    Parameters
    ----------
    frames : np.ndarray [shape=(N, H, W, 3)], uint8
    fps : float or Fraction

    Returns
    -------
    FlashReport
    """
    a = _as_frames(frames)
    n = len(a)
    fps_f = float(fps)
    if n == 0:
        return FlashReport((), (), 0, 0)
    rows, cols = _cell_edges(a.shape[1]), _cell_edges(a.shape[2])
    weights = np.outer(np.diff(rows), np.diff(cols)).ravel().astype(np.float64)
    weights /= weights.sum()
    general = red = None
    counts_g = np.zeros(n, dtype=np.int64)
    counts_r = np.zeros(n, dtype=np.int64)
    w_y = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    for i in range(0, n, _CHUNK):
        lin = _srgb_to_linear(a[i:i + _CHUNK].astype(np.float32))
        y = _cell_means(lin @ w_y, rows, cols)
        r, g, b = lin[..., 0], lin[..., 1], lin[..., 2]
        q = _cell_means(np.maximum(r - g - b, 0.0) * 320.0, rows, cols)
        total = r + g + b
        sat = _cell_means(((r >= RED_RATIO * total) & (total > 0)).astype(np.float32),
                          rows, cols) >= 0.5
        for k in range(len(y)):
            if general is None:
                general = _Transitions(y[k], np.zeros_like(sat[k]), delta=FLASH_DELTA,
                                       kind="general")
                red = _Transitions(q[k], sat[k], delta=RED_DELTA, kind="red")
            else:
                general.step(y[k], np.zeros_like(sat[k]))
                red.step(q[k], sat[k])
            counts_g[i + k] = _area_count(general.flashes(), weights)
            counts_r[i + k] = _area_count(red.flashes(), weights)

    def events(counts: np.ndarray) -> np.ndarray:
        inc = np.diff(np.concatenate([[0], counts]))
        return np.repeat(np.arange(n) / fps_f, np.maximum(inc, 0))

    g_times, r_times = events(counts_g), events(counts_r)
    return FlashReport(
        general_times=tuple(float(t) for t in g_times),
        red_times=tuple(float(t) for t in r_times),
        max_general_per_s=_max_per_window(g_times),
        max_red_per_s=_max_per_window(r_times),
    )
