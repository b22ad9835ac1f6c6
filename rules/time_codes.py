"""Times in the stored form: small differences, whole seconds cheaper than microseconds.

Why. Most stored times are a posting's or an event id's time relative to the one before
(or to the state's watermark), and bank events fall on whole seconds: a whole second
doubled fits msgpack's one-byte or two-byte integers where the microseconds would not,
and an odd code keeps an exact microsecond difference when there is one.
"""

from __future__ import annotations

__all__ = ["from_time_code", "time_code"]


def time_code(micros: int) -> int:
    """A time difference small on the wire: whole seconds doubled, else µs doubled plus one."""
    if micros % 1_000_000 == 0:
        return micros // 500_000
    return micros * 2 + 1


def from_time_code(code: int) -> int:
    return (code - 1) // 2 if code & 1 else code * 500_000
