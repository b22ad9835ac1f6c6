"""Stored time differences: every one reads back exact, whole seconds in half the code."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from churnwatch.rules.time_codes import from_time_code, time_code


@given(st.integers(min_value=-(2**62), max_value=2**62))
def test_every_difference_reads_back_exact(micros: int) -> None:
    assert from_time_code(time_code(micros)) == micros


@given(st.integers(min_value=0, max_value=10**9))
def test_a_whole_second_is_coded_smaller_than_its_microseconds(seconds: int) -> None:
    """A posting a whole number of seconds after the one before is coded as twice the
    seconds (even), small on the wire; any other difference as odd microseconds."""
    assert time_code(seconds * 1_000_000) == seconds * 2
    assert time_code(seconds * 1_000_000 + 1) % 2 == 1
