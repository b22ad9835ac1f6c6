"""Control groups: a deterministic share of triggered customers gets no message.

Whether acting on an alert keeps customers is only measurable against customers the
bank did not act on. The choice must be stable (a customer is in or out of a rule's
control group for good, across restarts, replays and workers) and independent of
anything a manager could influence, so it is a hash of the rule id and customer id.
The dispatcher calls :func:`is_control` before writing deliveries: a control alert is
still stored and opened for follow-up (its outcome is recorded later by the back
office), but nobody is told.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

__all__ = ["is_control"]

_SCALE = 2**64


def is_control(rule_id: str, customer_id: str, share: Decimal | float) -> bool:
    """True when this customer is in ``rule_id``'s control group of size ``share``."""
    share = Decimal(str(share))
    if share <= 0:
        return False
    digest = hashlib.sha256(f"control\x1f{rule_id}\x1f{customer_id}".encode()).digest()
    return Decimal(int.from_bytes(digest[:8], "big")) < share * _SCALE
