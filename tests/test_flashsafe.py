"""The photosensitivity limiter, checked with a flash counter written here from the rule.

The counter is independent of :mod:`sonicdreams.flashsafe`: full-resolution cell means, the
rule's own thresholds (0.10 relative luminance with the darker state below 0.80, 20 in
(R−G−B)·320 for saturated red, 25 % of the screen), transitions tracked from extremum to
extremum, and flashes counted in every one-second window.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from sonicdreams import flashsafe as fs
from sonicdreams.flashsafe import FlashLimiter, history_frames
from sonicdreams.pipeline import render, work_dir_for

FPS = 30


# --------------------------------------------------------------------------------------------
# The test-side flash counter


def _linear(frames: np.ndarray) -> np.ndarray:
    c = frames.astype(np.float64) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _cells(values: np.ndarray, n: int = 8) -> np.ndarray:
    """Means over an n×n grid of cells: (T, H, W) → (T, n*n)."""
    t, h, w = values.shape
    rows = np.array_split(np.arange(h), n)
    cols = np.array_split(np.arange(w), n)
    return np.stack([values[:, r][:, :, c].mean(axis=(1, 2)) for r in rows for c in cols],
                    axis=1)


def _events(series: np.ndarray, threshold: float, dark: float | None) -> list[tuple[int, int]]:
    """(frame, ±1) transitions of one cell: moves of ``threshold`` away from the last
    extremum, the darker state below ``dark``."""
    events: list[tuple[int, int]] = []
    lo = hi = series[0]
    direction = 0
    for t, v in enumerate(series[1:], start=1):
        lo, hi = min(lo, v), max(hi, v)
        if direction <= 0 and v - lo >= threshold and (dark is None or lo < dark):
            events.append((t, 1))
            direction, lo, hi = 1, v, v
        elif direction >= 0 and hi - v >= threshold and (dark is None or v < dark):
            events.append((t, -1))
            direction, lo, hi = -1, v, v
    return events


def _transitions(cells: np.ndarray, threshold: float, dark: float | None) -> list[int]:
    """Per frame: +1/−1 where cells of ≥ 25 % of the screen make that transition, else 0."""
    n_frames, n_cells = cells.shape
    ups = np.zeros(n_frames)
    downs = np.zeros(n_frames)
    for c in range(n_cells):
        for t, d in _events(cells[:, c], threshold, dark):
            (ups if d > 0 else downs)[t] += 1 / n_cells
    return [1 if u >= 0.25 else -1 if d >= 0.25 else 0 for u, d in zip(ups, downs, strict=True)]


def _worst_second(transitions: list[int], fps: int) -> int:
    """Most flashes (pairs of opposing transitions) in any one-second window."""
    worst = 0
    for start in range(len(transitions)):
        seq = [d for d in transitions[start:start + fps] if d]
        changes = sum(1 for a, b in zip(seq, seq[1:], strict=False) if a != b)
        worst = max(worst, (changes + 1) // 2)
    return worst


def count_flashes(frames: np.ndarray, fps: int = FPS) -> int:
    """Worst one-second count of general or red flashes in uint8 frames (T, H, W, 3)."""
    lin = _linear(frames)
    luminance = _cells(lin @ np.array([0.2126, 0.7152, 0.0722]))
    r, g, b = lin[..., 0], lin[..., 1], lin[..., 2]
    red = np.where(r >= 0.8 * (r + g + b + 1e-12), np.maximum(r - g - b, 0) * 320, 0)
    general = _worst_second(_transitions(luminance, 0.1, 0.8), fps)
    red_flashes = _worst_second(_transitions(_cells(red), 20 + 1e-9, None), fps)
    return max(general, red_flashes)


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


# --------------------------------------------------------------------------------------------
# Synthetic frames


def _strobe(n: int, on, off, hz: float = 8.0, size: int = 64, area=None) -> np.ndarray:
    """``n`` frames of ``off`` with one frame of ``on`` at every beat of ``hz``."""
    frames = np.empty((n, size, size, 3), np.uint8)
    frames[:] = off
    for t in range(n):
        if int(t * hz / FPS) != int((t - 1) * hz / FPS):
            if area is None:
                frames[t] = on
            else:
                frames[(t, *area)] = on
    return frames


def test_counter_sees_the_strobe():
    assert count_flashes(_strobe(60, 255, 20)) >= 7
    assert count_flashes(_strobe(60, (255, 0, 0), 0)) >= 7


@pytest.mark.parametrize("on, off", [(255, 20), ((255, 0, 0), 0), (0, 230)],
                         ids=["white-on-dark", "red-on-black", "black-on-white"])
def test_a_full_screen_8hz_strobe_is_limited_to_three_flashes_a_second(on, off):
    frames = _strobe(120, on, off)
    out = FlashLimiter(FPS).apply(frames)
    assert count_flashes(out) <= 3
    # The hits are softened, not dropped: every beat still changes the picture.
    beats = [t for t in range(1, 120) if not np.array_equal(frames[t], frames[t - 1])]
    assert all(not np.array_equal(out[t], out[t - 1]) for t in beats)


@pytest.mark.parametrize("low, high, period, frames_on", [
    (20, 255, 12, 6), (20, 255, 12, 9), (120, 255, 15, 9), (20, 255, 30, 3), (20, 200, 20, 4),
    (200, 20, 15, 3)])
def test_holding_a_flash_adds_no_flash_of_its_own(low, high, period, frames_on):
    # Full-screen flashes 1-2.5 times a second, some frames long: under the limit or just
    # over it. The hold after each must not rise and fall by itself (a reference that still
    # held the flash made 2.5 flashes a second into 4, 1 into 2).
    frames = np.full((120, 32, 32, 3), low, np.uint8)
    for t in range(0, 120, period):
        frames[t:t + frames_on] = high
    out = FlashLimiter(FPS).apply(frames)
    assert count_flashes(out) <= min(count_flashes(frames), 3)


def test_cells_that_are_not_held_keep_their_red():
    # The left half rises and falls slowly, four transitions and more a second (held cell by
    # cell, too slow for a quick flash); the right half is a still, saturated red that must
    # come out as it was.
    from sonicdreams.flashsafe import _DECODE

    linear = np.resize(np.concatenate([np.linspace(0.05, 0.15, 7),
                                       np.linspace(0.15, 0.05, 7)[1:-1]]), 90)
    frames = np.zeros((90, 64, 64, 3), np.uint8)
    frames[:, :, :32] = np.searchsorted(_DECODE, linear).astype(np.uint8)[:, None, None, None]
    frames[:, :, 32:] = (255, 0, 0)
    limiter = FlashLimiter(FPS)
    out = limiter.apply(frames)
    assert limiter.limited_frames > 0
    inside = (slice(None), slice(8, -8), slice(40, None))  # away from the bilinear seam
    assert out[inside].tobytes() == frames[inside].tobytes()


def test_a_pulse_that_fades_out_slowly_is_limited_too():
    # Up by 0.12 in one frame, back down over six (0.02 a frame): each fall is slow, but
    # four and a half flashes a second all the same.
    linear = np.array([0.17, 0.15, 0.13, 0.11, 0.09, 0.07, 0.05] * 26)
    level = np.round(255 * (1.055 * linear ** (1 / 2.4) - 0.055))
    frames = np.broadcast_to(level[:, None, None, None], (182, 48, 64, 3)).astype(np.uint8)
    assert count_flashes(frames) >= 4
    out = FlashLimiter(FPS).apply(frames)
    assert count_flashes(out) <= 3
    assert all(not np.array_equal(out[t], out[t - 1]) for t in range(7, 182, 7))


@pytest.mark.parametrize("dark", [0.8, np.inf], ids=["luminance", "red"])
def test_the_transition_counter_agrees_with_the_test_counter_over_each_second(dark):
    from sonicdreams.flashsafe import DETECT, _Counter

    rng = np.random.default_rng(5)
    series = np.cumsum(rng.normal(0, 0.05, (120, 6)), axis=0).astype(np.float32) + 0.4
    counter = _Counter(31, dark)
    for t in range(len(series)):
        counts = counter.push(series[t])
        # the most transitions any stretch of the last second makes, tracked from its start
        expected = [max(len(_events(series[s:t + 1, c], DETECT, dark))
                        for s in range(max(0, t - 30), t + 1)) for c in range(6)]
        assert counts.tolist() == expected


def test_a_strobe_that_moves_across_the_screen_is_limited():
    # A band a third of the screen wide, in a new place at each of 8 flashes a second:
    # few transitions per cell, but a third of the screen flashes every time.
    frames = np.full((150, 48, 64, 3), 20, np.uint8)
    for t in range(150):
        if int(t * 8 / FPS) != int((t - 1) * 8 / FPS):
            frames[t][:, (np.arange(64) - 4 * t) % 64 < 22] = 255
    assert count_flashes(frames) >= 7
    assert count_flashes(FlashLimiter(FPS).apply(frames)) <= 3


@pytest.mark.parametrize("lit, period", [(3, 8), (4, 6), (2, 7)])
def test_a_band_that_moves_while_it_is_lit_is_limited(lit, period):
    # A band over three eighths of the screen, moving while it is lit for a few frames: the
    # cells it lights are not the cells it puts out, but each of them flashes.
    frames = np.full((120, 48, 64, 3), 40, np.uint8)
    for t in range(120):
        if t % period < lit:
            frames[t][:, (np.arange(64) - 6 * t) % 64 < 24] = 230
    assert count_flashes(frames) >= 4
    assert count_flashes(FlashLimiter(FPS).apply(frames)) <= 3


def test_a_slow_fade_is_unchanged_byte_for_byte():
    levels = np.linspace(0, 255, 90).round().astype(np.uint8)
    frames = np.broadcast_to(levels[:, None, None, None], (90, 48, 64, 3)).copy()
    frames[:, :, :32, 1] //= 2  # some colour
    out = FlashLimiter(FPS).apply(frames)
    assert out.tobytes() == frames.tobytes()


def test_a_small_area_strobe_is_unchanged():
    area = (slice(10, 30), slice(20, 40))  # 400 of 4096 pixels: under 10 % of the screen
    frames = _strobe(90, 255, 20, area=area)
    out = FlashLimiter(FPS).apply(frames)
    assert out.tobytes() == frames.tobytes()


def _bursts(n: int = 300) -> np.ndarray:
    """Calm moving content with strobe bursts that straddle the segment boundaries."""
    rng = np.random.default_rng(3)
    x = np.linspace(0, 2 * np.pi, 64)
    frames = np.empty((n, 64, 64, 3), np.uint8)
    for t in range(n):
        wave = 110 + 60 * np.sin(x[None, :] + 0.1 * t + x[:, None])
        frames[t] = np.clip(wave[..., None] + rng.normal(0, 3, (64, 64, 1)), 0, 255)
    strobe = _strobe(n, 255, 0)
    strobe[:, 40:] = 0  # the bottom third stays calm: cells are held and released apart
    for lo, hi in ((80, 130), (190, 205), (240, 290)):
        frames[lo:hi] = np.maximum(frames[lo:hi], strobe[lo:hi])
    return frames


def test_segments_with_warm_up_match_one_pass():
    frames = _bursts()
    whole = FlashLimiter(FPS).apply(frames)
    assert count_flashes(whole) <= 3
    assert count_flashes(frames) > 3
    parts = []
    for a, b in ((0, 100), (100, 200), (200, 300)):
        limiter = FlashLimiter(FPS)
        warm = min(a, history_frames(FPS))
        limiter.prime(frames[a - warm:a])
        # in chunks of odd sizes: chunking must not matter either
        parts += [limiter.apply(frames[lo:min(lo + 7, b)]) for lo in range(a, b, 7)]
    assert np.concatenate(parts).tobytes() == whole.tobytes()


def _hit(level: np.ndarray) -> np.ndarray:
    """Full-screen frames [shape=(n, 48, 64, 3)] of linear luminance ``level``."""
    from sonicdreams.flashsafe import _DECODE

    codes = np.searchsorted(_DECODE, np.clip(level, 0, 1)).astype(np.uint8)
    return np.broadcast_to(codes[:, None, None, None], (len(level), 48, 64, 3)).copy()


@pytest.mark.parametrize("decay", [0.5, 0.7, 0.85])
def test_one_hit_and_a_double_hit_pass_untouched(decay):
    """A hit that fades over many frames completes a quick flash on each of them, and a
    double hit makes three opposing changes: each is one flash, or two, and passes."""
    level = np.full(60, 0.03)
    level[20:] = 0.03 + 0.5 * decay ** np.arange(40)  # one hit, fading
    frames = _hit(level)
    assert FlashLimiter(FPS).apply(frames).tobytes() == frames.tobytes()
    level = np.full(60, 0.03)
    level[[20, 24]] = 0.6  # a double hit
    frames = _hit(level)
    assert count_flashes(frames) == 2
    assert FlashLimiter(FPS).apply(frames).tobytes() == frames.tobytes()


def test_quick_flashes_are_counted_as_the_rule_counts_transitions():
    from sonicdreams.flashsafe import _quick_flashes

    def flashes(flags):
        return _quick_flashes(flags, count=30, gap=11)

    assert flashes([0, -1, -1, -1, -1, -1, 0]) == 1  # one fall over five frames: one flash
    assert flashes([0, -1, 0, 0, 1, 0, -1, 0]) == 2  # fall, rise, fall: a flash and a half
    assert flashes([0, -1] + [0] * 20 + [-1]) == 2  # two trains
    assert flashes([1, -1] * 6) == 6  # a strobe at half the frame rate
    rng = np.random.default_rng(0)
    for _ in range(200):  # only the last second counts
        flags = rng.choice([-1, 0, 0, 0, 1], 50).tolist()
        assert flashes(flags) == flashes(flags[-30:])


def test_a_segment_starting_at_any_frame_matches_one_pass():
    """The warm-up restores every part of the state (the per-cell counts, the quick flashes
    of the last second and the runs before them), wherever a segment starts."""
    # quick flashes just under a second apart: the second sets off a hold of the third
    pairs = np.full((160, 48, 64, 3), 30, np.uint8)
    for t in (10, 39, 44, 80, 109, 114, 140):
        pairs[t] = 220
    # a long flash (its rise K - 1 frames before its fall), another a second later, then a
    # white frame: the hold there needs the first rise, from the far end of the warm-up
    level = np.full(110, 0.02)
    level[51:60] = level[88] = 0.5
    level[96] = 1.0
    for frames in (_bursts(), pairs, _hit(level)):
        whole = FlashLimiter(FPS).apply(frames)
        assert not np.array_equal(whole, frames)
        for a in range(1, len(frames) - 12):
            limiter = FlashLimiter(FPS)
            warm = min(a, history_frames(FPS))
            limiter.prime(frames[a - warm:a])
            assert limiter.apply(frames[a:a + 12]).tobytes() == whole[a:a + 12].tobytes(), a


# --------------------------------------------------------------------------------------------
# Through render


def _click_song(path: Path, *, hz: float = 8.0, duration_s: float = 4.0) -> Path:
    sr = 22050
    rng = np.random.default_rng(0)
    y = np.zeros(int(sr * duration_s), np.float32)
    burst = (rng.uniform(-1, 1, int(0.01 * sr)) * np.exp(-np.arange(int(0.01 * sr)) / 60))
    for k in range(int(duration_s * hz)):
        i = int(k * sr / hz)
        y[i:i + len(burst)] += 0.8 * burst.astype(np.float32)
    sf.write(str(path), y, sr)
    return path


_SMALL = dict(style="cppn", fps=FPS, width=64, height=64, seed=1, cache=False)


@pytest.fixture(scope="module")
def clicks(tmp_path_factory) -> Path:
    return _click_song(tmp_path_factory.mktemp("song") / "clicks.wav")


def test_click_track_at_full_flash_is_three_flashes_a_second_at_most(clicks, tmp_path):
    limited = render(clicks, tmp_path / "safe.mp4", flash_strength=1.0, **_SMALL)
    free = render(clicks, tmp_path / "free.mp4", flash_strength=1.0, allow_flashing=True,
                  **_SMALL)
    assert limited.manifest["settings"]["allow_flashing"] is False
    assert free.manifest["settings"]["allow_flashing"] is True
    assert count_flashes(_decode(free.output)) > 3
    assert count_flashes(_decode(limited.output)) <= 3


def test_without_flash_risk_the_limiter_changes_nothing(tmp_path):
    # Beats twice a second (120 bpm) at the default look: nothing to limit. (The limiter
    # counts each cell's transitions on its own, so out-of-step cells add up: on the
    # 8-a-second click track it holds some frames that the rule's counter finds safe.)
    beats = _click_song(tmp_path / "beats.wav", hz=2.0)
    on = render(beats, tmp_path / "on.mp4", segment_seconds=1, **_SMALL)
    off = render(beats, tmp_path / "off.mp4", segment_seconds=1, allow_flashing=True,
                 **_SMALL)
    assert _decode(on.output).tobytes() == _decode(off.output).tobytes()


def test_a_resumed_render_equals_an_uninterrupted_one(clicks, tmp_path):
    whole = render(clicks, tmp_path / "whole.mp4", flash_strength=1.0, segment_seconds=1,
                   **_SMALL)
    out = tmp_path / "resumed.mp4"
    render(clicks, out, flash_strength=1.0, segment_seconds=1, keep_work_dir=True, **_SMALL)
    segments = sorted(work_dir_for(out).glob("segment_*.mp4"))
    assert len(segments) == 4
    for segment in segments[1::2]:  # as if the render had stopped and other processes
        segment.unlink()            # had made the rest
    again = render(clicks, out, flash_strength=1.0, segment_seconds=1, overwrite=True, **_SMALL)
    assert again.resumed_segments == 2
    assert _decode(out).tobytes() == _decode(whole.output).tobytes()


def test_limiting_in_place_gives_the_same_frames():
    """The pipeline limits its own frames where they are: the same bytes as a copy."""
    rng = np.random.default_rng(3)
    strobe = np.repeat(rng.integers(0, 60, (1, 48, 64, 3), dtype=np.uint8), 40, axis=0)
    strobe[::3] = 250  # a bright flash every third frame: 10 a second
    copy, kept = FlashLimiter(30), strobe.copy()
    a = copy.apply(strobe)
    np.testing.assert_array_equal(strobe, kept)  # not in place: the input is untouched
    b = FlashLimiter(30).apply(strobe, in_place=True)
    assert b is strobe and copy.limited_frames > 0
    np.testing.assert_array_equal(a, b)
    # frames that are a view with rows apart (not contiguous) are limited all the same
    wide = np.zeros((40, 48, 128, 3), np.uint8)
    view = wide[:, :, ::2]
    view[...] = kept
    c = FlashLimiter(30).apply(view, in_place=True)
    np.testing.assert_array_equal(a, c)


# The numpy forms of the transition counter and the quick-flash test, as they were before
# they were compiled: the kernels must give their results, thresholds met exactly included.
def _push_reference(state, now, frames, dark):
    if state.get("lo") is None:
        shape = (frames, now.size)
        state["lo"] = np.broadcast_to(now, shape).astype(np.float32)
        state["hi"] = state["lo"].copy()
        state["direction"] = np.zeros(shape, np.int8)
        state["count"] = np.zeros(shape, np.int32)
        state["t"] = 0
    lo, hi, direction, count = state["lo"], state["hi"], state["direction"], state["count"]
    row = state["t"] % frames
    lo[row], hi[row], direction[row], count[row] = now, now, 0, 0
    np.minimum(lo, now, out=lo)
    np.maximum(hi, now, out=hi)
    rise = (direction <= 0) & (now - lo >= fs.DETECT) & (lo < np.float32(dark))
    fall = (direction >= 0) & (hi - now >= fs.DETECT) & (now < np.float32(dark)) & ~rise
    moved = rise | fall
    if moved.any():
        count += moved
        direction[rise], direction[fall] = 1, -1
        lo[moved] = np.broadcast_to(now, lo.shape)[moved]
        hi[moved] = np.broadcast_to(now, hi.shape)[moved]
    state["t"] += 1
    return count.max(axis=0)


def _flashed_reference(window, dark):
    if len(window) < 3:
        return 0
    low = np.minimum.accumulate(window[:-1])
    high = np.maximum.accumulate(window[:-1])
    now, step = window[1:], np.diff(window, axis=0)
    up = (now - low >= fs.DETECT) & (step >= fs._STEP) & (low < dark)
    down = (high - now >= fs.DETECT) & (step <= -fs._STEP) & (now < dark)
    if (up[:-1].any(axis=0) & down[-1]).mean() >= fs.AREA:
        return -1
    if (down[:-1].any(axis=0) & up[-1]).mean() >= fs.AREA:
        return 1
    return 0


@pytest.mark.parametrize("dark", [fs.DARK, np.inf])
def test_compiled_counters_give_the_numpy_results(dark):
    rng = np.random.default_rng(7)
    # values on a grid of DETECT / 4 steps: many changes meet the thresholds exactly
    levels = np.float32(fs.DETECT / 4) * np.arange(13, dtype=np.float32)
    values = levels[rng.integers(0, len(levels), (200, 64))]
    counter, state = fs._Counter(12, dark), {}
    for now in values:
        np.testing.assert_array_equal(counter.push(now), _push_reference(state, now, 12, dark))
    seen = set()
    for t in range(3, len(values)):
        window = values[max(0, t - 6): t]
        ours = fs._flashed(window, dark)
        assert ours == _flashed_reference(window, dark)
        seen.add(ours)
    assert seen == {-1, 0, 1}  # every outcome met


def test_a_cell_held_alone_fades_into_its_neighbours_and_is_held_no_less():
    # Cells side by side hold a flash by different amounts: as they are, a held cell shows
    # as a dark square; smoothed, it fades over its neighbours, and no cell is held less.
    cells = np.ones((8, 8), np.float32)
    cells[3, 4] = 0.2
    soft = fs._soft(cells)
    assert soft[3, 4] == pytest.approx(0.2)
    assert (soft <= cells + 1e-6).all()
    steps = max(np.abs(np.diff(soft, axis=0)).max(), np.abs(np.diff(soft, axis=1)).max())
    assert steps < 0.5 * (1 - 0.2)  # no cell-sized cliff
    assert soft[0, 0] == 1.0  # far away: untouched
