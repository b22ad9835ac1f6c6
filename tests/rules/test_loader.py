"""Loading a rule directory: every problem located by file, line, rule and field; all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract_events import pack_copy, write_rules

from churnwatch.rules.exceptions import Problem, RuleSetError
from churnwatch.rules.loader import load_rules

PREDICATES = """
predicates:
  outflow: event.direction == "debit" and not event.counterparty.same_bank
"""

RULE = """
rules:
  - id: big-out
    version: 1
    title: Big outflow
    description: One large outflow.
    owner: compliance
    severity: high
    match: outflow
    threshold:
      at_least: 50000.00
    audience: [relationship_manager]
    cooldown: 1d
"""


def problems_of(directory: Path) -> list[Problem]:
    with pytest.raises(RuleSetError) as caught:
        load_rules(directory)
    return caught.value.problems


def only_problem(directory: Path) -> Problem:
    problems = problems_of(directory)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def broken(tmp_path: Path, old: str, new: str) -> Path:
    """A rules directory with the predicates file and RULE with ``old`` replaced by ``new``."""
    assert old in RULE
    return write_rules(
        tmp_path / "rules", {"predicates.yaml": PREDICATES, "big.yaml": RULE.replace(old, new)}
    )


def valid(tmp_path: Path) -> Path:
    """A valid rules directory: the predicates file and RULE."""
    return write_rules(tmp_path / "rules", {"predicates.yaml": PREDICATES, "big.yaml": RULE})


class TestValidDirectory:
    def test_loads_and_compiles(self, tmp_path: Path) -> None:
        """A valid directory gives a rule set with its rules and predicates."""
        ruleset = load_rules(valid(tmp_path))
        assert [r.id for r in ruleset.rules] == ["big-out"]
        assert set(ruleset.predicates) == {"outflow"}
        assert ruleset.get("big-out") is ruleset.rules[0]

    def test_cooldown_is_in_microseconds(self, tmp_path: Path) -> None:
        """``cooldown: 1d`` is a day in the engine's microsecond clock."""
        (rule,) = load_rules(valid(tmp_path)).rules
        assert rule.cooldown == 86_400_000_000

    def test_thresholds_are_exact_decimals(self, tmp_path: Path) -> None:
        """``at_least: 50000.00`` is read as Decimal('50000.00'), never a float."""
        from decimal import Decimal

        (rule,) = load_rules(valid(tmp_path)).rules
        assert rule.spec.threshold is not None
        assert rule.spec.threshold.at_least == Decimal("50000.00")
        assert type(rule.spec.threshold.at_least) is Decimal

    def test_fingerprint_follows_the_content(self, tmp_path: Path) -> None:
        """The same files give the same fingerprint; a changed threshold gives another."""
        first = load_rules(valid(tmp_path / "a")).fingerprint
        again = load_rules(valid(tmp_path / "b")).fingerprint
        changed = load_rules(broken(tmp_path / "c", "50000.00", "60000.00")).fingerprint
        assert first == again != changed

    def test_test_and_reserved_files_are_not_rules(self, tmp_path: Path) -> None:
        """``*.test.yaml`` and ``routing.yaml`` beside the rules are not read as rule files."""
        directory = valid(tmp_path)
        write_rules(directory, {"big.test.yaml": "tests: []\n", "routing.yaml": "nonsense: 1\n"})
        assert [r.id for r in load_rules(directory).rules] == ["big-out"]

    def test_disabled_rules_load_but_do_not_run(self, tmp_path: Path) -> None:
        """A rule with ``enabled: false`` is in the set but not among the rules per type."""
        ruleset = load_rules(broken(tmp_path, "    cooldown: 1d", "    enabled: false"))
        assert [r.id for r in ruleset.rules] == ["big-out"]
        assert ruleset.by_type["transaction"] == ()

    def test_the_shipped_pack_loads(self, pack_dir: Path) -> None:
        """The shipped pack passes its own checks."""
        assert len(load_rules(pack_dir).rules) >= 3


class TestLocatedProblems:
    def test_unknown_key_typo(self, tmp_path: Path) -> None:
        """A misspelt key names file, line, rule and key, and suggests the right key."""
        problem = only_problem(broken(tmp_path, "    threshold:", "    treshold:"))
        assert (problem.file, problem.line, problem.column) == ("rules/big.yaml", 9, 5)
        assert problem.rule_id == "big-out"
        assert problem.field == "treshold"
        assert problem.message == "unknown key 'treshold' (did you mean 'threshold'?)"

    def test_unknown_key_inside_a_block(self, tmp_path: Path) -> None:
        """A misspelt key inside a block is located at that key and suggests the right one."""
        problem = only_problem(broken(tmp_path, "      at_least:", "      at_leest:"))
        assert problem.line == 10
        assert problem.rule_id == "big-out"
        assert "unknown key 'at_leest'" in problem.message
        assert "did you mean 'at_least'" in problem.message

    def test_bad_enum(self, tmp_path: Path) -> None:
        """A severity outside the enum is located at its value."""
        problem = only_problem(broken(tmp_path, "severity: high", "severity: hihg"))
        assert (problem.line, problem.column) == (7, 15)
        assert (problem.rule_id, problem.field) == ("big-out", "severity")
        assert "'hihg'" in problem.message

    def test_bad_duration(self, tmp_path: Path) -> None:
        """A duration without a unit names the field and gives an example."""
        problem = only_problem(broken(tmp_path, "cooldown: 1d", "cooldown: 1 day"))
        assert (problem.line, problem.rule_id, problem.field) == (12, "big-out", "cooldown")
        assert "'72h'" in problem.message

    def test_two_blocks(self, tmp_path: Path) -> None:
        """A rule with two building blocks is refused at the second block's key."""
        problem = only_problem(
            broken(tmp_path, "    audience:", "    window: {over: 1d, at_least: 5}\n    audience:")
        )
        assert (problem.line, problem.column) == (11, 5)
        assert (problem.rule_id, problem.field) == ("big-out", "window")
        assert "threshold and window" in problem.message

    def test_duplicate_rule_id_across_files(self, tmp_path: Path) -> None:
        """The same rule id in two files is reported at the second, naming the first."""
        directory = valid(tmp_path)
        write_rules(directory, {"copy.yaml": RULE})
        problem = only_problem(directory)
        assert (problem.file, problem.line, problem.field) == ("rules/copy.yaml", 2, "id")
        assert problem.message == "duplicate rule id (first in rules/big.yaml)"

    def test_two_rule_ids_stored_under_one_key(self, tmp_path: Path) -> None:
        """Ids whose 32-bit stored keys clash (rules/rule_keys.py): the second is refused."""
        directory = valid(tmp_path)  # ``rule-11302`` and ``rule-15608`` share a digest
        write_rules(directory, {"big.yaml": RULE.replace("big-out", "rule-11302")})
        write_rules(directory, {"copy.yaml": RULE.replace("big-out", "rule-15608")})
        problem = only_problem(directory)
        assert (problem.file, problem.line, problem.field) == ("rules/copy.yaml", 2, "id")
        assert problem.message == (
            "rules 'rule-11302' and 'rule-15608' have the same stored key; rename one of them"
        )

    def test_unknown_predicate(self, tmp_path: Path) -> None:
        """An unknown name in a condition suggests the predicate meant."""
        problem = only_problem(broken(tmp_path, "match: outflow", "match: outflw"))
        assert (problem.line, problem.column) == (8, 12)
        assert (problem.rule_id, problem.field) == ("big-out", "match")
        assert problem.message == "unknown name 'outflw' (did you mean 'outflow'?)"

    def test_expression_error_column_points_inside_the_condition(self, tmp_path: Path) -> None:
        """The column of a bad field is the value's column plus its offset in the condition."""
        condition = "outflow and event.amout > 1"
        problem = only_problem(broken(tmp_path, "match: outflow", f"match: {condition}"))
        assert problem.column == 12 + condition.index("event.amout")
        assert "did you mean 'event.amount'" in problem.message

    def test_a_text_the_field_never_holds_points_at_the_text(self, tmp_path: Path) -> None:
        """A misspelt kind would leave the rule silently dead; it is refused at its column."""
        condition = 'outflow and event.kind == "transfers"'
        problem = only_problem(broken(tmp_path, "match: outflow", f"match: {condition}"))
        assert (problem.line, problem.column) == (8, 12 + condition.index('"transfers"'))
        assert problem.message.startswith("event.kind is never 'transfers' (did you mean")

    @pytest.mark.parametrize(
        ("old", "new", "line", "column", "hint"),
        [
            (
                "owner: compliance",
                "owner：compliance",
                6,
                10,
                "a full-width colon '：' (U+FF1A) where YAML needs ':'",
            ),
            (
                "    owner: compliance",
                "　　owner: compliance",
                6,
                1,
                "a full-width space (U+3000) where YAML needs a space",
            ),
            (
                "  - id: big-out",
                "  － id: big-out",
                2,
                3,
                "a full-width dash '－' (U+FF0D) where YAML needs '-'",
            ),
        ],
    )
    def test_a_full_width_slip_is_named_where_it_was_typed(
        self, tmp_path: Path, old: str, new: str, line: int, column: int, hint: str
    ) -> None:
        """A Chinese input method's colon, space or dash in a key's line is pointed at
        and named; YAML alone blames the next line for a missing ':'."""
        problem = only_problem(broken(tmp_path, old, new))
        assert (problem.line, problem.column) == (line, column)
        assert problem.message.startswith("YAML syntax error: ")
        assert problem.message.endswith(f"; line {line} has {hint}")

    def test_chinese_text_in_a_value_is_not_blamed(self, tmp_path: Path) -> None:
        """Full-width punctuation in a value is text; an error beside it gets no hint."""
        problem = only_problem(
            broken(tmp_path, "owner: compliance", "owner: 注意：合规部\n    stray")
        )
        assert "full-width" not in problem.message

    @pytest.mark.parametrize(
        ("old", "new", "message"),
        [
            (
                "severity: high",
                "severity: 高",
                "'高' is not one of: critical, high, low, medium",
            ),
            (
                "audience: [relationship_manager]",
                "audience: [relationship-manager]",
                "'relationship-manager' is not one of: branch_head, customer, executive, "
                "relationship_manager (did you mean 'relationship_manager'?)",
            ),
            (
                "at_least: 50000.00",
                "at_least: 50,000.00",
                "'50,000.00' is not a number: write digits with at most one decimal point, "
                "e.g. 50000.00 or 0.5 (no thousands separators, units or %)",
            ),
            ("version: 1", "version: v1", "'v1' is not a whole number: write digits only, e.g. 2"),
            (
                "id: big-out",
                "id: Big_Out",
                "'Big_Out' is not 2 to 63 lowercase letters, digits and '-', e.g. "
                "large-transfer-out",
            ),
        ],
    )
    def test_a_wrong_value_is_said_in_the_rule_writers_words(
        self, tmp_path: Path, old: str, new: str, message: str
    ) -> None:
        """The value as written and what the key takes, not msgspec's type names."""
        assert only_problem(broken(tmp_path, old, new)).message == message

    def test_yaml_syntax_error_has_its_line(self, tmp_path: Path) -> None:
        """A YAML syntax error is reported with its file and line."""
        directory = valid(tmp_path)
        (directory / "bad.yaml").write_text("rules:\n  - id: x\n    title: [unclosed\n  - id: y\n")
        problem = only_problem(directory)
        assert problem.file == "rules/bad.yaml"
        assert problem.line in (3, 4)
        assert problem.message.startswith("YAML syntax error")

    def test_missing_required_key(self, tmp_path: Path) -> None:
        """A rule without an owner names the missing key."""
        problem = only_problem(broken(tmp_path, "    owner: compliance\n", ""))
        assert (problem.rule_id, problem.field) == ("big-out", "owner")
        assert problem.message == "missing required key 'owner'"

    def test_share_out_of_range(self, tmp_path: Path) -> None:
        """A share written as a percentage (70 for 0.7) is refused with an example."""
        rule = RULE.replace(
            "    threshold:\n      at_least: 50000.00\n",
            "    follow_up: {trigger: 'true', within: 72h, at_least_share: 70}\n",
        )
        directory = write_rules(tmp_path / "rules", {"p.yaml": PREDICATES, "f.yaml": rule})
        problem = only_problem(directory)
        assert problem.field == "follow_up.at_least_share"
        assert "0.7" in problem.message

    def test_predicate_defined_twice(self, tmp_path: Path) -> None:
        """A predicate defined in two files is refused, naming the other file."""
        directory = valid(tmp_path)
        write_rules(directory, {"more.yaml": PREDICATES})
        problem = only_problem(directory)
        assert problem.field == "outflow"
        assert "defined twice" in problem.message

    def test_problem_text_names_file_line_column_rule_and_field(self) -> None:
        """A problem prints as ``file:line:col: rule 'x': field 'y': message``."""
        problem = Problem("rules/big.yaml", 9, 5, "unknown key", "big-out", "treshold")
        assert str(problem) == "rules/big.yaml:9:5: rule 'big-out': field 'treshold': unknown key"


class TestAllOrNothing:
    def test_all_problems_are_collected_in_one_pass(self, tmp_path: Path) -> None:
        """Problems in several rules and files are all reported by one load, in file order."""
        directory = broken(tmp_path, "severity: high", "severity: hihg")
        write_rules(
            directory,
            {
                "other.yaml": RULE.replace("big-out", "other-out")
                .replace("match: outflow", "match: outflw")
                .replace("cooldown: 1d", "cooldown: 5"),
                "zz.yaml": "rules: [\n",
            },
        )
        problems = problems_of(directory)
        found = {(p.file, p.field) for p in problems}
        assert found == {
            ("rules/big.yaml", "severity"),
            ("rules/other.yaml", "match"),
            ("rules/other.yaml", "cooldown"),
            ("rules/zz.yaml", None),
        }
        assert problems == sorted(problems, key=lambda p: (p.file, p.line, p.column))

    def test_a_typo_does_not_hide_other_problems_of_the_rule(self, tmp_path: Path) -> None:
        """An unknown key and a broken condition in the same rule are both reported."""
        directory = broken(tmp_path, "    threshold:", "    treshold:")
        (directory / "big.yaml").write_text(
            (directory / "big.yaml").read_text().replace("match: outflow", "match: outflw")
        )
        assert {p.field for p in problems_of(directory)} == {"treshold", "match"}

    def test_one_broken_file_means_no_rule_set(self, tmp_path: Path) -> None:
        """A copy of the shipped pack with one bad file yields no rule set at all."""
        directory = pack_copy(tmp_path)
        target = directory / "transfers.yaml"
        target.write_text(target.read_text().replace("severity: high", "severity: urgent"))
        problem = only_problem(directory)
        assert problem.file == "pack/transfers.yaml"
        assert problem.rule_id == "large-transfer-out"

    def test_a_file_yaml_cannot_read_is_its_one_problem(self, tmp_path: Path) -> None:
        """The churn score weighs rules of transfers.yaml; with that file unreadable, the
        problem is its syntax, not a score naming rules that do not exist."""
        directory = pack_copy(tmp_path)
        target = directory / "transfers.yaml"
        target.write_text(target.read_text().replace("    owner: ", "    owner：", 1))
        problem = only_problem(directory)
        assert problem.file == "pack/transfers.yaml"
        assert "full-width colon" in problem.message

    def test_empty_directory(self, tmp_path: Path) -> None:
        """A directory without rule files is a problem, not an empty rule set."""
        (tmp_path / "rules").mkdir()
        assert "no rule files" in only_problem(tmp_path / "rules").message

    def test_missing_directory(self, tmp_path: Path) -> None:
        """A directory that does not exist is a problem."""
        assert "does not exist" in only_problem(tmp_path / "nowhere").message

    def test_unknown_timezone(self, tmp_path: Path) -> None:
        """An unknown timezone is refused before any rule is read."""
        with pytest.raises(RuleSetError, match="unknown timezone"):
            load_rules(valid(tmp_path), timezone="Mars/Olympus")
