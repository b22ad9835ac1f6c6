"""The churn score in the engine: contributions from alerts, the ``score`` block, snapshots.

After the rules of one event (or one clock advance) have made their alerts, the engine
hands them here (:func:`score_alerts`). Per instant of those alerts, in time order:

1. the score just before the instant is read from the customer's contributions;
2. each alert of a weighted rule in force adds a contribution (a shadow rule, told to
   nobody, never moves the score; a ``score`` rule's own alerts weigh nothing);
3. a ``score`` rule whose threshold lies above the score before and at or below the score
   after fires: once per upward crossing, since a score only rises at a contribution;
4. every alert of the instant carries the score after it, with its contributions
   (:class:`~churnwatch.schemas.models.AlertScore`), for the alert page and the report.

Everything is a function of the contributions' event times and weights, so the worker
and the replay give the same scores and the same alert ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec

from churnwatch.rules.blocks import Firing
from churnwatch.rules.durations import EPOCH
from churnwatch.rules.durations import micros as to_micros
from churnwatch.rules.score import (
    Contribution,
    ScoreConfig,
    add_contribution,
    decayed,
    points,
    score_at,
)
from churnwatch.rules.state import BlockState, CustomerState
from churnwatch.schemas.models import Alert, AlertScore, FactValue, ScoreContribution

__all__ = ["ScoreBlock", "score_alerts", "snapshot"]


class ScoreBlock:
    """The ``score`` building block: its rule fires from :func:`score_alerts`, never on an
    event, and keeps no state of its own (the crossing follows from the contributions)."""

    __slots__ = ("at_least",)
    horizon = 0
    sees_unmatched = False
    timed = False

    def __init__(self, at_least: int) -> None:
        #: the threshold in units (rules/score.UNITS)
        self.at_least = at_least

    def new_state(self) -> BlockState | None:
        return None

    def on_event(
        self, event: Any, customer: Any, at: int, matched: bool, state: BlockState | None
    ) -> Firing | None:
        return None

    def prune(self, state: BlockState, cutoff: int) -> None:
        return None


def snapshot(config: ScoreConfig, contributions: list[Contribution], at: int) -> AlertScore:
    """The score at ``at`` µs with each contribution still worth something then."""
    half_life = config.half_life
    parts: list[ScoreContribution] = []
    total = 0
    for when, rule_id, weight in contributions:
        if when > at:
            continue
        value = decayed(weight, at - when, half_life)
        if not value:
            continue
        total += value
        parts.append(
            ScoreContribution(
                rule_id,
                EPOCH + dt.timedelta(microseconds=when),
                points(weight),
                points(value),
            )
        )
    low, high = config.band_of(total)
    return AlertScore(
        points(total),
        config.half_life_text,
        points(low),
        points(high) if high is not None else None,
        parts,
    )


#: builds a score rule's alert from its firing (the engine's ``alert``)
MakeAlert = Callable[[Any, Firing], Alert]


def score_alerts(
    config: ScoreConfig,
    score_rules: tuple[Any, ...],
    state: CustomerState,
    alerts: list[Alert],
    make_alert: MakeAlert,
) -> tuple[list[Alert], list[str]]:
    """The alerts with their scores, followed by any ``score`` rule alerts; the ids of the
    score rules whose threshold was crossed (fired or held back by cooldown)."""
    by_time: dict[int, list[int]] = {}
    for index, alert in enumerate(alerts):
        by_time.setdefault(to_micros(alert.occurred_at), []).append(index)
    result = list(alerts)
    crossed: list[str] = []
    contributions = state.score
    half_life = config.half_life
    for at in sorted(by_time):
        indexes = by_time[at]
        before = score_at(contributions, at, half_life)
        signals: list[Alert] = []
        for index in indexes:
            alert = alerts[index]
            weight = config.weights.get(alert.rule_id)
            if weight and not alert.shadow:
                add_contribution(contributions, (at, alert.rule_id, weight))
                signals.append(alert)
        taken = snapshot(config, contributions, at)
        for index in indexes:
            result[index] = msgspec.structs.replace(alerts[index], score=taken)
        if not signals:
            continue
        after = score_at(contributions, at, half_life)
        for rule in score_rules:
            threshold = rule.block.at_least
            if not before < threshold <= after or not rule.match(None, state.customer):
                continue
            crossed.append(rule.id)
            last = state.last_alert_at.get(rule.id)
            if last is not None and rule.cooldown and abs(at - last) < rule.cooldown:
                continue
            state.last_alert_at[rule.id] = at
            firing = _firing(signals, at, before, after, threshold, taken, config)
            result.append(msgspec.structs.replace(make_alert(rule, firing), score=taken))
    return result, crossed


def _firing(
    signals: list[Alert],
    at: int,
    before: int,
    after: int,
    threshold: int,
    taken: AlertScore,
    config: ScoreConfig,
) -> Firing:
    """The crossing as a firing: triggered by the signals' own triggers (their alert ids
    when they have none), so a replay and the worker name the same alert."""
    triggers: list[str] = []
    for alert in signals:
        for event_id in alert.trigger_event_ids or [alert.alert_id]:
            if event_id not in triggers:
                triggers.append(event_id)
    facts: dict[str, FactValue] = {
        "score": str(points(after)),
        "score_before": str(points(before)),
        "at_least": str(points(threshold)),
        "signals": ",".join(dict.fromkeys(alert.rule_id for alert in signals)),
        "contributions": len(taken.contributions),
        "half_life": config.half_life_text,
    }
    return Firing(
        tuple(triggers),
        facts,
        customer_id=signals[0].customer_id,
        account_id=signals[0].account_id,
        occurred_at=at,
    )
