"""Shadow rules: run beside the rule in force, stored and marked, told to nobody, compared."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.cli.replay import run_replay
from churnwatch.followup.compare import compare_shadows, render_comparisons
from churnwatch.followup.store import FollowUpStore
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.exceptions import RuleSetError
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.store import AlertStore
from churnwatch.schemas.tables import alerts, deliveries, followups
from churnwatch.streams.synthetic.bank import DatasetSpec, write_dataset

SHADOW_RULE = """
  - id: large-transfer-out-30k
    version: 1
    mode: {mode}
    shadows: {target}
    title: Large outflow from the bank (trial at 30,000.00)
    description: large-transfer-out with its threshold lowered to 30,000.00, on trial.
    owner: retention-compliance
    severity: high
    match: outflow and event.kind in ["transfer", "cash"]
    threshold: {{field: amount, at_least: 30000.00}}
    audience: [relationship_manager]
"""
SINCE = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _pack(tmp_path: Path, mode: str = "shadow", target: str = "large-transfer-out") -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(SHIPPED_RULES, pack)
    with (pack / "transfers.yaml").open("a", encoding="utf-8") as handle:
        handle.write(SHADOW_RULE.format(mode=mode, target=target))
    return pack


class TestLoading:
    def test_a_shadow_rule_names_a_rule_in_force(self, tmp_path: Path) -> None:
        """`shadows` must name a live rule: a typo is a located problem with a suggestion."""
        with pytest.raises(RuleSetError) as caught:
            load_rules(_pack(tmp_path, target="large-transfer-ot"))
        (problem,) = caught.value.problems
        assert "transfers.yaml" in problem.file
        assert "did you mean 'large-transfer-out'" in problem.message

    def test_only_a_shadow_rule_may_shadow(self, tmp_path: Path) -> None:
        """A live rule that says `shadows` is refused: promotion means changing `mode` only."""
        with pytest.raises(RuleSetError) as caught:
            load_rules(_pack(tmp_path, mode="live"))
        assert "only a rule with `mode: shadow`" in caught.value.problems[0].message


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A generated bank replayed with the shipped pack plus a 30,000.00 shadow, notified."""
    tmp = tmp_path_factory.mktemp("shadow")
    events = tmp / "bank.jsonl"
    write_dataset(DatasetSpec(customers=300, weeks=4), events)
    pack = _pack(tmp)
    db = f"sqlite:///{tmp / 'alerts.db'}"
    run_replay(str(events), pack, db, None, None, [], False, notify="console")
    return events, pack, db


class TestShadowOnAGeneratedBank:
    def test_shadow_alerts_are_stored_marked_and_never_delivered(
        self, bank: tuple[Path, Path, str]
    ) -> None:
        """Shadow alerts are in the store; no delivery and no follow-up is theirs."""
        _, _, db = bank
        with AlertStore(db) as store, store.engine.connect() as conn:
            shadow_rule = alerts.c.rule_id == "large-transfer-out-30k"
            marked = dict(
                conn.execute(
                    select(alerts.c.rule_id, func.count())
                    .where(shadow_rule)
                    .group_by(alerts.c.rule_id)
                ).all()
            )
            shadow_ids = select(alerts.c.alert_id).where(shadow_rule)
            delivered = conn.scalar(
                select(func.count()).where(deliveries.c.alert_id.in_(shadow_ids))
            )
            followed = conn.scalar(select(func.count()).where(followups.c.alert_id.in_(shadow_ids)))
            live_delivered = conn.scalar(select(func.count()).select_from(deliveries))
        assert set(marked) == {"large-transfer-out-30k"}
        assert marked["large-transfer-out-30k"] > 0
        assert delivered == 0
        assert followed == 0
        assert live_delivered > 0  # the rules in force still speak

    def test_compare_shows_the_customers_only_the_shadow_caught(
        self, bank: tuple[Path, Path, str]
    ) -> None:
        """At 30,000.00 the shadow catches every customer the 50,000.00 rule does, and more."""
        _, _, db = bank
        with AlertStore(db) as store:
            (c,) = compare_shadows(
                store.engine, {"large-transfer-out-30k": "large-transfer-out"}, SINCE, UNTIL
            )
        assert c.in_force is not None
        assert c.shadow.alerts > c.in_force.alerts > 0
        assert c.both == c.in_force.customers
        assert c.only_in_force == frozenset()
        assert len(c.only_shadow) == len(c.shadow.customers) - len(c.in_force.customers) > 0
        text = render_comparisons([c], SINCE.date(), UNTIL.date())
        assert f"only the shadow caught: {len(c.only_shadow)} (" in text

    def test_precision_uses_the_outcomes_managers_recorded(
        self, bank: tuple[Path, Path, str], tmp_path: Path
    ) -> None:
        """A false alarm recorded on a live alert counts against both sides that caught him."""
        _, _, source = bank
        copy = tmp_path / "alerts.db"
        shutil.copy(source.removeprefix("sqlite:///"), copy)
        db = f"sqlite:///{copy}"
        with AlertStore(db) as store:
            with store.engine.connect() as conn:
                rows = conn.execute(
                    select(alerts.c.alert_id, alerts.c.customer_id)
                    .where(alerts.c.rule_id == "large-transfer-out")
                    .order_by(alerts.c.customer_id)
                ).all()
            live = FollowUpStore(store.engine)
            now = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
            first, second = rows[0], next(r for r in rows if r.customer_id != rows[0].customer_id)
            live.record(first.alert_id, "outcome", "RM1", "web", now, outcome="false_alarm")
            live.record(second.alert_id, "outcome", "RM1", "web", now, outcome="left")
            (c,) = compare_shadows(
                store.engine, {"large-transfer-out-30k": "large-transfer-out"}, SINCE, UNTIL
            )
        assert c.in_force is not None
        assert (c.in_force.judged, c.in_force.precision) == (2, 0.5)
        assert (c.shadow.judged, c.shadow.precision) == (2, 0.5)

    def test_the_command_prints_the_comparison(self, bank: tuple[Path, Path, str]) -> None:
        """`rules compare` reads the pairs from the pack and the alerts from the store."""
        _, pack, db = bank
        result = CliRunner().invoke(
            app,
            [
                "rules",
                "compare",
                "--db",
                db,
                "--rules",
                str(pack),
                "--since",
                "2026-09-01",
                "--until",
                "2026-11-01",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "large-transfer-out-30k (shadow) vs large-transfer-out" in result.output
        assert "only the rule in force caught: 0" in result.output
