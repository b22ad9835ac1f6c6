"""``churnwatch generate`` and ``churnwatch demo`` refuse sizes the synthetic bank cannot
plant its stories in with a plain usage error, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnwatch.cli.app import app


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--weeks", "2"], "--weeks"),
        (["--customers", "50"], "--customers"),
        (["--start", "2026-13-01"], "--start"),
        (["--malformed-share", "2"], "--malformed-share"),
        (["--shuffle-share", "-0.1"], "--shuffle-share"),
    ],
)
def test_generate_refuses_what_the_bank_cannot_hold(
    tmp_path: Path, args: list[str], option: str
) -> None:
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(app, ["generate", str(out), *args])
    assert result.exit_code == 2
    assert option in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not out.exists()


def test_demo_refuses_too_few_weeks(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--weeks", "2", "--dir", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "--weeks" in result.output
    assert not (tmp_path / "d").exists()


def test_generate_keeps_its_bytes_for_a_given_start(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    base = ["--customers", "100", "--weeks", "3"]
    assert CliRunner().invoke(app, ["generate", str(first), *base]).exit_code == 0
    dated = [*base, "--start", "2026-09-07"]
    assert CliRunner().invoke(app, ["generate", str(second), *dated]).exit_code == 0
    assert first.read_bytes() == second.read_bytes()


def test_the_demo_holds_back_a_control_group_on_one_rule(tmp_path: Path) -> None:
    """The demo's rule pack is the shipped one with a 20% control share on one rule, so the
    report's uplift column has something to compare."""
    from decimal import Decimal

    from churnwatch.cli.demo import DEMO_CONTROL_RULE, demo_rules
    from churnwatch.rules import SHIPPED_RULES
    from churnwatch.rules.loader import load_rules

    shares = {r.id: r.spec.control_share for r in load_rules(demo_rules(tmp_path)).rules}
    assert {k: v for k, v in shares.items() if v} == {DEMO_CONTROL_RULE: Decimal("0.2")}
    shipped = {r.id for r in load_rules(SHIPPED_RULES).rules}
    assert set(shares) == shipped
