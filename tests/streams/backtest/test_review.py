"""Reviewing a rule change: field-by-field differences of two packs, and the backtest beside."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.loader import load_rules
from churnwatch.streams.backtest.review import FieldChange, review_packs
from churnwatch.streams.backtest.review_report import render_review_html, render_review_text
from churnwatch.streams.backtest.run import coverage_warnings


def _edit(root: Path, file: str, old: str, new: str) -> None:
    path = root / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    """The shipped pack with a threshold, an audience, a step time and a text changed."""
    new = tmp_path / "new"
    shutil.copytree(SHIPPED_RULES, new)
    _edit(new, "transfers.yaml", "at_least: 50000.00", "at_least: 30000.00")
    _edit(new, "transfers.yaml", "version: 1", "version: 2")
    _edit(new, "transfers.yaml", "audience: [relationship_manager]", "audience: [branch_head]")
    _edit(
        new,
        "products.yaml",
        '{name: 3d, before: 3d, at: "09:30"',
        '{name: 3d, before: 4d, at: "09:30"',
    )
    text = new / "templates" / "large-transfer-out" / "what.en.j2"
    text.write_text(text.read_text(encoding="utf-8") + "Thank you.\n", encoding="utf-8")
    return new


def _transfer(event_id: str, at: str, amount: str) -> str:
    return json.dumps(
        {
            "type": "transaction",
            "event_id": event_id,
            "occurred_at": at,
            "account_id": "AC1",
            "customer_id": "C1",
            "direction": "debit",
            "amount": amount,
            "balance_after": "900000.00",
            "kind": "transfer",
            "channel": "mobile",
            "counterparty": {"bank": "Other Bank", "same_bank": False},
        }
    )


class TestReview:
    def test_the_same_pack_shows_no_change(self) -> None:
        """A pack against itself has no rule, predicate or file change."""
        shipped = load_rules(SHIPPED_RULES)
        review = review_packs(shipped, shipped)
        assert not review.any
        assert "No change" in render_review_text(review)

    def test_changed_fields_are_listed_one_by_one(self, edited: Path) -> None:
        """Threshold, version, audience and a schedule step's offset show as field changes."""
        review = review_packs(load_rules(SHIPPED_RULES), load_rules(edited))
        by_id = {r.rule_id: r for r in review.rules}
        assert set(by_id) == {"large-transfer-out", "maturity-reminder"}
        transfer = by_id["large-transfer-out"]
        assert transfer.status == "changed"
        assert (transfer.version_before, transfer.version_after) == (1, 2)
        assert set(transfer.fields) == {
            FieldChange("threshold.at_least", "50000.00", "30000.00"),
            FieldChange("version", "1", "2"),
            FieldChange("audience", '["relationship_manager"]', '["branch_head"]'),
        }
        maturity = by_id["maturity-reminder"]
        assert maturity.fields == (FieldChange("schedule.steps[3d].before", "3d", "4d"),)
        assert maturity.version_not_raised
        assert [(f.path, f.status) for f in review.files] == [
            ("templates/large-transfer-out/what.en.j2", "changed")
        ]

    def test_added_removed_rules_and_predicates(self, tmp_path: Path) -> None:
        """A rule file removed and a predicate redefined are named with their status."""
        new = tmp_path / "new"
        shutil.copytree(SHIPPED_RULES, new)
        (new / "activity.yaml").unlink()
        (new / "activity.test.yaml").unlink()
        for weighed in ("activity-drop: 25", "tier-downgrade: 20"):  # the score names them
            _edit(new, "score.yaml", weighed, "")
        _edit(new, "predicates.yaml", '"cash", "product"]', '"cash"]')
        review = review_packs(load_rules(SHIPPED_RULES), load_rules(new))
        assert [(r.rule_id, r.status) for r in review.rules] == [
            ("activity-drop", "removed"),
            ("tier-downgrade", "removed"),
        ]
        assert [(p.rule_id, p.status) for p in review.predicates] == [("outflow", "changed")]
        text = render_review_text(review)
        assert "removed  activity-drop v1" in text
        assert "changed  predicate outflow" in text

    def test_text_and_html_show_before_and_after(self, edited: Path) -> None:
        """Both renderings carry each changed field with its old and new value, escaped in HTML."""
        review = review_packs(load_rules(SHIPPED_RULES), load_rules(edited))
        text = render_review_text(review)
        assert "threshold.at_least: 50000.00 -> 30000.00" in text
        assert "WARNING: changed but its version was not raised" in text
        page = render_review_html(review)
        assert "<td><code>threshold.at_least</code></td>" in page
        assert '["relationship_manager"]' not in page  # quotes escaped
        assert "[&#34;relationship_manager&#34;]" in page

    def test_a_churn_score_change_is_listed_field_by_field(self, tmp_path: Path) -> None:
        """A weight, the half-life and the bands of the score show before and after."""
        new = tmp_path / "new"
        shutil.copytree(SHIPPED_RULES, new)
        _edit(new, "score.yaml", "large-transfer-out: 30", "large-transfer-out: 45")
        _edit(new, "score.yaml", "half_life: 30d", "half_life: 21d")
        review = review_packs(load_rules(SHIPPED_RULES), load_rules(new))
        assert review.rules == () and review.any
        assert FieldChange("weights.large-transfer-out", "30.00", "45.00") in review.score
        assert FieldChange("half_life", "30d", "21d") in review.score
        assert "weights.large-transfer-out: 30.00 -> 45.00" in render_review_text(review)
        assert "<td><code>half_life</code></td>" in render_review_html(review)


class TestCommand:
    def test_diff_with_events_prints_field_changes_and_alerts_gained(
        self, edited: Path, tmp_path: Path
    ) -> None:
        """`rules diff --events` prints the field changes and the alerts gained; writes HTML."""
        events = tmp_path / "events.jsonl"
        events.write_text(
            "\n".join(
                [
                    _transfer("t-1", "2026-03-02T10:00:00+08:00", "40000.00"),
                    _transfer("t-2", "2026-03-03T10:00:00+08:00", "60000.00"),
                    _transfer("t-3", "2026-03-04T10:00:00+08:00", "29999.99"),
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        html = tmp_path / "review.html"
        result = CliRunner().invoke(
            app,
            [
                "rules",
                "diff",
                str(SHIPPED_RULES),
                str(edited),
                "--events",
                str(events),
                "--html",
                str(html),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "threshold.at_least: 50000.00 -> 30000.00" in result.output
        assert "large-transfer-out: +1 added, -0 removed" in result.output
        assert "C1  amount=40000.00" in result.output
        page = html.read_text(encoding="utf-8")
        assert "Rule changes, field by field" in page
        assert "Backtest of a rule change" in page
        assert "+1" in page

    def test_an_invalid_pack_exits_2_with_its_problems(self, tmp_path: Path) -> None:
        """A broken new pack is refused with its located problem and exit code 2."""
        new = tmp_path / "new"
        shutil.copytree(SHIPPED_RULES, new)
        _edit(new, "transfers.yaml", "at_least: 50000.00", "at_least: lots")
        result = CliRunner().invoke(app, ["rules", "diff", str(SHIPPED_RULES), str(new)])
        assert result.exit_code == 2
        assert "transfers.yaml:" in result.output


class TestCoverage:
    def test_a_short_file_warns_for_rules_that_look_back_further(self) -> None:
        """Six weeks cannot judge 120-, 100- or 90-day look-backs; 24h rules pass."""
        shipped = load_rules(SHIPPED_RULES)
        warnings = coverage_warnings(dt.timedelta(weeks=6), shipped)
        assert len(warnings) == 3
        assert "'activity-drop' looks back 120 days" in warnings[0]
        assert "'large-transfer-out-relative' looks back 90 days" in warnings[1]
        assert "'payroll-stopped' looks back 100 days" in warnings[2]
        assert "42.0 days" in warnings[0]
        assert len(coverage_warnings(dt.timedelta(days=91), shipped)) == 2
        assert coverage_warnings(dt.timedelta(days=121), shipped) == ()
