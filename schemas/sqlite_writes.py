"""The alert store's writes on SQLite: a statement per row on the driver's cursor.

:class:`~churnwatch.schemas.store.AlertStore` takes this way for every write on a SQLite
engine, and SQLAlchemy's for other databases; why, and at what cost, is told on
:class:`SqliteWrites`. What is stored is what SQLAlchemy's insert stores.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Dialect
from sqlalchemy.exc import DBAPIError

from churnwatch.schemas.models import Alert
from churnwatch.schemas.tables import alerts, derived_outcomes

__all__ = ["SqliteWrites", "sqlite_writes"]


#: the columns an alert fills (all but the table's own key), in the table's order, which
#: is the order of :meth:`SqliteWrites.rows`' tuples
_COLUMNS = tuple(column.name for column in alerts.columns if column is not alerts.c.id)


#: the columns of a derived outcome's row (``AlertStore.add_outcomes``), in the table's order
_OUTCOME_COLUMNS = tuple(column.name for column in derived_outcomes.columns)


class SqliteWrites:
    """Alerts and outcomes into SQLite: one ``INSERT … ON CONFLICT DO NOTHING`` per row on
    the driver's cursor, new when it changed a row.

    Why. Through SQLAlchemy's ``executemany`` an alert cost ~80 µs of CPU on the worker
    bench's stream (one every ~18 events, a sixth of the worker's own per-event cost): the
    per-row parameter processing of insertmanyvalues, ``json.dumps`` of four columns and the
    RETURNING rows. Here a row is a tuple: the times through the dialect's own DATETIME
    processor (so they are stored exactly as SQLAlchemy stores and compares them), the
    JSON columns encoded by msgspec (the same JSON values ``json.dumps`` of
    ``msgspec.to_builtins`` gave; a missing score is JSON ``null``, as before), and
    SQLite's per-statement change count tells which alerts were new, in order. A driver
    error is raised as SQLAlchemy's (``OperationalError`` for a locked or unreachable
    file), so the worker's retry through an outage sees the same errors as before. The
    derived outcomes (one every ~60 events there) take the same way.
    """

    def __init__(self, dialect: Dialect) -> None:
        at = alerts.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect)
        self.time_of = at if at is not None else _same
        self.sql = _insert_sql("alerts", _COLUMNS)
        self.outcome_sql = _insert_sql("derived_outcomes", _OUTCOME_COLUMNS)
        self.json = msgspec.json.Encoder()

    def rows(self, batch: Sequence[Alert]) -> list[tuple[Any, ...]]:
        time_of, encode = self.time_of, self.json.encode
        return [
            (
                alert.alert_id,
                alert.rule_id,
                alert.rule_version,
                alert.severity,
                alert.customer_id,
                alert.account_id,
                time_of(alert.occurred_at.astimezone(dt.UTC)),
                time_of(alert.detected_at.astimezone(dt.UTC)),
                alert.title,
                encode(alert.facts).decode(),
                encode(alert.trigger_event_ids).decode(),
                encode(alert.recipients).decode(),
                encode(alert.score).decode(),
            )
            for alert in batch
        ]

    def add_alerts(self, connection: Any, batch: list[Alert]) -> list[Alert]:
        """Insert ``batch`` (unique ids) in ``connection``'s transaction; the new ones."""
        new = _insert(connection, self.sql, self.rows(batch))
        return [alert for alert, inserted in zip(batch, new, strict=True) if inserted]

    def add_outcomes(self, connection: Any, rows: list[dict[str, Any]]) -> int:
        """Insert outcome ``rows`` (unique alert ids); how many were new."""
        time_of = self.time_of
        values = [
            (
                *(row[c] for c in _OUTCOME_COLUMNS[:5]),
                time_of(row["decided_at"]),
                row[_OUTCOME_COLUMNS[6]],
            )
            for row in rows
        ]
        return sum(_insert(connection, self.outcome_sql, values))


@functools.cache  # one per dialect (a store's engine keeps its own)
def sqlite_writes(dialect: Dialect) -> SqliteWrites | None:
    """SQLite's writes on the driver's cursor; None for other databases."""
    return SqliteWrites(dialect) if dialect.name == "sqlite" else None


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING"


def _insert(connection: Any, sql: str, rows: list[tuple[Any, ...]]) -> list[bool]:
    """Run ``sql`` once per row on the driver's cursor; whether each inserted a row. A
    driver error is raised as SQLAlchemy's (its ``OperationalError`` for a locked file)."""
    cursor = connection.connection.dbapi_connection.cursor()
    inserted: list[bool] = []
    try:
        execute = cursor.execute
        for row in rows:
            execute(sql, row)
            inserted.append(cursor.rowcount == 1)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
    finally:
        cursor.close()
    return inserted


def _same(value: Any) -> Any:
    return value
