"""What the fault matrix's cases share: one generated bank with replay's alerts for it, the
two ways a stream reaches a worker, a gate that holds a worker at a chosen alert, and the
store's faults.

Why a gate. A fault must hit a worker mid-stream, with a batch in hand and events still to
come, in a backlog as much as in a live stream. Waiting for "some progress" and then
striking races the worker: on a small bank it may be done first. The gate is a store
transaction that inserts one of replay's alerts and stays open: the worker's own insert of
that alert (``INSERT … ON CONFLICT DO NOTHING``) waits on it, so the worker stops exactly
there — after every earlier batch, before every later one — until the test strikes and
rolls the gate back. PostgreSQL names the waiting worker (each worker process sets
``PGAPPNAME`` to its label), so a test in a group knows whom it holds.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.models import Alert
from churnwatch.schemas.store import AlertStore, migrate, open_engine
from churnwatch.streams.produce import produce_lines
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.synthetic.bank import DatasetSpec, generate
from churnwatch.streams.topics import create_topics

from ..conftest import Setup, WorkerProcess, wait_until
from ..faust_runtime.bank import quiet_customer
from .test_loop import profiles, sink_ids

__all__ = [
    "BACKLOG",
    "LIVE",
    "MODES",
    "Bank",
    "Feed",
    "Gate",
    "Store",
    "all_delivered_once",
    "matrix_bank",
    "new_database",
    "replay_profiles",
]

#: every event on the topics before the worker starts (after an outage, a backfill)
BACKLOG = "backlog"
#: the events produced while the worker runs, in chunks
LIVE = "live"
MODES = (BACKLOG, LIVE)


@dataclass(frozen=True)
class Bank:
    """A generated stream and what replay makes of it."""

    lines: tuple[bytes, ...]
    #: replay's alerts in the order replay stored them (event time)
    alerts: tuple[Alert, ...]

    @property
    def expected(self) -> frozenset[str]:
        return frozenset(alert.alert_id for alert in self.alerts)

    @property
    def inputs(self) -> int:
        """Records on the worker's three input topics (staff records go elsewhere)."""
        return sum(1 for line in self.lines if b'"type":"staff"' not in line)

    def alert_at(self, fraction: float) -> Alert:
        """The alert replay stored at this fraction of the stream: a gate's place."""
        return self.alerts[int(len(self.alerts) * fraction)]

    def timer_alert_at(self, fraction: float) -> Alert:
        """The first alert from that fraction on that a timer fired (a maturity step, a
        calendar day), not an event."""
        for alert in self.alerts[int(len(self.alerts) * fraction) :]:
            if any(t.startswith(("step:", "calendar:")) for t in alert.trigger_event_ids):
                return alert
        raise AssertionError("no timer alert after that fraction of the bank")


@cache
def matrix_bank() -> Bank:
    """The smallest generated bank on which ten shipped rules alert (every rule the
    generator exercises, and activity-drop through a customer gone quiet before it):
    100 customers over 4 weeks, 3,500 events, 47 alerts. Built and replayed once per
    process, whatever the number of cases that read it."""
    lines = quiet_customer() + list(generate(DatasetSpec(customers=100, weeks=4, seed=29)))
    driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)))
    driver.run(lines)
    return Bank(tuple(lines), tuple(driver.stored))


def all_delivered_once(*workers: WorkerProcess) -> set[str]:
    """The alert ids the workers handed to their sinks; fails if one went twice."""
    delivered = [alert_id for worker in workers for alert_id in sink_ids(worker)]
    assert len(delivered) == len(set(delivered)), "an alert went to the sinks twice"
    return set(delivered)


class Feed:
    """A bank reaching a worker's topics: all before it starts, or while it runs.

    ``before_start`` produces everything in backlog mode; ``arrive`` (once the workers
    are assigned) produces the stream in chunks from a thread in live mode, so that it
    keeps arriving while a fault holds or stops a worker. ``join`` waits for the last.
    Live, the chunks come ``PACE`` seconds apart: the stream goes on arriving while a
    fault holds a worker, stops it and restarts it.
    """

    CHUNKS = 8
    PACE = 0.25

    def __init__(self, mode: str, setup: Setup, bank: Bank) -> None:
        self.mode = mode
        self.setup = setup
        self.bank = bank
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        create_topics(setup.config)

    def before_start(self) -> None:
        if self.mode == BACKLOG:
            produce_lines(self.setup.config, self.bank.lines)

    def arrive(self) -> None:
        if self.mode == LIVE:
            self.thread = threading.Thread(target=self._produce, name="feed", daemon=True)
            self.thread.start()

    def _produce(self) -> None:
        lines = self.bank.lines
        size = -(-len(lines) // self.CHUNKS)
        try:
            for start in range(0, len(lines), size):
                if self.stopping.wait(self.PACE if start else 0):
                    return
                produce_lines(self.setup.config, lines[start : start + size])
        except BaseException as exc:
            self.error = exc
            raise

    def stop(self) -> None:
        """Stop a live feed early (a test that failed)."""
        self.stopping.set()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=60)
            assert not self.thread.is_alive(), "the feed did not finish"
        assert self.error is None, self.error


@dataclass(frozen=True)
class Store:
    """A PostgreSQL database of one test's own: a fault on it touches no other test."""

    url: str
    name: str
    admin: sa.Engine

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.url)

    def waiting(self) -> list[str]:
        """Labels (``PGAPPNAME``) of the workers whose statement waits on a lock."""
        with self.admin.connect() as connection:
            return list(
                connection.scalars(
                    sa.text(
                        "SELECT application_name FROM pg_stat_activity "
                        "WHERE datname = :n AND wait_event_type = 'Lock'"
                    ),
                    {"n": self.name},
                )
            )

    @contextlib.contextmanager
    def refusing(self) -> Iterator[None]:
        """The database refuses new connections and its open ones are killed, until the
        end of the block."""
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": self.name},
            )
        try:
            yield
        finally:
            with self.admin.connect() as connection:
                connection.execute(sa.text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))

    @contextlib.contextmanager
    def failing_on(self, alert_id: str) -> Iterator[None]:
        """Until the end of the block, storing ``alert_id`` fails with an error no retry
        cures (a trigger raising, as a constraint the worker does not know would)."""
        engine = self.engine()
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN IF NEW.alert_id = '{alert_id}' THEN "
                    "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$"
                )
            )
            connection.execute(
                sa.text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON alerts "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_one()"
                )
            )
        try:
            yield
        finally:
            with engine.begin() as connection:
                connection.execute(sa.text("DROP TRIGGER refuse_one ON alerts"))
                connection.execute(sa.text("DROP FUNCTION refuse_one()"))
            engine.dispose()


class Gate:
    """An open transaction holding one alert id: the worker storing it waits here."""

    def __init__(self, store: Store, alert: Alert) -> None:
        self.store = store
        self.alert = alert
        self.engine = store.engine()
        self.connection = self.engine.connect()
        self.connection.execute(
            sa.text(
                "INSERT INTO alerts (alert_id, rule_id, rule_version, severity, customer_id, "
                "occurred_at, detected_at, title, facts, trigger_event_ids, recipients) "
                "VALUES (:a, 'gate', 1, 'low', 'gate', now(), now(), '', '{}', '[]', '[]')"
            ),
            {"a": alert.alert_id},
        )

    def held(self, timeout: float = 60) -> str:
        """Wait until a worker waits at the gate; its label."""
        waiting: list[str] = []

        def someone() -> bool:
            waiting[:] = self.store.waiting()
            return bool(waiting)

        wait_until(someone, timeout=timeout, what=f"a worker at the gate ({self.alert.rule_id})")
        assert len(waiting) == 1, waiting
        return waiting[0]

    def open(self) -> None:
        """Roll the gate's insert back: the waiting insert goes on (or the outage that
        killed the gate's connection already did that)."""
        with contextlib.suppress(sa.exc.DBAPIError):
            self.connection.rollback()
        with contextlib.suppress(sa.exc.DBAPIError):
            self.connection.close()
        self.engine.dispose()


def replay_profiles(bank: Bank, server: str) -> tuple[list[tuple[object, ...]], ...]:
    """The customer profiles and products replay writes for the bank, read from a
    PostgreSQL database of their own on ``server`` (the types a worker's store reads back
    as), which is dropped afterwards."""
    databases = new_database(server)
    database = next(databases)
    try:
        with AlertStore(database.url) as store:
            ReplayDriver(Engine(load_rules(SHIPPED_RULES)), store).run(bank.lines)
        return profiles(database.url)
    finally:
        databases.close()


def new_database(postgres_url: str) -> Iterator[Store]:
    """Create a migrated database (``churnwatch db upgrade`` done); drop it afterwards."""
    server = sa.make_url(postgres_url).set(query={})
    name = f"cw_fault_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = open_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    try:
        yield Store(url, name, admin)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
