"""A small, deterministic contract-v1 event generator for the worker's tests and bench.

The shared generator (``streams/synthetic/bank.py``) was not on main when these tests were
written; this one makes just what the worker tests need: every customer's record
first, then transactions in event-time order, with payrolls, everyday spending and a
share of large transfers to other banks, so all three shipped transaction rules fire.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from decimal import Decimal

__all__ = ["START", "customer_line", "events", "staff_line", "transfer_line"]

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def customer_line(customer_id: str, at: dt.datetime, branch: str = "b1") -> bytes:
    return json.dumps(
        {
            "type": "customer",
            "event_id": f"c-{customer_id}-{at.timestamp():.0f}",
            "occurred_at": at.isoformat(),
            "customer_id": customer_id,
            "name": f"Customer {customer_id}",
            "phone": "+8613800138000",
            "language": "zh-CN",
            "aum": "300000.00",
            "branch_id": branch,
            "manager_id": "rm-1",
            "sms_opt_in": True,
        }
    ).encode()


def staff_line(staff_id: str, at: dt.datetime) -> bytes:
    return json.dumps(
        {
            "type": "staff",
            "event_id": f"s-{staff_id}",
            "occurred_at": at.isoformat(),
            "staff_id": staff_id,
            "name": f"Manager {staff_id}",
            "phone": "+8613900139000",
            "role": "relationship_manager",
            "branch_id": "b1",
            "active": True,
        }
    ).encode()


def transfer_line(
    event_id: str,
    customer_id: str,
    at: dt.datetime,
    amount: Decimal,
    balance_after: Decimal,
    *,
    direction: str = "debit",
    kind: str = "transfer",
    same_bank: bool = False,
    account_id: str | None = None,
) -> bytes:
    return json.dumps(
        {
            "type": "transaction",
            "event_id": event_id,
            "occurred_at": at.isoformat(),
            "account_id": account_id or f"a-{customer_id}",
            "customer_id": customer_id,
            "direction": direction,
            "amount": str(amount),
            "balance_after": str(balance_after),
            "kind": kind,
            "channel": "mobile",
            "counterparty": {"bank": "OTHER" if not same_bank else "SELF", "same_bank": same_bank},
        }
    ).encode()


def events(
    customers: int = 50,
    per_customer: int = 40,
    *,
    seed: int = 7,
    large_share: float = 0.03,
    start: dt.datetime = START,
    prefix: str = "",
) -> Iterator[bytes]:
    """Customer records, one staff record, then time-ordered transactions."""
    rng = random.Random(seed)
    ids = [f"{prefix}cu{n:05d}" for n in range(customers)]
    yield staff_line("rm-1", start - dt.timedelta(days=30))
    for customer_id in ids:
        yield customer_line(customer_id, start - dt.timedelta(days=10))
    balances = {cid: Decimal(rng.randrange(60_000, 400_000)) for cid in ids}
    step = dt.timedelta(seconds=max(1, 14 * 86400 // (customers * per_customer)))
    at = start
    for n in range(customers * per_customer):
        customer_id = ids[rng.randrange(customers)]
        at += step
        balance = balances[customer_id]
        roll = rng.random()
        if roll < 0.05:
            amount = Decimal(rng.randrange(15_000, 40_000))
            balance += amount
            line = transfer_line(
                f"{prefix}t{n}",
                customer_id,
                at,
                amount,
                balance,
                direction="credit",
                kind="payroll",
                same_bank=True,
            )
        elif roll < 0.05 + large_share and balance > 60_000:
            amount = Decimal(rng.randrange(50_000, int(min(balance, 120_000))))
            balance -= amount
            line = transfer_line(f"{prefix}t{n}", customer_id, at, amount, balance)
        else:
            amount = Decimal(rng.randrange(50, 5_000)) if balance > 5_000 else Decimal(10)
            direction = "debit" if rng.random() < 0.7 else "credit"
            balance += -amount if direction == "debit" else amount
            line = transfer_line(
                f"{prefix}t{n}",
                customer_id,
                at,
                amount,
                balance,
                direction=direction,
                kind="card",
            )
        balances[customer_id] = balance
        yield line
