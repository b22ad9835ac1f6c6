"""Group stage: several manager alerts within ``group_wait`` become one message.

In the spirit of Alertmanager's ``group_wait``: the first delivery to a person opens a
group due ``group_wait`` later; deliveries to the same person and channel that arrive
before it is sent join it (they take its ``due_at``). The dispatcher claims due rows
together and sends a group as one message, and every row in it records the same
provider message id. A group is per (audience, recipient, channel).

The message lists the group's alerts by customer, not only by time: when several rules
fire for one customer within the wait, the manager reads the customer once with every
alert under it (:func:`by_customer`). Each grouped row keeps the parts that listing
needs (:func:`group_item`), rendered at planning time in the reader's language; the
words around them are the pack's ``templates/_group/<audience>.<language>.j2``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from churnwatch.notifiers.context import Delivery
from churnwatch.notifiers.masking import mask_digits
from churnwatch.notifiers.routing_file import Routing

__all__ = ["GroupWait", "OpenGroups", "by_customer", "group_item"]


class OpenGroups(Protocol):
    def open_group(
        self, audience: str, recipient_id: str, channel: str, after: dt.datetime
    ) -> dt.datetime | None:
        """``due_at`` of a group still waiting (pending, due after ``after``), if any."""
        ...


class GroupWait:
    """Sets ``due_at`` and ``grouped`` for audiences with a ``group_wait``."""

    __slots__ = ("routing",)

    def __init__(self, routing: Routing) -> None:
        self.routing = routing

    def __call__(self, delivery: Delivery, groups: OpenGroups) -> Delivery:
        wait = self.routing.route_for(delivery.audience).group_wait
        if not wait or delivery.outcome != "pending":
            return delivery
        due = groups.open_group(
            delivery.audience, delivery.recipient_id, delivery.channel, delivery.due_at
        )
        if due is None:
            due = delivery.due_at + wait
        return replace(delivery, due_at=max(due, delivery.due_at), grouped=True)


def group_item(
    delivery: Delivery, title: str, what: str, footer: str, zone: ZoneInfo
) -> dict[str, Any]:
    """What one grouped row keeps so a group message can list it under its customer."""
    alert = delivery.alert
    customer = delivery.customer
    return {
        "customer": {
            "id": alert.customer_id,
            "name": customer.name if customer else alert.customer_id,
            "tier": delivery.tier or "?",
        },
        "title": title,
        "severity": alert.severity,
        "when": alert.occurred_at.astimezone(zone).isoformat(),
        "account": mask_digits(alert.account_id),
        "what": what,
        "footer": footer,
    }


def by_customer(payloads: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows of one group as customers, each with its alerts in time order; customers
    in the order of their first alert. A row written before items existed shows its body."""
    customers: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        item = payload.get("item")
        if not isinstance(item, Mapping):
            customer_id = str(payload.get("customer_id", "?"))
            item = {
                "customer": {"id": customer_id, "name": customer_id, "tier": "?"},
                "title": str(payload.get("rule_id", "")),
                "severity": "",
                "when": payload.get("occurred_at", ""),
                "account": "",
                "what": str(payload.get("body", "")),
                "footer": "",
            }
        who = item["customer"]
        entry = customers.setdefault(str(who["id"]), {**who, "alerts": []})
        entry["alerts"].append({**item, "when": _moment(item.get("when"))})
    for entry in customers.values():
        entry["alerts"].sort(key=lambda a: a["when"])
    return sorted(customers.values(), key=lambda c: c["alerts"][0]["when"])


def _moment(value: Any) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
