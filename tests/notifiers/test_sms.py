"""SMS segment counting: GSM-7 160/153, UCS-2 70/67."""

from __future__ import annotations

import pytest

from churnwatch.notifiers.sms import count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # an escape character counts two septets
        ("€" * 81, "GSM-7", 2),
        ("您" * 70, "UCS-2", 1),
        ("您" * 71, "UCS-2", 2),
        ("您" * 134, "UCS-2", 2),
        ("您" * 135, "UCS-2", 3),
        ("a" * 69 + "您", "UCS-2", 1),  # one Chinese character makes the whole text UCS-2
        ("😀" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_segments(text: str, encoding: str, segments: int) -> None:
    """Each text costs the segments a handset would use for it."""
    count = count_segments(text)
    assert (count.encoding, count.segments) == (encoding, segments)
