"""Durations as compliance writes them (``30m``, ``72h``, ``7d``, ``1d12h``, ``0``), and
the engine's unit of time: integer microseconds since the epoch, exact (no float)."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["EPOCH", "MICROS", "MICROS_PER_SECOND", "format_duration", "micros", "parse_duration"]

MICROS_PER_SECOND = 1_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROS = dt.timedelta(microseconds=1)


EPOCH_DAY = EPOCH.toordinal()
#: for each fixed UTC offset seen (decode gives every event time one of these), what to
#: subtract from a time's wall-clock µs, counted from the calendar's day 0, to get µs
#: since the epoch: the epoch's own count, plus the offset
_epoch_at: dict[dt.tzinfo | None, int] = {}


def micros(when: dt.datetime) -> int:
    """Microseconds since the epoch, exactly (timezone-aware ``when``).

    Runs once per event: with a fixed offset (``datetime.timezone``, what decode gives)
    it is plain integer arithmetic on the fields, the epoch and the offset folded into
    one number per offset (one lookup, no type test), a third cheaper than subtracting
    datetimes of two time zones; any other zone (DST) takes the subtraction.
    """
    epoch = _epoch_at.get(when.tzinfo)
    if epoch is None:
        return _micros_first(when)
    return (
        (((when.toordinal() * 24 + when.hour) * 60 + when.minute) * 60 + when.second) * 1_000_000
        + when.microsecond
        - epoch
    )


def _micros_first(when: dt.datetime) -> int:
    """:func:`micros` for a zone not seen yet, or not a fixed offset (never kept)."""
    zone = when.tzinfo
    if type(zone) is not dt.timezone:
        return (when - EPOCH) // MICROS
    _epoch_at[zone] = EPOCH_DAY * 86_400_000_000 + zone.utcoffset(None) // MICROS
    return micros(when)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+[smhdw])+$")


def parse_duration(text: str | int) -> int:
    """Seconds in ``text``; raise ValueError with an example when it is not a duration."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text == 0:
            return 0
        raise ValueError(f"{text!r} needs a unit, e.g. '{text}h' or '{text}d'")
    value = str(text).strip().replace(" ", "")
    if value == "0":
        return 0
    if not _WHOLE.match(value):
        raise ValueError(f"{text!r} is not a duration: use e.g. '30m', '72h', '7d' or '1d12h'")
    return sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(value))


def format_duration(seconds: int) -> str:
    """The shortest way to write ``seconds`` back, e.g. 259200 -> '3d'."""
    if seconds == 0:
        return "0"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
