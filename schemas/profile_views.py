"""Reading the customer profiles: one customer's, a branch's ranking, product holdings.

The profiles are written by the drivers (:mod:`churnwatch.schemas.profiles`); the alert
page, routing and the report read them through these functions, never the tables.

*Rank* is a customer's place among the customers of their branch by assets (AUM, highest
first; equal assets by customer id), counting only customers the bank has sent a
customer record for. *Products held* are those whose latest event opened, scheduled or
renewed them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from churnwatch.schemas.tables import customer_products, customer_profiles
from churnwatch.schemas.times import utc_or_none

__all__ = [
    "HOLDING_THRESHOLDS",
    "CustomerView",
    "HoldingCounts",
    "ProductView",
    "branch_rank",
    "customer_view",
    "holding_counts",
    "top_ranks",
]


@dataclass(frozen=True, slots=True)
class ProductView:
    product_id: str
    account_id: str
    kind: str
    amount: Decimal | None
    currency: str
    maturity_date: dt.date | None
    held: bool
    last_action: str


@dataclass(frozen=True, slots=True)
class CustomerView:
    """What the store knows of one customer; fields are None where no event said."""

    customer_id: str
    name: str | None
    phone: str | None
    language: str | None
    tier: str | None
    aum: Decimal | None
    branch_id: str | None
    manager_id: str | None
    payroll_last_at: dt.datetime | None
    payroll_account: str | None
    products: tuple[ProductView, ...]

    @property
    def held(self) -> list[ProductView]:
        return [p for p in self.products if p.held]

    def maturing(self, today: dt.date, days: int) -> list[ProductView]:
        """Held products maturing from ``today`` to ``days`` ahead, soonest first."""
        last = today + dt.timedelta(days=days)
        soon = [
            p for p in self.held if p.maturity_date is not None and today <= p.maturity_date <= last
        ]
        return sorted(soon, key=lambda p: (p.maturity_date, p.product_id))


def customer_view(engine: Engine, customer_id: str) -> CustomerView | None:
    """The customer's profile and products, or None when no event named them."""
    with engine.connect() as conn:
        row = conn.execute(
            select(customer_profiles).where(customer_profiles.c.customer_id == customer_id)
        ).first()
        products = conn.execute(
            select(customer_products)
            .where(customer_products.c.customer_id == customer_id)
            .order_by(customer_products.c.product_id)
        ).all()
    if row is None and not products:
        return None
    p: Any = row._mapping if row is not None else {}
    aum = p.get("aum")
    return CustomerView(
        customer_id=customer_id,
        name=p.get("name"),
        phone=p.get("phone"),
        language=p.get("language"),
        tier=p.get("tier"),
        aum=Decimal(aum) if aum is not None else None,
        branch_id=p.get("branch_id"),
        manager_id=p.get("manager_id"),
        payroll_last_at=utc_or_none(p.get("payroll_last_at")),
        payroll_account=p.get("payroll_account"),
        products=tuple(_product(r._mapping) for r in products),
    )


def _product(row: Any) -> ProductView:
    amount = row["amount"]
    return ProductView(
        product_id=row["product_id"],
        account_id=row["account_id"],
        kind=row["kind"],
        amount=Decimal(amount) if amount is not None else None,
        currency=row["currency"],
        maturity_date=row["maturity_date"],
        held=bool(row["held"]),
        last_action=row["last_action"],
    )


def branch_rank(engine: Engine, customer_id: str) -> tuple[int, int] | None:
    """(rank, customers in the branch) for a customer with a customer record; else None."""
    me = customer_profiles.alias("me")
    other = customer_profiles.c
    with engine.connect() as conn:
        row = conn.execute(
            select(me.c.branch_id, me.c.aum_cents).where(
                me.c.customer_id == customer_id, me.c.customer_at.is_not(None)
            )
        ).first()
        if row is None or row.branch_id is None:
            return None
        same_branch = and_(other.branch_id == row.branch_id, other.customer_at.is_not(None))
        ahead = conn.scalar(
            select(func.count()).where(
                same_branch,
                or_(
                    other.aum_cents > row.aum_cents,
                    and_(other.aum_cents == row.aum_cents, other.customer_id < customer_id),
                ),
            )
        )
        size = conn.scalar(select(func.count()).where(same_branch))
    return int(ahead or 0) + 1, int(size or 0)


def top_ranks(engine: Engine, limit: int) -> dict[str, int]:
    """Customer id -> rank in their branch, for each branch's first ``limit`` customers."""
    c = customer_profiles.c
    ranked = (
        select(
            c.customer_id,
            func.row_number()
            .over(partition_by=c.branch_id, order_by=(c.aum_cents.desc(), c.customer_id))
            .label("rank"),
        )
        .where(c.customer_at.is_not(None), c.branch_id.is_not(None))
        .subquery()
    )
    query = select(ranked.c.customer_id, ranked.c.rank).where(ranked.c.rank <= limit)
    with engine.connect() as conn:
        return {r.customer_id: int(r.rank) for r in conn.execute(query)}


#: the report's cross-holding columns: customers holding at least this many products
HOLDING_THRESHOLDS: tuple[int, ...] = (2, 3, 5)


@dataclass(frozen=True, slots=True)
class HoldingCounts:
    """One branch's or manager's customers, and how many hold at least each number of
    products (``at_least[n]``)."""

    key: str
    customers: int
    at_least: dict[int, int]

    def share(self, n: int) -> float | None:
        return self.at_least.get(n, 0) / self.customers if self.customers else None


def holding_counts(
    engine: Engine,
    by: str,
    thresholds: Sequence[int] = HOLDING_THRESHOLDS,
    *,
    branch_id: str | None = None,
) -> list[HoldingCounts]:
    """Per branch (``by="branch_id"``) or manager (``"manager_id"``): customers with a
    customer record, and how many hold at least 2, 3 and 5 products now."""
    if by not in ("branch_id", "manager_id"):
        raise ValueError(f"holdings are counted by branch_id or manager_id, not {by!r}")
    p, h = customer_profiles.c, customer_products.c
    held = (
        select(h.customer_id, func.count().label("n"))
        .where(h.held.is_(True))
        .group_by(h.customer_id)
        .subquery()
    )
    query = (
        select(p[by].label("key"), func.coalesce(held.c.n, 0).label("n"))
        .select_from(customer_profiles.outerjoin(held, held.c.customer_id == p.customer_id))
        .where(p.customer_at.is_not(None))
    )
    if branch_id is not None:
        query = query.where(p.branch_id == branch_id)
    groups: dict[str, list[int]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            groups.setdefault(row.key or "-", []).append(int(row.n))
    return [
        HoldingCounts(
            key,
            len(counts),
            {t: sum(1 for n in counts if n >= t) for t in thresholds},
        )
        for key, counts in sorted(groups.items())
    ]
