"""``churnwatch report``: any period without a traceback, and CSV a spreadsheet cannot run."""

from __future__ import annotations

import csv
import datetime as dt
import io

from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.followup.escalation import EscalationPolicy, Escalator
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.testing import FixedClock, RecordingNotify

from ..conftest import add, customer, make_alert

HOSTILE_BRANCH = '=HYPERLINK("http://evil.example","x")'


def test_report_csv_neutralises_formulas_and_takes_any_period(
    store: FollowUpStore, sqlite_url: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    alert = make_alert(31, at=now - dt.timedelta(hours=1))
    add(store, alert)
    Escalator(store, EscalationPolicy(), RecordingNotify(), FixedClock(now)).open(
        alert, customer(branch=HOSTILE_BRANCH), [("S-RM1", "relationship_manager")]
    )
    for since in ("99999999999d", "30d"):
        result = CliRunner().invoke(
            app, ["report", "--since", since, "--format", "csv", "--db", sqlite_url]
        )
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        cells = [cell for row in csv.reader(io.StringIO(result.stdout)) for cell in row]
        assert "'" + HOSTILE_BRANCH in cells
        assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)


def test_report_with_a_period_that_is_not_one_exits_2(sqlite_url: str) -> None:
    result = CliRunner().invoke(app, ["report", "--since", "soon", "--db", sqlite_url])
    assert result.exit_code == 2
    assert "not a duration" in result.output
