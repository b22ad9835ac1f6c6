"""Customer tiers from assets under management at the bank.

Defaults: ``mass`` < 50,000 ≤ ``C`` < 200,000 ≤ ``B`` < 500,000 ≤ ``A`` < 1,000,000 ≤
``private``. A ``tier`` on the customer record overrides the derived one. Routing and
the ``tier-downgrade`` rule both read tiers through :class:`TierScale`, so a bank
that moves a boundary moves it in one place.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["DEFAULT_TIERS", "TierScale"]


@dataclass(frozen=True)
class TierScale:
    """Tier names from lowest to highest and the lower bound (inclusive) of each above the first."""

    names: Sequence[str] = ("mass", "C", "B", "A", "private")
    bounds: Sequence[Decimal] = (
        Decimal("50000"),
        Decimal("200000"),
        Decimal("500000"),
        Decimal("1000000"),
    )

    def __post_init__(self) -> None:
        if len(self.names) != len(self.bounds) + 1:
            raise ValueError("a tier scale needs one more name than bounds")
        if not all(Decimal(bound).is_finite() for bound in self.bounds):
            raise ValueError("tier bounds must be finite numbers")
        if list(self.bounds) != sorted(self.bounds):
            raise ValueError("tier bounds must increase")

    def tier_of(self, aum: Decimal) -> str:
        return self.names[bisect.bisect_right(self.bounds, aum)]

    def rank(self, tier: str) -> int:
        """Position of ``tier`` (0 = lowest); unknown tiers rank -1."""
        try:
            return list(self.names).index(tier)
        except ValueError:
            return -1


DEFAULT_TIERS = TierScale()
