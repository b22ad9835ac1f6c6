"""Notifications: routing, contact policy, templates, the channels and the outbox.

The statuses a delivery in the outbox can have are named here, apart from the outbox, so
that the command's help can list them without loading the database layer.
"""

from __future__ import annotations

__all__ = ["STATUSES"]

#: a delivery's status in the outbox (``notifiers/outbox.py``)
STATUSES = ("pending", "sending", "sent", "failed", "suppressed")
