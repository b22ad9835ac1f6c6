"""Careless or hostile rule files are refused quickly, with a located sentence, never a crash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from contract_events import write_rules
from hypothesis import given, settings
from hypothesis import strategies as st

from churnwatch.rules.exceptions import Problem, RuleSetError
from churnwatch.rules.expressions import MAX_DEPTH
from churnwatch.rules.loader import load_rules
from churnwatch.rules.yamlfile import MAX_FILE_BYTES

RULE = """
rules:
  - id: hostile
    version: 1
    title: Hostile
    description: A rule a careless or hostile hand wrote.
    owner: compliance
    severity: high
    audience: [relationship_manager]
    match: {match}
    threshold: {{at_least: {at_least}}}
"""
OUTFLOW = 'predicates:\n  outflow: event.direction == "debit"\n'


def problems(
    tmp_path: Path, match: str = "outflow", at_least: str = "100", **extra: str
) -> list[Problem]:
    files = {
        "predicates.yaml": OUTFLOW,
        "hostile.yaml": RULE.format(match=match, at_least=at_least),
    }
    directory = write_rules(tmp_path / "rules", {**files, **extra})
    started = time.monotonic()
    with pytest.raises(RuleSetError) as caught:
        load_rules(directory)
    assert time.monotonic() - started < 5, "a hostile file must be refused quickly"
    return caught.value.problems


def doubling(levels: int) -> str:
    return "predicates:\n  p0: outflow\n" + "".join(
        f"  p{n}: p{n - 1} and p{n - 1}\n" for n in range(1, levels + 1)
    )


def test_predicates_naming_each_other_twice_cost_the_file_not_two_to_its_length(
    tmp_path: Path,
) -> None:
    found = problems(tmp_path, match="p24", **{"doubling.yaml": doubling(24)})
    rule = [p for p in found if p.rule_id == "hostile"]
    assert len(rule) == 1
    assert rule[0].file.endswith("hostile.yaml") and rule[0].line == 9
    assert "100,000 characters" in rule[0].message


def test_a_modest_shared_predicate_still_loads(tmp_path: Path) -> None:
    directory = write_rules(
        tmp_path / "rules",
        {
            "predicates.yaml": OUTFLOW,
            "doubling.yaml": doubling(5),
            "hostile.yaml": RULE.format(match="p5 and p5", at_least="100"),
        },
    )
    assert load_rules(directory).get("hostile") is not None


@pytest.mark.parametrize(
    "match",
    [
        '"' + "not " * 400 + 'outflow"',
        '"' + " + ".join(["event.amount"] * 200) + ' > 1"',
        '"' + "(" * 300 + "outflow" + ")" * 300 + '"',
        '"' + "-" * 5000 + '1 > 0"',
    ],
    ids=["not", "plus", "parentheses", "minus"],
)
def test_deep_nesting_is_refused_at_the_condition(tmp_path: Path, match: str) -> None:
    (problem,) = problems(tmp_path, match=match)
    assert problem.file.endswith("hostile.yaml") and problem.line == 9
    assert problem.field == "match"
    assert f"more than {MAX_DEPTH} levels" in problem.message


def test_depth_counts_the_predicates_a_condition_names(tmp_path: Path) -> None:
    chain = "predicates:\n  q0: outflow\n" + "".join(
        f"  q{n}: not q{n - 1}\n" for n in range(1, 80)
    )
    found = problems(tmp_path, match="q79", **{"chain.yaml": chain})
    assert any(p.rule_id == "hostile" and "levels deep" in p.message for p in found)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    bomb = 'a0: &a0 ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]\n" for n in range(1, 9)
    )
    (problem,) = problems(tmp_path, **{"bomb.yaml": bomb})
    assert problem.file.endswith("bomb.yaml") and problem.line == 2
    assert "aliases" in problem.message


def test_an_oversized_file_is_refused_by_its_size(tmp_path: Path) -> None:
    huge = "# " + "x" * MAX_FILE_BYTES + "\n"
    (problem,) = problems(tmp_path, **{"huge.yaml": huge})
    assert problem.file.endswith("huge.yaml")
    assert "at most 1,000,000" in problem.message


def test_deeply_nested_yaml_is_refused(tmp_path: Path) -> None:
    deep = "rules: " + "[" * 500 + "]" * 500 + "\n"
    (problem,) = problems(tmp_path, **{"deep.yaml": deep})
    assert problem.file.endswith("deep.yaml") and "levels deep" in problem.message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (".nan", "finite"),
        (".inf", "finite"),
        ("-.inf", "finite"),
        ('"NaN"', "finite"),
        ("-5", "cannot be negative"),
    ],
)
def test_non_finite_and_negative_thresholds_are_refused(
    tmp_path: Path, value: str, words: str
) -> None:
    (problem,) = problems(tmp_path, at_least=value)
    assert problem.file.endswith("hostile.yaml") and problem.line == 10
    assert words in problem.message and "at_least" in problem.message


def test_a_nan_control_share_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    rule = RULE.format(match="outflow", at_least="100") + "    control_share: .nan\n"
    directory = write_rules(tmp_path / "rules", {"predicates.yaml": OUTFLOW, "r.yaml": rule})
    with pytest.raises(RuleSetError) as caught:
        load_rules(directory)
    assert "control_share" in str(caught.value) and "finite" in str(caught.value)


def test_every_problem_of_every_hostile_file_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        at_least=".nan",
        **{"bomb.yaml": "a: &a [1]\nb: *a\n", "deep.yaml": "rules: " + "[" * 99 + "]" * 99},
    )
    assert {Path(p.file).name for p in found} == {"hostile.yaml", "bomb.yaml", "deep.yaml"}


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_no_condition_text_crashes_the_loader(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    """Whatever compliance types as a condition, the answer is a rule set or located problems."""
    import json

    directory = write_rules(
        tmp_path_factory.mktemp("rules"),
        {
            "predicates.yaml": OUTFLOW,
            "hostile.yaml": RULE.format(match=json.dumps(text), at_least="1"),
        },
    )
    try:
        load_rules(directory)
    except RuleSetError as exc:
        assert all(p.file.endswith(".yaml") and p.line >= 1 for p in exc.problems)


def test_a_rule_file_that_cannot_be_read_is_a_problem(tmp_path: Path) -> None:
    directory = write_rules(tmp_path / "rules", {"predicates.yaml": OUTFLOW})
    (directory / "folder.yaml").mkdir()
    with pytest.raises(RuleSetError) as caught:
        load_rules(directory)
    (problem,) = caught.value.problems
    assert problem.file.endswith("folder.yaml") and "cannot read the file" in problem.message


def test_every_wrong_key_of_a_rule_is_reported_not_only_the_first(tmp_path: Path) -> None:
    rule = """
rules:
  - id: many-wrongs
    version: 0
    description: Several mistakes in one rule.
    severity: urgent
    audience: [relationship_manager, nobody]
    match: outflow
    control_share: .inf
    threshold: {at_least: -3}
"""
    directory = write_rules(tmp_path / "rules", {"predicates.yaml": OUTFLOW, "r.yaml": rule})
    with pytest.raises(RuleSetError) as caught:
        load_rules(directory)
    found = {(p.line, p.field) for p in caught.value.problems}
    assert found == {
        (2, "title"),
        (2, "owner"),
        (3, "version"),
        (5, "severity"),
        (6, "audience.1"),
        (8, "control_share"),
        (9, "threshold"),
    }, caught.value
