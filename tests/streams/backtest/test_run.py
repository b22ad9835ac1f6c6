"""Backtesting a rule change: the diff per rule, who would be messaged, and the reports."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.loader import RuleSet, load_rules
from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import Alert, Recipient, StaffEvent
from churnwatch.streams.backtest.report import render_html, render_text
from churnwatch.streams.backtest.result import BacktestResult, RuleDiff, alert_key
from churnwatch.streams.backtest.run import backtest, reach_of

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _line(record: dict[str, object]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def _customer(n: int, manager: str, opt_in: bool) -> bytes:
    return _line(
        {
            "type": "customer",
            "event_id": f"cu-{n}",
            "occurred_at": "2026-03-01T08:00:00+08:00",
            "customer_id": f"C{n}",
            "name": f"Customer {n}",
            "phone": f"+861380000000{n}",
            "language": "zh-CN",
            "aum": "600000.00",
            "branch_id": "B1",
            "manager_id": manager,
            "sms_opt_in": opt_in,
        }
    )


def _staff(staff_id: str, role: str) -> bytes:
    return _line(
        {
            "type": "staff",
            "event_id": f"st-{staff_id}",
            "occurred_at": "2026-03-01T07:00:00+08:00",
            "staff_id": staff_id,
            "name": staff_id,
            "phone": "+8613900000000",
            "role": role,
            "branch_id": "B1",
            "active": True,
        }
    )


def _transfer(event_id: str, customer: int, at: str, amount: str) -> bytes:
    return _line(
        {
            "type": "transaction",
            "event_id": event_id,
            "occurred_at": at,
            "account_id": f"AC{customer}00001",
            "customer_id": f"C{customer}",
            "direction": "debit",
            "amount": amount,
            "balance_after": "900000.00",
            "kind": "transfer",
            "channel": "mobile",
            "counterparty": {"name": "Li Wei", "bank": "Other Bank", "same_bank": False},
        }
    )


#: three customers of branch B1; transfers out of 40,000, 60,000, 35,000 and 20,000
EVENTS: list[bytes] = [
    _staff("RM1", "relationship_manager"),
    _staff("RM2", "relationship_manager"),
    _staff("BH1", "branch_head"),
    _customer(1, "RM1", opt_in=True),
    _customer(2, "RM2", opt_in=False),
    _customer(3, "RM1", opt_in=True),
    _transfer("t-1", 1, "2026-03-02T10:00:00+08:00", "40000.00"),
    _transfer("t-2", 2, "2026-03-03T11:00:00+08:00", "60000.00"),
    # 01:30 on 4 March in Shanghai, still 3 March in UTC
    _transfer("t-3", 3, "2026-03-03T17:30:00+00:00", "35000.00"),
    _transfer("t-4", 3, "2026-03-05T09:00:00+08:00", "20000.00"),
]


def _pack_with(tmp_path: Path, old: str, new: str, name: str = "new") -> Path:
    """A copy of the shipped pack with one edit in transfers.yaml."""
    target = tmp_path / name
    shutil.copytree(SHIPPED_RULES, target)
    rule_file = target / "transfers.yaml"
    text = rule_file.read_text(encoding="utf-8")
    assert old in text
    rule_file.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def _threshold(tmp_path: Path, amount: str, version: int = 2) -> RuleSet:
    edited = _pack_with(tmp_path, "at_least: 50000.00", f"at_least: {amount}")
    text = (edited / "transfers.yaml").read_text(encoding="utf-8")
    (edited / "transfers.yaml").write_text(
        text.replace("version: 1", f"version: {version}", 1), encoding="utf-8"
    )
    return load_rules(edited)


def _alert(customer: str, *audiences: str) -> Alert:
    return Alert(
        alert_id=f"a-{customer}-{len(audiences)}",
        rule_id="r",
        rule_version=1,
        severity="low",
        customer_id=customer,
        account_id=None,
        occurred_at=dt.datetime(2026, 3, 2, tzinfo=SHANGHAI),
        detected_at=dt.datetime(2026, 3, 2, tzinfo=SHANGHAI),
        facts={},
        trigger_event_ids=["e"],
        recipients=[Recipient(audience=a) for a in audiences],
    )


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules(SHIPPED_RULES)


@pytest.fixture
def lowered(tmp_path: Path, shipped: RuleSet) -> BacktestResult:
    return backtest(EVENTS, _threshold(tmp_path, "30000.00"), shipped)


def _rule(result: BacktestResult, rule_id: str) -> RuleDiff:
    return next(r for r in result.rules if r.rule_id == rule_id)


class TestDiff:
    def test_shipped_pack_against_itself_reports_no_change(self, shipped: RuleSet) -> None:
        """The same rules over the same events add and remove nothing, and change no rule."""
        result = backtest(EVENTS, shipped, shipped)
        assert result.no_change
        assert not result.changes.any
        assert result.before == result.after == 1
        assert all(r.status == "unchanged" and not r.alerts_changed for r in result.rules)
        assert "NO CHANGE" in render_text(result)

    def test_shipped_pack_against_itself_on_a_generated_bank(
        self, tmp_path: Path, shipped: RuleSet
    ) -> None:
        """On synthetic bank data where every rule fires, the pack against itself is unchanged."""
        datagen = pytest.importorskip("churnwatch.streams.synthetic.bank")
        events = tmp_path / "bank.jsonl"
        datagen.write_dataset(datagen.DatasetSpec(customers=150, weeks=6), events)
        result = backtest(events, shipped, shipped)
        assert result.before > 0
        assert result.no_change
        assert result.days_before == result.days_after

    def test_lowered_threshold_only_adds_alerts_of_that_rule(self, lowered: BacktestResult) -> None:
        """Lowering large-transfer-out to 30,000 adds its 40,000 and 35,000 alerts, nothing else."""
        assert (lowered.added, lowered.removed) == (2, 0)
        changed = [r.rule_id for r in lowered.rules if r.alerts_changed]
        assert changed == ["large-transfer-out"]
        rule = _rule(lowered, "large-transfer-out")
        assert (rule.before, rule.after, rule.added) == (1, 3, 2)
        assert [e.customer_id for e in rule.added_examples] == ["C1", "C3"]
        assert dict(rule.added_examples[0].facts)["amount"] == "40000.00"
        assert dict(rule.added_examples[0].facts)["threshold"] == "30000.00"

    def test_raised_threshold_only_removes_alerts_of_that_rule(
        self, tmp_path: Path, shipped: RuleSet
    ) -> None:
        """Raising large-transfer-out to 70,000 removes the 60,000 alert and adds none."""
        result = backtest(EVENTS, _threshold(tmp_path, "70000.00"), shipped)
        assert (result.added, result.removed) == (0, 1)
        rule = _rule(result, "large-transfer-out")
        assert [e.customer_id for e in rule.removed_examples] == ["C2"]
        assert [r.rule_id for r in result.rules if r.alerts_changed] == ["large-transfer-out"]

    def test_rule_set_changes_name_the_rule_and_versions(self, lowered: BacktestResult) -> None:
        """The rule-set summary lists large-transfer-out as changed from v1 to v2, nothing else."""
        assert lowered.changes.changed == (("large-transfer-out", 1, 2),)
        assert lowered.changes.added == lowered.changes.removed == ()
        assert lowered.changes.same_version == ()
        assert _rule(lowered, "large-transfer-out").status == "changed"

    def test_a_change_without_a_version_bump_is_flagged(
        self, tmp_path: Path, shipped: RuleSet
    ) -> None:
        """A rule edited without raising its version is reported as such."""
        result = backtest(EVENTS, _threshold(tmp_path, "30000.00", version=1), shipped)
        assert result.changes.same_version == ("large-transfer-out",)
        assert "version was not raised" in render_text(result)

    def test_alerts_are_matched_across_versions_not_by_alert_id(
        self, lowered: BacktestResult
    ) -> None:
        """The 60,000 alert found by both versions counts as kept although its alert_id differs."""
        assert _rule(lowered, "large-transfer-out").removed == 0

    def test_days_are_local_shanghai_days(self, lowered: BacktestResult) -> None:
        """An alert at 17:30 UTC on 3 March is counted on 4 March, the Shanghai date."""
        rule = _rule(lowered, "large-transfer-out")
        assert rule.days_before == {dt.date(2026, 3, 3): 1}
        assert rule.days_after == {
            dt.date(2026, 3, 2): 1,
            dt.date(2026, 3, 3): 1,
            dt.date(2026, 3, 4): 1,
        }
        assert lowered.days == tuple(dt.date(2026, 3, d) for d in (2, 3, 4))

    def test_repeated_backtests_are_identical(self, tmp_path: Path, shipped: RuleSet) -> None:
        """Two backtests of the same inputs render the same text (fixed clock, stable order)."""
        new = _threshold(tmp_path, "30000.00")
        assert render_text(backtest(EVENTS, new, shipped)) == render_text(
            backtest(EVENTS, new, shipped)
        )


class TestReach:
    def test_managers_reached_grow_with_the_added_alerts(self, lowered: BacktestResult) -> None:
        """Before only C2's manager is told; after C1 and C3's manager is told too."""
        rule = _rule(lowered, "large-transfer-out")
        assert (rule.reach_before.managers, rule.reach_after.managers) == (1, 2)
        assert rule.reach_before.customers == rule.reach_after.customers == 0

    def test_reach_counts_opted_in_customers_and_distinct_managers(self) -> None:
        """Customers count only when addressed and opted in; managers are RMs plus branch heads."""
        directory = InMemoryDirectory()
        for n, manager, opt_in in ((1, "RM1", True), (2, "RM2", False), (3, "RM1", True)):
            directory.put_customer(
                CustomerProfile(
                    customer_id=f"C{n}",
                    name="x",
                    phone="+8613800000000",
                    language="zh-CN",
                    aum=Decimal(0),
                    tier="mass",
                    branch_id="B1",
                    manager_id=manager,
                    sms_opt_in=opt_in,
                )
            )
        for staff_id, role, active in (("BH1", "branch_head", True), ("BH2", "branch_head", False)):
            directory.put_staff(
                StaffEvent(
                    event_id=staff_id,
                    occurred_at=dt.datetime(2026, 3, 1, tzinfo=SHANGHAI),
                    staff_id=staff_id,
                    name=staff_id,
                    phone="+8613900000000",
                    role=role,  # type: ignore[arg-type]
                    branch_id="B1",
                    active=active,
                )
            )

        reach = reach_of(
            [
                _alert("C1", "customer"),
                _alert("C2", "customer", "relationship_manager"),
                _alert("C3", "relationship_manager"),
                _alert("C3", "branch_head"),
                _alert("C9", "customer", "relationship_manager"),  # unknown customer
            ],
            directory,
        )
        assert (reach.customers, reach.managers) == (1, 3)  # C1; RM2, RM1, BH1

    def test_alert_key_ignores_version_and_alert_id(self, lowered: BacktestResult) -> None:
        """The matching key is rule, customer and triggering events: not alert_id or version."""
        example = _rule(lowered, "large-transfer-out").added_examples[0]
        assert example.trigger_event_ids == ("t-1",)
        first = _alert("C1", "relationship_manager")
        bumped = msgspec.structs.replace(first, alert_id="other", rule_version=2)
        assert alert_key(first) == alert_key(bumped) == ("r", "C1", ("e",))


class TestReports:
    def test_text_report_shows_the_rule_table_and_examples(self, lowered: BacktestResult) -> None:
        """The text names the change, the per-rule counts, an added example and the day counts."""
        text = render_text(lowered)
        assert "changed  large-transfer-out v1 -> v2" in text
        assert re.search(r"large-transfer-out\s+v1->v2\s+1\s+3\s+\+2\s+-0", text)
        assert "+ 2026-03-02 10:00 C1  amount=40000.00 threshold=30000.00" in text
        assert "2026-03-04      0 -> 1" in text
        assert "2 alert(s) added and 0 removed, in 1 rule(s): large-transfer-out." in text

    def test_html_report_is_self_contained(self, lowered: BacktestResult) -> None:
        """The HTML has no script, stylesheet link, image source or address outside the file."""
        html = render_html(lowered)
        for forbidden in ("http://", "https://", "<script", "<link", "src=", "@import", "url("):
            assert forbidden not in html
        assert html.startswith("<!doctype html>")
        assert 'name="viewport"' in html

    def test_html_report_has_the_day_chart_and_rule_tables(self, lowered: BacktestResult) -> None:
        """The HTML carries an SVG chart per day and the added examples in a rule section."""
        html = render_html(lowered)
        assert html.count("<svg") == 2  # all rules, and the one rule that changed
        assert '<rect class="after"' in html and '<rect class="before"' in html
        assert "2026-03-04: after 1" in html
        assert 'id="rule-large-transfer-out"' in html
        assert "<td>C3</td>" in html and "40000.00" in html

    def test_html_report_escapes_rule_text(self, tmp_path: Path, shipped: RuleSet) -> None:
        """A rule title with markup is shown as text, never as HTML."""
        edited = _pack_with(
            tmp_path,
            "en: Large outflow from the bank",
            'en: "Large <script>alert(1)</script> & out"',
        )
        html = render_html(backtest(EVENTS, load_rules(edited), shipped))
        assert "<script>alert(1)</script>" not in html
        assert "Large &lt;script&gt;alert(1)&lt;/script&gt; &amp; out" in html
