"""The remaining time a render reports: steady, blind to its start-up, exact for a steady rate,
following a change of speed."""

from __future__ import annotations

import pytest

from sonicdreams.progress import Eta, Progress


def _steady(eta: Eta, *, startup_s: float, fps: float, total: int, initial: int = 0,
            batch: int = 8):
    """Events of a stage that spends ``startup_s`` before its first batch, then runs at
    ``fps``: (done, elapsed, eta, true remaining)."""
    out = [(initial, 0.0, eta(initial, total, 0.0), None)]
    done, t = initial, startup_s
    while done < total:
        done = min(total, done + batch)
        t += batch / fps
        out.append((done, t, eta(done, total, t), (total - done) / fps))
    return out


def test_a_steady_rate_gives_the_true_remaining_time_whatever_the_start_up():
    events = _steady(Eta(), startup_s=30.0, fps=20.0, total=2000)
    assert events[0][2] is None and events[1][2] is None  # no rate yet
    for _, _, eta, truth in events[2:]:
        assert eta == pytest.approx(truth, rel=1e-9, abs=1e-9)
    assert events[-1][2] == 0


def test_a_resumed_stage_counts_only_the_frames_it_renders():
    events = _steady(Eta(), startup_s=2.0, fps=10.0, total=1000, initial=600)
    for _, _, eta, truth in events[2:]:
        assert eta == pytest.approx(truth, rel=1e-9, abs=1e-9)


def test_the_estimate_follows_a_change_of_speed_and_starts_again_when_done_goes_back():
    eta = Eta()
    eta(0, 100, 0.0)
    eta(10, 100, 1.0)
    assert eta(20, 100, 2.0) == pytest.approx(8.0)  # 10 frames a second
    # 10 more in 2 s: over the later half of the 3 s since the first step (from 2 s), 5 a second
    assert eta(30, 100, 4.0) == pytest.approx(70 / 5)
    eta(40, 100, 6.0)
    assert eta(80, 100, 8.0) == pytest.approx(20 / (50 / 4))  # from 4 s: 50 frames in 4 s
    # A new pass of the stage: its own rate (5 frames a second), not the first pass's.
    assert eta(0, 100, 5.0) is None
    assert eta(10, 100, 7.0) is None
    assert eta(20, 100, 9.0) == pytest.approx(80 / 5)


def test_a_stage_done_in_one_step_has_nothing_left():
    eta = Eta()
    assert eta(0, 10, 0.0) is None
    assert eta(10, 10, 3.0) == 0.0


def test_progress_events_carry_it_as_an_optional_field():
    assert Progress("render", 1, 2, 0.5).eta_s is None
    assert Progress("render", 1, 2, 0.5, 3.0).eta_s == 3.0
