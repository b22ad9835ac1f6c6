"""Who is who: the customer and staff directories notifiers and routing read.

The replay driver fills an :class:`InMemoryDirectory` from the ``customer`` and
``staff`` events it reads; the worker backs the same protocol with Faust tables.
Routing never needs to know which.
"""

from __future__ import annotations

from typing import Protocol

from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import StaffEvent

__all__ = ["Directory", "InMemoryDirectory"]


class Directory(Protocol):
    def customer(self, customer_id: str) -> CustomerProfile | None: ...

    def staff(self, staff_id: str) -> StaffEvent | None: ...

    def branch_staff(self, branch_id: str, role: str) -> list[StaffEvent]: ...

    def staff_by_role(self, role: str) -> list[StaffEvent]:
        """Active staff of ``role`` bank-wide (executives), ordered by staff id."""
        ...

    def all_staff(self) -> list[StaffEvent]:
        """Everyone, active or not (a former manager is still named in reports)."""
        ...


class InMemoryDirectory:
    """A dictionary-backed directory, fed event by event."""

    def __init__(self) -> None:
        self.customers: dict[str, CustomerProfile] = {}
        self.staff_by_id: dict[str, StaffEvent] = {}
        #: counts staff upserts, so a mirror of the staff list can tell it is up to date
        self.staff_version = 0

    def customer(self, customer_id: str) -> CustomerProfile | None:
        return self.customers.get(customer_id)

    def staff(self, staff_id: str) -> StaffEvent | None:
        return self.staff_by_id.get(staff_id)

    def branch_staff(self, branch_id: str, role: str) -> list[StaffEvent]:
        return sorted(
            (
                s
                for s in self.staff_by_id.values()
                if s.branch_id == branch_id and s.role == role and s.active
            ),
            key=lambda s: s.staff_id,
        )

    def staff_by_role(self, role: str) -> list[StaffEvent]:
        return sorted(
            (s for s in self.staff_by_id.values() if s.role == role and s.active),
            key=lambda s: s.staff_id,
        )

    def all_staff(self) -> list[StaffEvent]:
        return sorted(self.staff_by_id.values(), key=lambda s: s.staff_id)

    def put_customer(self, profile: CustomerProfile) -> None:
        self.customers[profile.customer_id] = profile

    def put_staff(self, staff: StaffEvent) -> None:
        self.staff_by_id[staff.staff_id] = staff
        self.staff_version += 1
