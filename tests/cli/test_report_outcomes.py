"""On a generated bank with the demo's control group, ``churnwatch report`` shows the
outcomes derived from the accounts for treated and control customers, and the uplift
with its interval: the whole way, generate → replay → report, through the commands."""

from __future__ import annotations

import csv
import io

import pytest
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.cli.demo import DEMO_CONTROL_RULE, demo_rules

#: past the generated six weeks by more than the longest watch the demo's rule keeps (35 days)
UNTIL = "2026-11-30T00:00:00+08:00"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 100-customer bank replayed through the demo's pack (20% held back on one rule)."""
    directory = tmp_path_factory.mktemp("bank")
    events = directory / "events.jsonl"
    runner = CliRunner()
    made = runner.invoke(app, ["generate", str(events), "--customers", "100", "--weeks", "6"])
    assert made.exit_code == 0, made.output
    url = f"sqlite:///{directory / 'bank.db'}"
    rules = demo_rules(directory)
    replayed = runner.invoke(
        app,
        ["replay", str(events), "--rules", str(rules), "--db", url, "--notify", "console",
         "--until", UNTIL],
    )  # fmt: skip
    assert replayed.exit_code == 0, replayed.output
    assert "outcomes derived" in replayed.output
    return url


def _report(url: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["report", "--since", "3650d", "--db", url, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_control_rule_has_derived_outcomes_on_both_sides_and_an_interval(store: str) -> None:
    """The demo's control rule: derived outcomes for followed-up and held-back customers,
    the uplift on them and its 95% interval, and the group sizes (CSV)."""
    rows = list(csv.DictReader(io.StringIO(_report(store, "--format", "csv"))))
    row = next(r for r in rows if r["section"] == "rule" and r["key"] == DEMO_CONTROL_RULE)
    treated, control = int(row["treated_n"]), int(row["control_n"])
    assert treated >= 1 and control >= 1
    assert int(row["control_alerts"]) >= control
    assert row["derived_uplift"] != "" and row["derived_retention"] != ""
    low, high = float(row["derived_uplift_low"]), float(row["derived_uplift_high"])
    assert -1 <= low <= float(row["derived_uplift"]) <= high <= 1 and low < high
    # nobody recorded an outcome by hand: the recorded columns are empty, the derived are not
    assert row["retention"] == "" and row["control_retention"] == ""
    others = [r for r in rows if r["section"] == "rule" and r["key"] != DEMO_CONTROL_RULE]
    assert all(r["control_n"] == "0" and r["derived_uplift_low"] == "" for r in others)
    assert sum(int(r["treated_n"]) for r in others) > 0


def test_text_and_html_show_the_same_uplift(store: str) -> None:
    """The operators' table and the page (both languages) carry the interval too."""
    text = _report(store)
    line = next(
        line
        for line in text.splitlines()[text.splitlines().index("") :]
        if line.startswith(DEMO_CONTROL_RULE) and " to " in line
    )
    assert " pp" in line
    for lang, words in (("en", "95% confidence interval"), ("zh-CN", "95% 置信区间")):
        html = _report(store, "--format", "html", "--lang", lang)
        assert words in html and 'class="derived-interval"' in html
