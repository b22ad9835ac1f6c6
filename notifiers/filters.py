"""The filters templates may use: money, masking, shares, local times.

Money arrives as decimal strings in alert facts; ``money`` groups thousands and keeps two
places without ever going through float. ``mask`` keeps the last four digits, the only
part of an account or phone number a text leaving the bank may show.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from churnwatch.notifiers.masking import mask_digits

__all__ = ["FILTERS", "local_time", "money", "product", "share"]


def money(value: Any, places: int = 2) -> str:
    """``"1234567.5"`` → ``"1,234,567.50"``; anything that is not a number is shown as is."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not amount.is_finite():
        return str(value)
    quantum = Decimal(1).scaleb(-places)
    return f"{amount.quantize(quantum):,}"


def share(value: Any) -> str:
    """``"0.7000"`` → ``"70%"``; one decimal when it matters (``"0.125"`` → ``"12.5%"``)."""
    try:
        percent = Decimal(str(value)) * 100
    except (InvalidOperation, ValueError):
        return str(value)
    text = f"{percent.quantize(Decimal('0.1')):f}".removesuffix(".0")
    return f"{text}%"


def local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A datetime (already in the bank's zone) or ISO text, formatted."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime(fmt)
    return str(value)


PRODUCT_NAMES = {
    "zh-CN": {
        "time_deposit": "定期存款",
        "wealth": "理财产品",
        "fund_plan": "基金定投",
        "insurance": "保险",
        "auto_debit": "自动扣款",
    },
    "en": {
        "time_deposit": "time deposit",
        "wealth": "wealth product",
        "fund_plan": "fund plan",
        "insurance": "insurance policy",
        "auto_debit": "automatic debit",
    },
}


def product(kind: Any, language: str = "zh-CN") -> str:
    """A product kind in words a customer or manager reads (``fund_plan`` -> 基金定投)."""
    names = PRODUCT_NAMES.get(language, PRODUCT_NAMES["en"])
    return names.get(str(kind), str(kind).replace("_", " "))


FILTERS = {
    "money": money,
    "mask": mask_digits,
    "share": share,
    "local_time": local_time,
    "product": product,
}
