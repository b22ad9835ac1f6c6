"""The typed, frozen context one delivery carries through the stages.

Stages never pass loose dicts: each takes a :class:`Delivery` and returns a new one
(``dataclasses.replace``) with a later ``due_at``, or a ``suppressed`` outcome and the
reason, so what every stage decided is visible in one place and in the outbox row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Literal

from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import Alert, StaffEvent

__all__ = ["Delivery", "Inhibition", "Outcome", "delivery_key"]

Outcome = Literal["pending", "suppressed", "failed"]


def delivery_key(alert_id: str, audience: str, recipient_id: str, channel: str) -> str:
    """The identity of one delivery; the outbox's unique key, and the idempotency key."""
    return f"{alert_id}:{audience}:{recipient_id}:{channel}"


@dataclass(frozen=True, slots=True)
class Inhibition:
    """Which alert holds a customer message, by which inhibit rule, and until when."""

    alert_id: str
    rule_id: str
    occurred_at: dt.datetime
    until: dt.datetime
    inhibit: str

    def note(self) -> str:
        """The outbox row's reason; the word before the colon is the suppression kind."""
        return (
            f"inhibited: {self.rule_id} alert {self.alert_id} of {self.occurred_at:%Y-%m-%d %H:%M} "
            f"UTC holds customer messages until {self.until:%Y-%m-%d %H:%M} UTC "
            f"(inhibit rule {self.inhibit!r})"
        )

    def payload(self) -> dict[str, str]:
        """What the outbox row keeps, for the alert page and operators."""
        return {
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "occurred_at": self.occurred_at.isoformat(),
            "until": self.until.isoformat(),
            "inhibit": self.inhibit,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One (alert, audience, recipient, channel) on its way to the outbox."""

    alert: Alert
    audience: str
    recipient_id: str
    channel: str
    customer: CustomerProfile | None
    staff: StaffEvent | None
    tier: str | None
    now: dt.datetime
    due_at: dt.datetime
    outcome: Outcome = "pending"
    note: str | None = None
    grouped: bool = False
    #: the channel addresses staff by messenger user id (``im_user_id``), not by phone
    by_im: bool = False
    #: set when an inhibit rule holds this (customer) message
    inhibited_by: Inhibition | None = None

    @property
    def key(self) -> str:
        return delivery_key(self.alert.alert_id, self.audience, self.recipient_id, self.channel)

    @property
    def address(self) -> str | None:
        """What the channel sends to: the customer's phone, or the staff member's phone or
        messenger user id."""
        if self.audience == "customer":
            return self.customer.phone if self.customer else None
        if self.staff is None:
            return None
        return self.staff.im_user_id if self.by_im else self.staff.phone

    def suppress(self, note: str) -> Delivery:
        return replace(self, outcome="suppressed", note=note)

    def inhibit(self, by: Inhibition) -> Delivery:
        return replace(self, outcome="suppressed", note=by.note(), inhibited_by=by)

    def fail(self, note: str) -> Delivery:
        return replace(self, outcome="failed", note=note)

    def defer(self, until: dt.datetime, note: str) -> Delivery:
        return replace(self, due_at=until, note=note) if until > self.due_at else self
