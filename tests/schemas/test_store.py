"""The alert store on SQLite and PostgreSQL: migrations, idempotent writes, exact times."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from churnwatch.schemas.exceptions import StoreError
from churnwatch.schemas.models import Alert, AlertScore, DerivedOutcome, Recipient
from churnwatch.schemas.store import AlertStore, _row, mask_url
from churnwatch.schemas.tables import alerts, derived_outcomes

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def make_alert(alert_id: str, **overrides: object) -> Alert:
    fields: dict[str, object] = {
        "alert_id": alert_id,
        "rule_id": "large-transfer-out",
        "rule_version": 1,
        "severity": "high",
        "customer_id": "C1",
        "account_id": "AC1",
        "occurred_at": dt.datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=SHANGHAI),
        "detected_at": dt.datetime(2026, 3, 2, 2, 0, 5, tzinfo=dt.UTC),
        "facts": {"amount": "60000.00", "threshold": "50000.00", "events": 1, "tier": "A"},
        "trigger_event_ids": ["tx-1"],
        "recipients": [Recipient(audience="relationship_manager", staff_id="S1")],
        "title": "Large transfer out of the bank",
    }
    fields.update(overrides)
    return Alert(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[AlertStore]:
    with AlertStore(store_url) as opened:
        yield opened


def _head_revision() -> str:
    """The newest migration's revision, so adding a migration does not break this test."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from churnwatch.schemas.store import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


class TestMigrations:
    def test_create_the_schema_on_an_empty_database(self, store_url: str) -> None:
        """Opening a store on an empty database creates both tables at the latest revision."""
        with AlertStore(store_url) as store:
            inspector = sa.inspect(store.engine)
            assert {"alerts", "deliveries", "alembic_version"} <= set(inspector.get_table_names())
            with store.engine.connect() as connection:
                revision = connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
            assert revision == _head_revision()

    def test_alert_id_is_unique_in_the_schema(self, store: AlertStore) -> None:
        """The migration puts a unique constraint on ``alert_id``."""
        inspector = sa.inspect(store.engine)
        unique = [c["column_names"] for c in inspector.get_unique_constraints("alerts")]
        assert ["alert_id"] in unique

    def test_opening_again_is_harmless(self, store_url: str) -> None:
        """Opening an already migrated store keeps its alerts."""
        with AlertStore(store_url) as first:
            first.add_alerts([make_alert("al-1")])
        with AlertStore(store_url) as second:
            assert second.alert_ids() == {"al-1"}


class TestAddAlerts:
    def test_returns_the_new_alerts_in_order(self, store: AlertStore) -> None:
        """A batch of new alerts is stored and returned as given."""
        batch = [make_alert("al-1"), make_alert("al-2"), make_alert("al-3")]
        assert store.add_alerts(batch) == batch
        assert store.count() == 3

    def test_a_repeat_is_a_no_op(self, store: AlertStore) -> None:
        """Adding the same alerts again stores nothing and returns nothing."""
        batch = [make_alert("al-1"), make_alert("al-2")]
        store.add_alerts(batch)
        assert store.add_alerts(batch) == []
        assert store.count() == 2

    def test_returns_only_the_new_ones_of_a_mixed_batch(self, store: AlertStore) -> None:
        """In a batch of old and new alerts, only the new ones come back."""
        store.add_alerts([make_alert("al-1")])
        fresh = store.add_alerts([make_alert("al-1"), make_alert("al-2")])
        assert [a.alert_id for a in fresh] == ["al-2"]

    def test_a_repeat_within_one_batch_is_stored_once(self, store: AlertStore) -> None:
        """The same alert twice in one batch is new once."""
        fresh = store.add_alerts([make_alert("al-1"), make_alert("al-1")])
        assert len(fresh) == 1
        assert store.count() == 1

    def test_a_large_batch_returns_exactly_the_new_ones_in_order(self, store: AlertStore) -> None:
        """A batch of 1,200 with old alerts and repeats mixed in: each new alert comes
        back once, where it first appeared, and the store holds every alert once."""
        store.add_alerts([make_alert(f"al-{n}") for n in range(0, 1200, 3)])
        batch = [make_alert(f"al-{n}") for n in range(1200)]
        batch[10:10] = [make_alert("al-1000"), make_alert("al-2")]
        fresh = store.add_alerts(batch)
        order = [*range(10), 1000, *range(10, 1000), *range(1001, 1200)]
        assert [a.alert_id for a in fresh] == [f"al-{n}" for n in order if n % 3]
        assert store.count() == 1200

    def test_empty_batch(self, store: AlertStore) -> None:
        """An empty batch stores nothing."""
        assert store.add_alerts([]) == []
        assert store.count() == 0


class TestReadBack:
    def test_an_alert_reads_back_equal(self, store: AlertStore) -> None:
        """Every field survives the database, facts and recipients included."""
        alert = make_alert("al-1")
        store.add_alerts([alert])
        (stored,) = store.alerts()
        assert stored == alert

    def test_datetimes_come_back_timezone_aware_and_equal(self, store: AlertStore) -> None:
        """Times read back carry a timezone and denote the same instant, to the microsecond."""
        alert = make_alert("al-1")
        store.add_alerts([alert])
        (stored,) = store.alerts()
        assert stored.occurred_at.tzinfo is not None
        assert stored.detected_at.tzinfo is not None
        assert stored.occurred_at == alert.occurred_at
        assert stored.occurred_at.microsecond == 123456

    def test_filters_by_rule_and_time(self, store: AlertStore) -> None:
        """``alerts(rule_id=…, since=…)`` returns only the matching alerts."""
        early = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        late = dt.datetime(2026, 3, 5, tzinfo=dt.UTC)
        store.add_alerts(
            [
                make_alert("al-1", detected_at=early),
                make_alert("al-2", detected_at=late),
                make_alert("al-3", detected_at=late, rule_id="payroll-moved-out"),
            ]
        )
        since = dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
        assert [a.alert_id for a in store.alerts(since=since)] == ["al-2", "al-3"]
        assert [a.alert_id for a in store.alerts(rule_id="payroll-moved-out")] == ["al-3"]


class TestErrors:
    def test_a_bad_url_is_a_store_error(self) -> None:
        """An unparsable URL raises StoreError, not a driver exception."""
        with pytest.raises(StoreError):
            AlertStore("not a url at all")

    def test_mask_url_hides_the_password(self) -> None:
        """A URL shown in logs or errors never contains the password."""
        masked = mask_url("postgresql://churn:s3cret@db.example:5432/alerts")
        assert "s3cret" not in masked
        assert "churn" in masked


def make_outcome(alert_id: str, outcome: str = "retained", **overrides: object) -> DerivedOutcome:
    fields: dict[str, object] = {
        "alert_id": alert_id,
        "rule_id": "large-transfer-out",
        "customer_id": "C1",
        "outcome": outcome,
        "decided_at": dt.datetime(2026, 3, 9, 10, 0, 0, 250000, tzinfo=SHANGHAI),
        "share": Decimal("0.6000"),
        "evidence_event_id": "tx-9",
    }
    fields.update(overrides)
    return DerivedOutcome(**fields)  # type: ignore[arg-type]


class TestDerivedOutcomes:
    def test_an_outcome_reads_back_equal(self, store: AlertStore) -> None:
        """Share, evidence and the exact decision time come back as written."""
        written = [make_outcome("al-1"), make_outcome("al-2", "unknown", share=None)]
        assert store.add_outcomes(written) == 2
        back = store.outcomes()
        assert [o.alert_id for o in back] == ["al-1", "al-2"]
        assert back[0] == written[0]
        assert back[1].share is None and back[1].evidence_event_id == "tx-9"

    def test_an_alerts_first_outcome_stands(self, store: AlertStore) -> None:
        """Writing again (a replay, a worker restart) changes nothing: the first stays."""
        assert store.add_outcomes([make_outcome("al-1")]) == 1
        assert store.add_outcomes([make_outcome("al-1", "left"), make_outcome("al-2")]) == 1
        assert [(o.alert_id, o.outcome) for o in store.outcomes()] == [
            ("al-1", "retained"),
            ("al-2", "retained"),
        ]

    def test_within_one_batch_the_first_of_an_alert_is_kept(self, store: AlertStore) -> None:
        """Two outcomes of one alert in a batch store the first."""
        assert store.add_outcomes([make_outcome("al-1", "left"), make_outcome("al-1")]) == 1
        assert [o.outcome for o in store.outcomes()] == ["left"]


def _raw_alerts(url: str) -> list[tuple[object, ...]]:
    """The alerts table as SQLite holds it, JSON columns decoded (their spacing aside)."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        rows = connection.execute("SELECT * FROM alerts ORDER BY id").fetchall()
    return [(*row[:10], *(json.loads(text) for text in row[10:])) for row in rows]


class TestSqliteWrites:
    """SQLite's alerts go in on the driver's cursor, not through SQLAlchemy's executemany."""

    def test_rows_hold_what_sqlalchemy_stored(self, tmp_path: Path) -> None:
        """Times, texts and JSON columns are stored as SQLAlchemy's own insert stores them:
        other readers (the pages, ``json_extract``, time comparisons) see no difference."""
        score = AlertScore(points=Decimal("41.5"), half_life="P30D", band_from=Decimal("40"))
        batch = [
            make_alert("al-1"),
            make_alert(
                "al-2",
                account_id=None,
                title="客户资金转出 \u2028",
                facts={"share": Decimal("0.6000"), "at": dt.datetime(2026, 3, 1, tzinfo=dt.UTC)},
                score=score,
            ),
            make_alert("al-3", facts={"missing": None, "ratio": 0.25, "names": ["a", "b"]}),
        ]
        fast, plain = f"sqlite:///{tmp_path / 'fast.db'}", f"sqlite:///{tmp_path / 'plain.db'}"
        with AlertStore(fast) as store:
            assert store.add_alerts(batch) == batch
        with AlertStore(plain) as store, store.engine.begin() as connection:
            connection.execute(sa.insert(alerts), [_row(alert) for alert in batch])
        assert _raw_alerts(fast) == _raw_alerts(plain)

    def test_outcome_rows_hold_what_sqlalchemy_stored(self, tmp_path: Path) -> None:
        """Outcomes too: the decision time and share as SQLAlchemy's insert stores them."""
        batch = [make_outcome("al-1"), make_outcome("al-2", "unknown", share=None)]
        fast, plain = f"sqlite:///{tmp_path / 'fast.db'}", f"sqlite:///{tmp_path / 'plain.db'}"
        with AlertStore(fast) as store:
            assert store.add_outcomes(batch) == 2
        with AlertStore(plain) as store, store.engine.begin() as connection:
            connection.execute(
                sa.insert(derived_outcomes),
                [
                    {
                        **msgspec.structs.asdict(o),
                        "share": o.share and str(o.share),
                        "decided_at": o.decided_at.astimezone(dt.UTC),
                    }
                    for o in batch
                ],
            )
        query = "SELECT * FROM derived_outcomes ORDER BY alert_id"
        rows = []
        for url in (fast, plain):
            with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
                rows.append(connection.execute(query).fetchall())
        assert rows[0] == rows[1]

    def test_a_driver_error_is_sqlalchemys(self, sqlite_store: AlertStore) -> None:
        """A failing statement raises StoreError caused by SQLAlchemy's OperationalError,
        as before, so the worker still knows a locked or lost file for an outage."""
        with sqlite_store.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE deliveries"))
            connection.execute(sa.text("DROP TABLE alerts"))
        with pytest.raises(StoreError) as raised:
            sqlite_store.add_alerts([make_alert("al-1")])
        assert isinstance(raised.value.__cause__, sa.exc.OperationalError)
