"""Route stage: who hears of an alert, filled into ``Alert.recipients``.

A rule names audiences; this stage turns them into people by the routing file and the
directory. Every manager alert goes to the customer's relationship manager; an unknown
or inactive one (or one who is not a relationship manager) falls back to the branch
heads of the customer's branch. Escalations add branch heads and executives by the
customer's tier and the alert's severity. A branch's top customers by assets (the routing
file's ``top_customers``) also bring in the branch head and the leader compliance
assigned them to (``notifiers/top_customers.py``). A person gets one message per alert per
channel even when several audiences name them (the first audience wins).

An audience nobody can be found for is kept as a recipient without ``staff_id``; the
outbox records it as a failed delivery ("nobody to tell"), so it stays visible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from churnwatch.notifiers.directory import Directory
from churnwatch.notifiers.routing_file import Routing
from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import Alert, Recipient, StaffEvent

__all__ = ["Ranks", "Router", "customer_tier"]

STAFF_AUDIENCES = ("relationship_manager", "branch_head", "executive")


def customer_tier(customer: CustomerProfile, routing: Routing) -> str:
    """The tier routing uses: the record's override, else from AUM by the routing file's scale."""
    if customer.tier_overridden:
        return customer.tier
    return routing.tiers.tier_of(customer.aum)


class Ranks(Protocol):
    """A customer's rank in their branch by assets, when among its top customers."""

    def rank(self, customer_id: str) -> int | None: ...


@dataclass(frozen=True)
class Router:
    """Callable route stage (the replay driver's ``route=``)."""

    routing: Routing
    #: the ranks ``top_customers`` reads (the store's profiles); None: no top-N routing
    ranks: Ranks | None = None

    def __call__(self, alert: Alert, directory: Directory) -> Alert:
        return msgspec.structs.replace(alert, recipients=self.recipients(alert, directory))

    def recipients(self, alert: Alert, directory: Directory) -> list[Recipient]:
        asked = list(dict.fromkeys(r.audience for r in alert.recipients))
        customer = directory.customer(alert.customer_id)
        tier = customer_tier(customer, self.routing) if customer is not None else None
        leader: str | None = None
        if any(a in STAFF_AUDIENCES for a in asked):
            for escalation in self.routing.escalate:
                if escalation.applies(tier, alert.severity) and escalation.audience not in asked:
                    asked.append(escalation.audience)
            top = self.routing.top_customers
            rank = self.ranks.rank(alert.customer_id) if top and self.ranks else None
            if top is not None and rank is not None and rank <= top.per_branch:
                if top.branch_head and "branch_head" not in asked:
                    asked.append("branch_head")
                leader = top.leaders.get(alert.customer_id)
        out: list[Recipient] = []
        seen: set[tuple[str | None, str]] = set()

        def add(audience: str, staff_id: str | None) -> None:
            channel = self.routing.route_for(audience).channel
            if staff_id is not None and (staff_id, channel) in seen:
                return
            seen.add((staff_id, channel))
            out.append(Recipient(audience=audience, staff_id=staff_id, channel=channel))

        for audience in asked:
            if audience == "customer":
                add("customer", None)
            elif audience == "relationship_manager":
                manager = _active_manager(directory, customer)
                if manager is not None:
                    add("relationship_manager", manager.staff_id)
                else:
                    self._branch_heads(directory, customer, add)
            elif audience == "branch_head":
                self._branch_heads(directory, customer, add)
            elif audience == "executive":
                people = directory.staff_by_role("executive")
                for person in people:
                    add("executive", person.staff_id)
                if not people:
                    add("executive", None)
        named = directory.staff(leader) if leader is not None else None
        if named is not None and named.active:  # the named leader, told as branch heads are
            add("branch_head", named.staff_id)
        return out

    @staticmethod
    def _branch_heads(
        directory: Directory,
        customer: CustomerProfile | None,
        add: Callable[[str, str | None], None],
    ) -> None:
        heads = directory.branch_staff(customer.branch_id, "branch_head") if customer else []
        for head in heads:
            add("branch_head", head.staff_id)
        if not heads:
            add("branch_head", None)


def _active_manager(directory: Directory, customer: CustomerProfile | None) -> StaffEvent | None:
    if customer is None:
        return None
    manager = directory.staff(customer.manager_id)
    if manager is None or not manager.active or manager.role != "relationship_manager":
        return None
    return manager
