"""The churn score: a customer's signals (alerts) combined with weights and a half-life.

Every alert of a rule the pack's ``score:`` weighs adds a *contribution* (the rule, its
event time, its weight) to the customer's score; a contribution is worth its weight at
its own time and half as much one half-life later. The score at a time ``t`` is the sum
of the contributions up to ``t``, each decayed to ``t``.

The arithmetic is integers only, so every platform, the worker and the replay agree to
the last unit: scores are counted in hundredths of a point (:data:`UNITS`), and the
decay ``2 ** (-elapsed / half_life)`` is a 62-bit fixed-point product of a table built
with :func:`math.isqrt` (no floats, no ``math.exp``), rounded down once per
contribution. A contribution's value therefore never rises with time, is exactly half
its weight (rounded down) after one half-life, and the score is a plain sum: it does not
depend on the order contributions were added in.

A score only rises at a contribution and falls in between, so it crosses a threshold
upward only at a contribution's time: a ``score:`` rule (rules/scoring.py) compares the
score just before and just after that instant, and fires once per crossing.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "MAX_CONTRIBUTIONS",
    "UNITS",
    "Contribution",
    "ScoreConfig",
    "add_contribution",
    "decayed",
    "points",
    "prune_contributions",
    "score_at",
    "to_units",
]

#: a point is 100 units: weights, thresholds and scores are exact to 0.01
UNITS = 100
#: contributions a customer keeps at most (the oldest go first); bounds the state
MAX_CONTRIBUTIONS = 32
_Q = 62
_ONE = 1 << _Q
_FRACTION_BITS = 32


def _halving_table() -> tuple[int, ...]:
    """``2 ** -(2 ** -i)`` for i = 1..32 in Q62: square roots of 2 by isqrt, inverted."""
    table = []
    root = math.isqrt(2 << (2 * _Q))  # 2 ** (1/2) in Q62
    for _ in range(_FRACTION_BITS):
        table.append((1 << (2 * _Q)) // root)
        root = math.isqrt(root << _Q)
    return tuple(table)


_TABLE = _halving_table()

#: (event time in µs, rule id, weight in units), kept in time order
Contribution = tuple[int, str, int]


def decayed(weight: int, elapsed: int, half_life: int) -> int:
    """``weight`` (units) after ``elapsed`` µs at ``half_life`` µs, rounded down; integers only."""
    if elapsed <= 0:
        return weight
    whole, rest = divmod(elapsed, half_life)
    if whole >= weight.bit_length():
        return 0
    fraction = (rest << _FRACTION_BITS) // half_life
    factor = _ONE
    # the set bits of the fraction, highest first, each a factor of the table (bit
    # i from the top is 2 ** -(2 ** -(i + 1))), rounded down after each product; only the
    # set bits are visited: half the steps of walking all 32 (the worker scores every
    # alert with every contribution, and prunes with this)
    while fraction:
        top = fraction.bit_length()
        factor = (factor * _TABLE[_FRACTION_BITS - top]) >> _Q
        fraction ^= 1 << (top - 1)
    return (weight * factor) >> (_Q + whole)


def score_at(contributions: list[Contribution], at: int, half_life: int) -> int:
    """The score (units) at ``at`` µs: the contributions up to then, each decayed to then."""
    return sum(decayed(w, at - t, half_life) for t, _, w in contributions if t <= at)


def add_contribution(contributions: list[Contribution], entry: Contribution) -> None:
    """Insert in time order (an alert of a late event lands where it belongs); bounded."""
    bisect.insort(contributions, entry)
    if len(contributions) > MAX_CONTRIBUTIONS:
        del contributions[0]


def prune_contributions(contributions: list[Contribution], at: int, half_life: int) -> None:
    """Drop contributions worth nothing at ``at`` (rounded down to 0): the score is unchanged."""
    contributions[:] = [
        c for c in contributions if c[0] > at or decayed(c[2], at - c[0], half_life)
    ]


def to_units(value: Decimal) -> int:
    """Points (at most two decimals, checked at load) as integer units."""
    return int(value * UNITS)


def points(units: int) -> Decimal:
    """Units as points with two decimals, e.g. 4725 -> Decimal('47.25')."""
    return Decimal(units).scaleb(-2)


@dataclass(frozen=True, slots=True)
class ScoreConfig:
    """The pack's ``score:``, compiled: weights and bands in units, the half-life in µs."""

    half_life: int
    #: rule id -> weight (units); rules not named add nothing
    weights: dict[str, int]
    #: the lower bounds of the report's bands above the first (units), increasing
    bands: tuple[int, ...]
    #: the half-life as written (``30d``), for the page
    half_life_text: str
    file: str = ""

    def band_of(self, units: int) -> tuple[int, int | None]:
        """The band a score falls in: (lower bound, upper bound or None), in units."""
        index = bisect.bisect_right(self.bands, units)
        low = self.bands[index - 1] if index else 0
        high = self.bands[index] if index < len(self.bands) else None
        return low, high
