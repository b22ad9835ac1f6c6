"""A rule pack loads whole: rules and templates, every problem of both listed in one run."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract_events import pack_copy

from churnwatch.rules.exceptions import Problem, RuleSetError
from churnwatch.rules.loader import load_rules
from churnwatch.streams.replay.pack import load_pack
from churnwatch.streams.replay.rule_tests import MAX_REPEAT, run_rule_tests

RM_EN = "templates/large-transfer-out/what.en.j2"


def problems_of(directory: Path) -> list[Problem]:
    with pytest.raises(RuleSetError) as caught:
        load_pack(directory)
    return caught.value.problems


def test_the_shipped_pack_loads_with_its_templates(pack_dir: Path) -> None:
    pack = load_pack(pack_dir)
    assert pack.ruleset.get("large-transfer-out") is not None
    assert "_default/customer.en.j2" in pack.templates.names


def test_a_template_syntax_error_refuses_the_pack_at_its_line(tmp_path: Path) -> None:
    pack = pack_copy(tmp_path)
    (pack / RM_EN).write_text("line one\n{{ facts.amount \n")
    (problem,) = problems_of(pack)
    assert problem.file == f"pack/{RM_EN}" and problem.line == 2
    assert "syntax error" in problem.message


def test_a_fact_the_rule_does_not_have_is_refused_at_load(tmp_path: Path) -> None:
    """Rendered with the facts the rule's own test cases produce, under strict undefined."""
    pack = pack_copy(tmp_path)
    text = (pack / RM_EN).read_text().replace("facts.amount", "facts.amout")
    (pack / RM_EN).write_text("{# the sentence managers read #}\n" + text)
    found = problems_of(pack)
    assert found and all(p.file == f"pack/{RM_EN}" for p in found)
    assert any(p.rule_id == "large-transfer-out" and "amout" in p.message for p in found)
    assert all(p.line > 1 for p in found), "the failing line of the template is named"


def test_a_runaway_template_is_refused(tmp_path: Path) -> None:
    pack = pack_copy(tmp_path)
    (pack / RM_EN).write_text("{{ 10 ** (10 ** 10) }}")
    found = problems_of(pack)
    assert any(p.file == f"pack/{RM_EN}" and "too large" in p.message for p in found)


def test_rule_and_template_problems_are_listed_together(tmp_path: Path) -> None:
    pack = pack_copy(tmp_path)
    (pack / RM_EN).write_text("{{ oops(")
    transfers = pack / "transfers.yaml"
    transfers.write_text(transfers.read_text().replace("at_least: 50000.00", "at_least: .nan"))
    files = {p.file for p in problems_of(pack)}
    assert {f"pack/{RM_EN}", "pack/transfers.yaml"} <= files


def test_a_customer_text_too_long_for_sms_is_refused_with_real_facts(tmp_path: Path) -> None:
    pack = pack_copy(tmp_path)
    path = pack / "templates/payroll-moved-out/customer.zh-CN.j2"
    path.write_text("【本行】{{ customer.name }}" + "您好" * 150)
    found = problems_of(pack)
    assert any("SMS segments" in p.message and p.file.endswith("customer.zh-CN.j2") for p in found)


def test_templates_are_part_of_the_fingerprint(tmp_path: Path) -> None:
    pack = pack_copy(tmp_path)
    before = load_rules(pack).fingerprint
    path = pack / RM_EN
    path.write_text(path.read_text() + "\n")
    assert load_rules(pack).fingerprint != before


REPEAT_CASE = """
defaults:
  transaction:
    {{customer_id: C1, account_id: A1, direction: debit, kind: transfer, channel: mobile,
     amount: 1.00, balance_after: 10.00, counterparty: {{}}}}
tests:
  - name: repeated
    events:
      - {item}
    expect: []
"""


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ('{repeat: 3, every: 1d, event: {occurred_at: "2026-03-02T10:00:00"}}', "UTC offset"),
        ("{repeat: 3, every: 1d}", "'event:'"),
        (
            '{repeat: 3, every: 99999999d, event: {occurred_at: "2026-03-02T10:00:00+08:00"}}',
            "366d",
        ),
        (
            '{repeat: 100000000, every: 1d, event: {occurred_at: "2026-03-02T10:00:00+08:00"}}',
            f"{MAX_REPEAT:,}",
        ),
        (
            '{repeat: 3, every: soon, event: {occurred_at: "2026-03-02T10:00:00+08:00"}}',
            "not a duration",
        ),
    ],
    ids=["no-offset", "no-event", "huge-every", "huge-repeat", "bad-every"],
)
def test_a_malformed_repeat_is_a_failure_with_its_line(
    tmp_path: Path, pack_dir: Path, item: str, words: str
) -> None:
    pack = pack_copy(tmp_path)
    for old in pack.glob("*.test.yaml"):
        old.unlink()
    (pack / "broken.test.yaml").write_text(REPEAT_CASE.format(item=item))
    (result,) = run_rule_tests(pack)
    assert result.file == "pack/broken.test.yaml" and result.line == 7
    assert any(words in failure for failure in result.failures), result.failures
    load_pack(pack)  # a broken test case gives no samples; it does not break the pack
