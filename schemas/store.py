"""The alert store: SQLite by default, any SQLAlchemy URL (PostgreSQL in production).

Opening a SQLite store brings its schema to the latest Alembic revision; a server
database must already be at it (``churnwatch db upgrade``, see
:mod:`churnwatch.schemas.upgrade`). Writes are idempotent:
:meth:`AlertStore.add_alerts` returns only the alerts that were new.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Engine, create_engine, event, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from churnwatch.schemas.exceptions import StoreError
from churnwatch.schemas.models import Alert, AlertScore, DerivedOutcome, Recipient
from churnwatch.schemas.sqlite_writes import sqlite_writes
from churnwatch.schemas.tables import alerts, derived_outcomes
from churnwatch.schemas.times import utc
from churnwatch.schemas.upgrade import MIGRATIONS, migrate, schema_problem, schema_state

__all__ = [
    "DEFAULT_URL",
    "MIGRATIONS",
    "AlertStore",
    "alert_from_row",
    "mask_url",
    "migrate",
    "open_engine",
]

DEFAULT_URL = "sqlite:///churnwatch.db"


def mask_url(url: str) -> str:
    """The URL with its password hidden, for logs and error text."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as a placeholder, never raw
        return "<unparsable database URL>"


def open_engine(url: str) -> Engine:
    """An engine for ``url`` with the per-dialect settings churnwatch relies on."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StoreError(f"not a database URL: {mask_url(url)}") from exc
    if parsed.drivername.startswith("postgresql") and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, future=True, pool_pre_ping=True)
    except Exception as exc:
        raise StoreError(f"cannot open the alert store at {mask_url(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class AlertStore:
    """Alerts (and, through :attr:`engine`, the delivery outbox) in one database."""

    def __init__(self, url: str = DEFAULT_URL, *, migrate_schema: bool | None = None) -> None:
        """``migrate_schema`` None: upgrade a SQLite file, require a server database's
        schema to be current (StoreError saying what to run); True: upgrade; False: no
        schema step at all."""
        self.url = url
        self.engine = open_engine(url)
        upgrade = self.engine.dialect.name == "sqlite" if migrate_schema is None else migrate_schema
        try:
            if migrate_schema is not False:
                state = schema_state(self.engine)
                if state.status == "ahead" or (not upgrade and state.status != "current"):
                    self.engine.dispose()
                    raise StoreError(str(schema_problem(state)))
                if state.status != "current":
                    migrate(self.engine)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreError(f"cannot prepare the alert store at {mask_url(url)}: {exc}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _insert(self) -> Any:
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(alerts).on_conflict_do_nothing(index_elements=["alert_id"])
        if dialect == "sqlite":
            return sqlite.insert(alerts).on_conflict_do_nothing(index_elements=["alert_id"])
        return None

    def add_alerts(self, batch: Sequence[Alert]) -> list[Alert]:
        """Store ``batch`` in one transaction; return the alerts not stored before (in order).

        On SQLite each alert is one ``INSERT … ON CONFLICT DO NOTHING`` on the driver's
        cursor, and the row count says whether it was new
        (:mod:`churnwatch.schemas.sqlite_writes`). On PostgreSQL the batch is one
        ``executemany`` of the same statement with ``RETURNING alert_id``, which
        SQLAlchemy sends as multi-row statements ("insertmanyvalues") and which tells
        exactly which alerts are new: a statement per alert through SQLAlchemy cost the
        worker a sixth of its time on a generated bank, where an alert comes every 20-25
        events.
        """
        if not batch:
            return []
        first: dict[str, Alert] = {}
        for alert in batch:  # the first of each alert_id, in the batch's order
            first.setdefault(alert.alert_id, alert)
        unique = list(first.values())
        upsert = self._insert()
        try:
            with self.engine.begin() as connection:
                writes = sqlite_writes(self.engine.dialect)
                if writes is not None:
                    return writes.add_alerts(connection, unique)
                if upsert is None:
                    return self._add_one_by_one(connection, unique)
                statement = upsert.returning(alerts.c.alert_id)
                stored = set(connection.scalars(statement, [_row(alert) for alert in unique]))
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write alerts to {mask_url(self.url)}: {exc}") from exc
        return [alert for alert in unique if alert.alert_id in stored]

    @staticmethod
    def _add_one_by_one(connection: Any, batch: list[Alert]) -> list[Alert]:
        """Other dialects: a savepoint per row, a duplicate is a no-op."""
        fresh: list[Alert] = []
        for alert in batch:
            try:
                with connection.begin_nested():
                    connection.execute(insert(alerts), _row(alert))
                fresh.append(alert)
            except IntegrityError:
                continue
        return fresh

    def add_outcomes(self, batch: Sequence[DerivedOutcome]) -> int:
        """Store derived outcomes; an alert's first one stands (replays write nothing new).

        Returns how many were new. ``INSERT … ON CONFLICT DO NOTHING``, as
        :meth:`add_alerts`: one batch on PostgreSQL, a statement each on SQLite's cursor.
        """
        if not batch:
            return 0
        rows = [
            {
                "alert_id": o.alert_id,
                "rule_id": o.rule_id,
                "customer_id": o.customer_id,
                "outcome": o.outcome,
                "share": None if o.share is None else str(o.share),
                "decided_at": utc(o.decided_at),
                "evidence_event_id": o.evidence_event_id,
            }
            for o in {o.alert_id: o for o in reversed(batch)}.values()  # the first of each
        ]
        dialect = self.engine.dialect.name
        try:
            with self.engine.begin() as connection:
                writes = sqlite_writes(self.engine.dialect)
                if writes is not None:
                    return writes.add_outcomes(connection, rows)
                if dialect == "postgresql":
                    statement = (
                        postgresql.insert(derived_outcomes)
                        .on_conflict_do_nothing(index_elements=["alert_id"])
                        .returning(derived_outcomes.c.alert_id)
                    )
                    return len(list(connection.scalars(statement, rows)))
                fresh = 0
                for row in rows:
                    try:
                        with connection.begin_nested():
                            connection.execute(insert(derived_outcomes), row)
                        fresh += 1
                    except IntegrityError:
                        continue
                return fresh
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write outcomes to {mask_url(self.url)}: {exc}") from exc

    def outcomes(self) -> list[DerivedOutcome]:
        """Every derived outcome stored, by alert id."""
        query = select(derived_outcomes).order_by(derived_outcomes.c.alert_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            DerivedOutcome(
                alert_id=row["alert_id"],
                rule_id=row["rule_id"],
                customer_id=row["customer_id"],
                outcome=row["outcome"],
                decided_at=utc(row["decided_at"]),
                share=None if row["share"] is None else Decimal(row["share"]),
                evidence_event_id=row["evidence_event_id"],
            )
            for row in rows
        ]

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(alerts)) or 0)

    def alerts(
        self, *, since: dt.datetime | None = None, rule_id: str | None = None
    ) -> Iterator[Alert]:
        """Stored alerts in detection order, optionally since a time or for one rule."""
        query = select(alerts).order_by(alerts.c.id)
        if since is not None:
            query = query.where(alerts.c.detected_at >= since)
        if rule_id is not None:
            query = query.where(alerts.c.rule_id == rule_id)
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                yield alert_from_row(row._mapping)

    def alert_ids(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.scalars(select(alerts.c.alert_id)))


def _row(alert: Alert) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "rule_id": alert.rule_id,
        "rule_version": alert.rule_version,
        "severity": alert.severity,
        "customer_id": alert.customer_id,
        "account_id": alert.account_id,
        "occurred_at": alert.occurred_at.astimezone(dt.UTC),
        "detected_at": alert.detected_at.astimezone(dt.UTC),
        "title": alert.title,
        "facts": msgspec.to_builtins(alert.facts),
        "trigger_event_ids": list(alert.trigger_event_ids),
        "recipients": msgspec.to_builtins(alert.recipients),
        "score": msgspec.to_builtins(alert.score) if alert.score is not None else None,
    }


def alert_from_row(row: Any) -> Alert:
    """An :class:`Alert` from a row of the ``alerts`` table (mapping access)."""
    return Alert(
        alert_id=row["alert_id"],
        rule_id=row["rule_id"],
        rule_version=row["rule_version"],
        severity=row["severity"],
        customer_id=row["customer_id"],
        account_id=row["account_id"],
        occurred_at=utc(row["occurred_at"]),
        detected_at=utc(row["detected_at"]),
        facts=dict(row["facts"]),
        trigger_event_ids=list(row["trigger_event_ids"]),
        recipients=msgspec.convert(row["recipients"], list[Recipient]),
        title=row["title"],
        score=_score(row.get("score")),
    )


def _score(stored: Any) -> AlertScore | None:
    """The stored score (JSON: decimals and times as text) as an :class:`AlertScore`."""
    return None if stored is None else msgspec.convert(stored, AlertScore, strict=False)
