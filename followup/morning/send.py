"""Recording and sending the morning lists: once per manager and business day.

A day's lists are *recorded* before anything is sent: one ``morning_lists`` row per
relationship manager and day (unique), holding the rendered message and the items, or
status ``empty`` when the day holds nothing for them (then nothing is sent). A second
worker, or a restart at 08:31, finds the rows and records nothing new, so nobody gets a
list twice; a list is built from the store as it stands when its row is written.

Sending follows the outbox's rules (:mod:`churnwatch.notifiers.outbox`): a row is
claimed with a lease (``attempts`` is the fencing token), sent through the staff
member's own channel (the ``relationship_manager`` audience's, per person: a WeCom
application message to their ``im_user_id``; never a group robot, which would show
every customer to the whole group), and marked sent with the provider's id; a failure
is retried with the retry stage's backoff or recorded as failed with its reason. A list
carries no SMS reply codes, whatever the channel.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from churnwatch.followup.morning.config import MorningConfig, due_day
from churnwatch.followup.morning.lists import MorningList, build_lists
from churnwatch.notifiers.exceptions import DeliveryFailed, Reason, TemplateError
from churnwatch.notifiers.metrics import DeliveryMetrics
from churnwatch.notifiers.protocol import Message, Notifier
from churnwatch.notifiers.registry import channels
from churnwatch.notifiers.rendering import Rendered
from churnwatch.notifiers.retry import RetryPolicy
from churnwatch.notifiers.routing_file import Routing
from churnwatch.notifiers.samples import MORNING_SECTIONS
from churnwatch.notifiers.templates import TemplateBook
from churnwatch.rules.loader import RuleSet
from churnwatch.schemas.tables import morning_lists
from churnwatch.schemas.times import utc

__all__ = ["GROUP_CHANNELS", "MorningSender", "Prepared"]

log = logging.getLogger("churnwatch.followup")

#: channels that post to a group: a list names customers and amounts, so never these
GROUP_CHANNELS = frozenset({"webhook"})


@dataclass(frozen=True)
class Prepared:
    """One manager's list of one day, rendered (``rendered`` is None for an empty day)."""

    morning: MorningList
    channel: str
    rendered: Rendered | None
    address: str | None
    problem: str | None = None


class MorningSender:
    """Builds, records and sends the morning lists; :meth:`run_due` is the schedule."""

    def __init__(
        self,
        engine: Engine,
        ruleset: RuleSet,
        config: MorningConfig,
        routing: Routing,
        templates: TemplateBook,
        notifiers: Mapping[str, Notifier],
        *,
        link: Callable[[str, dt.date], str] | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        retry: RetryPolicy | None = None,
        lease: dt.timedelta = dt.timedelta(minutes=5),
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self.engine = engine
        self.ruleset = ruleset
        self.config = config
        self.routing = routing
        self.templates = templates
        self.notifiers = notifiers
        self.link = link
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.lease = lease
        #: counted with every delivery, by channel and outcome (churnwatch_deliveries_total)
        self.metrics = metrics
        self.channel = config.channel or routing.route_for("relationship_manager").channel
        #: the last day whose lists this process knows are recorded (saves a query a second)
        self.recorded_day: dt.date | None = None

    # -- the schedule ------------------------------------------------------------------

    def run_due(self) -> int:
        """Record today's lists when they are due and not yet recorded; send what is due.
        Returns how many lists were sent."""
        day = due_day(self.config, self.clock())
        if day is not None and day != self.recorded_day:
            self.record(day)
            self.recorded_day = day
        return self.send_pending()

    # -- building and recording ----------------------------------------------------------

    def prepare(self, day: dt.date, staff_ids: Sequence[str] | None = None) -> list[Prepared]:
        """Every manager's list for ``day``, rendered, without recording anything."""
        built = build_lists(self.engine, self.ruleset, self.config, day, staff_ids)
        return [self._render(morning) for morning in built]

    def record(self, day: dt.date, staff_ids: Sequence[str] | None = None) -> int:
        """Write ``day``'s lists not yet written; returns how many new ones are to send."""
        recorded = self._recorded(day)
        missing = [s for s in self._managers(staff_ids) if s not in recorded]
        if not missing:
            return 0
        now = utc(self.clock())
        new = 0
        for prepared in self.prepare(day, missing):
            status = "empty" if prepared.rendered is None else "pending"
            error = prepared.problem
            if prepared.problem is not None:
                status = "failed"
                log.warning("morning list of %s: %s", prepared.morning.staff.staff_id, error)
            row = {
                "staff_id": prepared.morning.staff.staff_id,
                "list_date": day,
                "status": status,
                "channel": prepared.channel,
                "attempts": 0,
                "due_at": now,
                "created_at": now,
                "updated_at": now,
                "last_error": error,
                "payload": _payload(prepared),
                "entries": prepared.morning.items(),
            }
            new += self._insert(row) and status == "pending"
        return new

    def _managers(self, staff_ids: Sequence[str] | None) -> list[str]:
        from churnwatch.followup.store import FollowUpStore

        found = FollowUpStore(self.engine).staff_with_role("relationship_manager")
        return [s.staff_id for s in found if staff_ids is None or s.staff_id in staff_ids]

    def _recorded(self, day: dt.date) -> set[str]:
        query = select(morning_lists.c.staff_id).where(morning_lists.c.list_date == day)
        with self.engine.connect() as conn:
            return {r.staff_id for r in conn.execute(query)}

    def _insert(self, row: dict[str, Any]) -> bool:
        dialect = self.engine.dialect.name
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(morning_lists)
        statement = insert.values(row).on_conflict_do_nothing(
            index_elements=["staff_id", "list_date"]
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(statement).rowcount)

    def _render(self, morning: MorningList) -> Prepared:
        staff = morning.staff
        notifier = channels().get(self.channel)
        by_im = notifier is not None and notifier.address == "im_user"
        address = staff.im_user_id if by_im else staff.phone
        if morning.empty:
            return Prepared(morning, self.channel, None, address)
        route = self.routing.route_for("relationship_manager")
        language = staff.language or route.language or self.routing.staff_language
        problem = None
        if self.channel in GROUP_CHANNELS:
            problem = (
                f"channel {self.channel} posts to a group, which would show every customer "
                "on the list to the whole group: give the morning list a per-person channel"
            )
        elif by_im and not staff.im_user_id:
            problem = f"staff member {staff.staff_id} has no im_user_id for {self.channel}"
        try:
            rendered = self.templates.render_morning(language, self._variables(morning, language))
        except TemplateError as exc:
            rendered, problem = Rendered("", "", language, 0, ""), f"template: {exc}"
        return Prepared(morning, self.channel, rendered, address, problem)

    def _variables(self, morning: MorningList, language: str) -> dict[str, Any]:
        zone = self.config.zone
        shown = self.config.max_lines

        def title(rule_id: str) -> str:
            rule = self.ruleset.get(rule_id)
            return rule.spec.texts.title_in(language) if rule else rule_id

        def moment(text: str) -> dt.datetime:
            return dt.datetime.fromisoformat(text).astimezone(zone)

        sections: dict[str, list[dict[str, Any]]] = {
            "steps": [
                {
                    "step": s["step"],
                    "on": dt.date.fromisoformat(s["on"]),
                    "customer": s["customer_name"],
                    "product": s["product_kind"],
                    "amount": Decimal(s["amount"]) if s.get("amount") else None,
                    "maturity_date": dt.date.fromisoformat(s["maturity_date"]),
                }
                for s in morning.steps
            ],
            **{
                name: [
                    {
                        "title": title(a["rule_id"]),
                        "severity": a["severity"],
                        "customer": a["customer_name"],
                        "occurred_at": moment(a["occurred_at"]),
                        "step": a.get("step"),
                    }
                    for a in items
                ]
                for name, items in (
                    ("unacknowledged", morning.unacknowledged),
                    ("due", morning.due),
                )
            },
            "inflows": [
                {
                    "customer": i["customer_name"],
                    "amount": Decimal(str(i["amount"])) if i.get("amount") else Decimal(0),
                    "bank": i.get("counterparty_bank"),
                    "occurred_at": moment(i["occurred_at"]),
                }
                for i in morning.inflows
            ],
        }
        words = self.templates.words
        staff = morning.staff
        return {
            **{name: sections[name][:shown] for name in MORNING_SECTIONS},
            "counts": {name: len(sections[name]) for name in MORNING_SECTIONS},
            "more": {name: max(0, len(sections[name]) - shown) for name in MORNING_SECTIONS},
            "total": sum(len(items) for items in sections.values()),
            "recipient": {"id": staff.staff_id, "name": staff.name},
            "day": morning.day,
            "link": self.link(staff.staff_id, morning.day) if self.link is not None else "",
            "bank": {"signature": "", "hotline": words.hotline},
        }

    # -- sending -------------------------------------------------------------------------

    def send_pending(self) -> int:
        """Send every recorded list that is due (pending, or a lease run out)."""
        sent = 0
        for row in self._claim():
            sent += self._send(row)
        return sent

    def _claim(self) -> list[Any]:
        now = utc(self.clock())
        c = morning_lists.c
        # only channels this process can send on: others' rows wait for a process that can
        query = (
            select(morning_lists)
            .where(
                c.status.in_(("pending", "sending")),
                c.due_at <= now,
                c.channel.in_(sorted(self.notifiers)),
            )
            .order_by(c.due_at, c.id)
            .limit(100)
        )
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        with self.engine.begin() as conn:
            for row in conn.execute(query).all():
                won = conn.execute(
                    update(morning_lists)
                    .where(c.id == row.id, c.status == row.status, c.attempts == row.attempts)
                    .values(
                        status="sending",
                        attempts=row.attempts + 1,
                        due_at=now + self.lease,
                        updated_at=now,
                    )
                ).rowcount
                if won:
                    claimed.append((row, row.attempts + 1))
        return claimed

    def _send(self, claim: tuple[Any, int]) -> int:
        row, attempts = claim
        payload = dict(row.payload or {})
        message = Message(
            key=f"morning:{row.staff_id}:{row.list_date.isoformat()}",
            channel=row.channel,
            audience="relationship_manager",
            recipient_id=row.staff_id,
            address=payload.get("address"),
            language=str(payload.get("language", "zh-CN")),
            subject=str(payload.get("subject", "")),
            body=str(payload.get("body", "")),
            alert_ids=(),
        )
        held = (morning_lists.c.id == row.id) & (morning_lists.c.attempts == attempts)
        if self.metrics is not None:
            self.metrics.delivery_attempt(row.channel)
        try:
            receipt = self.notifiers[row.channel].send(message)
        except Exception as exc:  # classified below: a plugin bug is retried like a timeout
            failure = (
                exc
                if isinstance(exc, DeliveryFailed)
                else DeliveryFailed.transient(
                    Reason.UNKNOWN, f"notifier raised {type(exc).__name__}"
                )
            )
            now = utc(self.clock())
            when = self.retry.next_try(attempts, failure, now)
            values: dict[str, Any] = {"updated_at": now, "last_error": str(failure)}
            if when is not None:
                values.update(status="pending", due_at=when)
            else:
                values["status"] = "failed"
            log.warning("morning list of %s via %s: %s", row.staff_id, row.channel, failure)
            if self.metrics is not None:
                self.metrics.delivery_failure(row.channel, failure.reason.value)
                self.metrics.delivery(row.channel, "retry" if when is not None else "failed")
            with self.engine.begin() as conn:
                conn.execute(update(morning_lists).where(held).values(values))
            return 0
        now = utc(self.clock())
        reference = receipt.provider_message_id
        with self.engine.begin() as conn:
            done = conn.execute(
                update(morning_lists)
                .where(held, morning_lists.c.status == "sending")
                .values(
                    status="sent",
                    sent_at=now,
                    updated_at=now,
                    provider_message_id=reference[:128] if reference else None,
                    last_error=None,
                )
            ).rowcount
        if done and self.metrics is not None:
            self.metrics.delivery(row.channel, "sent")
        return int(done)

    def counts(self, day: dt.date) -> dict[str, int]:
        """Lists of ``day`` by status (for the command line and the tests)."""
        c = morning_lists.c
        query = select(c.status, func.count()).where(c.list_date == day).group_by(c.status)
        with self.engine.connect() as conn:
            return {status: int(n) for status, n in conn.execute(query)}


def _payload(prepared: Prepared) -> dict[str, Any] | None:
    rendered = prepared.rendered
    if rendered is None:
        return None
    return {
        "address": prepared.address,
        "language": rendered.language,
        "subject": rendered.subject,
        "body": rendered.body,
        "recipient_name": prepared.morning.staff.name,
    }
