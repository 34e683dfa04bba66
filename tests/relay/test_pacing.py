"""The pacer of generated streams, on explicit times: due ticks, no drift, skipping ahead."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtmp_actors.relay.pacing import Pacer, Tick


def test_nothing_is_due_before_the_first_deadline_then_one_tick_each() -> None:
    pacer = Pacer(25, start=100.0)
    assert pacer.poll(99.99) is None
    assert pacer.poll(100.0) == Tick(0, 0, 100.0)
    assert pacer.poll(100.0) is None  # handed out once
    assert pacer.poll(100.039) is None
    assert pacer.next_deadline == pytest.approx(100.04)
    assert pacer.wait_time(100.03) == pytest.approx(0.01)
    tick = pacer.poll(100.04)
    assert tick is not None
    assert (tick.index, tick.skipped) == (1, 0)


def test_deadlines_come_from_the_tick_number_so_late_wakeups_do_not_drift() -> None:
    pacer = Pacer(30, start=0.0)
    # Every wake-up is 10 ms late (less than a frame): no tick is skipped, and after an
    # hour of frames the deadlines are still exactly n / 30, not n / 30 + accumulated lateness.
    for n in range(30 * 3600):
        tick = pacer.poll(n / 30 + 0.01)
        assert tick is not None
        assert tick.index == n
        assert tick.skipped == 0
    assert pacer.next_deadline == 3600.0
    assert pacer.skipped == 0


def test_a_caller_that_falls_behind_gets_the_latest_tick_not_a_burst() -> None:
    pacer = Pacer(10, start=0.0)
    assert pacer.poll(0.0) == Tick(0, 0, 0.0)
    # Stuck for 1.05 s: ticks 1..10 were due; only tick 10 is handed out.
    tick = pacer.poll(1.05)
    assert tick == Tick(10, 9, 1.0)
    assert pacer.poll(1.06) is None  # no catch-up burst
    assert pacer.next_deadline == pytest.approx(1.1)
    assert pacer.skipped == 9


def test_a_deadline_that_float_rounding_puts_a_hair_after_now_is_still_due() -> None:
    pacer = Pacer(3, start=0.0)
    for n in range(1000):
        assert pacer.poll(n * (1 / 3)) is not None


@pytest.mark.parametrize("rate", [0, -1, math.inf, math.nan])
def test_the_frame_rate_must_be_positive_and_finite(rate: float) -> None:
    with pytest.raises(ValueError, match="frame rate"):
        Pacer(rate, start=0.0)


@given(
    rate=st.floats(min_value=0.5, max_value=240),
    gaps=st.lists(st.floats(min_value=0, max_value=2), max_size=50),
)
def test_ticks_are_increasing_never_early_and_account_for_every_number(
    rate: float, gaps: list[float]
) -> None:
    pacer = Pacer(rate, start=5.0)
    now, handed, skipped = 5.0, [], 0
    for gap in gaps:
        now += gap
        tick = pacer.poll(now)
        if tick is not None:
            assert tick.due_at <= now + 1e-6
            handed.append(tick.index)
            skipped += tick.skipped
            assert now < pacer.next_deadline + 1e-6  # nothing else was due
    assert handed == sorted(set(handed))
    assert len(handed) + skipped == pacer.next_index
