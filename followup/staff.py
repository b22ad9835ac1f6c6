"""The staff directory as the follow-up side keeps it: one row per person, in the store.

The worker copies the ``staff`` events here as they come (and ``churnwatch followup
staff-load`` from a file), so the web pages, inbound SMS and escalation can find a person
by id, by phone or by role in a process that holds no stream directory.
:class:`~churnwatch.followup.store.FollowUpStore` is this directory with the follow-up
state on top: the pages ask one object for both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from churnwatch.schemas.models import StaffEvent
from churnwatch.schemas.tables import directory_staff
from churnwatch.schemas.times import utc

__all__ = ["StaffDirectory", "StaffRecord"]


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """One person as the directory holds them; an inactive one is let see no alert."""

    staff_id: str
    name: str
    phone: str
    role: str
    branch_id: str
    active: bool
    language: str | None = None
    branch_name: str | None = None
    im_user_id: str | None = None


def _staff(row: Any) -> StaffRecord:
    return StaffRecord(
        row["staff_id"],
        row["name"],
        row["phone"],
        row["role"],
        row["branch_id"],
        row["active"],
        row["language"],
        row["branch_name"],
        row["im_user_id"],
    )


class StaffDirectory:
    """Reads and writes of ``directory_staff``: who works where, in which role, on which phone."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put_staff(self, staff: StaffEvent, now: dt.datetime) -> None:
        """Insert or replace a staff record (the staff topic is an upsert)."""
        now = utc(now)
        values = {
            "name": staff.name,
            "phone": staff.phone,
            "role": staff.role,
            "branch_id": staff.branch_id,
            "active": staff.active,
            "updated_at": now,
            "language": staff.language,
            "branch_name": staff.branch_name,
            "im_user_id": staff.im_user_id,
        }
        dialect = self.engine.dialect.name
        if dialect in ("postgresql", "sqlite"):
            # one statement: two workers syncing the same staff member at once cannot
            # both find no row and both insert it (a duplicate-key error stopped a worker)
            upsert = (postgresql if dialect == "postgresql" else sqlite).insert(directory_staff)
            with self.engine.begin() as conn:
                conn.execute(
                    upsert.values(staff_id=staff.staff_id, **values).on_conflict_do_update(
                        index_elements=["staff_id"], set_=values
                    )
                )
            return
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(directory_staff)
                .where(directory_staff.c.staff_id == staff.staff_id)
                .values(**values)
            ).rowcount
            if not changed:
                conn.execute(insert(directory_staff).values(staff_id=staff.staff_id, **values))

    def staff(self, staff_id: str) -> StaffRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(directory_staff).where(directory_staff.c.staff_id == staff_id)
            ).first()
        return _staff(row._mapping) if row else None

    def staff_by_phone(self, phone: str) -> StaffRecord | None:
        """The active staff member with this phone number (E.164), if exactly one."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(directory_staff).where(
                    directory_staff.c.phone == phone, directory_staff.c.active.is_(True)
                )
            ).all()
        return _staff(rows[0]._mapping) if len(rows) == 1 else None

    def branch_names(self) -> dict[str, str]:
        """Branch id -> the name its staff records give it (for reports and pages)."""
        query = select(directory_staff.c.branch_id, directory_staff.c.branch_name).where(
            directory_staff.c.branch_name.is_not(None)
        )
        with self.engine.connect() as conn:
            return {r.branch_id: r.branch_name for r in conn.execute(query)}

    def staff_names(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(directory_staff.c.staff_id, directory_staff.c.name))
            return {r.staff_id: r.name for r in rows}

    def staff_with_role(self, role: str, branch_id: str | None = None) -> list[StaffRecord]:
        query = select(directory_staff).where(
            directory_staff.c.role == role, directory_staff.c.active.is_(True)
        )
        if branch_id is not None:
            query = query.where(directory_staff.c.branch_id == branch_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(directory_staff.c.staff_id)).all()
        return [_staff(r._mapping) for r in rows]
