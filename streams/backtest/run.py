"""Backtest a rule change: run a new and a baseline rule set over the same events, and diff.

This is how compliance sees what a threshold change will do before it goes live. Both
rule sets are replayed with the replay driver (no store, one fixed clock, so the result
is the same on every run) and their alerts are compared per rule.

Two alerts are "the same" when they share ``(rule_id, customer_id, trigger_event_ids)``.
The ``alert_id`` cannot be used for this: it includes the rule version, and a changed
rule normally carries a new version.

Who would receive messages is approximated from the directory the replay builds from
``customer`` and ``staff`` events, as it stands at the end of the events (not at the
time of each alert), and before any delivery policy (cooldowns, quiet hours, daily
caps, grouping) is applied:

- a customer is reached when an alert's audience includes ``customer`` and the
  customer has opted in to SMS;
- a manager is reached when an alert's audience includes ``relationship_manager``
  (the customer's ``manager_id``) or ``branch_head`` (every active branch head of the
  customer's branch);
- executives are counted apart: every active executive, for alerts addressed to them.

An alert for a customer with no ``customer`` event reaches nobody in these counts.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.rules import DEFAULT_TIMEZONE
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import RuleSet
from churnwatch.rules.texts import pick
from churnwatch.schemas.models import Alert
from churnwatch.streams.backtest.result import (
    AlertExample,
    AlertKey,
    BacktestResult,
    Reach,
    RuleDiff,
    RuleSetChanges,
    RuleStatus,
    alert_key,
)
from churnwatch.streams.replay.driver import ReplayDriver, ReplaySummary

__all__ = [
    "FIXED_CLOCK",
    "backtest",
    "compare_rule_sets",
    "coverage_warnings",
    "reach_of",
]

#: every alert of a backtest is stamped ``detected_at`` with this instant, so two runs agree
FIXED_CLOCK = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def backtest(
    events: Path | Sequence[bytes],
    new: RuleSet,
    baseline: RuleSet,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    examples: int = 3,
    until: dt.datetime | None = None,
    clock: dt.datetime = FIXED_CLOCK,
    label: str | None = None,
) -> BacktestResult:
    """Replay ``events`` with ``baseline`` and with ``new``; diff their alerts per rule.

    ``events`` is a file of contract-v1 JSON lines (read twice, never held in memory)
    or the lines themselves. ``until`` moves both event-time clocks on after the last
    event, so scheduled steps and absence checks due by then fire too. ``label`` names
    the events in the report (default: the file name).
    """
    zone = ZoneInfo(timezone)
    old_alerts, old_directory, _ = _replay(events, baseline, until, clock)
    new_alerts, new_directory, summary = _replay(events, new, until, clock)

    old_by_rule = _by_rule(old_alerts)
    new_by_rule = _by_rule(new_alerts)
    old_specs = {r.id: r.spec for r in baseline.rules}
    new_specs = {r.id: r.spec for r in new.rules}
    rule_ids = sorted(set(old_specs) | set(new_specs) | set(old_by_rule) | set(new_by_rule))

    diffs: list[RuleDiff] = []
    for rule_id in rule_ids:
        old_spec = old_specs.get(rule_id)
        new_spec = new_specs.get(rule_id)
        status: RuleStatus
        if old_spec is None:
            status = "added"
        elif new_spec is None:
            status = "removed"
        else:
            status = "unchanged" if old_spec == new_spec else "changed"
        before = old_by_rule.get(rule_id, {})
        after = new_by_rule.get(rule_id, {})
        added = [after[k] for k in after.keys() - before.keys()]
        removed = [before[k] for k in before.keys() - after.keys()]
        spec = new_spec or old_spec
        diffs.append(
            RuleDiff(
                rule_id=rule_id,
                title=pick(spec.title, "en") if spec is not None else rule_id,
                status=status,
                version_before=old_spec.version if old_spec is not None else None,
                version_after=new_spec.version if new_spec is not None else None,
                before=len(before),
                after=len(after),
                added=len(added),
                removed=len(removed),
                added_examples=_examples(added, examples, zone),
                removed_examples=_examples(removed, examples, zone),
                reach_before=reach_of(before.values(), old_directory),
                reach_after=reach_of(after.values(), new_directory),
                days_before=_per_day(before.values(), zone),
                days_after=_per_day(after.values(), zone),
            )
        )

    days_before = _per_day(old_alerts, zone)
    days_after = _per_day(new_alerts, zone)
    return BacktestResult(
        events_source=label or (str(events) if isinstance(events, Path) else "<lines>"),
        new_source=new.source,
        new_fingerprint=new.fingerprint,
        baseline_source=baseline.source,
        baseline_fingerprint=baseline.fingerprint,
        timezone=timezone,
        replay=summary,
        rules=tuple(diffs),
        changes=compare_rule_sets(new, baseline),
        reach_before=reach_of(old_alerts, old_directory),
        reach_after=reach_of(new_alerts, new_directory),
        days=_day_range(days_before.keys() | days_after.keys()),
        days_before=days_before,
        days_after=days_after,
        coverage_warnings=coverage_warnings(_event_span(events), new, baseline),
    )


class _Timed(msgspec.Struct):
    occurred_at: dt.datetime


def _event_span(events: Path | Sequence[bytes]) -> dt.timedelta:
    """The time from the first to the last event (lines that do not decode are skipped)."""
    decoder = msgspec.json.Decoder(_Timed)
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    with _lines(events) as lines:
        for line in lines:
            try:
                at = decoder.decode(line).occurred_at
            except msgspec.DecodeError:
                continue
            if at.tzinfo is None:
                continue
            if first is None or at < first:
                first = at
            if last is None or at > last:
                last = at
    if first is None or last is None:
        return dt.timedelta(0)
    return last - first


def coverage_warnings(span: dt.timedelta, *rulesets: RuleSet) -> tuple[str, ...]:
    """A sentence per enabled rule whose history window is longer than the events cover.

    A six-week file cannot judge a rule that compares with a 90-day baseline: the
    customer's "usual" is cut short, so the backtest under- or over-counts its alerts.
    """
    needs: dict[str, int] = {}
    for ruleset in rulesets:
        for rule in ruleset.rules:
            if rule.spec.enabled and rule.block.horizon > span.total_seconds():
                needs[rule.id] = max(needs.get(rule.id, 0), rule.block.horizon)
    days = span.total_seconds() / 86400
    return tuple(
        f"the events cover {days:.1f} days but rule '{rule_id}' looks back "
        f"{horizon / 86400:g} days: its figures here are not a fair test"
        for rule_id, horizon in sorted(needs.items())
    )


def compare_rule_sets(new: RuleSet, baseline: RuleSet) -> RuleSetChanges:
    """Rules added, removed and changed between two rule sets, by id and version."""
    old = {r.id: r.spec for r in baseline.rules}
    cur = {r.id: r.spec for r in new.rules}
    changed = tuple(
        (rid, old[rid].version, cur[rid].version)
        for rid in sorted(old.keys() & cur.keys())
        if old[rid] != cur[rid]
    )
    names = baseline.predicates.keys() | new.predicates.keys()
    return RuleSetChanges(
        added=tuple((rid, cur[rid].version) for rid in sorted(cur.keys() - old.keys())),
        removed=tuple((rid, old[rid].version) for rid in sorted(old.keys() - cur.keys())),
        changed=changed,
        same_version=tuple(rid for rid, before, after in changed if before == after),
        predicates=tuple(
            sorted(n for n in names if baseline.predicates.get(n) != new.predicates.get(n))
        ),
    )


def reach_of(alerts: Iterable[Alert], directory: InMemoryDirectory) -> Reach:
    """Distinct customers, managers and executives ``alerts`` would message (approximate)."""
    customers: set[str] = set()
    managers: set[str] = set()
    executives: set[str] = set()
    for alert in alerts:
        audiences = {r.audience for r in alert.recipients}
        if "executive" in audiences:
            executives.update(
                s.staff_id
                for s in directory.staff_by_id.values()
                if s.role == "executive" and s.active
            )
        profile = directory.customer(alert.customer_id)
        if profile is None:
            continue
        if "customer" in audiences and profile.sms_opt_in:
            customers.add(profile.customer_id)
        if "relationship_manager" in audiences and profile.manager_id:
            managers.add(profile.manager_id)
        if "branch_head" in audiences:
            managers.update(
                s.staff_id for s in directory.branch_staff(profile.branch_id, "branch_head")
            )
    return Reach(len(customers), len(managers), len(executives))


def _replay(
    events: Path | Sequence[bytes],
    ruleset: RuleSet,
    until: dt.datetime | None,
    clock: dt.datetime,
) -> tuple[list[Alert], InMemoryDirectory, ReplaySummary]:
    driver = ReplayDriver(Engine(ruleset), None, clock=lambda: clock)
    with _lines(events) as lines:
        summary = driver.run(lines, source=str(events) if isinstance(events, Path) else "-")
    if until is not None:
        driver.advance_to(until)
    return driver.stored, driver.directory, summary


@contextmanager
def _lines(events: Path | Sequence[bytes]) -> Iterator[Iterable[bytes]]:
    if isinstance(events, Path):
        with events.open("rb") as handle:
            yield handle
    else:
        yield events


def _by_rule(alerts: Iterable[Alert]) -> dict[str, dict[AlertKey, Alert]]:
    out: dict[str, dict[AlertKey, Alert]] = {}
    for alert in alerts:
        out.setdefault(alert.rule_id, {})[alert_key(alert)] = alert
    return out


def _examples(alerts: list[Alert], limit: int, zone: ZoneInfo) -> tuple[AlertExample, ...]:
    ordered = sorted(alerts, key=lambda a: (a.occurred_at, a.customer_id, a.trigger_event_ids))
    return tuple(AlertExample.of(a, zone) for a in ordered[:limit])


def _per_day(alerts: Iterable[Alert], zone: ZoneInfo) -> dict[dt.date, int]:
    counts = Counter(a.occurred_at.astimezone(zone).date() for a in alerts)
    return dict(sorted(counts.items()))


def _day_range(days: Iterable[dt.date]) -> tuple[dt.date, ...]:
    present = sorted(days)
    if not present:
        return ()
    first, last = present[0], present[-1]
    return tuple(first + dt.timedelta(days=i) for i in range((last - first).days + 1))
