"""How many SMS segments a text costs: GSM-7 when every character allows it, else UCS-2.

A single GSM-7 SMS holds 160 characters (the escape characters ``^{}\\[~]|€`` count two);
a concatenated one 153 per segment (the rest is the UDH header). UCS-2, which any Chinese
character forces, holds 70, or 67 per segment when concatenated. UCS-2 counts UTF-16 code
units, so an emoji costs two. Carriers bill per segment and some drop long chains, which
is why templates are checked against a maximum at load.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

__all__ = ["SegmentCount", "count_segments"]

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


class SegmentCount(msgspec.Struct, frozen=True):
    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    segments: int


def count_segments(text: str) -> SegmentCount:
    """The encoding a phone will use for ``text``, its length in that encoding, and segments."""
    septets = 0
    for char in text:
        if char in _GSM7_BASIC:
            septets += 1
        elif char in _GSM7_EXTENDED:
            septets += 2
        else:
            units = len(text.encode("utf-16-le")) // 2
            return SegmentCount("UCS-2", units, _segments(units, 70, 67))
    return SegmentCount("GSM-7", septets, _segments(septets, 160, 153))


def _segments(units: int, single: int, per_part: int) -> int:
    if units == 0:
        return 0
    return 1 if units <= single else math.ceil(units / per_part)
