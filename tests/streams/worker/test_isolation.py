"""A rule that raises on one event costs that event only, in the worker as in replay."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal

import pytest

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.decode import Limits
from churnwatch.streams.config import load_config
from churnwatch.streams.replay.driver import ReplayDriver

from ..conftest import Setup, WorkerProcess
from ..eventgen import events, transfer_line
from .test_loop import dead_letters_of_a_run, replay_ids

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: 28 digits: accepted once max_amount is raised this far, then past the 64 bits a
#: balance figure is kept in (rules/balance.py)
POISON_AMOUNT = Decimal("12345678901234567890123456789.00")
WIDE = Decimal(10) ** 40


def poisoned(lines: list[bytes], every: int) -> tuple[list[bytes], int]:
    """``lines`` with, after every ``every``-th transfer, one from a new account of 28 digits."""
    out: list[bytes] = []
    count = 0
    for n, line in enumerate(lines):
        out.append(line)
        message = json.loads(line)
        if message["type"] == "transaction" and n % every == 0:
            count += 1
            at = dt.datetime.fromisoformat(message["occurred_at"]) + dt.timedelta(seconds=1)
            out.append(
                transfer_line(
                    f"poison-{count}",
                    message["customer_id"],
                    at,
                    POISON_AMOUNT,
                    Decimal("1000.00"),
                    account_id=f"AC-NEW-{count}",
                )
            )
    return out, count


def test_a_rule_error_is_a_dead_letter_and_the_stream_goes_on(
    make_setup: Callable[..., Setup], start_worker: Callable[[Setup, str], WorkerProcess]
) -> None:
    """Events on which a rule raises are ``rule_error`` dead letters naming the rule, in
    the worker and in replay alike; every other event gives the alerts of a clean run."""
    first = make_setup()
    first.path.write_text(first.path.read_text() + f"max_amount: {WIDE}\n")
    setup = Setup(first.path, load_config(first.path, environ={}), first.tmp)
    good = list(events(customers=20, per_customer=30, seed=5))
    lines, poisons = poisoned(good, every=40)
    expected = replay_ids(good)
    assert poisons >= 10 and len(expected) > 5

    driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)), limits=Limits(max_amount=WIDE))
    summary = driver.run(lines)
    assert summary.dead_letters == {"rule_error": poisons}
    assert {alert.alert_id for alert in driver.stored} == expected

    letters = dead_letters_of_a_run(setup, start_worker, lines, expected, poisons)
    for letter in letters:
        assert letter["code"] == "rule_error"
        assert "balance-sharp-fall" in letter["reason"]
        assert "OverflowError" in letter["reason"]
        assert "cu0" not in letter["reason"]  # no customer id in the reason
