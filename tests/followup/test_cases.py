"""The 7-3-1 steps of one maturity are one follow-up case.

Acknowledging any step acknowledges the case (no step escalates after it); a recorded
outcome closes every step, and a step that fires afterwards opens closed, with no
escalation, and the pipeline tells nobody of it.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from churnwatch.followup.cases import case_key
from churnwatch.followup.escalation import EscalationPolicy, Escalator
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.testing import FixedClock, RecordingNotify
from churnwatch.schemas.models import Alert

from .conftest import MONDAY_10, add, customer, make_alert

DAY = dt.timedelta(days=1)
MATURITY = {"maturity_date": "2026-12-01", "product_id": "TD-9", "amount": "200,000.00"}


def step(n: int, name: str, *, scheduled_by: str = "ev-sched", severity: str = "high") -> Alert:
    """One step alert of the maturity scheduled by ``scheduled_by`` (high, so it escalates)."""
    made = make_alert(
        n, rule_id="maturity-reminder", severity=severity, facts={**MATURITY, "step": name}
    )
    return msgspec.structs.replace(made, trigger_event_ids=[scheduled_by])


@pytest.fixture
def store(both_stores: FollowUpStore) -> FollowUpStore:
    """These tests run on SQLite and on PostgreSQL."""
    return both_stores


def opened(store: FollowUpStore, clock: FixedClock, *alerts: Alert) -> Escalator:
    esc = Escalator(store, EscalationPolicy(), RecordingNotify(), clock)
    for alert in alerts:
        add(store, alert)
        esc.open(alert, customer(), [("S-RM1", "relationship_manager")])
    return esc


def test_steps_of_one_scheduling_share_a_case() -> None:
    """Steps of one scheduling share a key; another maturity or a non-step alert does not."""
    assert case_key(step(1, "3d")) == case_key(step(2, "1d"))
    assert case_key(step(3, "3d", scheduled_by="ev-other")) != case_key(step(1, "3d"))
    assert case_key(make_alert(4)) is None


def test_acknowledging_one_step_acknowledges_the_case(store: FollowUpStore) -> None:
    """The T-3 call task acknowledged: the T-7 step is acknowledged too and escalates no more."""
    clock = FixedClock(MONDAY_10)
    t7, t3 = step(1, "7d"), step(2, "3d")
    esc = opened(store, clock, t7, t3)
    store.record(t3.alert_id, "acknowledge", "S-RM1", "web", clock())
    first = store.get(t7.alert_id)
    assert first is not None and first.acknowledged_at is not None
    assert first.status == "acknowledged" and first.acknowledged_by == "S-RM1"
    clock.advance(10 * dt.timedelta(hours=1))
    assert esc.run_due() == 0
    kinds = [e["kind"] for e in store.events(t7.alert_id)]
    assert kinds == ["opened", "acknowledge"]


def test_a_later_step_of_an_acknowledged_case_starts_acknowledged(store: FollowUpStore) -> None:
    """The T-1 step firing after the case was acknowledged opens acknowledged, no timer."""
    clock = FixedClock(MONDAY_10)
    t3 = step(2, "3d")
    esc = opened(store, clock, t3)
    store.record(t3.alert_id, "acknowledge", "S-RM1", "web", clock())
    clock.advance(2 * DAY)
    t1 = step(3, "1d")
    opened(store, clock, t1)
    later = store.get(t1.alert_id)
    assert later is not None and later.acknowledged_at is not None
    assert later.status == "acknowledged" and later.next_escalation_at is None
    clock.advance(DAY)
    assert esc.run_due() == 0


def test_an_outcome_closes_the_case_and_cancels_the_remaining_steps(
    store: FollowUpStore,
) -> None:
    """Retained at T-3: the T-7 step closes with it; the T-1 step opens closed and silent."""
    clock = FixedClock(MONDAY_10)
    t7, t3 = step(1, "7d"), step(2, "3d")
    esc = opened(store, clock, t7, t3)
    store.record(t3.alert_id, "outcome", "S-RM1", "sms", clock(), outcome="retained")
    earlier = store.get(t7.alert_id)
    assert earlier is not None and (earlier.status, earlier.outcome) == ("closed", "retained")
    clock.advance(2 * DAY)
    t1 = step(3, "1d")
    assert store.case_closed(t1)
    opened(store, clock, t1)
    last = store.get(t1.alert_id)
    assert last is not None and (last.status, last.outcome) == ("closed", "retained")
    assert last.next_escalation_at is None
    clock.advance(DAY)
    assert esc.run_due() == 0


def test_another_maturity_is_another_case(store: FollowUpStore) -> None:
    """An outcome on one maturity's steps leaves another maturity's steps open."""
    clock = FixedClock(MONDAY_10)
    mine, other = step(1, "3d"), step(2, "3d", scheduled_by="ev-other")
    opened(store, clock, mine, other)
    store.record(mine.alert_id, "outcome", "S-RM1", "web", clock(), outcome="left")
    untouched = store.get(other.alert_id)
    assert untouched is not None and untouched.status == "open" and untouched.outcome is None
    assert not store.case_closed(step(3, "1d", scheduled_by="ev-other"))
