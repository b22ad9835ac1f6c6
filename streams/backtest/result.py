"""What a backtest found: per rule, the alerts before and after, and who they would reach.

:func:`churnwatch.streams.backtest.run.backtest` fills these in; the text and HTML
renderings (:mod:`churnwatch.streams.backtest.report`) and the review read them. How two
alerts count as "the same" and who counts as reached is told in
:mod:`churnwatch.streams.backtest.run`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from churnwatch.schemas.models import Alert
from churnwatch.streams.replay.driver import ReplaySummary

__all__ = [
    "AlertExample",
    "AlertKey",
    "BacktestResult",
    "Reach",
    "RuleDiff",
    "RuleSetChanges",
    "alert_key",
]

#: facts shown with each example, at most
EXAMPLE_FACTS = 5

AlertKey = tuple[str, str, tuple[str, ...]]
RuleStatus = Literal["unchanged", "changed", "added", "removed"]


def alert_key(alert: Alert) -> AlertKey:
    """What makes two alerts from different rule versions the same alert."""
    return (alert.rule_id, alert.customer_id, tuple(alert.trigger_event_ids))


@dataclass(frozen=True, slots=True)
class AlertExample:
    """One alert added or removed, as a person reads it: who, when, and the key numbers."""

    customer_id: str
    occurred_at: dt.datetime
    facts: tuple[tuple[str, str], ...]
    trigger_event_ids: tuple[str, ...]

    @classmethod
    def of(cls, alert: Alert, zone: ZoneInfo) -> AlertExample:
        facts = tuple((k, str(v)) for k, v in list(alert.facts.items())[:EXAMPLE_FACTS])
        return cls(
            customer_id=alert.customer_id,
            occurred_at=alert.occurred_at.astimezone(zone),
            facts=facts,
            trigger_event_ids=tuple(alert.trigger_event_ids),
        )


@dataclass(frozen=True, slots=True)
class Reach:
    """How many distinct people a set of alerts would message; who counts as reached is told
    in :mod:`churnwatch.streams.backtest.run`."""

    customers: int = 0
    managers: int = 0
    executives: int = 0


@dataclass(frozen=True, slots=True)
class RuleDiff:
    """One rule id, before (baseline) and after (new)."""

    rule_id: str
    title: str
    status: RuleStatus
    version_before: int | None
    version_after: int | None
    before: int
    after: int
    added: int
    removed: int
    added_examples: tuple[AlertExample, ...]
    removed_examples: tuple[AlertExample, ...]
    reach_before: Reach
    reach_after: Reach
    #: alerts per local day of ``occurred_at``; days without alerts are absent
    days_before: dict[dt.date, int]
    days_after: dict[dt.date, int]

    @property
    def alerts_changed(self) -> bool:
        return bool(self.added or self.removed)


@dataclass(frozen=True, slots=True)
class RuleSetChanges:
    """What differs between the two rule sets as written, by rule id and version."""

    added: tuple[tuple[str, int], ...] = ()
    removed: tuple[tuple[str, int], ...] = ()
    #: (id, version before, version after) for rules whose definition differs
    changed: tuple[tuple[str, int, int], ...] = ()
    #: rules whose definition differs but whose version was not raised
    same_version: tuple[str, ...] = ()
    #: named predicates added, removed or redefined (they change every rule using them)
    predicates: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.predicates)


@dataclass(frozen=True)
class BacktestResult:
    """Everything a report needs; rendering lives in :mod:`churnwatch.streams.backtest.report`."""

    events_source: str
    new_source: str
    new_fingerprint: str
    baseline_source: str
    baseline_fingerprint: str
    timezone: str
    replay: ReplaySummary
    rules: tuple[RuleDiff, ...]
    changes: RuleSetChanges
    reach_before: Reach
    reach_after: Reach
    #: every local day from the first to the last alert of either run
    days: tuple[dt.date, ...] = ()
    days_before: dict[dt.date, int] = field(default_factory=dict)
    days_after: dict[dt.date, int] = field(default_factory=dict)
    #: rules that need more history than the events cover (their figures are not a fair test)
    coverage_warnings: tuple[str, ...] = ()

    @property
    def before(self) -> int:
        return sum(r.before for r in self.rules)

    @property
    def after(self) -> int:
        return sum(r.after for r in self.rules)

    @property
    def added(self) -> int:
        return sum(r.added for r in self.rules)

    @property
    def removed(self) -> int:
        return sum(r.removed for r in self.rules)

    @property
    def no_change(self) -> bool:
        """No alert added or removed (the rule files may still differ)."""
        return self.added == 0 and self.removed == 0
