"""Shared fixtures: where the shipped pack is, a fresh SQLite store, PostgreSQL if reachable."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from churnwatch.rules import SHIPPED_RULES
from churnwatch.schemas.store import AlertStore

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# The command line's consoles are module globals that take their width from COLUMNS when
# they are created, i.e. when a test process first imports them. Test processes (pytest-
# xdist's workers included) get one wide width, so tables are never cut to "relationship_…"
# by whichever environment happened to import the CLI first.
os.environ["COLUMNS"] = "300"

# No per-example deadline for property tests: the suite runs on every core beside brokers,
# workers and PostgreSQL, so an example's wall time measures the machine's load, not the
# code (a 200 ms deadline failed examples that take 20 ms on an idle machine). Tests that
# must be fast say so with their own settings; bench/ measures speed.
settings.register_profile("churnwatch", deadline=None)
settings.load_profile("churnwatch")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Integration tests first, the ones allowed longest (their ``timeout``) first among
    them, each module's in its collected order. They are the suite's long tests (workers,
    brokers, a wheel: tens of seconds each). pytest-xdist hands each process a contiguous
    share of the collection and a process that runs dry steals from the end of another's
    queue: so the last tests the run waits for are short ones, not a minute-long case one
    process started while the other had nothing left to do."""

    def order(item: pytest.Item) -> tuple[int, float]:
        if item.get_closest_marker("integration") is None:
            return (1, 0.0)
        limit = item.get_closest_marker("timeout")
        allowed = limit.args[0] if limit and limit.args else item.config.getini("timeout")
        return (0, -float(allowed))

    items.sort(key=order)


@pytest.fixture
def pack_dir() -> Path:
    return SHIPPED_RULES


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'alerts.db'}"


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[AlertStore]:
    with AlertStore(sqlite_url) as store:
        yield store


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_url(postgres_empty_url: str) -> str:
    """A fresh PostgreSQL schema per test at churnwatch's revision (``churnwatch db
    upgrade`` done, as a deployment does before starting anything)."""
    from churnwatch.schemas.store import migrate, open_engine

    engine = open_engine(postgres_empty_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return postgres_empty_url


@pytest.fixture
def postgres_empty_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema per test, dropped afterwards."""
    if not _postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
