"""A generated bank with hostile lines mixed in: the replay finishes with the clean alerts."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter
from decimal import Decimal

import pytest

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.screen import Limits
from churnwatch.streams.replay.driver import ReplayDriver, ReplaySummary
from churnwatch.streams.synthetic.bank import DatasetSpec, generate

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
CLEAN = DatasetSpec(customers=200, weeks=4, seed=23)
HOSTILE = DatasetSpec(customers=200, weeks=4, seed=23, malformed_share=0.02)


def replay(lines: list[bytes]) -> tuple[ReplayDriver, ReplaySummary, list[dict[str, object]]]:
    letters = io.BytesIO()
    driver = ReplayDriver(
        Engine(load_rules(SHIPPED_RULES)), dead_letters=letters, clock=lambda: NOW
    )
    summary = driver.run(lines, source="bank.jsonl")
    return driver, summary, [json.loads(line) for line in letters.getvalue().splitlines()]


@pytest.fixture(scope="module")
def clean() -> tuple[ReplayDriver, ReplaySummary, list[dict[str, object]]]:
    return replay(list(generate(CLEAN)))


def test_every_hostile_line_is_a_dead_letter_and_the_alerts_are_the_clean_ones(
    clean: tuple[ReplayDriver, ReplaySummary, list[dict[str, object]]],
) -> None:
    """Each extra line is one dead letter with a reason; the alert ids equal the clean run's."""
    good = set(generate(CLEAN))
    lines = list(generate(HOSTILE))
    bad_numbers = {n for n, line in enumerate(lines, start=1) if line not in good}
    driver, summary, letters = replay(lines)
    assert len(bad_numbers) > 50
    assert {letter["source"]["line"] for letter in letters} == bad_numbers
    assert all(letter["reason"] for letter in letters)
    codes = Counter(str(letter["code"]) for letter in letters)
    for hostile in ("amount_exponent", "amount_too_large", "too_deep", "duplicate_key"):
        assert codes[hostile] > 0, codes
    clean_driver, clean_summary, clean_letters = clean
    assert clean_letters == []
    ids = [alert.alert_id for alert in driver.stored]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(alert.alert_id for alert in clean_driver.stored)
    assert summary.alerts_by_rule == clean_summary.alerts_by_rule
    assert len(summary.alerts_by_rule) >= 6


def test_a_balance_past_64_bits_is_a_rule_error_and_the_replay_goes_on(
    clean: tuple[ReplayDriver, ReplaySummary, list[dict[str, object]]],
) -> None:
    """With ``max_amount`` raised to 10^19, a customer's balances of 10^18 (10^20 in
    cents) pass the 64 bits the stored state and the isolation snapshots hold: each of
    that customer's postings is a ``rule_error`` dead letter, and the rest of the bank
    gives the clean run's alerts (before, the 65th such posting's snapshot stopped the
    replay)."""
    start = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    huge = [
        json.dumps(
            {
                "type": "transaction",
                "event_id": f"huge-{n}",
                "occurred_at": (start + dt.timedelta(hours=n)).isoformat(),
                "account_id": f"AC-HUGE-{n % 3}",
                "customer_id": "C-HUGE",
                "direction": "credit",
                "amount": "1.00",
                "balance_after": f"{10**18 + n}.00",
                "kind": "transfer",
                "channel": "mobile",
            }
        ).encode()
        for n in range(80)
    ]
    driver = ReplayDriver(
        Engine(load_rules(SHIPPED_RULES)),
        clock=lambda: NOW,
        limits=Limits(max_amount=Decimal(10**19)),
    )
    summary = driver.run(huge + list(generate(CLEAN)))
    assert summary.dead_letters == {"rule_error": 80}
    assert {a.alert_id for a in driver.stored} == {a.alert_id for a in clean[0].stored}


def _moved(line: bytes, event_id: str, occurred_at: dt.datetime) -> bytes:
    event = json.loads(line)
    return json.dumps(
        {**event, "event_id": event_id, "occurred_at": occurred_at.isoformat()}
    ).encode()


def test_one_event_dated_decades_ahead_is_a_dead_letter_and_moves_no_clock(
    clean: tuple[ReplayDriver, ReplaySummary, list[dict[str, object]]],
) -> None:
    """A posting dated 2090 in the middle of the bank: with the present known, it is an
    ``in_the_future`` dead letter, and the alerts are the clean run's (taken as it came,
    it fired every customer's timers up to 2090 and made its customer's later events
    too late)."""
    lines = list(generate(CLEAN))
    middle = next(n for n in range(len(lines) // 2, len(lines)) if b'"transaction"' in lines[n])
    absurd = _moved(lines[middle], "absurd-1", dt.datetime(2090, 1, 1, tzinfo=dt.UTC))
    letters = io.BytesIO()
    driver = ReplayDriver(
        Engine(load_rules(SHIPPED_RULES)),
        dead_letters=letters,
        clock=lambda: NOW,
        present=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )
    summary = driver.run([*lines[:middle], absurd, *lines[middle:]], source="bank.jsonl")
    assert summary.dead_letters == {"in_the_future": 1}
    (letter,) = [json.loads(line) for line in letters.getvalue().splitlines()]
    assert letter["source"]["line"] == middle + 1
    assert letter["reason"].startswith("dated 2090-01-01T00:00:00Z, ")
    assert "(max_ahead)" in letter["reason"]
    assert json.loads(letter["original"])["event_id"] == "absurd-1"
    assert {a.alert_id for a in driver.stored} == {a.alert_id for a in clean[0].stored}


@pytest.mark.parametrize(("ahead", "refused"), [(0, False), (1, True)])
def test_max_ahead_is_the_last_moment_taken(ahead: int, refused: bool) -> None:
    """An event dated exactly ``max_ahead`` after the present is taken; a microsecond
    later, it is not."""
    present = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    line = next(line for line in generate(CLEAN) if b'"transaction"' in line)
    when = present + dt.timedelta(seconds=600, microseconds=ahead)
    driver = ReplayDriver(
        Engine(load_rules(SHIPPED_RULES)), clock=lambda: NOW, present=present, max_ahead=600
    )
    summary = driver.run([_moved(line, "edge", when)])
    assert summary.dead_letters == ({"in_the_future": 1} if refused else {})
    assert len(driver.states) == (0 if refused else 1)
