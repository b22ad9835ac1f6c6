"""``churnwatch generate`` and ``churnwatch demo``: the synthetic bank, end to end.

The demo is what a newcomer runs first (``make demo``): it generates a realistic data
set, replays it through the shipped rule pack into a SQLite store, prints the rendered
messages with the console notifier and ends with the replay summary.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from churnwatch.rules import SHIPPED_RULES
from churnwatch.settings import DEMO_DIR

DEMO_WEB_PORT = 8080

__all__ = ["demo", "generate"]

err = Console(stderr=True)

# The synthetic bank plants its churn stories among ordinary customers over three weeks at
# least (DatasetSpec refuses less); the options say so before anything is generated.
MIN_CUSTOMERS = 100
MIN_WEEKS = 3


def generate(
    out: Annotated[Path, typer.Argument(help="Where to write the JSON lines.")],
    customers: Annotated[int, typer.Option(min=MIN_CUSTOMERS, help="Number of customers.")] = 3000,
    weeks: Annotated[int, typer.Option(min=MIN_WEEKS, help="Weeks of ordinary life.")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 7,
    start: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="First day (ISO date).")
    ] = dt.datetime(2026, 9, 7),
    malformed_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of malformed lines mixed in (0-1).")
    ] = 0.0,
    shuffle_share: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Share of events delivered slightly out of order (0-1)."
        ),
    ] = 0.0,
) -> None:
    """Generate a synthetic bank's contract-v1 events, with planted churn cases."""
    from churnwatch.streams.synthetic.bank import DatasetSpec, planted_cases, write_dataset

    spec = DatasetSpec(
        customers=customers,
        weeks=weeks,
        seed=seed,
        start=start.date(),
        malformed_share=malformed_share,
        shuffle_share=shuffle_share,
    )
    count = write_dataset(spec, out)
    cases = planted_cases(spec)
    churn = sum(1 for c in cases if c.expect_rule)
    err.print(
        f"wrote {count:,} lines to {out}: {customers:,} customers over {weeks} weeks, "
        f"{churn} planted churn cases and {len(cases) - churn} look-alikes",
        highlight=False,
    )


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo keeps its files.")] = (
        DEMO_DIR
    ),
    customers: Annotated[int, typer.Option(min=MIN_CUSTOMERS, help="Number of customers.")] = 3000,
    weeks: Annotated[int, typer.Option(min=MIN_WEEKS, help="Weeks of ordinary life.")] = 6,
    messages: Annotated[
        int, typer.Option(help="How many rendered messages to print per rule and audience.")
    ] = 1,
) -> None:
    """Generate a synthetic bank, replay it through the shipped rules, print the messages."""
    from churnwatch.cli.replay import run_replay
    from churnwatch.followup.tokens import SECRET_FILE_ENV
    from churnwatch.streams.replay.summary import print_summary
    from churnwatch.streams.synthetic.bank import DatasetSpec, write_dataset

    directory.mkdir(parents=True, exist_ok=True)
    events = directory / "events.jsonl"
    spec = DatasetSpec(customers=customers, weeks=weeks, malformed_share=0.0005, shuffle_share=0.01)
    stamp = directory / "events.spec"
    if not events.exists() or not stamp.exists() or stamp.read_text() != repr(spec):
        err.print(f"generating a synthetic bank: {customers:,} customers, {weeks} weeks …")
        write_dataset(spec, events)
        stamp.write_text(repr(spec))
    database = directory / "churnwatch.db"
    for leftover in directory.glob("churnwatch.db*"):
        leftover.unlink()  # a fresh store, so every alert is new and shown
    summary = run_replay(
        str(events),
        demo_rules(directory),
        f"sqlite:///{database}",
        directory / "alerts.jsonl",
        directory / "dead-letters.jsonl",
        [],
        show_progress=sys.stderr.isatty(),
        notify="console",
        sample=messages,
        public_url=_demo_links(directory),
        max_ahead=None,  # the synthetic bank's calendar starts 2026-09-07 whatever today is
    )
    print_summary(summary, Console())
    secret_file = os.environ.get(SECRET_FILE_ENV, "")
    Console().print(
        f"alerts: {directory / 'alerts.jsonl'}   dead letters: {directory / 'dead-letters.jsonl'}"
        f"   store: sqlite:///{database}",
        highlight=False,
    )
    if secret_file:
        Console().print(
            "the links in the managers' messages open with:\n"
            f"  {SECRET_FILE_ENV}={secret_file} {_command()} web --db sqlite:///{database} "
            f"--port {DEMO_WEB_PORT}",
            highlight=False,
        )


def _command() -> str:
    """How to call ``churnwatch`` from here: ``make demo`` installs it in ``.venv/bin``,
    which is not on the PATH, so the hint names the script beside this interpreter."""
    script = Path(sys.executable).parent / "churnwatch"
    if not script.is_file():
        return "churnwatch"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _demo_links(directory: Path) -> str | None:
    """Turn on follow-up links for the demo, with a secret kept beside its data."""
    from churnwatch.followup.tokens import SECRET_ENV, SECRET_FILE_ENV

    if os.environ.get(SECRET_ENV) or os.environ.get(SECRET_FILE_ENV):
        return f"http://127.0.0.1:{DEMO_WEB_PORT}"
    secret_file = directory / "web-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32))
        secret_file.chmod(0o600)
    os.environ[SECRET_FILE_ENV] = str(secret_file)
    return f"http://127.0.0.1:{DEMO_WEB_PORT}"


#: the demo's control group: this share of the customers the rule fires on get no message,
#: so the report's uplift column compares them with the customers who were followed up
DEMO_CONTROL_RULE = "payroll-moved-out"
DEMO_CONTROL_SHARE = "0.2"


def demo_rules(directory: Path) -> Path:
    """The shipped pack, copied beside the demo's data, with a control share on one rule."""
    rules = directory / "rules"
    if rules.exists():
        shutil.rmtree(rules)
    shutil.copytree(SHIPPED_RULES, rules)
    for path in sorted(p for p in rules.glob("*.yaml") if not p.name.endswith(".test.yaml")):
        text = path.read_text(encoding="utf-8")
        opening = f"  - id: {DEMO_CONTROL_RULE}\n"
        if opening in text:
            held = f"    control_share: {DEMO_CONTROL_SHARE}  # the demo's control group\n"
            path.write_text(text.replace(opening, opening + held, 1), encoding="utf-8")
            return rules
    raise FileNotFoundError(f"the shipped pack has no rule {DEMO_CONTROL_RULE}")
