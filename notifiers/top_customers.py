"""A branch's top customers by assets: who they are, and who compliance assigned them to.

The bank's practice (支行长负责网点前N名客户; leaders "定量盯人", each owning a dozen of
them): every alert of one of a branch's top-N customers by assets also goes to the branch
head, and to the leader the assignment list names for that customer. The list is a CSV
file compliance keeps beside ``routing.yaml`` (two columns, ``customer_id,staff_id``,
with that header), named by the routing file's ``top_customers.leaders``.

The rank comes from the customer profiles the drivers keep in the store
(:func:`churnwatch.schemas.profile_views.top_ranks`). :class:`TopCustomers` caches each
branch's first N and reads them again when this process has written customer records
since (so replay routes every batch of alerts with the ranks as they stand), and at
least every ``max_age`` seconds (another worker's writes).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from churnwatch.notifiers.exceptions import RoutingError
from churnwatch.schemas.profile_views import top_ranks
from churnwatch.schemas.profiles import customers_written

__all__ = ["LEADER_COLUMNS", "TopCustomers", "load_leaders"]

LEADER_COLUMNS = ("customer_id", "staff_id")


def load_leaders(path: Path) -> dict[str, str]:
    """Customer id -> the staff id of their named leader, from the assignment list.

    Refuses (naming the file and line) a file without the header, a row without both
    values, and a customer assigned twice.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RoutingError(f"cannot read the leaders' list {path}: {exc.strerror}") from exc
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None or tuple(h.strip() for h in header) != LEADER_COLUMNS:
        raise RoutingError(f"{path}:1: the first line must be {','.join(LEADER_COLUMNS)}")
    leaders: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if len(cells) != 2 or not all(cells):
            raise RoutingError(f"{path}:{line}: give a customer id and a staff id")
        customer_id, staff_id = cells
        if customer_id in leaders:
            raise RoutingError(f"{path}:{line}: customer {customer_id} is assigned twice")
        leaders[customer_id] = staff_id
    return leaders


class TopCustomers:
    """Customer id -> rank in their branch, for each branch's first ``per_branch``."""

    def __init__(
        self,
        engine: Engine,
        per_branch: int,
        *,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.per_branch = per_branch
        self.max_age = max_age
        self.clock = clock
        self.ranks: dict[str, int] | None = None
        self.generation = -1
        self.loaded_at = 0.0

    def rank(self, customer_id: str) -> int | None:
        """The customer's rank when within the first ``per_branch`` of their branch."""
        generation = customers_written(self.engine)
        now = self.clock()
        if (
            self.ranks is None
            or generation != self.generation
            or now - self.loaded_at > self.max_age
        ):
            self.ranks = top_ranks(self.engine, self.per_branch)
            self.generation, self.loaded_at = generation, now
        return self.ranks.get(customer_id)
