"""The balance tracker's money: exact integer minor units, or a sign that the scale must grow."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from churnwatch.rules.balance import _minor_units

money = st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**15), max_value=10**15)


@given(money, st.integers(0, 6))
def test_minor_units_are_exact_or_none(value: Decimal, scale: int) -> None:
    """The units are the value times 10^scale when that is whole, else None (rescale)."""
    scaled = value.scaleb(scale)
    expected = int(scaled) if scaled == scaled.to_integral_value() else None
    assert _minor_units(value, scale) == expected
