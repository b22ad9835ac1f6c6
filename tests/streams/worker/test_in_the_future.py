"""An event dated decades ahead is a dead letter in the worker, before it moves a clock."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest

from ..conftest import Setup, WorkerProcess
from ..eventgen import events
from .test_loop import dead_letters_of_a_run, replay_ids

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FAR = dt.datetime(2090, 1, 1, tzinfo=dt.UTC)


def test_events_from_the_future_are_dead_letters_and_fire_no_timer(
    make_setup: Callable[..., Setup], start_worker: Callable[[Setup, str], WorkerProcess]
) -> None:
    """Three postings dated 2090 among a bank's: each is an ``in_the_future`` dead
    letter with its original, and the alerts are a clean run's. Taken as they came, they
    moved their tasks' clocks to 2090: every timer of those partitions fired (birthdays,
    inactivity) and their customers' later events were too late."""
    setup = make_setup()
    good = list(events(customers=20, per_customer=30, seed=5))
    expected = replay_ids(good)
    lines = list(good)
    postings = [n for n, line in enumerate(good) if json.loads(line)["type"] == "transaction"]
    for count, n in enumerate(postings[100:400:100], start=1):
        absurd = {**json.loads(good[n]), "event_id": f"absurd-{count}"}
        absurd["occurred_at"] = FAR.isoformat()
        lines.insert(n + count, json.dumps(absurd).encode())
    letters = dead_letters_of_a_run(setup, start_worker, lines, expected, 3)
    assert sorted(json.loads(letter["original"])["event_id"] for letter in letters) == [
        "absurd-1",
        "absurd-2",
        "absurd-3",
    ]
    for letter in letters:
        assert letter["code"] == "in_the_future"
        assert letter["reason"].startswith("dated 2090-01-01T00:00:00Z, ")
        assert "after the worker's clock" in letter["reason"]
