"""What the delivery stages report to metrics, as a protocol.

churnwatch keeps every metric in one registry (``churnwatch.metrics.Metrics``), which
satisfies this protocol; the notifiers package only says what happened. Outcomes are
``sent``, ``retry``, ``failed``, ``deferred`` and ``suppressed``; a failure's
:class:`~churnwatch.notifiers.exceptions.Reason` value is the ``reason`` label, so the label set is
bounded by the enum. Channel names come from the entry point registry; rule ids (the
inhibited count) from the rule pack.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["DeliveryMetrics"]


class DeliveryMetrics(Protocol):
    def delivery_attempt(self, channel: str) -> None: ...

    def delivery(self, channel: str, outcome: str, latency_s: float | None = None) -> None: ...

    def delivery_failure(self, channel: str, reason: str) -> None: ...

    def delivery_inhibited(self, rule: str, by: str) -> None:
        """A customer message of ``rule`` held by an alert of ``by`` (an inhibit rule)."""
        ...
