"""The Faust runtime tests' input: a small generated bank with hostile lines mixed in, and
one customer who goes quiet before it starts, so that all eight shipped rules alert, and
a closing record on every partition after it."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache

from churnwatch.streams.kafka import partition_for
from churnwatch.streams.synthetic.bank import DatasetSpec, generate

__all__ = ["closing_customers", "hostile_bank", "quiet_customer"]

TZ = dt.timezone(dt.timedelta(hours=8))


def quiet_customer(customer_id: str = "CQUIET1") -> list[bytes]:
    """Card payments every other day from June to the end of August, then nothing: the
    activity check alerts some mornings later, as the bank's events move event time on."""
    start = dt.datetime(2026, 6, 1, 12, 0, tzinfo=TZ)
    lines = [
        json.dumps(
            {
                "type": "customer",
                "event_id": f"cq-{customer_id}",
                "occurred_at": (start - dt.timedelta(days=1)).isoformat(),
                "customer_id": customer_id,
                "name": "Zhang Min",
                "phone": "+8613900007777",
                "language": "zh-CN",
                "aum": "80000.00",
                "branch_id": "BR01",
                "manager_id": "S0004",
                "sms_opt_in": True,
            }
        ).encode()
    ]
    for n in range(45):
        lines.append(
            json.dumps(
                {
                    "type": "transaction",
                    "event_id": f"tq-{customer_id}-{n}",
                    "occurred_at": (start + dt.timedelta(days=2 * n)).isoformat(),
                    "account_id": f"AC-{customer_id}",
                    "customer_id": customer_id,
                    "direction": "debit",
                    "amount": "120.00",
                    "balance_after": "30000.00",
                    "kind": "card",
                    "channel": "pos",
                    "currency": "CNY",
                }
            ).encode()
        )
    return lines


def closing_customers(partitions: int = 4) -> list[bytes]:
    """A new customer's record on every partition, days after the bank's last event.

    Replay runs one event-time clock for everything; a worker's task follows its own
    partition's events, and with the partitions split between workers an idle task
    follows its own worker's latest event only. These records carry every task past the
    bank's last timer, so both fire the same ones.
    """
    at = dt.datetime(2026, 10, 12, 9, 0, tzinfo=TZ)
    lines: list[bytes] = []
    found: set[int] = set()
    number = 0
    while len(found) < partitions:
        number += 1
        customer_id = f"CLOSE{number:03d}"
        partition = partition_for(customer_id.encode(), partitions)
        if partition in found:
            continue
        found.add(partition)
        lines.append(
            json.dumps(
                {
                    "type": "customer",
                    "event_id": f"close-{customer_id}",
                    "occurred_at": at.isoformat(),
                    "customer_id": customer_id,
                    "name": "Li Wei",
                    "phone": "+8613900008888",
                    "language": "zh-CN",
                    "aum": "1000.00",
                    "branch_id": "BR01",
                    "manager_id": "S0004",
                    "sms_opt_in": False,
                }
            ).encode()
        )
    return lines


@cache
def hostile_bank() -> tuple[bytes, ...]:
    """About 5,000 lines, 2% of them malformed or hostile, in event-time order per topic."""
    bank = generate(DatasetSpec(customers=100, weeks=4, seed=23, malformed_share=0.02))
    return (*quiet_customer(), *bank, *closing_customers())
