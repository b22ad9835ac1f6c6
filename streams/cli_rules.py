"""``churnwatch rules …``: check and test rule files (compliance's own commands)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rules.exceptions import RuleSetError
from rules.loader import load_rules
from rules.testing import format_results, run_rule_tests
from streams.settings import SHIPPED_RULES

__all__ = ["app"]

app = typer.Typer(help="Check and test rule files.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()

RulesDir = Annotated[Path, typer.Argument(help="The rule directory.", show_default=True)]


@app.command("check")
def check(directory: RulesDir = SHIPPED_RULES) -> None:
    """Validate every rule file; each error names file, line, rule id and field."""
    try:
        ruleset = load_rules(directory)
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        err.print(f"[red]{len(exc.problems)} problem(s); the rule set was not accepted[/red]")
        raise typer.Exit(1) from exc
    enabled = sum(r.spec.enabled for r in ruleset.rules)
    out.print(
        f"OK: {len(ruleset.rules)} rules ({enabled} enabled), "
        f"{len(ruleset.predicates)} predicates, fingerprint {ruleset.fingerprint}",
        highlight=False,
    )


@app.command("test")
def test(directory: RulesDir = SHIPPED_RULES) -> None:
    """Run the YAML test cases beside the rules; exit non-zero if any fails."""
    try:
        results = run_rule_tests(directory)
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise typer.Exit(1) from exc
    if not results:
        err.print(f"no test files (*.test.yaml) in {directory}")
        raise typer.Exit(1)
    print(format_results(results))
    if not all(r.passed for r in results):
        raise typer.Exit(1)
