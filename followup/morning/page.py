"""``GET /m/{token}``: a relationship manager's morning list of one day, on their phone.

The link in the list's message is signed for one person and one day
(:func:`~churnwatch.followup.tokens.morning_link`). The page shows the list as it was
recorded and sent (``morning_lists.entries``), every item rather than the message's first
few, with each alert linked to its own page (a signed link for the same person) and
marked when it has been acknowledged since. Headings are the gettext catalog's; rule
titles, steps, products and severities the pack's; dates and money Babel's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from churnwatch.followup.exceptions import AccessDenied, LinkRefused
from churnwatch.followup.hardening import NO_STORE
from churnwatch.followup.i18n import person_language
from churnwatch.followup.pages import render_page
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.tokens import DEFAULT_TTL, LinkSigner, morning_scope
from churnwatch.notifiers.filters import date_long, date_short, local_time, money
from churnwatch.notifiers.templates import TemplateBook
from churnwatch.rules.loader import RuleSet
from churnwatch.rules.texts import Words
from churnwatch.schemas.tables import followups, morning_lists

__all__ = ["MorningPageParts", "morning_handler"]


@dataclass(frozen=True)
class MorningPageParts:
    """What the page needs of ``churnwatch web``'s settings."""

    store: FollowUpStore
    signer: LinkSigner
    ruleset: RuleSet | None
    templates: TemplateBook | None
    staff_language: str
    timezone: str
    clock: Callable[[], dt.datetime]


def morning_handler(
    settings: MorningPageParts, refuse: Callable[[Request, LinkRefused], Response]
) -> Callable[[Request], Any]:
    """The route's handler, sharing the app's settings and its way of refusing a link."""
    store, signer = settings.store, settings.signer
    zone = ZoneInfo(settings.timezone)

    async def morning_page(request: Request) -> Response:
        try:
            claims = signer.verify(request.path_params["token"], settings.clock())
            scope = claims.alert_id
            if not scope.startswith("morning:"):
                raise AccessDenied()
            day = dt.date.fromisoformat(scope.removeprefix("morning:"))
            if scope != morning_scope(day):
                raise AccessDenied()
            staff = store.staff(claims.staff_id)
            if staff is None or not staff.active:
                raise AccessDenied()
        except LinkRefused as exc:
            return refuse(request, exc)
        except ValueError:
            return refuse(request, AccessDenied())
        lang = person_language(
            request.query_params.get("lang"),
            staff.language,
            request.headers.get("accept-language"),
            settings.staff_language,
        )
        with store.engine.connect() as conn:
            row = conn.execute(
                select(morning_lists.c.entries).where(
                    morning_lists.c.staff_id == staff.staff_id, morning_lists.c.list_date == day
                )
            ).first()
            items: dict[str, list[dict[str, Any]]] = dict(row.entries or {}) if row else {}
            ids = [a["alert_id"] for k in ("unacknowledged", "due") for a in items.get(k, [])]
            acked = {
                r.alert_id
                for r in conn.execute(
                    select(followups.c.alert_id).where(
                        followups.c.alert_id.in_(ids), followups.c.acknowledged_at.is_not(None)
                    )
                )
            }
        words = settings.templates.words if settings.templates is not None else Words()
        ruleset = settings.ruleset

        def title(rule_id: str) -> str:
            rule = ruleset.get(rule_id) if ruleset is not None else None
            return rule.spec.texts.title_in(lang) if rule else rule_id

        def when(text: str) -> dt.datetime:
            return dt.datetime.fromisoformat(text).astimezone(zone)

        now = settings.clock()

        def alert_link(alert_id: str) -> str:
            token = signer.sign(alert_id, staff.staff_id, now + DEFAULT_TTL)
            return f"/a/{token}?lang={lang}"

        def step_word(name: str) -> str:
            known = words.sections.get("morning_steps", {}).get(name)
            return words.word("morning_steps" if known else "steps", name, lang)

        steps = [
            {
                "customer": s["customer_name"],
                "step": step_word(s["step"]),
                "on": date_short(dt.date.fromisoformat(s["on"]), lang),
                "product": words.word("products", s["product_kind"], lang),
                "amount": money(Decimal(s["amount"]), lang) if s.get("amount") else "",
                "maturity_date": date_long(dt.date.fromisoformat(s["maturity_date"]), lang),
            }
            for s in items.get("steps", [])
        ]
        sections = {
            name: [
                {
                    "customer": a["customer_name"],
                    "title": title(a["rule_id"])
                    + (f" · {words.word('steps', a['step'], lang)}" if a.get("step") else ""),
                    "severity": a["severity"],
                    "severity_word": words.word("severities", a["severity"], lang),
                    "day": date_long(when(a["occurred_at"]), lang),
                    "link": alert_link(a["alert_id"]),
                    "done": name == "unacknowledged" and a["alert_id"] in acked,
                }
                for a in items.get(name, [])
            ]
            for name in ("unacknowledged", "due")
        }
        listed = dict.fromkeys(i["rule_id"] for i in items.get("inflows", []))
        rules = [ruleset.get(r) for r in listed] if ruleset is not None else []
        actions = [
            a for rule in rules if rule is not None for a in rule.spec.texts.actions_in(lang)
        ]
        inflows = [
            {
                "customer": i["customer_name"],
                "amount": money(Decimal(str(i["amount"])), lang) if i.get("amount") else "",
                "bank": i.get("counterparty_bank"),
                "when": local_time(when(i["occurred_at"]), lang),
            }
            for i in items.get("inflows", [])
        ]
        html = render_page(
            "morning.html.j2",
            lang,
            day_text=date_long(day, lang),
            staff_name=staff.name,
            recorded=row is not None,
            steps=steps,
            sections=sections,
            inflows=inflows,
            inflow_actions=actions,
        )
        return HTMLResponse(html, headers=NO_STORE)

    return morning_page
