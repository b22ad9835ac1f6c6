"""Group stage: several manager alerts within ``group_wait`` become one message.

In the spirit of Alertmanager's ``group_wait``: the first delivery to a person opens a
group due ``group_wait`` later; deliveries to the same person and channel that arrive
before it is sent join it (they take its ``due_at``). The dispatcher claims due rows
together and sends a group as one message, and every row in it records the same
provider message id. A group is per (audience, recipient, channel).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Protocol

from churnwatch.notifiers.context import Delivery
from churnwatch.notifiers.routing_file import Routing

__all__ = ["GroupWait", "OpenGroups"]


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
