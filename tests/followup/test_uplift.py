"""The uplift's confidence interval against the values its method was published with."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churnwatch.followup.uplift import newcombe_interval, wilson_interval

#: Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10 (hybrid score)
PUBLISHED = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), PUBLISHED)
def test_newcombes_published_intervals(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    """The eight examples of Newcombe's paper come out to its four decimals."""
    interval = newcombe_interval(*counts)
    assert (round(interval.low, 4), round(interval.high, 4)) == expected


def test_wilsons_interval_of_81_in_263() -> None:
    """Newcombe's (1998) companion paper's example: 81/263 gives 0.2553 to 0.3662."""
    interval = wilson_interval(81, 263)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.2553, 0.3662)


def test_an_empty_group_is_refused() -> None:
    """No customers in a group means no rate to compare: the caller must not ask."""
    with pytest.raises(ValueError, match="trials > 0"):
        newcombe_interval(1, 2, 0, 0)


groups = st.integers(min_value=1, max_value=500).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@given(first=groups, second=groups)
def test_the_interval_holds_the_difference_and_turns_with_the_groups(
    first: tuple[int, int], second: tuple[int, int]
) -> None:
    """Whatever the counts, the interval lies in [-1, 1], contains the observed difference,
    and swapping the groups mirrors it."""
    (x1, n1), (x2, n2) = first, second
    interval = newcombe_interval(x1, n1, x2, n2)
    difference = x1 / n1 - x2 / n2
    assert -1 <= interval.low <= difference <= interval.high <= 1
    mirrored = newcombe_interval(x2, n2, x1, n1)
    assert mirrored.low == pytest.approx(-interval.high)
    assert mirrored.high == pytest.approx(-interval.low)
