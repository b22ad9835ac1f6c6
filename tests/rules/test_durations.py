"""Durations as compliance writes them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from churnwatch.rules.durations import EPOCH, format_duration, micros, parse_duration


class TestParseDuration:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("30s", 30),
            ("30m", 1800),
            ("72h", 259200),
            ("7d", 604800),
            ("2w", 1209600),
            ("1d12h", 129600),
            ("1h 30m", 5400),
            ("0", 0),
            (0, 0),
        ],
    )
    def test_valid(self, text: str | int, seconds: int) -> None:
        """Units s, m, h, d and w combine, and a bare zero means none."""
        assert parse_duration(text) == seconds

    @pytest.mark.parametrize("text", ["7 days", "7", "h", "", "1.5h", "-1d", "7D", "1d-2h"])
    def test_invalid_gives_an_example(self, text: str) -> None:
        """Anything else is refused with examples of what is meant."""
        with pytest.raises(ValueError, match="72h"):
            parse_duration(text)

    def test_a_number_without_unit_suggests_units(self) -> None:
        """A bare YAML number such as ``5`` is refused with ``5h`` and ``5d`` as hints."""
        with pytest.raises(ValueError, match="'5h' or '5d'"):
            parse_duration(5)

    def test_booleans_are_not_durations(self) -> None:
        """YAML ``yes``/``true`` is not a duration."""
        with pytest.raises(ValueError):
            parse_duration(True)


class TestFormatDuration:
    @pytest.mark.parametrize(
        ("seconds", "text"), [(0, "0"), (259200, "3d"), (129600, "1d12h"), (90, "1m30s")]
    )
    def test_shortest_form(self, seconds: int, text: str) -> None:
        """Seconds are written back in the largest units that fit."""
        assert format_duration(seconds) == text

    @pytest.mark.parametrize("seconds", [0, 1, 59, 3600, 86399, 604800, 1234567])
    def test_round_trip(self, seconds: int) -> None:
        """What format_duration writes, parse_duration reads back to the same seconds."""
        assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.datetimes(
        min_value=dt.datetime(1900, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.one_of(
            st.timedeltas(min_value=-dt.timedelta(hours=23), max_value=dt.timedelta(hours=23)).map(
                dt.timezone
            ),
            st.just(dt.UTC),
            st.sampled_from([ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")]),
        ),
    )
)
def test_micros_is_exact_in_any_zone(when: dt.datetime) -> None:
    """Microseconds since the epoch, exactly, whatever the offset or zone."""
    assert micros(when) == (when - EPOCH) // dt.timedelta(microseconds=1)
