"""A rule's firing made into the alert the drivers store and route.

Why its own module. The engine decides *whether* a rule fires; what the alert then says
is a pure mapping from the rule's spec, the firing and the event, with an id that is the
same whenever the same rule, version, customer and triggers meet again: that id is what
makes a restart or a replay idempotent (both drivers hold each other to it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from churnwatch.rules.blocks import Firing
from churnwatch.rules.compiled import CompiledRule
from churnwatch.rules.durations import EPOCH
from churnwatch.rules.state import CustomerProfile
from churnwatch.rules.texts import FALLBACK_LANGUAGE, pick
from churnwatch.schemas.models import Alert, Recipient

__all__ = ["alert_id_for", "alert_of"]


def alert_id_for(rule_id: str, version: int, customer_id: str, trigger_ids: tuple[str, ...]) -> str:
    """The deterministic id of an alert: same rule, version, customer and trigger -> same id."""
    text = "\x1f".join((rule_id, str(version), customer_id, *trigger_ids))
    return "al-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def alert_of(
    rule: CompiledRule,
    event: Any,
    customer: CustomerProfile | None,
    firing: Firing,
    now: dt.datetime,
    customer_id: str | None = None,
) -> Alert:
    """The alert a rule's firing makes: its facts with the customer's tier, the
    audience unless the rule runs in shadow, and the deterministic id."""
    spec = rule.spec
    facts = dict(firing.facts)
    if customer is not None:
        facts.setdefault("tier", customer.tier)
    who = firing.customer_id or customer_id or event.customer_id
    if firing.occurred_at is not None:
        occurred_at = EPOCH + dt.timedelta(microseconds=firing.occurred_at)
    else:
        occurred_at = event.occurred_at
    account_id = firing.account_id
    if account_id is None and event is not None:
        account_id = getattr(event, "account_id", None)
    shadow = spec.mode == "shadow"
    audience = () if shadow else firing.audience or tuple(spec.audience)
    return Alert(
        alert_id=alert_id_for(spec.id, spec.version, who, firing.trigger_event_ids),
        rule_id=spec.id,
        rule_version=spec.version,
        severity=spec.severity,
        customer_id=who,
        account_id=account_id,
        occurred_at=occurred_at,
        detected_at=now,
        facts=facts,
        trigger_event_ids=list(firing.trigger_event_ids),
        recipients=[Recipient(audience=a) for a in audience],
        title=pick(spec.title, FALLBACK_LANGUAGE),
        template=firing.template or spec.template,
        shadow=shadow,
        listed=spec.delivery == "morning_list",
    )
