"""``churnwatch rules …``: check and test rule files (compliance's own commands)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.exceptions import RuleSetError

if TYPE_CHECKING:
    from churnwatch.rules.loader import RuleSet

__all__ = ["app"]

app = typer.Typer(help="Check and test rule files.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()

RulesDir = Annotated[Path, typer.Argument(help="The rule directory.", show_default=True)]


@app.command("check")
def check(directory: RulesDir = SHIPPED_RULES) -> None:
    """Validate every rule file and template; each error names file, line, rule id and field."""
    from churnwatch.streams.replay.pack import load_pack

    try:
        pack = load_pack(directory)
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        err.print(f"[red]{len(exc.problems)} problem(s); the rule set was not accepted[/red]")
        raise typer.Exit(1) from exc
    ruleset = pack.ruleset
    for rule_id in pack.untested:
        err.print(
            f"warning: rule {rule_id!r}: no test case makes it fire, so its texts were "
            "checked with sample facts only (a misspelt fact is not caught); add one",
            highlight=False,
        )
    for warning in language_warnings(directory, ruleset):
        err.print(f"warning: {warning}", highlight=False)
    enabled = sum(r.spec.enabled for r in ruleset.rules)
    out.print(
        f"OK: {len(ruleset.rules)} rules ({enabled} enabled), "
        f"{len(ruleset.predicates)} predicates, fingerprint {ruleset.fingerprint}",
        highlight=False,
    )


def language_warnings(directory: Path, ruleset: RuleSet) -> list[str]:
    """Texts staff would read in a language the pack does not give them in.

    The languages are those routing sends staff messages in: ``staff_language`` and any
    staff audience's own ``language``.
    """
    from churnwatch.notifiers.exceptions import NotifierError
    from churnwatch.notifiers.setup import routing_for
    from churnwatch.rules.texts import WORDS_FILE, load_words

    try:
        routing = routing_for(directory)
    except NotifierError:
        return []  # routing problems are reported by `config check` and at load
    languages = sorted(
        {routing.staff_language}
        | {r.language for a, r in routing.audiences.items() if a != "customer" and r.language}
    )
    warnings = [
        f"rule {rule.id!r}: no {missing} text"
        for rule in ruleset.rules
        for missing in rule.spec.texts.missing(languages)
    ]
    words = load_words(directory)
    warnings += [f"{WORDS_FILE}: no {missing} word" for missing in words.missing(languages)]
    return warnings


@app.command("test")
def test(directory: RulesDir = SHIPPED_RULES) -> None:
    """Run the YAML test cases beside the rules; exit non-zero if any fails."""
    from churnwatch.streams.replay.rule_tests import format_results, run_rule_tests

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


@app.command("backtest")
def backtest(
    events: Annotated[
        str, typer.Argument(help="Past events as contract-v1 JSON lines, or - for stdin.")
    ],
    rules_dir: Annotated[Path, typer.Option("--rules", help="The new (changed) rule directory.")],
    baseline: Annotated[
        Path,
        typer.Option("--baseline", help="The rules in force today; defaults to the shipped pack."),
    ] = SHIPPED_RULES,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report.")
    ] = None,
    examples: Annotated[
        int, typer.Option("--examples", min=0, help="Added and removed examples per rule.")
    ] = 3,
) -> None:
    """Run the new and the baseline rules over the same events; report what changes.

    Exit 0 when the backtest ran (whatever it found), 2 when either rule set is invalid
    or the events cannot be read.
    """
    from churnwatch.rules.loader import load_rules
    from churnwatch.streams.backtest.report import render_html, render_text
    from churnwatch.streams.backtest.run import backtest as run_backtest

    rule_sets = []
    failed = False
    for label, directory in (("new rules", rules_dir), ("baseline", baseline)):
        try:
            rule_sets.append(load_rules(directory))
        except RuleSetError as exc:
            failed = True
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            err.print(
                f"[red]{label} {directory}: {len(exc.problems)} problem(s); "
                "nothing was backtested[/red]",
                highlight=False,
            )
    if failed:
        raise typer.Exit(2)
    new, old = rule_sets
    source: Path | list[bytes] = Path(events)
    try:
        if events == "-":
            source = sys.stdin.buffer.readlines()  # read twice, so held in memory
        elif not Path(events).is_file():
            raise FileNotFoundError(f"no such events file: {events}")
        result = run_backtest(source, new, old, examples=examples, label=events)
        print(render_text(result))
        if html is not None:
            html.write_text(render_html(result), encoding="utf-8")
            err.print(f"HTML report written to {html}", highlight=False)
    except OSError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc


@app.command("diff")
def diff(
    old_dir: Annotated[Path, typer.Argument(help="The rule directory in force.")],
    new_dir: Annotated[Path, typer.Argument(help="The proposed rule directory.")],
    events: Annotated[
        str | None,
        typer.Option("--events", help="Past events (JSON lines, or -): also backtest the change."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML review.")
    ] = None,
    examples: Annotated[
        int, typer.Option("--examples", min=0, help="Added and removed examples per rule.")
    ] = 3,
) -> None:
    """Rules added, removed and changed, field by field; with --events, alerts gained and lost.

    Exit 0 when the review ran (whatever changed), 2 when either directory is invalid or
    the events cannot be read. Made for CI: run it on every change to the rule repository.
    """
    from churnwatch.streams.backtest.report import render_text
    from churnwatch.streams.backtest.review import review_packs
    from churnwatch.streams.backtest.review_report import render_review_html, render_review_text
    from churnwatch.streams.backtest.run import backtest as run_backtest

    old, new = _load_both((("old rules", old_dir), ("new rules", new_dir)))
    review = review_packs(old, new)
    print(render_review_text(review))
    result = None
    if events is not None:
        try:
            source = _events_source(events)
            result = run_backtest(source, new, old, examples=examples, label=events)
        except OSError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from exc
        print()
        print(render_text(result))
    if html is not None:
        html.write_text(render_review_html(review, result), encoding="utf-8")
        err.print(f"HTML review written to {html}", highlight=False)


def _load_both(dirs: tuple[tuple[str, Path], tuple[str, Path]]) -> tuple[RuleSet, RuleSet]:
    """Both rule sets, or every problem of either printed and exit 2."""
    from churnwatch.rules.loader import load_rules

    loaded: list[RuleSet] = []
    for label, directory in dirs:
        try:
            loaded.append(load_rules(directory))
        except RuleSetError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            err.print(
                f"[red]{label} {directory}: {len(exc.problems)} problem(s)[/red]", highlight=False
            )
    if len(loaded) != 2:
        raise typer.Exit(2)
    return loaded[0], loaded[1]


def _events_source(events: str) -> Path | list[bytes]:
    """A file path, or standard input held in memory (it is read more than once)."""
    if events == "-":
        return sys.stdin.buffer.readlines()
    if not Path(events).is_file():
        raise FileNotFoundError(f"no such events file: {events}")
    return Path(events)


@app.command("compare")
def compare(
    db: Annotated[str, typer.Option("--db", help="Alert store URL (SQLAlchemy).")],
    rules_dir: Annotated[
        Path, typer.Option("--rules", help="The rule directory in force (shadow rules inside).")
    ] = SHIPPED_RULES,
    since: Annotated[
        str, typer.Option("--since", help="Start: a date (2026-09-01) or how far back (30d).")
    ] = "30d",
    until: Annotated[
        str | None, typer.Option("--until", help="End (a date, exclusive); default now.")
    ] = None,
) -> None:
    """Shadow rules against the rules they shadow: alerts, customers, overlap, precision."""
    from churnwatch.followup.compare import compare_shadows, render_comparisons
    from churnwatch.rules.loader import load_rules
    from churnwatch.schemas.exceptions import StoreError
    from churnwatch.schemas.store import AlertStore

    try:
        ruleset = load_rules(rules_dir)
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise typer.Exit(2) from exc
    pairs = {r.id: r.spec.shadows for r in ruleset.rules if r.spec.mode == "shadow"}
    try:
        end = _instant(until) if until else dt.datetime.now(dt.UTC)
        start = _instant(since, end)
        with AlertStore(db) as store:
            comparisons = compare_shadows(store.engine, pairs, start, end)
    except (ValueError, StoreError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from exc
    sys.stdout.write(render_comparisons(comparisons, start.date(), end.date()))


def _instant(text: str, end: dt.datetime | None = None) -> dt.datetime:
    """A date or date-time (UTC when no offset), or a duration back from ``end``."""
    from churnwatch.rules.durations import parse_duration

    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        if end is None:
            raise
        return end - dt.timedelta(seconds=parse_duration(text))
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
