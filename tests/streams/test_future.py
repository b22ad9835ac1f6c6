"""What an operator reads on an ``in_the_future`` dead letter."""

from __future__ import annotations

import datetime as dt

from churnwatch.rules.durations import micros
from churnwatch.streams.future import in_the_future_reason

PRESENT = micros(dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC))


def test_the_reason_gives_both_times_how_far_ahead_and_what_to_do() -> None:
    # 13:00 in Shanghai written as 13:00Z by a producer that forgot its time zone
    at = micros(dt.datetime(2026, 12, 1, 13, 0, tzinfo=dt.UTC))
    assert in_the_future_reason(at, PRESENT, 3_600_000_000, "the worker's clock") == (
        "dated 2026-12-01T13:00:00Z, 8.0 h after the worker's clock (2026-12-01T05:00:00Z), "
        "beyond the allowed 1 h (max_ahead): it would fire every timer due until then; "
        "mend the producer's clock or the date and send it again"
    )


def test_an_allowance_under_an_hour_is_said_in_seconds() -> None:
    reason = in_the_future_reason(PRESENT + 600_000_000, PRESENT, 90_000_000, "the clock")
    assert "0.2 h after the clock" in reason
    assert "beyond the allowed 90 s (max_ahead)" in reason
