"""The bank's view of its customers in the store, kept current by both drivers.

The alert store keeps alerts, deliveries and follow-ups; the pages and reports also need
what the bank knows of the customer: tier and assets, branch and manager, phone, the
products held and when they mature, and whether payroll lands here. Both drivers (replay
and the Kafka worker, either runtime) note each event they evaluated in a
:class:`ProfileBook` and write it once per batch (:meth:`ProfileBook.write`): three
multi-row upserts in one transaction, never a statement per event, so the worker's hot
path pays a dictionary update per customer, product or payroll event and nothing for the
rest.

Order-safe and idempotent. A row carries the version of the event it reflects (event
time in µs, then event id, so two events at one instant still have an order), and an
upsert only moves a row to a strictly newer version: an event older than the row's
never overwrites it, and reading the same events again (a restart from the last
committed offsets) writes nothing. A product's amount and maturity date each come from
the newest event that gave one (``maturity_scheduled`` may carry no amount), so the
result is the same whatever order the events arrive in and however they are batched (a
property test holds it to that). Payroll keeps the latest credit seen. Written with
``INSERT … ON CONFLICT DO UPDATE``, which SQLite and PostgreSQL both have.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import Engine, and_, case, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from churnwatch.schemas.exceptions import StoreError
from churnwatch.schemas.models import CustomerEvent, ProductEvent, TransactionEvent
from churnwatch.schemas.tables import customer_products, customer_profiles

__all__ = ["HELD_ACTIONS", "ProfileBook", "aum_cents", "customers_written", "event_version"]

#: a product after one of these is held; after matured, redeemed or cancelled it is not
HELD_ACTIONS = frozenset({"opened", "maturity_scheduled", "renewed"})
_CENTS_LIMIT = 2**63 - 1
#: a product row before any event: every part at no version yet
_NO_PRODUCT: dict[str, Any] = {
    "account_id": "",
    "kind": "",
    "currency": "CNY",
    "held": False,
    "last_action": "",
    "version_at": None,
    "version_event": None,
    "amount": None,
    "amount_at": None,
    "amount_event": None,
    "maturity_date": None,
    "maturity_at": None,
    "maturity_event": None,
}

Version = tuple[int, str]


def event_version(occurred_at: dt.datetime, event_id: str) -> Version:
    """The order of two events' effects on a row: event time in µs, then event id."""
    delta = occurred_at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, event_id


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def aum_cents(aum: Decimal) -> int:
    """Assets in whole cents, rounded down and kept within a 64-bit column."""
    cents = int((aum * 100).to_integral_value(ROUND_FLOOR))
    return max(-_CENTS_LIMIT, min(_CENTS_LIMIT, cents))


class ProfileBook:
    """What a batch changed in the customer profiles, folded, until :meth:`write`."""

    __slots__ = ("customers", "payroll", "products", "tier_of")

    def __init__(self, tier_of: Callable[[Decimal], str]) -> None:
        #: the tier assets fall in (the routing file's scale); a customer's own ``tier`` wins
        self.tier_of = tier_of
        self.customers: dict[str, tuple[Version, CustomerEvent]] = {}
        self.products: dict[tuple[str, str], dict[str, Any]] = {}
        self.payroll: dict[str, TransactionEvent] = {}

    def __len__(self) -> int:
        return len(self.customers) + len(self.products) + len(self.payroll)

    def note(self, event: object) -> None:
        """Fold one evaluated event in (a transaction counts only as a payroll credit)."""
        if isinstance(event, TransactionEvent):
            if event.kind == "payroll" and event.direction == "credit":
                self.note_payroll(event)
        elif isinstance(event, ProductEvent):
            self.note_product(event)
        elif isinstance(event, CustomerEvent):
            self.note_customer(event)

    def note_payroll(self, event: TransactionEvent) -> None:
        held = self.payroll.get(event.customer_id)
        if held is None or (held.occurred_at, held.account_id) < (
            event.occurred_at,
            event.account_id,
        ):
            self.payroll[event.customer_id] = event

    def note_customer(self, event: CustomerEvent) -> None:
        version = event_version(event.occurred_at, event.event_id)
        held = self.customers.get(event.customer_id)
        if held is None or held[0] < version:
            self.customers[event.customer_id] = (version, event)

    def note_product(self, event: ProductEvent) -> None:
        """The product's state from its newest event; its amount and maturity date each
        from the newest event that gave one (``maturity_scheduled`` may carry no amount)."""
        at, event_id = event_version(event.occurred_at, event.event_id)
        key = (event.customer_id, event.product_id)
        row = self.products.get(key)
        if row is None:
            row = self.products[key] = dict(_NO_PRODUCT, customer_id=key[0], product_id=key[1])
        if _later(at, event_id, row["version_at"], row["version_event"]):
            row.update(
                account_id=event.account_id,
                kind=event.product_kind,
                currency=event.currency,
                held=event.action in HELD_ACTIONS,
                last_action=event.action,
                version_at=at,
                version_event=event_id,
            )
        if event.amount is not None and _later(at, event_id, row["amount_at"], row["amount_event"]):
            row.update(amount=str(event.amount), amount_at=at, amount_event=event_id)
        if event.maturity_date is not None and _later(
            at, event_id, row["maturity_at"], row["maturity_event"]
        ):
            row.update(maturity_date=event.maturity_date, maturity_at=at, maturity_event=event_id)

    def write(self, engine: Engine) -> int:
        """Write what was noted in one transaction; forget it only once committed.

        Returns how many customer records were in it (routing's rank cache refreshes on
        those). Raises StoreError when the store refuses; the notes are kept for a retry.
        """
        if not self:
            return 0
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise StoreError(f"customer profiles need SQLite or PostgreSQL, not {dialect}")
        insert = (postgresql if dialect == "postgresql" else sqlite).insert
        customers = [self._customer_row(v, e) for v, e in self.customers.values()]
        try:
            with engine.begin() as conn:
                if customers:
                    conn.execute(_customer_upsert(insert, dialect), customers)
                if self.products:
                    conn.execute(_product_upsert(insert, dialect), list(self.products.values()))
                if self.payroll:
                    conn.execute(
                        _payroll_upsert(insert, dialect),
                        [
                            {
                                "customer_id": e.customer_id,
                                "payroll_last_at": e.occurred_at.astimezone(dt.UTC),
                                "payroll_account": e.account_id,
                            }
                            for e in self.payroll.values()
                        ],
                    )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write customer profiles: {exc}") from exc
        self.customers, self.products, self.payroll = {}, {}, {}
        if customers:
            key = _store_key(engine)
            _GENERATIONS[key] = _GENERATIONS.get(key, 0) + 1
        return len(customers)

    def _customer_row(self, version: Version, event: CustomerEvent) -> dict[str, Any]:
        return {
            "customer_id": event.customer_id,
            "name": event.name,
            "phone": event.phone,
            "language": event.language,
            "tier": event.tier or self.tier_of(event.aum),
            "aum": str(event.aum),
            "aum_cents": aum_cents(event.aum),
            "branch_id": event.branch_id,
            "manager_id": event.manager_id,
            "customer_at": version[0],
            "customer_event": version[1],
        }


_CUSTOMER_FIELDS = (
    "name",
    "phone",
    "language",
    "tier",
    "aum",
    "aum_cents",
    "branch_id",
    "manager_id",
    "customer_at",
    "customer_event",
)


#: customer-record writes this process made, per database: a rank cache
#: (``notifiers/top_customers.py``) reads the ranks again when the count moved
_GENERATIONS: dict[str, int] = {}


def _store_key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def customers_written(engine: Engine) -> int:
    """How many times this process wrote customer records to ``engine``'s database."""
    return _GENERATIONS.get(_store_key(engine), 0)


def _later(at: int, event_id: str, row_at: int | None, row_event: str | None) -> bool:
    """In memory, as :func:`_newer` in SQL: (at, event id) after the row's, or no row yet."""
    return row_at is None or (at, event_id) > (row_at, row_event or "")


def _newer(row: Any, new: Any, at: str, event: str, dialect: str) -> Any:
    """SQL: the new row's (time, event id) is after the stored one's, or none is stored.

    Event ids compare by code point, as Python does, whatever the database's collation.
    """
    new_event, row_event = new[event], row[event]
    if dialect == "postgresql":
        new_event, row_event = new_event.collate("C"), row_event.collate("C")
    return and_(
        new[at].is_not(None),
        or_(
            row[at].is_(None),
            new[at] > row[at],
            and_(new[at] == row[at], new_event > row_event),
        ),
    )


@functools.cache  # built once per dialect: building one costs more than running it
def _customer_upsert(insert: Any, dialect: str) -> Any:
    statement = insert(customer_profiles)
    new, row = statement.excluded, customer_profiles.c
    return statement.on_conflict_do_update(
        index_elements=["customer_id"],
        set_={name: new[name] for name in _CUSTOMER_FIELDS},
        where=_newer(row, new, "customer_at", "customer_event", dialect),
    )


@functools.cache  # built once per dialect: building one costs more than running it
def _product_upsert(insert: Any, dialect: str) -> Any:
    """Each part of the row moves only to a newer version of itself (no WHERE: the
    amount of an older event can still be the newest amount given)."""
    statement = insert(customer_products)
    new, row = statement.excluded, customer_products.c
    parts = {
        ("version_at", "version_event"): (
            "account_id",
            "kind",
            "currency",
            "held",
            "last_action",
            "version_at",
            "version_event",
        ),
        ("amount_at", "amount_event"): ("amount", "amount_at", "amount_event"),
        ("maturity_at", "maturity_event"): ("maturity_date", "maturity_at", "maturity_event"),
    }
    values: dict[str, Any] = {}
    for (at, event), columns in parts.items():
        newer = _newer(row, new, at, event, dialect)
        for column in columns:
            values[column] = case((newer, new[column]), else_=row[column])
    return statement.on_conflict_do_update(
        index_elements=["customer_id", "product_id"], set_=values
    )


@functools.cache  # built once per dialect: building one costs more than running it
def _payroll_upsert(insert: Any, dialect: str) -> Any:
    statement = insert(customer_profiles)
    new, row = statement.excluded, customer_profiles.c
    new_account: Any = new.payroll_account
    row_account: Any = row.payroll_account
    if dialect == "postgresql":
        new_account, row_account = new_account.collate("C"), row_account.collate("C")
    later = or_(
        row.payroll_last_at.is_(None),
        new.payroll_last_at > row.payroll_last_at,
        and_(
            new.payroll_last_at == row.payroll_last_at,
            new_account > row_account,
        ),
    )
    return statement.on_conflict_do_update(
        index_elements=["customer_id"],
        set_={
            "payroll_last_at": case((later, new.payroll_last_at), else_=row.payroll_last_at),
            "payroll_account": case((later, new.payroll_account), else_=row.payroll_account),
        },
    )
