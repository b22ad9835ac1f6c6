"""Suppress stage: the contact policy, one small callable per rule of it.

Each stage takes a :class:`~churnwatch.notifiers.context.Delivery` and the contact history and
returns it unchanged, deferred (a later ``due_at``) or suppressed with a reason. They run
in this order, which matters: opt-out first (nothing else counts for an opted-out
customer), then the cooldown, then quiet hours (deferral moves a text to the morning),
then the caps, counted on the day the text will actually go out.

Suppressed deliveries are still written to the outbox (status ``suppressed``, with the
reason), so "why did this customer get no SMS?" has an answer. The inhibit stage
(another alert about the customer holds the text) runs between quiet hours and the caps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from churnwatch.notifiers.context import Delivery
from churnwatch.notifiers.routing_file import QuietHours, Routing

__all__ = [
    "Caps",
    "ContactHistory",
    "Cooldown",
    "OptOut",
    "PolicyStage",
    "QuietHoursDeferral",
    "apply_policy",
    "default_policy",
]


class ContactHistory(Protocol):
    """What the policy asks of past deliveries (the outbox answers)."""

    def count(
        self,
        customer_id: str,
        audience: str,
        since: dt.datetime,
        until: dt.datetime,
        rule_id: str | None = None,
    ) -> int:
        """Live (pending, sending or sent) deliveries due in ``[since, until)``."""
        ...


class PolicyStage(Protocol):
    def __call__(self, delivery: Delivery, history: ContactHistory) -> Delivery: ...


class OptOut:
    """No text to a customer who has not opted in to SMS."""

    __slots__ = ()

    def __call__(self, delivery: Delivery, history: ContactHistory) -> Delivery:
        if delivery.audience != "customer":
            return delivery
        if delivery.customer is None:
            return delivery.fail("unknown customer: no directory record, no phone number")
        if not delivery.customer.sms_opt_in:
            return delivery.suppress("opted out: the customer has not opted in to SMS")
        return delivery


class Cooldown:
    """No second message of the same rule about the same customer to the same audience
    within the audience's ``cooldown``."""

    __slots__ = ("routing",)

    def __init__(self, routing: Routing) -> None:
        self.routing = routing

    def __call__(self, delivery: Delivery, history: ContactHistory) -> Delivery:
        cooldown = self.routing.route_for(delivery.audience).cooldown
        if not cooldown:
            return delivery
        alert = delivery.alert
        recent = history.count(
            alert.customer_id,
            delivery.audience,
            delivery.due_at - cooldown,
            delivery.due_at + cooldown,
            rule_id=alert.rule_id,
        )
        if recent:
            return delivery.suppress(f"cooldown: {alert.rule_id} already sent within {cooldown}")
        return delivery


class QuietHoursDeferral:
    """A text due inside quiet hours is deferred to their end, in the bank's time zone."""

    __slots__ = ("routing",)

    def __init__(self, routing: Routing) -> None:
        self.routing = routing

    def __call__(self, delivery: Delivery, history: ContactHistory) -> Delivery:
        quiet = self.routing.route_for(delivery.audience).quiet_hours
        if quiet is None:
            return delivery
        local = delivery.due_at.astimezone(self.routing.timezone)
        if not quiet.contains(local.time()):
            return delivery
        until = quiet_end(quiet, local)
        return delivery.defer(
            until.astimezone(dt.UTC), f"deferred: quiet hours until {until:%Y-%m-%d %H:%M}"
        )


def quiet_end(quiet: QuietHours, local: dt.datetime) -> dt.datetime:
    """The end of the quiet window ``local`` falls in (the same morning or the next)."""
    end = dt.datetime.combine(local.date(), quiet.end, tzinfo=local.tzinfo)
    if end <= local:
        end = dt.datetime.combine(
            local.date() + dt.timedelta(days=1), quiet.end, tzinfo=local.tzinfo
        )
    return end


class Caps:
    """At most ``max_per_day`` and ``max_per_week`` messages to one customer's audience,
    counted by calendar day and week (Monday first) in the bank's time zone."""

    __slots__ = ("routing",)

    def __init__(self, routing: Routing) -> None:
        self.routing = routing

    def __call__(self, delivery: Delivery, history: ContactHistory) -> Delivery:
        route = self.routing.route_for(delivery.audience)
        if route.max_per_day is None and route.max_per_week is None:
            return delivery
        zone = self.routing.timezone
        day = delivery.due_at.astimezone(zone).date()
        customer_id = delivery.alert.customer_id
        for cap, start, days, label in (
            (route.max_per_day, day, 1, "day"),
            (route.max_per_week, day - dt.timedelta(days=day.weekday()), 7, "week"),
        ):
            if cap is None:
                continue
            since = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
            until = dt.datetime.combine(start + dt.timedelta(days=days), dt.time(0), tzinfo=zone)
            if history.count(customer_id, delivery.audience, since, until) >= cap:
                return delivery.suppress(f"cap: already {cap} message(s) this {label}")
        return delivery


def default_policy(routing: Routing, inhibit: PolicyStage | None = None) -> list[PolicyStage]:
    """The stages in order; ``inhibit`` (``notifiers/inhibit.py``) goes after quiet hours,
    which tell it when a text would go out, and before the caps, so a held text is
    recorded as held rather than as over a cap."""
    held = [inhibit] if inhibit is not None else []
    return [OptOut(), Cooldown(routing), QuietHoursDeferral(routing), *held, Caps(routing)]


def apply_policy(
    delivery: Delivery, stages: Sequence[PolicyStage], history: ContactHistory
) -> Delivery:
    """Run ``stages`` in order until one suppresses or fails the delivery."""
    for stage in stages:
        if delivery.outcome != "pending":
            break
        delivery = stage(delivery, history)
    return delivery
