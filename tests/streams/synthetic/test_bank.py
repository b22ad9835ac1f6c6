"""The synthetic bank data set: deterministic, valid, consistent, and carrying its cases."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from churnwatch.schemas.decode import DeadLetter, decode
from churnwatch.schemas.models import CustomerEvent, StaffEvent, TransactionEvent
from churnwatch.streams.synthetic.bank import (
    DatasetSpec,
    generate,
    planted_cases,
    tier_of,
    write_dataset,
)

SMALL = DatasetSpec(customers=400, weeks=4, seed=11)
MESSY = DatasetSpec(customers=400, weeks=4, seed=11, malformed_share=0.03, shuffle_share=0.5)
RULES = {
    "large-transfer-out",
    "balance-sharp-fall",
    "payroll-moved-out",
    "maturity-funds-moved-out",
    "maturity-reminder",
    "sticky-product-cancelled",
    "tier-downgrade",
}


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return list(generate(SMALL))


@pytest.fixture(scope="module")
def events(lines: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def messy() -> list[bytes]:
    return list(generate(MESSY))


def _cases_by_pattern() -> dict[str, str]:
    return {case.pattern: case.customer_id for case in planted_cases(SMALL)}


def test_same_spec_gives_identical_bytes(lines: list[bytes]) -> None:
    """Generating the same spec twice yields the same bytes; another seed yields others."""
    assert list(generate(SMALL)) == lines
    other = list(generate(DatasetSpec(customers=400, weeks=4, seed=12)))
    assert other != lines
    assert planted_cases(SMALL) == planted_cases(DatasetSpec(customers=400, weeks=4, seed=11))


def test_every_line_decodes_to_an_event(lines: list[bytes]) -> None:
    """Every generated line passes the contract decoder, and every event type occurs."""
    decoded = [decode(line) for line in lines]
    dead = [d for d in decoded if isinstance(d, DeadLetter)]
    assert dead == []
    kinds = Counter(type(d).__name__ for d in decoded)
    assert set(kinds) == {"StaffEvent", "CustomerEvent", "TransactionEvent", "ProductEvent"}


def test_event_ids_are_unique(events: list[dict[str, Any]]) -> None:
    """No two events share an event_id, the idempotency key."""
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))


def test_money_is_two_decimal_strings_and_time_has_the_offset(events: list[dict[str, Any]]) -> None:
    """Amounts are decimal strings with two places; times carry +08:00 and never go back."""
    for e in events:
        for key in ("amount", "balance_after", "aum"):
            if key in e:
                assert isinstance(e[key], str) and Decimal(e[key]).as_tuple().exponent == -2
    stamps = [dt.datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert all(s.utcoffset() == dt.timedelta(hours=8) for s in stamps)
    assert all(a <= b for a, b in itertools.pairwise(stamps))
    assert events[0]["occurred_at"].startswith("2026-09-07T00:00:00")


def test_balance_after_follows_every_posting(events: list[dict[str, Any]]) -> None:
    """Each account's balance_after moves by exactly the amount, in its direction, never < 0."""
    last: dict[str, Decimal] = {}
    checked = 0
    for e in events:
        if e["type"] != "transaction":
            continue
        amount, after = Decimal(e["amount"]), Decimal(e["balance_after"])
        assert amount > 0 and after >= 0
        signed = amount if e["direction"] == "credit" else -amount
        if e["account_id"] in last:
            assert last[e["account_id"]] + signed == after, e
            checked += 1
        last[e["account_id"]] = after
    assert checked > 10_000


def test_directory_has_staff_structure_and_customer_mix(lines: list[bytes]) -> None:
    """Staff cover every role with two inactive managers still assigned; customers vary."""
    decoded = [decode(line) for line in lines[:2000]]
    staff = {s.staff_id: s for s in decoded if isinstance(s, StaffEvent)}
    customers = [c for c in decoded if isinstance(c, CustomerEvent)]
    assert Counter(s.role for s in staff.values())["executive"] == 2
    assert {s.role for s in staff.values()} == {"executive", "branch_head", "relationship_manager"}
    inactive = {sid for sid, s in staff.items() if not s.active}
    assert len(inactive) == 2
    assert any(c.manager_id in inactive for c in customers)
    assert len(customers) == SMALL.customers
    assert 0.05 < sum(c.language == "en" for c in customers) / len(customers) < 0.3
    assert 0.8 < sum(c.sms_opt_in for c in customers) / len(customers) < 0.97
    assert {tier_of(c.aum) for c in customers} == {0, 1, 2, 3, 4}


def test_malformed_lines_are_extra_and_all_dead_letters(
    lines: list[bytes], messy: list[bytes]
) -> None:
    """Bad lines are added, never replacing good ones, and each decodes to a dead letter."""
    clean = set(lines)
    extra = [line for line in messy if line not in clean]
    assert sorted(line for line in messy if line in clean) == sorted(lines)
    assert len(extra) > 100
    codes: Counter[str] = Counter()
    for line in extra:
        result = decode(line)
        assert isinstance(result, DeadLetter), line
        codes[result.code] += 1
    expected = {"bad_json", "missing_field", "bad_amount", "bad_timestamp", "bom", "unknown_type"}
    hostile = {
        "amount_exponent",
        "amount_too_large",
        "amount_not_plain",
        "amount_too_precise",
        "timestamp_out_of_range",
        "too_deep",
        "duplicate_key",
    }
    assert set(codes) == expected | hostile


def test_shuffle_moves_events_only_minutes_out_of_order(
    lines: list[bytes], messy: list[bytes]
) -> None:
    """Shuffling leaves content alone and puts some same-customer pairs minutes out of order."""
    clean = set(lines)
    latest: dict[str, dt.datetime] = {}
    late = 0
    for line in messy:
        if line not in clean:
            continue
        e = json.loads(line)
        when, who = dt.datetime.fromisoformat(e["occurred_at"]), e.get("customer_id")
        if who is None:
            continue
        if who in latest and when < latest[who]:
            late += 1
            assert latest[who] - when <= dt.timedelta(minutes=15)
        latest[who] = max(latest.get(who, when), when)
    assert late > 50


def test_write_dataset_writes_one_line_per_message(tmp_path: Path, lines: list[bytes]) -> None:
    """write_dataset writes newline-terminated lines and returns how many it wrote."""
    path = tmp_path / "bank.jsonl"
    assert write_dataset(SMALL, path) == len(lines)
    assert path.read_bytes() == b"".join(line + b"\n" for line in lines)


def test_small_specs_are_refused() -> None:
    """A spec too small to hold the planted cases is refused rather than silently thinned."""
    with pytest.raises(ValueError):
        DatasetSpec(customers=50)
    with pytest.raises(ValueError):
        DatasetSpec(weeks=2)


def test_planted_cases_are_distinct_and_name_known_rules() -> None:
    """Every churn pattern is planted on several customers, each with a known rule or None."""
    cases = planted_cases(SMALL)
    assert {c.expect_rule for c in cases} - {None} <= RULES
    per_rule = Counter(c.expect_rule for c in cases)
    for rule in RULES - {"maturity-reminder"}:
        assert per_rule[rule] >= 4, rule
    assert per_rule[None] >= 7
    assert len({c.customer_id for c in cases}) == len({(c.customer_id, c.pattern) for c in cases})


def test_named_planted_transactions_exist(events: list[dict[str, Any]]) -> None:
    """The exact-threshold, own-account and lookalike postings are in the data as described."""
    who = _cases_by_pattern()
    txs = defaultdict(list)
    for e in events:
        if e["type"] == "transaction":
            txs[e["customer_id"]].append(e)

    def one(pattern: str, amount: str, kind: str = "transfer") -> dict[str, Any]:
        found = [
            t
            for t in txs[who[pattern]]
            if (t["amount"], t["kind"], t["direction"]) == (amount, kind, "debit")
        ]
        assert len(found) == 1, pattern
        return found[0]

    exact = one("large-transfer-out:exact-50000.00", "50000.00")
    assert exact["counterparty"]["same_bank"] is False
    own = one("large-transfer-out:own-account-other-bank", "120000.00")["counterparty"]
    assert own["same_customer"] is True and own["same_bank"] is False
    assert one("lookalike:transfer-49999.99", "49999.99")["counterparty"]["same_bank"] is False
    moved = one("lookalike:own-account-same-bank", "200000.00")["counterparty"]
    assert moved["same_bank"] is True and moved["same_customer"] is True
    assert one("lookalike:own-wealth-product-150000", "150000.00", "product")["counterparty"][
        "same_bank"
    ]
    assert one("lookalike:big-card-spending", "68000.00", "card")["channel"] == "pos"
    assert one("large-transfer-out:cash-at-counter", "80000.00", "cash")["channel"] == "counter"


def _fired(events: list[dict[str, Any]]) -> dict[str, set[str]]:
    """A plain reference reading of the shipped thresholds, to check the planted cases by."""
    fired: dict[str, set[str]] = defaultdict(set)
    balances: dict[str, dict[str, Decimal]] = defaultdict(dict)
    history: dict[str, list[tuple[dt.datetime, Decimal]]] = defaultdict(list)
    follow: dict[str, list[list[Any]]] = defaultdict(list)  # [rule, start, window, needed, sum]
    aum: dict[str, Decimal] = {}
    for e in events:
        cid, at = e.get("customer_id", ""), dt.datetime.fromisoformat(e["occurred_at"])
        if e["type"] == "customer":
            if cid in aum and tier_of(Decimal(e["aum"])) < tier_of(aum[cid]):
                fired[cid].add("tier-downgrade")
            aum[cid] = Decimal(e["aum"])
        elif e["type"] == "product":
            if e["action"] == "maturity_scheduled":
                fired[cid].add("maturity-reminder")
            if e["action"] == "cancelled" and e["product_kind"] != "time_deposit":
                fired[cid].add("sticky-product-cancelled")
            if e["action"] == "matured":
                needed = Decimal(e["amount"]) / 2
                follow[cid].append(["maturity-funds-moved-out", at, dt.timedelta(7), needed, 0])
        elif e["type"] == "transaction":
            amount, cp = Decimal(e["amount"]), e.get("counterparty", {})
            same_bank, own = cp.get("same_bank", False), cp.get("same_customer", False)
            balances[cid][e["account_id"]] = Decimal(e["balance_after"])
            total = sum(balances[cid].values(), Decimal(0))
            window = [(t, b) for t, b in history[cid] if at - t <= dt.timedelta(7)]
            history[cid] = [*window, (at, total)]
            peak = max(b for _, b in history[cid])
            if e["kind"] == "payroll" and e["direction"] == "credit":
                needed = amount * Decimal("0.7")
                follow[cid].append(["payroll-moved-out", at, dt.timedelta(hours=72), needed, 0])
            internal = (same_bank and own) or (e["kind"] == "product" and same_bank)
            if e["direction"] != "debit" or e["kind"] not in ("transfer", "cash") or internal:
                continue
            if not same_bank and amount >= 50_000:
                fired[cid].add("large-transfer-out")
            if total * 2 <= peak and peak - total >= 50_000:
                fired[cid].add("balance-sharp-fall")
            for item in follow[cid]:
                if at - item[1] <= item[2]:
                    item[4] += amount
                    if item[4] >= item[3]:
                        fired[cid].add(item[0])
    return fired


def test_planted_cases_trip_exactly_their_rules(events: list[dict[str, Any]]) -> None:
    """By the shipped thresholds, each planted customer trips its rules and nothing else does."""
    expected: dict[str, set[str]] = defaultdict(set)
    for case in planted_cases(SMALL):
        expected[case.customer_id] |= {case.expect_rule} if case.expect_rule else set()
    fired = _fired(events)
    for cid in set(fired) | set(expected):
        got = fired.get(cid, set())
        if cid not in expected:
            got = got - {"maturity-reminder"}  # background deposits are reminded, rightly
        assert got == expected.get(cid, set()), cid


def test_large_data_sets_stream() -> None:
    """A spec for over 100,000 events streams through without building them all first."""
    stream = generate(DatasetSpec(customers=1600, weeks=6, seed=3))
    assert iter(stream) is stream
    count = sum(1 for _ in stream)
    assert count > 100_000
    assert isinstance(decode(next(generate(SMALL))), (StaffEvent, TransactionEvent))
