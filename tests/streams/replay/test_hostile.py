"""A generated bank with hostile lines mixed in: the replay finishes with the clean alerts."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter

import pytest

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
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
