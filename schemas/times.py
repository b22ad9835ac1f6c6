"""Times as the store keeps them: timezone-aware UTC.

SQLite keeps only the wall-clock digits of a datetime, so every time is written in UTC
and a naive value read back is UTC. Every table of churnwatch goes through these two.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["utc", "utc_or_none"]


def utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC, timezone-aware (a naive value is taken to be UTC already)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else utc(value)
