"""What Twilio tells us after it accepted a message: the delivery's real outcome.

Twilio's API answers "queued" when it takes a message; whether the phone got it comes
later, as a status callback (``MessageSid``, ``MessageStatus``, ``ErrorCode``). The
outbox row found by its provider message id is updated so a failed SMS stays visible
in ``churnwatch deliveries list --status failed``, and a temporary failure is tried
again by the dispatcher like any other retryable error:

* 30003 unreachable (phone off, out of coverage): often temporary, retried after a delay;
* 30005 unknown or inactive number, 30006 landline or unreachable carrier, 30007
  filtered as spam, and any other code: permanent, the row is marked failed;
* ``delivered``: nothing to change (the row is already ``sent``);
* callbacks for a message we do not know are ignored (not ours, or already pruned).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from churnwatch.schemas.tables import deliveries

__all__ = ["RETRY_AFTER_UNREACHABLE", "StatusUpdate", "apply_status"]

RETRY_AFTER_UNREACHABLE = dt.timedelta(minutes=30)
MAX_ATTEMPTS = 5
TEMPORARY = {"30003": "unreachable handset"}
PERMANENT = {
    "30005": "unknown or inactive number",
    "30006": "landline or unreachable carrier",
    "30007": "filtered as spam by the carrier",
    "30008": "unknown delivery error",
}
FAILED_STATES = ("failed", "undelivered")


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """What a callback did, for the answer, the log and the metrics label."""

    outcome: str  # ignored | delivered | retry | failed
    delivery_id: int | None = None
    reason: str | None = None


def apply_status(
    engine: Engine, message_sid: str, status: str, error_code: str | None, now: dt.datetime
) -> StatusUpdate:
    """Record one status callback on the delivery row with that provider message id."""
    if not message_sid:
        return StatusUpdate("ignored")
    with engine.begin() as conn:
        row = conn.execute(
            select(deliveries.c.id, deliveries.c.attempts, deliveries.c.status).where(
                deliveries.c.provider_message_id == message_sid
            )
        ).first()
        if row is None:
            return StatusUpdate("ignored")
        if status not in FAILED_STATES:
            return StatusUpdate("delivered" if status == "delivered" else "ignored", row.id)
        code = (error_code or "").strip()
        now = now.astimezone(dt.UTC)
        if code in TEMPORARY and row.attempts < MAX_ATTEMPTS:
            reason = f"twilio {code}: {TEMPORARY[code]}; trying again"
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == row.id)
                .values(
                    status="pending",
                    due_at=now + RETRY_AFTER_UNREACHABLE,
                    updated_at=now,
                    last_error=reason,
                    provider_message_id=None,
                )
            )
            return StatusUpdate("retry", row.id, reason)
        reason = f"twilio {code or '?'}: {PERMANENT.get(code, TEMPORARY.get(code, status))}"
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == row.id)
            .values(status="failed", updated_at=now, last_error=reason)
        )
        return StatusUpdate("failed", row.id, reason)
