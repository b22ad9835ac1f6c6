"""What the load check renders the pack's templates with, so that a misspelt name, a text
too long for its SMS segments or a full account number is refused before any person
reads it.

Samples are as long as real values get: the longest usual Chinese and Latin names, facts
that are all long amounts, links of a real token's length.

The morning list's real variables are built by :mod:`churnwatch.followup.morning.send` in
the shape of :func:`morning_sample`: ``recipient`` (``id``, ``name``), ``day`` (a date),
``link`` (the list page, or empty), ``steps`` (``step``, ``on``, ``customer``,
``product``, ``amount``, ``maturity_date``), ``unacknowledged`` and ``due`` (``title``,
``severity``, ``customer``, ``occurred_at``, ``step`` or None), ``inflows``
(``customer``, ``amount``, ``bank`` or None, ``occurred_at``), ``counts`` and ``more``
(per section: all items, and those beyond the lines shown), ``total``, ``language`` and
``bank``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from churnwatch.notifiers.masking import mask_digits
from churnwatch.notifiers.rendering import RenderContext
from churnwatch.rules.texts import RuleTexts

__all__ = [
    "MORNING_SECTIONS",
    "SAMPLE_NAMES",
    "SampleFacts",
    "alert_sample",
    "group_sample",
    "morning_sample",
]


class SampleFacts(dict[str, Any]):
    """Facts for the load check: every fact exists and is as long as a real one gets."""

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]

    def __missing__(self, key: str) -> str:
        return {"tier": "private", "share": "0.9999", "share_of_peak": "0.9999"}.get(
            key, "99999999.99"
        )


def group_sample(name: str) -> dict[str, Any]:
    """A group message's variables for the load check: two customers, three alerts."""
    moment = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    alert = {
        "title": "Sample alert title of a realistic length",
        "severity": "critical",
        "when": moment,
        "account": mask_digits("6222020000001234"),
        "what": "x" * 60,
        "footer": "https://churnwatch.bank.example/a/" + "x" * 64,
    }
    customers = [
        {"id": "C-000000001", "name": name, "tier": "private", "alerts": [alert, alert]},
        {"id": "C-000000002", "name": name, "tier": "mass", "alerts": [alert]},
    ]
    return {"customers": customers, "messages": ["x" * 60] * 3, "count": 3}


#: customer names the load check renders with: the longest usual Chinese and Latin ones
SAMPLE_NAMES = ("欧阳娜娜", "Alexandra Montgomery")


def alert_sample(
    folder: str,
    audience: str,
    language: str,
    name: str,
    *,
    facts: Mapping[str, Any] | None = None,
    rule_id: str | None = None,
) -> RenderContext:
    """A delivery as the load check renders it; ``facts`` None means "any fact exists"."""
    local = dt.datetime(2026, 12, 31, 23, 59)
    sample_facts: Mapping[str, Any] = SampleFacts() if facts is None else dict(facts)
    return RenderContext(
        template=folder,
        rule_id=rule_id or folder,
        audience=audience,
        languages=(language,),
        alert={
            "rule_id": "sample-rule-id-long",
            "title": "Sample alert title of a realistic length",
            "severity": "critical",
            "occurred_at": local,
            "detected_at": local,
            "facts": sample_facts,
        },
        facts=sample_facts,
        customer={
            "name": name,
            "tier": "private",
            "language": language,
            "phone": mask_digits("+8613800001234"),
            "branch_id": "BR-0001",
            "id": "C-000000001",
        },
        recipient={
            "name": name,
            "id": "S-0001",
            "link": "https://churnwatch.bank.example/a/" + "x" * 64,
            "ref": "3f9a2c",
        },
        account=mask_digits("6222020000001234"),
        texts=RuleTexts(
            title="Sample alert title of a realistic length",
            actions=["Call the customer today and ask what the money is for."] * 2,
        ),
    )


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
