"""What the morning list's text sees, as a sample: the load check renders the pack's
``_morning`` templates with it, so a misspelt name is refused before any list is sent.

The real variables are built by :mod:`churnwatch.followup.morning_send` in the same shape:

``recipient`` (``id``, ``name``), ``day`` (a date), ``link`` (the list page, or empty),
``steps`` (``step``, ``on``, ``customer``, ``product``, ``amount``, ``maturity_date``),
``unacknowledged`` and ``due`` (``title``, ``severity``, ``customer``, ``occurred_at``,
``step`` or None), ``inflows`` (``customer``, ``amount``, ``bank`` or None,
``occurred_at``), ``counts`` and ``more`` (per section: all items, and those beyond the
lines shown), ``total``, ``language`` and ``bank``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

__all__ = ["MORNING_SECTIONS", "morning_sample"]

MORNING_SECTIONS = ("steps", "unacknowledged", "due", "inflows")


def morning_sample(language: str, customer: str) -> dict[str, Any]:
    """Sample variables with every section filled, and one item of each without its
    optional parts (no amount, no bank, no step)."""
    day = dt.date(2026, 9, 14)
    moment = dt.datetime(2026, 9, 13, 16, 5, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    alert = {"title": "x" * 12, "severity": "high", "customer": customer, "occurred_at": moment}
    sections: dict[str, list[dict[str, Any]]] = {
        "steps": [
            {
                "step": "3d",
                "on": day,
                "customer": customer,
                "product": "time_deposit",
                "amount": Decimal("99999999.99"),
                "maturity_date": day + dt.timedelta(days=3),
            },
            {
                "step": "1d",
                "on": day,
                "customer": customer,
                "product": "wealth",
                "amount": None,
                "maturity_date": day + dt.timedelta(days=1),
            },
        ],
        "unacknowledged": [{**alert, "step": "3d"}, {**alert, "step": None}],
        "due": [{**alert, "step": None}],
        "inflows": [
            {"customer": customer, "amount": Decimal("99999999.99"), "bank": "x" * 8,
             "occurred_at": moment},
            {"customer": customer, "amount": Decimal("50000.00"), "bank": None,
             "occurred_at": moment},
        ],
    }  # fmt: skip
    return {
        **sections,
        "language": language,
        "recipient": {"id": "S0001", "name": customer},
        "day": day,
        "link": "https://cw.bank.example/m/" + "x" * 40,
        "counts": {name: len(items) + 3 for name, items in sections.items()},
        "total": sum(len(items) + 3 for items in sections.values()),
        "more": {name: 3 for name in sections},
        "bank": {"signature": "", "hotline": ""},
    }
