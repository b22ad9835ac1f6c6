"""What the inhibit stage reads and writes in the alert store.

The sources are the stored alerts about the customer: both drivers store a batch's
alerts before any of them is planned, so a target sees a source of the same batch
whatever their order in it. The waiting messages are the customer's outbox rows still
``pending``; holding one is a conditional update (still pending, same attempts), so a
row a dispatcher claimed in the meantime goes out rather than being held half-sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from churnwatch.notifiers.exceptions import NotifierError
from churnwatch.notifiers.inhibit import send_time
from churnwatch.schemas.models import Alert
from churnwatch.schemas.store import alert_from_row
from churnwatch.schemas.tables import alerts, deliveries
from churnwatch.schemas.times import utc

__all__ = ["StoredAlerts"]


class StoredAlerts:
    """:class:`~churnwatch.notifiers.inhibit.ActiveAlerts` and ``PendingMessages`` over a store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def alerts_about(self, customer_id: str, since: dt.datetime, until: dt.datetime) -> list[Alert]:
        query = (
            select(alerts)
            .where(
                alerts.c.customer_id == customer_id,
                alerts.c.occurred_at >= utc(since),
                alerts.c.occurred_at <= utc(until),
            )
            .order_by(alerts.c.occurred_at, alerts.c.alert_id)
        )
        try:
            with self.engine.connect() as connection:
                return [alert_from_row(row._mapping) for row in connection.execute(query)]
        except SQLAlchemyError as exc:
            raise NotifierError(f"cannot read the customer's alerts: {type(exc).__name__}") from exc

    def pending_customer_messages(
        self, customer_id: str
    ) -> list[tuple[int, Alert, str, str | None, dt.datetime]]:
        query = (
            select(
                deliveries.c.id.label("delivery_id"),
                deliveries.c.channel.label("delivery_channel"),
                deliveries.c.due_at.label("delivery_due_at"),
                deliveries.c.created_at.label("delivery_created_at"),
                deliveries.c.payload.label("delivery_payload"),
                alerts,
            )
            .select_from(deliveries.join(alerts, alerts.c.alert_id == deliveries.c.alert_id))
            .where(
                alerts.c.customer_id == customer_id,
                deliveries.c.audience == "customer",
                deliveries.c.status == "pending",
            )
            .order_by(deliveries.c.id)
        )
        found: list[tuple[int, Alert, str, str | None, dt.datetime]] = []
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                mapping = row._mapping
                alert = alert_from_row(mapping)
                payload = mapping["delivery_payload"] or {}
                tier = payload.get("tier")
                # when it goes out in event time: its alert's time plus the deferral planned
                at = send_time(
                    alert, utc(mapping["delivery_created_at"]), utc(mapping["delivery_due_at"])
                )
                found.append(
                    (int(mapping["delivery_id"]), alert, str(mapping["delivery_channel"]), tier, at)
                )
        return found

    def hold(
        self, row_id: int, note: str, inhibited_by: Mapping[str, str], now: dt.datetime
    ) -> bool:
        with self.engine.begin() as connection:
            current = connection.execute(
                select(deliveries.c.payload, deliveries.c.attempts).where(
                    deliveries.c.id == row_id, deliveries.c.status == "pending"
                )
            ).first()
            if current is None:
                return False
            payload = {**(current.payload or {}), "note": note, "inhibited_by": dict(inhibited_by)}
            changed = connection.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == row_id,
                    deliveries.c.status == "pending",
                    deliveries.c.attempts == current.attempts,
                )
                .values(
                    status="suppressed",
                    last_error=note,
                    payload=payload,
                    updated_at=utc(now),
                )
            ).rowcount
        return changed == 1
