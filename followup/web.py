"""``churnwatch web``: the managers' alert page, the inbound SMS webhook and the report page.

Routes:

``GET/POST /a/{token}``     one alert for one staff member (the link in their message)
``POST /sms/inbound``       Twilio's webhook for replies; the request signature is checked
``POST /sms/status``        Twilio's delivery status callbacks (30003 retried, 30005-7 failed)
``GET /m/{token}``          a relationship manager's morning list of one day
``GET /report/{token}``     the follow-up report: a branch head's link shows their branch,
                            an executive's the whole bank
``GET /healthz``            liveness

``/metrics`` is not on this app: ``churnwatch web`` serves it on a separate port
(``--metrics-port``), as the workers do, so the public ingress never exposes it.

A refused link, form or webhook answers 403 and is counted by reason. The page's forms
carry a CSRF token bound to the link and to a random cookie of the browser (signed
double submit), so a page elsewhere cannot post on a manager's behalf. Twilio's two
webhooks are :mod:`churnwatch.followup.twilio_webhooks`; the headers every answer carries
and the token-free access log, :mod:`churnwatch.followup.hardening`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from churnwatch.followup import OUTCOMES, customer_page
from churnwatch.followup.exceptions import AccessDenied, FollowUpError, LinkRefused
from churnwatch.followup.hardening import NO_STORE, SecurityHeaders, redact_access_log
from churnwatch.followup.i18n import choose_language, person_language
from churnwatch.followup.morning.page import MorningPageParts, morning_handler
from churnwatch.followup.pages import render_page
from churnwatch.followup.records import FollowUp
from churnwatch.followup.report.build import MAX_REPORT_DAYS, build_report
from churnwatch.followup.report.render import ReportNames, render_html
from churnwatch.followup.score.page import score_view
from churnwatch.followup.store import FollowUpStore, parse_amount
from churnwatch.followup.tokens import REPORT_SCOPE, LinkClaims, LinkSigner, short_ref
from churnwatch.followup.twilio_webhooks import twilio_routes
from churnwatch.metrics import Metrics
from churnwatch.notifiers.filters import date_long, local_time, money
from churnwatch.notifiers.masking import mask_digits
from churnwatch.notifiers.rendering import RenderContext
from churnwatch.notifiers.templates import TemplateBook
from churnwatch.rules import DEFAULT_TIMEZONE
from churnwatch.rules.loader import RuleSet
from churnwatch.rules.texts import RuleTexts, Words
from churnwatch.schemas.models import Alert

__all__ = ["REPORT_SCOPE", "WebSettings", "create_app"]

log = logging.getLogger("churnwatch.web")
SESSION_COOKIE = "cw_session"


@dataclass(frozen=True)
class WebSettings:
    store: FollowUpStore
    signer: LinkSigner
    ruleset: RuleSet | None = None
    #: the pack's texts: "what happened" sentences and the words for severities, tiers, …
    templates: TemplateBook | None = None
    #: the language of staff pages unless the browser or ``?lang=`` asks for another
    staff_language: str = "zh-CN"
    twilio_auth_token: str | None = None
    #: the public base URL Twilio calls (behind a proxy the request URL differs)
    public_url: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    metrics: Metrics | None = None


def create_app(settings: WebSettings) -> Starlette:
    metrics = settings.metrics or Metrics()
    store, signer = settings.store, settings.signer
    zone = ZoneInfo(settings.timezone)
    #: TLS usually ends at a proxy: the public URL, not the request, says if it is https
    secure_cookie = (settings.public_url or "").lower().startswith("https://")
    redact_access_log()

    def local(value: dt.datetime | None, language: str) -> str:
        return local_time(value.astimezone(zone), language) if value else "-"

    def staff_name(staff_id: str) -> str | None:
        person = store.staff(staff_id) if staff_id != "system" else None
        return person.name if person is not None else None

    def refuse(request: Request, exc: LinkRefused) -> HTMLResponse:
        metrics.followup_refused_one(exc.reason)
        log.info("refused %s %s: %s", request.method, request.url.path.split("/")[1], exc.reason)
        lang = choose_language(
            request.query_params.get("lang"), request.headers.get("accept-language")
        )
        return HTMLResponse(render_page("forbidden.html.j2", lang), status_code=403)

    def authorise(token: str) -> tuple[LinkClaims, FollowUp]:
        claims = signer.verify(token, settings.clock())
        followup = store.get(claims.alert_id)
        if followup is None or not store.can_see(claims.staff_id, followup):
            raise AccessDenied()
        return claims, followup

    def session_of(request: Request) -> tuple[str, bool]:
        existing = request.cookies.get(SESSION_COOKIE, "")
        return (existing, False) if len(existing) >= 16 else (secrets.token_urlsafe(18), True)

    def page(request: Request, token: str, claims: LinkClaims, followup: FollowUp) -> Response:
        alert = store.alert(claims.alert_id)
        if alert is None:
            raise AccessDenied()
        person = store.staff(claims.staff_id)
        lang = person_language(
            request.query_params.get("lang"),
            person.language if person is not None else None,
            request.headers.get("accept-language"),
            settings.staff_language,
        )
        rule = settings.ruleset.get(alert.rule_id) if settings.ruleset else None
        texts = rule.spec.texts if rule else RuleTexts(alert.title or alert.rule_id)
        session, fresh = session_of(request)
        events = [
            {**e, "at_local": local(e["at"], lang), "actor_name": staff_name(e["actor"])}
            for e in store.events(alert.alert_id)
        ]
        now = settings.clock()
        panel = customer_page.customer_panel(
            store.engine, alert, claims.staff_id, now, now.astimezone(zone).date()
        )
        words = _words(settings.templates, lang)
        html = render_page(
            "alert.html.j2",
            lang,
            alert=alert,
            followup=followup,
            ref=short_ref(alert.alert_id),
            detected=local(alert.detected_at, lang),
            rule_title=texts.title_in(lang),
            rule_description=texts.description_in(lang),
            actions=texts.actions_in(lang),
            what=what_happened(settings.templates, alert, followup, texts, lang, zone),
            score=score_view(alert, settings.ruleset, lang, zone),
            words=words,
            panel=panel,
            tier=(panel.view.tier if panel.view else None) or followup.customer_tier,
            maturing_days=customer_page.MATURING_DAYS,
            recent_days=customer_page.RECENT_DAYS,
            money=lambda v: money(v, lang),
            day=lambda v: date_long(v.astimezone(zone) if isinstance(v, dt.datetime) else v, lang),
            history=[
                {
                    "alert": item.alert,
                    "status": item.status,
                    "outcome": item.outcome,
                    "title": title_of(item.alert, lang),
                    "day": date_long(item.alert.occurred_at.astimezone(zone), lang),
                }
                for item in panel.history
            ],
            events=events,
            texts=[
                {
                    "status": text.status,
                    "reason": text.reason,
                    "at": local(text.at, lang),
                    "title": title_of_rule(text.held_by_rule or "", lang),
                    "since": local(text.held_since, lang),
                    "until": local(text.held_until, lang),
                }
                for text in customer_page.customer_texts(store.engine, alert.alert_id)
            ],
            outcomes=OUTCOMES,
            csrf=signer.csrf_token(token, session),
            flash=bool(request.query_params.get("saved")),
            branch_name=store.branch_names().get(followup.branch_id),
        )
        response = HTMLResponse(html, headers=NO_STORE)
        if fresh:
            response.set_cookie(
                SESSION_COOKIE,
                session,
                httponly=True,
                samesite="lax",
                secure=secure_cookie or request.url.scheme == "https",
            )
        return response

    def title_of(alert: Alert, lang: str) -> str:
        rule = settings.ruleset.get(alert.rule_id) if settings.ruleset else None
        return rule.spec.texts.title_in(lang) if rule else (alert.title or alert.rule_id)

    def title_of_rule(rule_id: str, lang: str) -> str:
        rule = settings.ruleset.get(rule_id) if settings.ruleset else None
        return rule.spec.texts.title_in(lang) if rule else rule_id

    async def alert_page(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            claims, followup = authorise(token)
            if request.method == "GET":
                return page(request, token, claims, followup)
            form = await request.form()
            signer.check_csrf(token, request.cookies.get(SESSION_COOKIE, ""), _field(form, "csrf"))
        except LinkRefused as exc:
            return refuse(request, exc)
        action = _field(form, "action")
        lang = request.query_params.get("lang", "")
        if action == "reveal_phone":  # not an action on the alert: an audited look
            alert = store.alert(claims.alert_id)
            if alert is not None:
                customer_page.record_reveal(store.engine, alert, claims.staff_id, settings.clock())
            target = request.url.path + (f"?lang={lang}" if lang else "")
            return RedirectResponse(target + "#phone", status_code=303)
        try:
            store.record(
                claims.alert_id,
                action,
                claims.staff_id,
                "web",
                settings.clock(),
                outcome=_field(form, "outcome") or None,
                note=_field(form, "note"),
                retained_amount=parse_amount(_field(form, "retained_amount")),
            )
        except FollowUpError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        metrics.followup_action(action, "web")
        target = f"{request.url.path}?saved=1" + (f"&lang={lang}" if lang else "")
        return RedirectResponse(target, status_code=303)

    async def report_page(request: Request) -> Response:
        """An executive's link shows the whole bank; a branch head's, their own branch."""
        try:
            claims = signer.verify(request.path_params["token"], settings.clock())
            staff = store.staff(claims.staff_id)
            if (
                claims.alert_id != REPORT_SCOPE
                or staff is None
                or not staff.active
                or staff.role not in ("executive", "branch_head")
            ):
                raise AccessDenied()
        except LinkRefused as exc:
            return refuse(request, exc)
        days = _report_days(request.query_params.get("days"))
        if days is None:
            return PlainTextResponse(
                f"days must be a whole number from 1 to {MAX_REPORT_DAYS}", status_code=400
            )
        until = settings.clock()
        branch = staff.branch_id if staff.role == "branch_head" else None
        report = build_report(
            store.engine,
            until - dt.timedelta(days=days),
            until,
            settings.timezone,
            branch_id=branch,
        )
        lang = person_language(
            request.query_params.get("lang"),
            staff.language,
            request.headers.get("accept-language"),
            settings.staff_language,
        )
        branches = store.branch_names()
        names = ReportNames(
            rules={
                rule.id: rule.spec.texts.title_in(lang)
                for rule in (settings.ruleset.rules if settings.ruleset else [])
            },
            branches=branches,
            managers=store.staff_names(),
        )
        scope = branches.get(branch, branch) if branch else ""
        return HTMLResponse(render_html(report, lang, names, scope=scope), headers=NO_STORE)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/a/{token}", alert_page, methods=["GET", "POST"]),
            *twilio_routes(
                store, metrics, settings.twilio_auth_token, settings.public_url, settings.clock
            ),
            Route("/report/{token}", report_page, methods=["GET"]),
            Route("/m/{token}", morning_handler(_morning_parts(settings), refuse), methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        middleware=[Middleware(SecurityHeaders)],
    )


def _morning_parts(settings: WebSettings) -> MorningPageParts:
    return MorningPageParts(
        settings.store,
        settings.signer,
        settings.ruleset,
        settings.templates,
        settings.staff_language,
        settings.timezone,
        settings.clock,
    )


def _report_days(raw: str | None) -> int | None:
    """``?days=`` as a whole number of days within bounds; None when it is not one."""
    if raw is None or raw == "":
        return 30
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5:
        return None
    days = int(raw)
    return days if 1 <= days <= MAX_REPORT_DAYS else None


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def what_happened(
    templates: TemplateBook | None,
    alert: Alert,
    followup: FollowUp,
    texts: RuleTexts,
    language: str,
    zone: ZoneInfo,
) -> str:
    """The rule's "what happened" sentence from the pack, as the manager's message says it."""
    if templates is None:
        return texts.title_in(language)
    context = RenderContext(
        template=alert.template or alert.rule_id,
        rule_id=alert.rule_id,
        audience="relationship_manager",
        languages=(language,),
        alert={
            "rule_id": alert.rule_id,
            "severity": alert.severity,
            "occurred_at": alert.occurred_at.astimezone(zone),
            "detected_at": alert.detected_at.astimezone(zone),
        },
        facts=dict(alert.facts),
        customer={
            "id": alert.customer_id,
            "name": followup.customer_name,
            "tier": followup.customer_tier,
            "branch_id": followup.branch_id,
        },
        recipient={},
        account=mask_digits(alert.account_id),
        texts=texts,
    )
    return templates.what(context, language)


def _words(templates: TemplateBook | None, language: str) -> Callable[[str, object], str]:
    """``words("tiers", "A")`` for the page, from the pack's words.yaml."""
    vocabulary = templates.words if templates is not None else Words()

    def word(section: str, key: object) -> str:
        return vocabulary.word(section, key, language)

    return word
