"""What synthetic data set to make, and the two facts of the demo bank every part shares.

A :class:`DatasetSpec` fixes the bytes: the same spec gives the same lines on every
machine. The aum tiers and the branch names are what the generated customers and staff
carry and what the rules and pages read back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from churnwatch.rules import DEFAULT_TIMEZONE
from churnwatch.streams.synthetic.patterns import BRANCH_NAMES

__all__ = ["TIER_BOUNDS", "DatasetSpec", "branch_name", "tier_of"]

TIER_BOUNDS = (Decimal(50000), Decimal(200000), Decimal(500000), Decimal(1000000))


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate; the same spec always gives the same bytes."""

    customers: int = 3000
    weeks: int = 6
    start: dt.date = dt.date(2026, 9, 7)  # a Monday
    seed: int = 7
    timezone: str = DEFAULT_TIMEZONE
    malformed_share: float = 0.0  # extra bad lines, per transaction line
    shuffle_share: float = 0.0  # share of close same-customer pairs swapped

    def __post_init__(self) -> None:
        # the planted cases need room: 35 customers among many, and three weeks of dates
        if self.customers < 100 or self.weeks < 3:
            raise ValueError("DatasetSpec needs customers >= 100 and weeks >= 3")
        if not (0 <= self.malformed_share <= 1 and 0 <= self.shuffle_share <= 1):
            raise ValueError("malformed_share and shuffle_share must be within [0, 1]")


def branch_name(branch_id: str) -> str:
    """The demo's name for ``BRnn``: what its staff call it."""
    if branch_id == "HQ":
        return "总行"
    number = int(branch_id.removeprefix("BR"))
    return BRANCH_NAMES[number - 1] if number <= len(BRANCH_NAMES) else f"第{number}支行"


def tier_of(aum: Decimal) -> int:
    """0 = mass, 1 = C, 2 = B, 3 = A, 4 = private: the aum tiers the rules use."""
    return sum(1 for bound in TIER_BOUNDS if aum >= bound)
