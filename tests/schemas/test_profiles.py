"""The customer profiles in the store: what each event kind sets, order-safe, idempotent,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from contract_events import T0, at, customer, event, product, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from churnwatch.rules.tiers import DEFAULT_TIERS
from churnwatch.schemas.profile_views import branch_rank, customer_view, top_ranks
from churnwatch.schemas.profiles import ProfileBook, aum_cents
from churnwatch.schemas.store import AlertStore
from churnwatch.schemas.tables import customer_products, customer_profiles


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Any:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    with AlertStore(url) as store:
        yield store.engine


def write(engine: Engine, *messages: dict[str, Any]) -> None:
    book = ProfileBook(DEFAULT_TIERS.tier_of)
    for message in messages:
        book.note(event(message))
    book.write(engine)


def rows(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as conn:
        people = conn.execute(select(customer_profiles).order_by("customer_id")).all()
        held = conn.execute(select(customer_products).order_by("customer_id", "product_id"))
        return [tuple(r) for r in people], [tuple(r) for r in held.all()]


def test_a_customer_event_sets_the_profile_with_its_tier(engine: Engine) -> None:
    """Tier comes from assets by the scale unless the record names one; phone, branch and
    manager as the event gives them."""
    write(engine, customer(), customer(customer_id="C2", event_id="cu-2", tier="private"))
    view = customer_view(engine, "C1")
    assert view is not None
    assert (view.tier, view.aum, view.phone) == ("B", Decimal("300000.00"), "+8613800001234")
    assert (view.branch_id, view.manager_id, view.name) == ("B1", "S1", "Li Wei")
    assert customer_view(engine, "C2").tier == "private"  # type: ignore[union-attr]
    assert customer_view(engine, "C3") is None


def test_an_older_customer_event_never_overwrites_a_newer_one(engine: Engine) -> None:
    """The newer record wins whichever batch brings it; the older one, read later, is ignored."""
    newer = customer(event_id="cu-9", occurred_at=at(days=2), aum="900000.00")
    older = customer(event_id="cu-1", occurred_at=at(days=1), aum="10.00")
    write(engine, newer)
    write(engine, older)
    assert customer_view(engine, "C1").aum == Decimal("900000.00")  # type: ignore[union-attr]
    write(engine, older, newer)  # one batch, out of order
    assert customer_view(engine, "C1").aum == Decimal("900000.00")  # type: ignore[union-attr]


def test_reading_the_same_events_again_changes_nothing(engine: Engine) -> None:
    """A restart reads events since the last commit again: the rows stay exactly as they were."""
    batch = [
        customer(),
        product(action="opened", event_id="pr-1", maturity_date="2026-06-01"),
        transaction(event_id="tx-1", kind="payroll", direction="credit"),
    ]
    write(engine, *batch)
    first = rows(engine)
    write(engine, *batch)
    write(engine, *reversed(batch))
    assert rows(engine) == first


def test_products_held_with_the_newest_amount_and_maturity(engine: Engine) -> None:
    """Opened with an amount, a maturity scheduled without one: held, both kept; a
    redemption makes it not held; a maturity date on another product stays its own."""
    write(
        engine,
        product(event_id="p1", action="opened", occurred_at=at(days=1), amount="5000.00"),
        product(
            event_id="p2",
            action="maturity_scheduled",
            occurred_at=at(days=2),
            amount=...,
            maturity_date="2026-04-01",
        ),
        product(event_id="p3", product_id="P2", product_kind="wealth", action="opened"),
    )
    view = customer_view(engine, "C1")
    assert view is not None
    first = view.products[0]
    assert (first.held, first.amount, first.maturity_date) == (
        True,
        Decimal("5000.00"),
        dt.date(2026, 4, 1),
    )
    assert [p.product_id for p in view.held] == ["P1", "P2"]
    assert view.maturing(dt.date(2026, 3, 25), 7) == [first]
    assert view.maturing(dt.date(2026, 3, 20), 7) == []
    write(engine, product(event_id="p4", action="redeemed", occurred_at=at(days=3), amount=...))
    view = customer_view(engine, "C1")
    assert view is not None
    assert [p.product_id for p in view.held] == ["P2"]
    assert view.products[0].amount == Decimal("5000.00")


def test_payroll_keeps_the_latest_credit(engine: Engine) -> None:
    """Payroll credits in any order: the latest one's time and account; other credits and
    payroll debits do not count."""
    write(
        engine,
        transaction(event_id="t2", kind="payroll", direction="credit", occurred_at=at(days=30)),
        transaction(event_id="t3", kind="transfer", direction="credit", occurred_at=at(days=40)),
        transaction(event_id="t4", kind="payroll", direction="debit", occurred_at=at(days=50)),
    )
    write(engine, transaction(event_id="t1", kind="payroll", direction="credit"))
    view = customer_view(engine, "C1")
    assert view is not None
    assert view.payroll_last_at == (T0 + dt.timedelta(days=30)).astimezone(dt.UTC)
    assert view.payroll_account == "AC1"
    assert view.name is None  # no customer record yet: the row holds what is known


def test_rank_in_branch_by_assets(engine: Engine) -> None:
    """Hand-computed: B1 holds C1 300k, C2 900k, C3 300k (ties by id), B2 holds C4; a
    newer record moving C2 to B2 moves its rank."""
    write(
        engine,
        customer(),
        customer(customer_id="C2", event_id="cu-2", aum="900000.00"),
        customer(customer_id="C3", event_id="cu-3", aum="300000.00"),
        customer(customer_id="C4", event_id="cu-4", branch_id="B2", aum="1.00"),
        transaction(customer_id="C5", kind="payroll", direction="credit"),  # no record: unranked
    )
    assert [branch_rank(engine, c) for c in ("C2", "C1", "C3", "C4", "C5")] == [
        (1, 3),
        (2, 3),
        (3, 3),
        (1, 1),
        None,
    ]
    assert top_ranks(engine, 2) == {"C2": 1, "C1": 2, "C4": 1}
    write(
        engine, customer(customer_id="C2", event_id="cu-5", branch_id="B2", occurred_at=at(days=1))
    )
    assert top_ranks(engine, 2) == {"C1": 1, "C3": 2, "C2": 1, "C4": 2}


def test_assets_in_cents_are_rounded_down_and_bounded() -> None:
    """Ranking uses whole cents: fractions round down, extremes stay within 64 bits."""
    assert aum_cents(Decimal("12.349")) == 1234
    assert aum_cents(Decimal("-0.001")) == -1
    assert aum_cents(Decimal("1e30")) == 2**63 - 1


_ACTIONS = ["opened", "maturity_scheduled", "renewed", "matured", "redeemed", "cancelled"]
_serial = itertools.count()


@st.composite
def product_stories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A handful of events of one customer's products, some at the same instant."""
    count = draw(st.integers(1, 7))
    out = []
    for n in range(count):
        message = product(
            event_id=f"e{n}",
            product_id=draw(st.sampled_from(["P1", "P2"])),
            action=draw(st.sampled_from(_ACTIONS)),
            occurred_at=at(hours=draw(st.integers(0, 3))),
            amount=draw(st.sampled_from([..., "100.00", "250.50"])),
            maturity_date=draw(st.sampled_from([..., "2026-05-01", "2026-06-01"])),
        )
        out.append(message)
    out.append(customer(event_id="c0", occurred_at=at(hours=draw(st.integers(0, 3)))))
    out.append(customer(event_id="c1", occurred_at=at(hours=draw(st.integers(0, 3))), aum="5"))
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(story=product_stories(), data=st.data())
def test_any_order_and_any_batches_give_the_same_rows(
    sqlite_store: AlertStore, story: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Whatever order the events arrive in, however they are cut into batches and however
    often a batch is read again, the rows equal those of one in-order batch."""
    engine = sqlite_store.engine
    run = next(_serial)

    def as_customer(message: dict[str, Any], who: str) -> dict[str, Any]:
        return {**message, "customer_id": who, "event_id": f"{who}-{message['event_id']}"}

    ordered = sorted(story, key=lambda m: (m["occurred_at"], m["event_id"]))
    write(engine, *(as_customer(m, f"R{run}") for m in ordered))
    shuffled = data.draw(st.permutations(story))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(story)), max_size=3)))
    who = f"S{run}"
    start = 0
    for end in [*cuts, len(story)]:
        chunk = [as_customer(m, who) for m in shuffled[start:end]]
        write(engine, *chunk)
        if data.draw(st.booleans()):
            write(engine, *chunk)  # read again after a restart
        start = end

    def strip(view: Any) -> Any:
        return [
            (p.product_id, p.held, p.last_action, p.amount, p.maturity_date) for p in view.products
        ], (view.aum)

    assert strip(customer_view(engine, who)) == strip(customer_view(engine, f"R{run}"))
