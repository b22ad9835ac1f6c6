"""The durable outbox over the ``deliveries`` table: written first, sent after.

Life of a row: ``pending`` (or ``suppressed`` / ``failed`` straight from the policy) →
claimed as ``sending`` → ``sent``, or back to ``pending`` with a later ``due_at`` for a
retry, or ``failed``. ``(alert_id, audience, recipient_id, channel)`` is unique, so
writing the same alert again adds nothing and a repeated alert never sends twice.

Claiming is a lease: a claimed row becomes ``sending`` with ``due_at`` moved to the end of
the lease and ``attempts`` raised by one. A dispatcher that dies after claiming leaves a
``sending`` row whose lease runs out; the next dispatcher claims it again and sends it,
once. ``attempts`` doubles as a fencing token: marking a row sent or failed only works
for the claim that holds it, so a stalled dispatcher that wakes up after its lease was
taken over cannot overwrite the newer outcome.

The window that remains (what "exactly once as far as the store can know" leaves
open): a dispatcher that hands a message to the provider and dies before
:meth:`Outbox.mark_sent` commits, or stalls past its lease in the middle of a send,
leaves a row that will be sent again when the lease runs out. Twilio's Messages API
has no idempotency key, so that customer gets the text twice; webhooks carry
``Idempotency-Key`` and email a stable ``Message-ID`` so their receivers can drop the
repeat. Keep the lease well above the channels' timeouts to keep the window to crashes.

On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` so dispatchers never wait on each
other; on SQLite (one writer at a time) the conditional update alone decides the claim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from churnwatch.notifiers import STATUSES
from churnwatch.notifiers.exceptions import NotifierError
from churnwatch.schemas.store import mask_url
from churnwatch.schemas.tables import alerts, deliveries
from churnwatch.schemas.times import utc, utc_or_none

__all__ = ["LIVE", "STATUSES", "DeliveryRow", "NewDelivery", "Outbox"]

LIVE = ("pending", "sending", "sent")


class NewDelivery(msgspec.Struct, frozen=True, kw_only=True):
    alert_id: str
    audience: str
    recipient_id: str
    channel: str
    status: str
    due_at: dt.datetime
    payload: dict[str, Any]
    last_error: str | None = None


class DeliveryRow(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    alert_id: str
    audience: str
    recipient_id: str
    channel: str
    status: str
    attempts: int
    due_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None
    provider_message_id: str | None
    last_error: str | None
    payload: dict[str, Any]

    @property
    def grouped(self) -> bool:
        return bool(self.payload.get("group"))


def _row(mapping: Any) -> DeliveryRow:
    return DeliveryRow(
        id=mapping["id"],
        alert_id=mapping["alert_id"],
        audience=mapping["audience"],
        recipient_id=mapping["recipient_id"],
        channel=mapping["channel"],
        status=mapping["status"],
        attempts=mapping["attempts"],
        due_at=utc(mapping["due_at"]),
        created_at=utc(mapping["created_at"]),
        updated_at=utc(mapping["updated_at"]),
        sent_at=utc_or_none(mapping["sent_at"]),
        provider_message_id=mapping["provider_message_id"],
        last_error=mapping["last_error"],
        payload=dict(mapping["payload"] or {}),
    )


class Outbox:
    """Delivery rows in the alert store's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def _fail(self, action: str, exc: SQLAlchemyError) -> NotifierError:
        """The driver's own message only: SQLAlchemy's text quotes the row (phone numbers)."""
        cause = getattr(exc, "orig", None) or exc
        where = mask_url(self.engine.url.render_as_string(hide_password=False))
        return NotifierError(
            f"cannot {action} in the outbox at {where}: {type(cause).__name__}: "
            f"{str(cause).splitlines()[0] if str(cause) else ''}"
        )

    # -- writing ---------------------------------------------------------------------

    def write(self, batch: Sequence[NewDelivery], now: dt.datetime) -> int:
        """Insert ``batch`` in one transaction; rows already there are left alone.

        Returns how many rows were new.
        """
        if not batch:
            return 0
        now = utc(now)
        rows = [
            {
                "alert_id": d.alert_id,
                "audience": d.audience,
                "recipient_id": d.recipient_id,
                "channel": d.channel,
                "status": d.status,
                "attempts": 0,
                "due_at": utc(d.due_at),
                "created_at": now,
                "updated_at": now,
                "payload": d.payload,
                "last_error": d.last_error,
            }
            for d in batch
        ]
        target = ["alert_id", "audience", "recipient_id", "channel"]
        written = 0
        try:
            with self.engine.begin() as connection:
                for row in rows:
                    if self.dialect in ("postgresql", "sqlite"):
                        dialect_insert = (
                            postgresql.insert if self.dialect == "postgresql" else sqlite.insert
                        )
                        statement = (
                            dialect_insert(deliveries)
                            .on_conflict_do_nothing(index_elements=target)
                            .returning(deliveries.c.id)
                        )
                        if connection.execute(statement, row).first() is not None:
                            written += 1
                        continue
                    try:
                        with connection.begin_nested():
                            connection.execute(insert(deliveries), row)
                        written += 1
                    except IntegrityError:
                        continue
        except SQLAlchemyError as exc:
            raise self._fail("write deliveries", exc) from exc
        return written

    # -- dispatching -----------------------------------------------------------------

    def claim(
        self,
        now: dt.datetime,
        *,
        limit: int,
        lease: dt.timedelta,
        channels: Collection[str] | None = None,
    ) -> list[DeliveryRow]:
        """Claim up to ``limit`` due rows (pending, or sending with an expired lease).

        With ``channels``, only rows for those channels: a dispatcher that cannot send on a
        channel leaves its rows pending for one that can, instead of failing them.
        """
        now = utc(now)
        query = (
            select(deliveries)
            .where(deliveries.c.status.in_(("pending", "sending")), deliveries.c.due_at <= now)
            .order_by(deliveries.c.due_at, deliveries.c.id)
            .limit(limit)
        )
        if channels is not None:
            query = query.where(deliveries.c.channel.in_(sorted(channels)))
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed: list[DeliveryRow] = []
        try:
            with self.engine.begin() as connection:
                for found in connection.execute(query).all():
                    row = _row(found._mapping)
                    changed = connection.execute(
                        update(deliveries)
                        .where(
                            deliveries.c.id == row.id,
                            deliveries.c.status == row.status,
                            deliveries.c.attempts == row.attempts,
                        )
                        .values(
                            status="sending",
                            attempts=row.attempts + 1,
                            due_at=now + lease,
                            updated_at=now,
                        )
                    ).rowcount
                    if changed == 1:
                        claimed.append(
                            msgspec.structs.replace(
                                row, status="sending", attempts=row.attempts + 1, due_at=now + lease
                            )
                        )
        except SQLAlchemyError as exc:
            raise self._fail("claim deliveries", exc) from exc
        return claimed

    def _finish(self, rows: Iterable[DeliveryRow], values: dict[str, Any]) -> int:
        """Update rows still held by this claim (status sending, same attempts)."""
        done = 0
        try:
            with self.engine.begin() as connection:
                for row in rows:
                    done += connection.execute(
                        update(deliveries)
                        .where(
                            deliveries.c.id == row.id,
                            deliveries.c.status == "sending",
                            deliveries.c.attempts == row.attempts,
                        )
                        .values(**values)
                    ).rowcount
        except SQLAlchemyError as exc:
            raise self._fail("record deliveries", exc) from exc
        return done

    def mark_sent(
        self, rows: Sequence[DeliveryRow], now: dt.datetime, provider_message_id: str | None
    ) -> int:
        now = utc(now)
        return self._finish(
            rows,
            {
                "status": "sent",
                "sent_at": now,
                "updated_at": now,
                # the provider's reference, for people; never a reason to lose the "sent"
                "provider_message_id": provider_message_id[:128] if provider_message_id else None,
                "last_error": None,
            },
        )

    def mark_retry(
        self, rows: Sequence[DeliveryRow], now: dt.datetime, due_at: dt.datetime, error: str
    ) -> int:
        return self._finish(
            rows,
            {
                "status": "pending",
                "due_at": utc(due_at),
                "updated_at": utc(now),
                "last_error": error,
            },
        )

    def mark_failed(self, rows: Sequence[DeliveryRow], now: dt.datetime, error: str) -> int:
        return self._finish(rows, {"status": "failed", "updated_at": utc(now), "last_error": error})

    def next_due(self) -> dt.datetime | None:
        """When the earliest pending (or leased) row falls due; ``None`` when none are left."""
        query = select(func.min(deliveries.c.due_at)).where(
            deliveries.c.status.in_(("pending", "sending"))
        )
        with self.engine.connect() as connection:
            value = connection.scalar(query)
        return utc(value) if value is not None else None

    # -- operators -------------------------------------------------------------------

    def list(self, *, status: str | None = None, limit: int = 50) -> list[DeliveryRow]:
        query = select(deliveries).order_by(deliveries.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        with self.engine.connect() as connection:
            return [_row(r._mapping) for r in connection.execute(query)]

    def get(self, delivery_id: int) -> DeliveryRow | None:
        with self.engine.connect() as connection:
            found = connection.execute(
                select(deliveries).where(deliveries.c.id == delivery_id)
            ).first()
        return _row(found._mapping) if found is not None else None

    def retry(self, delivery_id: int, now: dt.datetime) -> bool:
        """Make a failed delivery due again now (an operator fixed the cause)."""
        now = utc(now)
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.status == "failed")
                .values(status="pending", due_at=now, updated_at=now)
            ).rowcount
        return changed == 1

    def hold(self, due_before: dt.datetime, now: dt.datetime) -> int:
        """Mark failed what may already have gone out: every delivery being sent, and every
        pending one due before ``due_before`` (after a restore to an older point, the
        store no longer knows they were sent). ``retry`` sends one again on purpose."""
        due_before, now = utc(due_before), utc(now)
        with self.engine.begin() as connection:
            return int(
                connection.execute(
                    update(deliveries)
                    .where(
                        (deliveries.c.status == "sending")
                        | ((deliveries.c.status == "pending") & (deliveries.c.due_at < due_before))
                    )
                    .values(
                        status="failed",
                        updated_at=now,
                        last_error="held after a restore: it may have gone out already; "
                        "retry it only if it did not",
                    )
                ).rowcount
            )

    def counts(self) -> dict[str, int]:
        query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        with self.engine.connect() as connection:
            return {status: int(n) for status, n in connection.execute(query)}

    # -- history the policy and grouping stages read -----------------------------------

    def count(
        self,
        customer_id: str,
        audience: str,
        since: dt.datetime,
        until: dt.datetime,
        rule_id: str | None = None,
    ) -> int:
        conditions = [
            alerts.c.customer_id == customer_id,
            deliveries.c.audience == audience,
            deliveries.c.status.in_(LIVE),
            func.coalesce(deliveries.c.sent_at, deliveries.c.due_at) >= utc(since),
            func.coalesce(deliveries.c.sent_at, deliveries.c.due_at) < utc(until),
        ]
        if rule_id is not None:
            conditions.append(alerts.c.rule_id == rule_id)
        query = (
            select(func.count())
            .select_from(deliveries.join(alerts, alerts.c.alert_id == deliveries.c.alert_id))
            .where(and_(*conditions))
        )
        with self.engine.connect() as connection:
            return int(connection.scalar(query) or 0)

    def open_group(
        self, audience: str, recipient_id: str, channel: str, after: dt.datetime
    ) -> dt.datetime | None:
        query = select(func.min(deliveries.c.due_at)).where(
            deliveries.c.audience == audience,
            deliveries.c.recipient_id == recipient_id,
            deliveries.c.channel == channel,
            deliveries.c.status == "pending",
            deliveries.c.due_at > utc(after),
            deliveries.c.attempts == 0,
        )
        with self.engine.connect() as connection:
            value = connection.scalar(query)
        return utc(value) if value is not None else None
