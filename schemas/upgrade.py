"""The store's schema version: upgrading it as its own step, and refusing a mismatch.

A server database (PostgreSQL) is shared by every worker, ``churnwatch web`` and the
operators' commands, often of two versions during a rolling upgrade. If each process
migrated the schema when it opened the store, two starting at once would race (both
create ``alembic_version``; one crashes) and an old process could meet tables it does not
know. So on a server database the schema changes only in ``churnwatch db upgrade``, run
once before the new workers start, and every other process checks that the schema is
exactly the one it was built for: behind or ahead, it refuses to run and says what to
do. A SQLite file is one machine's store (the demo, a replay), so it is upgraded when
opened, as before.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

__all__ = [
    "MIGRATIONS",
    "SchemaState",
    "head_revision",
    "migrate",
    "schema_problem",
    "schema_state",
]

MIGRATIONS = Path(__file__).parent / "migrations"
#: any fixed number: every ``db upgrade`` of one database queues on this advisory lock
_UPGRADE_LOCK = 0x63687572


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The schema revision this churnwatch is built for."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "churnwatch ships at least one migration"
    return head


def _known() -> set[str]:
    return {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}


class SchemaState:
    """Where a store's schema is against this churnwatch's."""

    __slots__ = ("current", "head", "known")

    def __init__(self, current: str | None, head: str, known: bool) -> None:
        self.current = current
        self.head = head
        self.known = known

    @property
    def status(self) -> str:
        if self.current == self.head:
            return "current"
        if self.current is None:
            return "empty"
        return "behind" if self.known else "ahead"


def schema_state(engine: Engine) -> SchemaState:
    """The store's revision (None: no churnwatch schema yet) and this churnwatch's."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return SchemaState(current, head_revision(), current is None or current in _known())


def schema_problem(state: SchemaState) -> str | None:
    """What an operator must do before a process may use the store; None when nothing."""
    status = state.status
    if status == "current":
        return None
    if status == "empty":
        return "the alert store has no churnwatch schema yet: run `churnwatch db upgrade` first"
    if status == "behind":
        return (
            f"the alert store's schema is at revision {state.current}, this churnwatch needs "
            f"{state.head}: run `churnwatch db upgrade` with this version first "
            '(deploy/README.md, "Upgrades")'
        )
    return (
        f"the alert store's schema is at revision {state.current}, newer than this churnwatch "
        f"knows (its newest is {state.head}): a newer churnwatch upgraded it. Run that "
        "version, or restore the backup taken before the upgrade (deploy/README.md, "
        '"Rolling back")'
    )


def migrate(engine: Engine) -> None:
    """Bring the database to this churnwatch's schema revision.

    On PostgreSQL concurrent upgrades queue on an advisory lock held for the transaction,
    so two upgrade jobs started together run one after the other instead of racing.
    """
    config = _config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
