"""Inhibit stage: an alert of one rule holds the customer messages of others for a while.

Modelled on Alertmanager's inhibit rules. While a *source* alert is in force, a customer
message whose alert matches the *target* matchers and agrees with the source on the
``equal`` labels is not sent. Two things differ from Alertmanager, each for a reason:

- Alerts here do not resolve, so a rule says how long its source holds (``duration``):
  from the source's event time for that long. A bank states "no retention text for 7
  days after a large outflow", not "while some alert is firing".
- Only customer messages are held. Staff are always told: the message they get lists
  every alert about the customer (``notifiers/grouping.py``), and a manager who is not
  told cannot act. ``equal`` always holds ``customer_id``: one customer's alert never
  silences another's text.

A message is held when the time it is due to go out, counted in event time (its alert's
event time plus any quiet-hours deferral), falls in a source's window. The same alert
never holds its own messages, and, as in Alertmanager, an alert that matches both sides
of a rule is not held by another alert that also matches both (two high-severity alerts
do not silence each other). A source counts only when it was told to someone: a shadow
rule's alert, or one of a control group, changes nothing (the uplift of a rule is
measured against customers the bank did nothing for because of it).

A held message is not dropped: its outbox row is ``suppressed`` with the reason and the
holding alert (``payload.inhibited_by``), it is counted in
``churnwatch_deliveries_inhibited_total``, and the alert page shows it. Two places apply
the rules, so the order in which a driver sees two alerts does not matter: a new target
message is checked against the stored sources (:class:`Inhibitor`), and a new source
holds the target messages still waiting in the outbox (:meth:`Inhibitor.holds_pending`),
e.g. a text deferred to the morning by quiet hours. A message already handed to the
provider cannot be held.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from churnwatch.notifiers.context import Delivery, Inhibition
from churnwatch.schemas.models import Alert
from churnwatch.schemas.times import utc

__all__ = [
    "EQUAL_LABELS",
    "SOURCE_LABELS",
    "TARGET_LABELS",
    "ActiveAlerts",
    "InhibitRule",
    "Inhibitor",
    "Matcher",
    "check_against_rules",
    "source_labels",
    "target_labels",
]

#: what a source matcher can test: the alert
SOURCE_LABELS = ("rule_id", "severity")
#: what a target matcher can test: the alert, the customer's tier and the message's channel
TARGET_LABELS = ("rule_id", "severity", "tier", "channel")
#: labels source and target can be required to share
EQUAL_LABELS = ("customer_id", "account_id")

Op = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.S)


@dataclass(frozen=True)
class Matcher:
    """``label op value`` as Alertmanager writes it: ``rule_id="x"``, ``severity=~"high|critical"``.

    Regular expressions are anchored at both ends, as in Alertmanager; a label an alert
    does not have reads as the empty string.
    """

    label: str
    op: Op
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        match = _MATCHER.match(text)
        if match is None:
            raise ValueError(
                f"{text!r} is not a matcher: write label, an operator (=, !=, =~, !~) and a "
                'value, e.g. rule_id="large-transfer-out" or severity=~"high|critical"'
            )
        label, op, value = match.groups()
        if value.startswith('"'):
            try:
                decoded = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"{text!r}: the quoted value is not closed") from None
            if not isinstance(decoded, str):
                raise ValueError(f"{text!r}: quote the value once")
            value = decoded
        elif '"' in value or value[:1] in ("=", "~"):
            raise ValueError(f'{text!r}: quote the value, e.g. {label}{op}"..."')
        matcher = cls(label, op, value)  # type: ignore[arg-type]
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{text!r}: not a regular expression ({exc})") from exc
        return matcher

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.label, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = re.fullmatch(self.value, value) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.label}{self.op}{json.dumps(self.value, ensure_ascii=False)}"


@dataclass(frozen=True)
class InhibitRule:
    """One entry of ``inhibit:`` in the routing file, checked."""

    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]
    duration: dt.timedelta
    #: where it is written in the routing file, for ``rules check``
    line: int = 0

    def source_matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.source)

    def target_matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.target)


def source_labels(alert: Alert) -> dict[str, str]:
    return {
        "rule_id": alert.rule_id,
        "severity": alert.severity,
        "customer_id": alert.customer_id,
        "account_id": alert.account_id or "",
    }


def target_labels(alert: Alert, tier: str | None, channel: str) -> dict[str, str]:
    return {**source_labels(alert), "tier": tier or "", "channel": channel}


class ActiveAlerts(Protocol):
    """The stored alerts about a customer (``notifiers/inhibit_store.py`` reads the store)."""

    def alerts_about(self, customer_id: str, since: dt.datetime, until: dt.datetime) -> list[Alert]:
        """Alerts of ``customer_id`` whose event time is in ``[since, until]``, oldest first."""
        ...


class PendingMessages(Protocol):
    """Customer messages still waiting in the outbox, and a way to hold them."""

    def pending_customer_messages(
        self, customer_id: str
    ) -> list[tuple[int, Alert, str, str | None, dt.datetime]]:
        """(row id, its alert, channel, tier, when due in event time) of each waiting row."""
        ...

    def hold(
        self, row_id: int, note: str, inhibited_by: Mapping[str, str], now: dt.datetime
    ) -> bool:
        """Mark one waiting row suppressed with ``note``; False when it is no longer waiting."""
        ...


class Inhibitor:
    """The inhibit stage, a contact-policy stage (``notifiers/policy.py``) of its own.

    ``alerts`` answers which alerts about the customer are stored; ``told(alert)`` says
    whether an alert was told to anyone (its control group is not). Shadow alerts,
    routed to nobody, never hold anything.
    """

    __slots__ = ("alerts", "rules", "told")

    def __init__(
        self,
        rules: Sequence[InhibitRule],
        alerts: ActiveAlerts,
        told: Callable[[Alert], bool] | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.alerts = alerts
        self.told = told

    def __call__(self, delivery: Delivery, history: object = None) -> Delivery:
        """Hold ``delivery`` when a stored source is in force at its send time."""
        if not self.rules or delivery.audience != "customer" or delivery.outcome != "pending":
            return delivery
        target = delivery.alert
        labels = target_labels(target, delivery.tier, delivery.channel)
        rules = [r for r in self.rules if r.target_matches(labels)]
        if not rules:
            return delivery
        at = send_time(target, delivery.now, delivery.due_at)
        longest = max(r.duration for r in rules)
        found = self.alerts.alerts_about(target.customer_id, at - longest, at)
        sources = [s for s in found if self._counts(s)]
        for rule in rules:
            for source in sources:
                until = self._holds(rule, source, target, labels, at)
                if until is not None:
                    return delivery.inhibit(_inhibition(rule, source, until))
        return delivery

    def sources_in(self, alert: Alert) -> list[InhibitRule]:
        """The rules ``alert`` is a source of."""
        labels = source_labels(alert)
        return [r for r in self.rules if r.source_matches(labels)]

    def holds_pending(
        self, source: Alert, outbox: PendingMessages, now: dt.datetime
    ) -> list[tuple[int, Alert, str]]:
        """Hold the waiting customer messages a new source alert silences.

        Returns (row id, held alert, channel) for each row held here.
        """
        rules = self.sources_in(source) if self._counts(source) else []
        if not rules:
            return []
        held: list[tuple[int, Alert, str]] = []
        for row_id, target, channel, tier, at in outbox.pending_customer_messages(
            source.customer_id
        ):
            labels = target_labels(target, tier, channel)
            for rule in rules:
                if not rule.target_matches(labels):
                    continue
                until = self._holds(rule, source, target, labels, at)
                if until is None:
                    continue
                inhibition = _inhibition(rule, source, until)
                if outbox.hold(row_id, inhibition.note(), inhibition.payload(), now):
                    held.append((row_id, target, channel))
                break
        return held

    def _counts(self, source: Alert) -> bool:
        if not source.recipients or source.shadow:
            return False
        return self.told is None or self.told(source)

    @staticmethod
    def _holds(
        rule: InhibitRule,
        source: Alert,
        target: Alert,
        labels: Mapping[str, str],
        at: dt.datetime,
    ) -> dt.datetime | None:
        """The end of the hold when ``source`` holds the message of ``target`` due ``at``."""
        if source.alert_id == target.alert_id:
            return None
        from_labels = source_labels(source)
        if not rule.source_matches(from_labels):
            return None
        if any(from_labels.get(name, "") != labels.get(name, "") for name in rule.equal):
            return None
        start = utc(source.occurred_at)
        until = start + rule.duration
        if not start <= utc(at) < until:
            return None
        # Alertmanager: an alert matching both sides is not held by another doing the same
        if rule.source_matches(labels) and rule.target_matches({**labels, **from_labels}):
            return None
        return until


def send_time(alert: Alert, now: dt.datetime, due_at: dt.datetime) -> dt.datetime:
    """When a message goes out, in event time: its alert's time plus any deferral.

    The worker plans on the wall clock and replay on event time; counting the deferral
    from the alert's own time makes the hold the same in both.
    """
    return utc(alert.occurred_at) + max(due_at - now, dt.timedelta(0))


def _inhibition(rule: InhibitRule, source: Alert, until: dt.datetime) -> Inhibition:
    return Inhibition(
        alert_id=source.alert_id,
        rule_id=source.rule_id,
        occurred_at=utc(source.occurred_at),
        until=until,
        inhibit=rule.name,
    )


def check_against_rules(
    rules: Sequence[InhibitRule],
    live: Mapping[str, str],
    texting: Mapping[str, str],
    where: str,
) -> list[str]:
    """What ``rules check`` says about inhibit rules that cannot do what they say.

    ``live`` maps the ids of the pack's rules in force to their severity, ``texting``
    those of them that text customers. A rule id a matcher names must exist; a source
    must match some rule in force and a target some rule that texts customers, or the
    entry holds nothing (a misspelt id would otherwise quietly turn the hold off). Each
    message starts with ``where:line`` of the entry in the routing file.
    """
    problems: list[str] = []
    for rule in rules:
        prefix = f"{where}:{rule.line}: inhibit rule {rule.name!r}"
        for matcher in (*rule.source, *rule.target):
            if matcher.label == "rule_id" and matcher.op == "=" and matcher.value not in live:
                problems.append(f"{prefix}: no rule in force with id {matcher.value!r}")
        if not any(rule.source_matches(_rule_labels(r, s)) for r, s in live.items()):
            problems.append(f"{prefix}: source_matchers match no rule in force")
        alert_side = [m for m in rule.target if m.label in SOURCE_LABELS]
        reached = [
            r for r, s in texting.items() if all(m.matches(_rule_labels(r, s)) for m in alert_side)
        ]
        if not reached:
            problems.append(
                f"{prefix}: target_matchers match no rule that texts customers, so it holds nothing"
            )
    return problems


def _rule_labels(rule_id: str, severity: str) -> dict[str, str]:
    return {"rule_id": rule_id, "severity": severity}
