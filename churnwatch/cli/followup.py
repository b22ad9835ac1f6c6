"""``churnwatch web``, ``report``, ``escalations run`` and ``followup``: the follow-up commands.

Secrets come from the environment only: ``CHURNWATCH_WEB_SECRET`` (or ``..._FILE``) signs
links; ``TWILIO_AUTH_TOKEN`` checks inbound SMS signatures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from churnwatch.cli.options import ChannelsFileOption, PublicUrlOption
from churnwatch.exceptions import ChurnwatchError
from churnwatch.followup import OUTCOMES
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.durations import EPOCH, parse_duration
from churnwatch.settings import DEFAULT_DB_URL

if TYPE_CHECKING:
    from churnwatch.followup.report.render import ReportNames
    from churnwatch.followup.store import FollowUpStore

__all__ = ["register"]

err = Console(stderr=True)
Db = Annotated[str, typer.Option("--db", help="Alert store URL (SQLAlchemy).")]
Rules = Annotated[Path, typer.Option("--rules", help="Rule directory (routing.yaml inside).")]
escalations_app = typer.Typer(help="Escalate unacknowledged alerts.", no_args_is_help=True)
followup_app = typer.Typer(help="Links, outcomes and the staff directory.", no_args_is_help=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _since_epoch(until: dt.datetime) -> int:
    return int((until - EPOCH).total_seconds())


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(2)


def _existing_store(db: str) -> str:
    """``db``, when it names a store that exists; reading commands never create one.

    Without ``--db`` the default is ``./churnwatch.db``: a report run from the wrong
    directory would otherwise create an empty store and print an empty report.
    """
    from sqlalchemy.engine import make_url

    url = make_url(db)
    path = url.database or ""
    missing = path not in ("", ":memory:") and not Path(path).is_file()
    if url.get_backend_name() == "sqlite" and missing:
        raise _fail(
            FileNotFoundError(
                f"no alert store at {Path(path).resolve()}: give the store with --db "
                "(e.g. --db postgresql://… or --db sqlite:///var/demo/churnwatch.db)"
            )
        )
    return db


def web(
    db: Annotated[
        str, typer.Option("--db", envvar="CHURNWATCH_STORE_URL", help="Alert store URL.")
    ] = DEFAULT_DB_URL,
    rules_dir: Rules = SHIPPED_RULES,
    host: Annotated[str, typer.Option("--host", envvar="CHURNWATCH_WEB_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="CHURNWATCH_WEB_PORT")] = 8080,
    public_url: PublicUrlOption = None,
    metrics_host: Annotated[
        str,
        typer.Option("--metrics-host", envvar="CHURNWATCH_WEB_METRICS_HOST", help="/metrics host."),
    ] = "0.0.0.0",
    metrics_port: Annotated[
        int,
        typer.Option(
            "--metrics-port",
            envvar="CHURNWATCH_WEB_METRICS_PORT",
            help="/metrics, /healthz and /readyz on their own port, never the public one; 0: off.",
        ),
    ] = 9465,
) -> None:
    """Serve the managers' alert pages, the inbound SMS webhook and the report page."""
    import uvicorn

    from churnwatch.followup.store import FollowUpStore
    from churnwatch.followup.tokens import load_previous_secret, load_signer
    from churnwatch.followup.web import WebSettings, create_app
    from churnwatch.metrics import Metrics
    from churnwatch.notifiers.setup import load_templates, routing_for
    from churnwatch.rules.loader import load_rules
    from churnwatch.schemas.store import AlertStore

    try:
        signer = load_signer()
        previous = load_previous_secret()
        store = AlertStore(db)
        ruleset = load_rules(rules_dir)
        routing = routing_for(rules_dir)
        templates = load_templates(rules_dir, routing)
    except ChurnwatchError as exc:
        raise _fail(exc) from exc
    if not os.environ.get("TWILIO_AUTH_TOKEN"):
        err.print("TWILIO_AUTH_TOKEN is not set: inbound SMS will be refused", highlight=False)
    if previous is not None:
        until = f"until {previous.until:%Y-%m-%d %H:%M %Z}" if previous.until else "until removed"
        err.print(f"also accepting links signed with the previous secret, {until}", highlight=False)
    settings = WebSettings(
        store=FollowUpStore(store.engine),
        signer=signer,
        ruleset=ruleset,
        templates=templates,
        staff_language=routing.staff_language,
        twilio_auth_token=os.environ.get("TWILIO_AUTH_TOKEN"),
        public_url=public_url,
        metrics=Metrics(),
    )
    app = create_app(settings)
    with contextlib.ExitStack() as stack:
        if metrics_port:
            assert settings.metrics is not None
            stack.enter_context(settings.metrics.serve(metrics_port, metrics_host))
            err.print(f"metrics on http://{metrics_host}:{metrics_port}/metrics", highlight=False)
        uvicorn.run(app, host=host, port=port, log_level="info")


def report(
    since: Annotated[str, typer.Option("--since", help="How far back, e.g. 30d.")] = "30d",
    fmt: Annotated[
        Literal["text", "csv", "html"], typer.Option("--format", help="text, csv or html.")
    ] = "text",
    db: Db = DEFAULT_DB_URL,
    out: Annotated[Path | None, typer.Option("--out", help="Write to a file.")] = None,
    link_for: Annotated[
        str | None,
        typer.Option(
            "--link-for",
            help="Print this branch head's or executive's own link to the report page.",
        ),
    ] = None,
    public_url: PublicUrlOption = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Language of the html report (default: routing's staff_language) and of the "
            "text and csv cross-holding block (default: en); zh-CN or en.",
        ),
    ] = None,
    rules: Rules = SHIPPED_RULES,
) -> None:
    """What follow-up achieved: per rule, branch and manager; maturing funds retained; uplift."""
    from churnwatch.followup.i18n import LANGUAGES
    from churnwatch.followup.report.build import build_report
    from churnwatch.followup.report.render import render_csv, render_html, render_text
    from churnwatch.followup.store import FollowUpStore
    from churnwatch.followup.tokens import report_link
    from churnwatch.notifiers.setup import routing_for
    from churnwatch.schemas.store import AlertStore

    if link_for is not None:
        if not public_url:
            raise _fail(ValueError("--link-for needs --public-url (churnwatch web's address)"))
        try:
            print(report_link(public_url, link_for))
        except ChurnwatchError as exc:
            raise _fail(exc) from exc
        return
    try:
        seconds = parse_duration(since)
        until = _now()
        # a period longer than the epoch is "everything": from 1970, never an overflow
        start = max(EPOCH, until - dt.timedelta(seconds=min(seconds, _since_epoch(until))))
        language = lang or routing_for(rules, check_installed=False).staff_language
        if language not in LANGUAGES:
            raise ValueError(f"--lang {language!r}: the pages read {', '.join(LANGUAGES)}")
        with AlertStore(_existing_store(db)) as store:
            built = build_report(store.engine, start, until)
            names = _report_names(FollowUpStore(store.engine), rules, language)
    except (ChurnwatchError, ValueError) as exc:
        raise _fail(exc) from exc
    if fmt == "html":
        text = render_html(built, language, names)
    else:  # the operators' table and the spreadsheet keep ids and English column names;
        # their cross-holding block reads in --lang (English unless asked)
        render = {"text": render_text, "csv": render_csv}[fmt]
        text = render(built, lang or "en", names)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


@escalations_app.command("run")
def escalations_run(
    db: Db = DEFAULT_DB_URL,
    rules_dir: Rules = SHIPPED_RULES,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[int, typer.Option("--interval", help="Seconds between passes.")] = 60,
    channels_file: ChannelsFileOption = None,
    channel: Annotated[
        str | None,
        typer.Option("--channel", help="Send every escalation by this channel (e.g. console)."),
    ] = None,
    public_url: PublicUrlOption = None,
) -> None:
    """Escalate due, unacknowledged alerts through the outbox (state in the store)."""
    from churnwatch.followup.escalation import Escalator, load_policy
    from churnwatch.followup.store import FollowUpStore
    from churnwatch.followup.wiring import OutboxNotify, follow_up_parts
    from churnwatch.notifiers.settings import load_channels_file
    from churnwatch.notifiers.setup import build_pipeline
    from churnwatch.rules.loader import load_rules
    from churnwatch.schemas.store import AlertStore

    try:
        policy = load_policy(rules_dir / "routing.yaml")
        store = AlertStore(db)
        ruleset = load_rules(rules_dir)
        parts = follow_up_parts(store.engine, ruleset, rules_dir, public_url=public_url)
        notifications = build_pipeline(
            store.engine,
            rules_dir,
            channel=channel,
            sections=load_channels_file(channels_file),
            texts={rule.id: rule.spec.texts for rule in ruleset.rules},
            links=parts.links,
        )
    except (ChurnwatchError, OSError) as exc:
        raise _fail(exc) from exc
    notify = OutboxNotify(parts.store, notifications)
    escalator = Escalator(FollowUpStore(store.engine), policy, notify, _now)
    while True:
        claimed = escalator.run_due()
        if claimed:
            err.print(f"escalated {claimed} alert(s)", highlight=False)
        if once:
            return
        time.sleep(interval)


@followup_app.command("link")
def link(
    alert_id: str,
    staff_id: str,
    base_url: Annotated[str, typer.Option("--base-url")] = "http://127.0.0.1:8080",
) -> None:
    """Print the signed link for a staff member (alert id ``report`` for the report page)."""
    from churnwatch.followup.tokens import manager_link

    try:
        url = manager_link(base_url, alert_id, staff_id)
    except ChurnwatchError as exc:
        raise _fail(exc) from exc
    if alert_id == "report":
        url = url.replace("/a/", "/report/", 1)
    typer.echo(url)


@followup_app.command("outcome")
def outcome(
    alert_id: Annotated[
        str, typer.Argument(help="The alert id, or the six-character reference staff see.")
    ],
    result: Annotated[str, typer.Argument(help=", ".join(OUTCOMES))],
    by: Annotated[str, typer.Option("--by", help="Who records it (staff id).")],
    note: Annotated[str, typer.Option("--note")] = "",
    retained_amount: Annotated[str, typer.Option("--retained-amount")] = "",
    db: Db = DEFAULT_DB_URL,
) -> None:
    """Record an outcome from the back office (e.g. for control-group alerts)."""
    from churnwatch.followup.exceptions import FollowUpError
    from churnwatch.followup.store import FollowUpStore, parse_amount
    from churnwatch.schemas.store import AlertStore

    try:
        with AlertStore(_existing_store(db)) as store:
            followups = FollowUpStore(store.engine)
            followups.record(
                followups.resolve(alert_id), "outcome", by, "backoffice", _now(),
                outcome=result, note=note, retained_amount=parse_amount(retained_amount),
            )  # fmt: skip
    except (ChurnwatchError, FollowUpError) as exc:
        raise _fail(exc) from exc


@followup_app.command("staff-load")
def staff_load(file: Path, db: Db = DEFAULT_DB_URL) -> None:
    """Load contract-v1 ``staff`` events (JSON lines) into the store's staff directory."""
    import msgspec

    from churnwatch.followup.store import FollowUpStore
    from churnwatch.schemas.models import StaffEvent
    from churnwatch.schemas.store import AlertStore

    decoder = msgspec.json.Decoder(StaffEvent)
    count = 0
    with AlertStore(db) as store:
        followups = FollowUpStore(store.engine)
        for line in file.read_bytes().splitlines():
            if b'"staff"' not in line:
                continue
            try:
                followups.put_staff(decoder.decode(line), _now())
                count += 1
            except msgspec.ValidationError as exc:
                err.print(f"skipped a staff line: {exc}", highlight=False)
    err.print(f"{count} staff record(s) loaded", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("web")(web)
    app.command("report")(report)
    app.add_typer(escalations_app, name="escalations")
    app.add_typer(followup_app, name="followup")


def _report_names(store: FollowUpStore, rules: Path, language: str) -> ReportNames:
    """Rules by their title in ``language``, branches and managers by name."""
    from churnwatch.followup.report.render import ReportNames
    from churnwatch.rules.loader import load_rules

    ruleset = load_rules(rules)
    return ReportNames(
        rules={rule.id: rule.spec.texts.title_in(language) for rule in ruleset.rules},
        branches=store.branch_names(),
        managers=store.staff_names(),
    )
