"""The absence block's daily check (``rules/timed_blocks.py``): when it looks next."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from churnwatch.rules.state import ActivityState
from churnwatch.rules.timed_blocks import AbsenceBlock

DAY = 86400
TODAY = 740_000  # a day's ordinal


def reference_days_until_possible(block: AbsenceBlock, state: ActivityState, today: int) -> int:
    """The definition, one day at a time: the first day ahead on which the check's
    condition holds if no new event came, else ``recent`` days."""
    recent_days, baseline_days = block.recent_days, block.baseline_days
    recent, baseline = state.recent, state.baseline
    for ahead in range(1, recent_days + 1):
        day = today + ahead
        leaving = state.count(day - recent_days)
        recent += state.count(day) - leaving
        baseline += leaving - state.count(day - recent_days - baseline_days)
        usual = Decimal(baseline * recent_days) / Decimal(baseline_days)
        if usual >= block.usual_at_least and recent <= usual * block.share:
            return ahead
    return recent_days


@settings(max_examples=300)
@given(
    recent=st.integers(1, 40),
    baseline=st.integers(1, 120),
    usual_at_least=st.integers(0, 10),
    share=st.sampled_from(["0", "0.2", "0.5", "1"]),
    first=st.integers(TODAY - 200, TODAY + 40),
    counts=st.lists(st.integers(0, 5), max_size=200),
)
def test_the_next_possible_day_is_the_one_found_day_by_day(
    recent: int,
    baseline: int,
    usual_at_least: int,
    share: str,
    first: int,
    counts: list[int],
) -> None:
    """Whatever the counts around today, the day the check looks next is the one the
    day-by-day definition finds (the running counts as the daily roll leaves them)."""
    block = AbsenceBlock(
        recent * DAY,
        baseline * DAY,
        usual_at_least,
        Decimal(share),
        dt.time(9),
        ZoneInfo("Asia/Shanghai"),
    )
    state = ActivityState(first=first, counts=counts, through=TODAY)
    state.recent = sum(state.count(TODAY - n) for n in range(recent))
    state.baseline = sum(state.count(TODAY - recent - n) for n in range(baseline))
    expected = reference_days_until_possible(block, state, TODAY)
    assert block.days_until_possible(state, TODAY) == expected


@given(
    first=st.integers(-50, 50),
    counts=st.lists(st.integers(0, 5), max_size=60),
    start=st.integers(-120, 120),
    length=st.integers(0, 60),
)
def test_a_run_of_days_reads_as_each_day_s_count(
    first: int, counts: list[int], start: int, length: int
) -> None:
    """The counts of a run of days, the run of counts held or not, are each day's count."""
    state = ActivityState(first=first, counts=counts)
    assert state.days(start, length) == [state.count(day) for day in range(start, start + length)]
