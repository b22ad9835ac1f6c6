"""The store's schema step: ``churnwatch db upgrade`` on its own, and every other process
refusing a server database whose schema is not exactly its own."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.schemas.exceptions import StoreError
from churnwatch.schemas.store import AlertStore, migrate, open_engine
from churnwatch.schemas.upgrade import head_revision, schema_state


def _set_revision(url: str, revision: str) -> None:
    engine = open_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("update alembic_version set version_num = :r"), {"r": revision})
    engine.dispose()


def test_an_empty_server_store_is_refused_until_upgraded(postgres_empty_url: str) -> None:
    """Opening PostgreSQL never creates the schema behind the operator's back; ``db upgrade``
    does, once, and saying it twice changes nothing."""
    with pytest.raises(StoreError, match=r"run `churnwatch db upgrade` first"):
        AlertStore(postgres_empty_url)
    runner = CliRunner()
    status = runner.invoke(app, ["db", "status", "--db", postgres_empty_url])
    assert status.exit_code == 1 and "status: empty" in status.output
    first = runner.invoke(app, ["db", "upgrade", "--db", postgres_empty_url])
    assert first.exit_code == 0, first.output
    assert f"schema at revision {head_revision()} (from an empty store)" in first.output
    again = runner.invoke(app, ["db", "upgrade", "--db", postgres_empty_url])
    assert again.exit_code == 0 and "already current" in again.output
    with AlertStore(postgres_empty_url) as store:
        assert store.count() == 0
    assert runner.invoke(app, ["db", "status", "--db", postgres_empty_url]).exit_code == 0


def test_a_store_behind_or_ahead_is_refused_with_what_to_do(postgres_url: str) -> None:
    """Behind: run ``db upgrade``. Ahead (a newer churnwatch upgraded it): run that version
    or restore; ``db upgrade`` of the older version refuses too, rather than guess."""
    _set_revision(postgres_url, "0001")
    with pytest.raises(StoreError, match=r"at revision 0001, this churnwatch needs"):
        AlertStore(postgres_url)
    _set_revision(postgres_url, "9999")
    with pytest.raises(StoreError, match=r"newer than this churnwatch knows"):
        AlertStore(postgres_url)
    refused = CliRunner().invoke(app, ["db", "upgrade", "--db", postgres_url])
    assert refused.exit_code == 1
    assert "newer than this churnwatch" in " ".join(refused.output.split())


def test_a_sqlite_file_is_still_upgraded_when_opened(sqlite_url: str) -> None:
    """One machine's store (the demo, a replay) needs no separate step."""
    with AlertStore(sqlite_url) as store:
        assert schema_state(store.engine).status == "current"


def test_upgrades_started_together_queue_instead_of_racing(postgres_empty_url: str) -> None:
    """Two upgrade jobs at once (a retried Job, two operators) both succeed."""
    errors: list[BaseException] = []

    def upgrade() -> None:
        engine = open_engine(postgres_empty_url)
        try:
            migrate(engine)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    engine = open_engine(postgres_empty_url)
    assert schema_state(engine).status == "current"
    engine.dispose()
