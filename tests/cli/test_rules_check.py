"""``churnwatch rules check`` refuses each hostile pack quickly, in little memory, in a sentence.

The command runs as a real process so its wall time and peak memory are its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_packs import PACKS, hostile_pack
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.rules import SHIPPED_RULES


@pytest.mark.parametrize("name", PACKS)
def test_a_hostile_pack_is_refused_within_15_s_and_600_mb(tmp_path: Path, name: str) -> None:
    pack = hostile_pack(tmp_path, name)
    out, err = tmp_path / "out", tmp_path / "err"
    started = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "churnwatch", "rules", "check", str(pack)],
            stdout=stdout,
            stderr=stderr,
        )
    while True:  # wait4, not wait: the child's own peak memory comes with its exit
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > 15:
            process.kill()
            pytest.fail(f"{name}: still checking after 15 s")
        time.sleep(0.05)
    text = err.read_text()
    assert os.waitstatus_to_exitcode(status) == 1, out.read_text() + text
    assert usage.ru_maxrss < 600 * 1024, f"{usage.ru_maxrss / 1024:.0f} MB"
    assert "Traceback" not in text
    assert "the rule set was not accepted" in text
    named = PACKS[name][4]
    assert any(f"{name}/" in line and named in line for line in text.splitlines()), text


TYPO_CASE = """
rules: [hostile-rule]
defaults:
  transaction: {customer_id: C1, account_id: A1, direction: debit, kind: transfer,
                channel: mobile, balance_after: 10.00, counterparty: {same_bank: false}}
tests:
  - name: fires
    events:
      - {occurred_at: "2026-03-02T10:00:00+08:00", amount: 900000000000.00}
    expect:
      - {rule: hostile-rule}
"""


def test_a_misspelt_fact_is_caught_when_a_test_case_makes_the_rule_fire(tmp_path: Path) -> None:
    """Without a test case the texts get sample facts and a warning says so; with one they
    get the rule's real facts, and ``facts.amout`` is refused with its file and line."""
    pack = hostile_pack(tmp_path, "syntax-template")
    rule = pack / "hostile.yaml"  # beyond any amount the shipped test cases move
    rule.write_text(rule.read_text().replace("at_least: 100", "at_least: 900000000000"))
    for language in ("en", "zh-CN"):
        path = pack / "templates/hostile-rule" / f"relationship_manager.{language}.j2"
        path.write_text("{{ customer.name }}\n{{ facts.amout }}\n")
    untested = CliRunner().invoke(app, ["rules", "check", str(pack)])
    assert untested.exit_code == 0, untested.output
    assert "rule 'hostile-rule': no test case makes it fire" in untested.output
    (pack / "hostile.test.yaml").write_text(TYPO_CASE)
    tested = CliRunner().invoke(app, ["rules", "check", str(pack)])
    assert tested.exit_code == 1
    assert "relationship_manager.en.j2:2:1: rule 'hostile-rule'" in tested.output
    assert "amout" in tested.output


def test_an_inhibit_rule_naming_no_rule_is_refused_at_its_line(tmp_path: Path) -> None:
    """A misspelt rule id in routing.yaml's inhibit section fails ``rules check`` with the
    routing file and the entry's line: the hold would otherwise silently hold nothing."""
    pack = tmp_path / "pack"
    shutil.copytree(SHIPPED_RULES, pack)
    routing = pack / "routing.yaml"
    text = routing.read_text(encoding="utf-8")
    routing.write_text(text.replace('rule_id="payroll-moved-out"', 'rule_id="payroll-moved-ot"'))
    line = text.splitlines().index("  - name: retention offer waits for the manager's call") + 1
    result = CliRunner().invoke(app, ["rules", "check", str(pack)])
    assert result.exit_code == 1
    assert f"routing.yaml:{line}" in result.output
    assert "no rule in force with id 'payroll-moved-ot'" in result.output
