"""What each metric label may say: known sets, and ``other`` for anything outside them.

Labels are bounded on purpose. A label value that is not in a known set (event types,
reason codes, severities, outcomes) is folded into ``other`` so one bad producer cannot
blow up the series count; rule ids and channel names are bounded by the rule pack and the
installed notifiers. Customer and account ids never become labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from churnwatch.schemas.decode import REASON_CODES

__all__ = [
    "DEAD_LETTER_REASONS",
    "DELIVERY_FAILURE_REASONS",
    "DELIVERY_OUTCOMES",
    "EVENT_TYPES",
    "FOLLOWUP_ACTIONS",
    "FOLLOWUP_REFUSALS",
    "OTHER",
    "SEVERITIES",
    "bounded",
]

OTHER: Final = "other"
EVENT_TYPES: Final[tuple[str, ...]] = ("transaction", "product", "customer", "staff")
#: decode's codes, then the drivers': an event too late for its customer, a rule that
#: raised, an event dated past ``max_ahead`` (streams/future.py)
DEAD_LETTER_REASONS: Final[tuple[str, ...]] = (
    *REASON_CODES,
    "too_late",
    "rule_error",
    "in_the_future",
)
SEVERITIES: Final[tuple[str, ...]] = ("low", "medium", "high", "critical")
DELIVERY_OUTCOMES: Final[tuple[str, ...]] = (
    "sent",  # the channel accepted it
    "retry",  # a transient failure; the outbox will try again after a backoff
    "failed",  # a permanent failure, or retries exhausted: stays visible in the outbox
    "deferred",  # quiet hours: held until morning, not dropped
    "suppressed",  # opt-out, caps or cooldown: deliberately not sent
)

FOLLOWUP_REFUSALS: Final[tuple[str, ...]] = (
    *("malformed", "forged", "expired", "not_routed", "csrf", "signature", "repeated"),
)
FOLLOWUP_ACTIONS: Final[tuple[str, ...]] = ("acknowledge", "contacted", "outcome", "note")
# The values of notifiers.exceptions.Reason, spelled out because metrics sit below the
# notifiers in the layers; tests/test_metrics.py keeps the two equal.
DELIVERY_FAILURE_REASONS: Final[tuple[str, ...]] = (
    "timeout",
    "connection",
    "rate_limited",
    "server_error",
    "invalid_recipient",
    "not_mobile",
    "opted_out",
    "unauthorized",
    "rejected",
    "misconfigured",
    "undeliverable",
    "unknown",
)


def bounded(value: str, allowed: Iterable[str]) -> str:
    """``value`` when it is one of ``allowed``, else ``other``."""
    return value if value in allowed else OTHER
