"""The delivery pipeline for new alerts: route → policy → inhibit → group → render → outbox → send.

:class:`Notifications` is an alert sink (``sink(new_alerts, directory)``): for each alert
it expands the routed recipients into :class:`~churnwatch.notifiers.context.Delivery` contexts,
runs the policy stages (the inhibit stage among them, ``notifiers/inhibit.py``) and the
group stage, renders the texts (so a row holds exactly what will be sent, and the
dispatcher needs no directory), writes all rows of the alert in one transaction, holds
the waiting customer texts the alert silences by an inhibit rule, then lets the
dispatcher send what is due. With an
:class:`~churnwatch.notifiers.clock.EventClock` the whole chain runs in event time (replays,
backtests); :meth:`Notifications.finish` then plays time forward until every deferred or
grouped message has gone out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from churnwatch.notifiers.clock import Clock, EventClock, wall_clock
from churnwatch.notifiers.context import Delivery
from churnwatch.notifiers.directory import Directory
from churnwatch.notifiers.dispatcher import Dispatcher, DispatchReport
from churnwatch.notifiers.exceptions import TemplateError
from churnwatch.notifiers.grouping import GroupWait, group_item
from churnwatch.notifiers.inhibit import Inhibitor
from churnwatch.notifiers.inhibit_store import StoredAlerts
from churnwatch.notifiers.masking import mask_digits
from churnwatch.notifiers.metrics import DeliveryMetrics
from churnwatch.notifiers.outbox import NewDelivery, Outbox
from churnwatch.notifiers.policy import PolicyStage, apply_policy, default_policy
from churnwatch.notifiers.registry import channels
from churnwatch.notifiers.rendering import RenderContext
from churnwatch.notifiers.routing import Router, customer_tier
from churnwatch.notifiers.routing_file import Routing
from churnwatch.notifiers.templates import TemplateBook
from churnwatch.notifiers.top_customers import TopCustomers
from churnwatch.rules.texts import RuleTexts
from churnwatch.schemas.models import Alert
from churnwatch.schemas.times import utc

__all__ = ["Notifications", "PlanReport"]

UNROUTED = "-"


@dataclass
class PlanReport:
    pending: int = 0
    deferred: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    failed: int = 0


class Notifications:
    """The alert sink that turns new alerts into delivered messages."""

    def __init__(
        self,
        routing: Routing,
        templates: TemplateBook,
        outbox: Outbox,
        dispatcher: Dispatcher | None,
        *,
        clock: Clock = wall_clock,
        texts: Mapping[str, RuleTexts] | None = None,
        policy: Sequence[PolicyStage] | None = None,
        metrics: DeliveryMetrics | None = None,
        links: Callable[[str, str], Mapping[str, str]] | None = None,
        control: Callable[[Alert], bool] | None = None,
        closed: Callable[[Alert], bool] | None = None,
    ) -> None:
        self.routing = routing
        #: (alert id, staff id) -> {"link": …, "ref": …} for staff messages, when on
        self.links = links
        #: alerts of a control group are recorded but nobody is told (retention uplift)
        self.control = control
        #: a later step of a follow-up case an outcome closed: recorded, nobody is told
        self.closed = closed
        self.templates = templates
        self.outbox = outbox
        self.dispatcher = dispatcher
        self.clock = clock
        #: each rule's title, description and actions per language, from the rule pack
        self.texts = texts or {}
        self.held = StoredAlerts(outbox.engine)
        self.inhibitor = Inhibitor(routing.inhibit, self.held, told=self._told)
        if policy is None:
            policy = default_policy(routing, self.inhibitor if routing.inhibit else None)
        self.policy = list(policy)
        self.group = GroupWait(routing)
        top = routing.top_customers
        self.router = Router(
            routing, TopCustomers(outbox.engine, top.per_branch) if top is not None else None
        )
        self.metrics = metrics
        self.plan_report = PlanReport()
        self.dispatch_report = DispatchReport()

    def __call__(self, alerts: Sequence[Alert], directory: Directory) -> None:
        for alert in alerts:
            if isinstance(self.clock, EventClock):
                self.clock.advance(utc(alert.occurred_at))
                self._dispatch()  # what fell due before this alert goes first, in time order
            self.submit(alert, directory)
        self._dispatch()

    def _dispatch(self) -> None:
        if self.dispatcher is not None:
            self.dispatch_report.add(self.dispatcher.run_until_idle())

    def finish(self) -> DispatchReport:
        """Event time only: move the clock to each remaining due time and send, until done."""
        if self.dispatcher is None:
            return self.dispatch_report
        while isinstance(self.clock, EventClock):
            due = self.outbox.next_due()
            if due is None:
                break
            self.clock.advance(due)
            report = self.dispatcher.run_until_idle()
            self.dispatch_report.add(report)
            if self.outbox.next_due() == due and not (
                report.sent or report.retried or report.failed
            ):
                break  # nothing moved: do not spin
        return self.dispatch_report

    # -- planning ---------------------------------------------------------------------

    def submit(self, alert: Alert, directory: Directory) -> list[Delivery]:
        """Plan, check and write the deliveries of one stored alert."""
        if alert.shadow:  # a rule on trial: stored for comparison, never told to anyone
            suppressed = self.plan_report.suppressed
            suppressed["shadow rule"] = suppressed.get("shadow rule", 0) + 1
            return []
        if alert.listed:  # its rule speaks on the manager's morning list, not as an alert
            suppressed = self.plan_report.suppressed
            suppressed["morning list"] = suppressed.get("morning list", 0) + 1
            return []
        if self.control is not None and self.control(alert):
            suppressed = self.plan_report.suppressed
            suppressed["control group"] = suppressed.get("control group", 0) + 1
            return []
        if self.closed is not None and self.closed(alert):
            suppressed = self.plan_report.suppressed
            suppressed["case closed"] = suppressed.get("case closed", 0) + 1
            return []
        now = utc(self.clock())
        if any(r.channel is None for r in alert.recipients):
            alert = self.router(alert, directory)  # not routed upstream: route here
        planned = [
            self._plan(alert, r.audience, r.staff_id, r.channel or "", directory, now)
            for r in alert.recipients
        ]
        checked = []
        for delivery in planned:
            if delivery.outcome == "pending":
                delivery = apply_policy(delivery, self.policy, self.outbox)
            if delivery.outcome == "pending":
                delivery = self.group(delivery, self.outbox)
            checked.append(delivery)
        rows = [self._row(d) for d in checked]
        self.outbox.write(rows, now)
        self._count(checked, rows)
        if self.routing.inhibit:
            self._hold_waiting(alert, now)
        return checked

    def _told(self, alert: Alert) -> bool:
        """Whether anyone was told of ``alert``: a control group's alert holds nothing."""
        return self.control is None or not self.control(alert)

    def _hold_waiting(self, alert: Alert, now: dt.datetime) -> None:
        """Hold the customer texts still waiting that ``alert`` silences (inhibit rules)."""
        for _, held, channel in self.inhibitor.holds_pending(alert, self.held, now):
            suppressed = self.plan_report.suppressed
            suppressed["inhibited"] = suppressed.get("inhibited", 0) + 1
            if self.metrics is not None:
                self.metrics.delivery(channel, "suppressed")
                self.metrics.delivery_inhibited(held.rule_id, alert.rule_id)

    def _plan(
        self,
        alert: Alert,
        audience: str,
        staff_id: str | None,
        channel: str,
        directory: Directory,
        now: dt.datetime,
    ) -> Delivery:
        customer = directory.customer(alert.customer_id)
        staff = directory.staff(staff_id) if staff_id else None
        recipient = alert.customer_id if audience == "customer" else (staff_id or UNROUTED)
        delivery = Delivery(
            alert=alert,
            audience=audience,
            recipient_id=recipient,
            channel=channel,
            customer=customer,
            staff=staff,
            tier=customer_tier(customer, self.routing) if customer else None,
            now=now,
            due_at=now,
            by_im=self._by_im(channel),
        )
        if audience != "customer" and staff_id is None:
            return delivery.fail(f"nobody to tell: no active {audience} found for this customer")
        if delivery.by_im and staff is not None and not staff.im_user_id:
            return delivery.fail(
                f"nobody to tell: staff member {staff.staff_id} has no im_user_id for {channel}"
            )
        return delivery

    def _row(self, delivery: Delivery) -> NewDelivery:
        alert = delivery.alert
        payload: dict[str, Any] = {
            "rule_id": alert.rule_id,
            "customer_id": alert.customer_id,
            "occurred_at": utc(alert.occurred_at).isoformat(),
            "detected_at": utc(alert.detected_at).isoformat(),
            "group": delivery.grouped,
        }
        if delivery.note:
            payload["note"] = delivery.note
        if delivery.audience == "customer" and delivery.tier:
            payload["tier"] = delivery.tier  # what a later inhibit rule's target may test
        if delivery.inhibited_by is not None:
            payload["inhibited_by"] = delivery.inhibited_by.payload()
        status: str = delivery.outcome
        error = delivery.note if delivery.outcome != "pending" else None
        if delivery.outcome == "pending":
            try:
                rendered = self.templates.render(
                    self._context(delivery), sms=self._by_sms(delivery.channel)
                )
            except TemplateError as exc:
                status, error = "failed", f"template: {exc}"
            else:
                payload.update(
                    address=delivery.address,
                    language=rendered.language,
                    subject=rendered.subject,
                    body=rendered.body,
                    segments=rendered.segments,
                    template=rendered.template,
                    recipient_name=delivery.staff.name if delivery.staff else None,
                )
                if delivery.grouped:  # listed under its customer in the group's message
                    payload["item"] = group_item(
                        delivery,
                        rendered.title,
                        rendered.what,
                        rendered.footer,
                        self.routing.timezone,
                    )
        return NewDelivery(
            alert_id=alert.alert_id,
            audience=delivery.audience,
            recipient_id=delivery.recipient_id,
            channel=delivery.channel,
            status=status,
            due_at=delivery.due_at,
            payload=payload,
            last_error=error,
        )

    def _context(self, delivery: Delivery) -> RenderContext:
        alert = delivery.alert
        customer = delivery.customer
        zone = self.routing.timezone
        route = self.routing.route_for(delivery.audience)
        chosen: tuple[str | None, ...]
        if delivery.audience == "customer":
            chosen = (route.language, customer.language if customer else None)
        else:  # staff read their own language, never the customer's
            own = delivery.staff.language if delivery.staff else None
            chosen = (own, route.language, self.routing.staff_language)
        languages = tuple(lang for lang in chosen if lang)
        occurred = alert.occurred_at.astimezone(zone)
        return RenderContext(
            template=alert.template or alert.rule_id,
            rule_id=alert.rule_id,
            audience=delivery.audience,
            languages=languages,
            alert={
                "rule_id": alert.rule_id,
                "title": alert.title,
                "severity": alert.severity,
                "occurred_at": occurred,
                "detected_at": alert.detected_at.astimezone(zone),
            },
            facts=dict(alert.facts),
            customer={
                "id": alert.customer_id,
                "name": customer.name if customer else alert.customer_id,
                "tier": delivery.tier or "?",
                "language": customer.language if customer else "zh-CN",
                "phone": mask_digits(customer.phone) if customer else "—",
                "branch_id": customer.branch_id if customer else "?",
            },
            recipient={
                "id": delivery.recipient_id,
                "name": delivery.staff.name if delivery.staff else "",
                **(
                    self.links(alert.alert_id, delivery.recipient_id)
                    if self.links is not None and delivery.audience != "customer"
                    else {}
                ),
            },
            account=mask_digits(alert.account_id),
            texts=self.texts.get(alert.rule_id),
            sensitive=tuple(v for v in (alert.account_id,) if v),
        )

    def _by_im(self, channel: str) -> bool:
        notifier = channels().get(channel)
        return bool(notifier is not None and notifier.address == "im_user")

    def _by_sms(self, channel: str) -> bool:
        notifier = channels().get(channel)
        return bool(notifier is not None and notifier.sms)

    def _count(self, deliveries: Sequence[Delivery], rows: Sequence[NewDelivery]) -> None:
        report = self.plan_report
        for delivery, row in zip(deliveries, rows, strict=True):
            if row.status == "suppressed":
                reason = (delivery.note or "suppressed").split(":", 1)[0]
                report.suppressed[reason] = report.suppressed.get(reason, 0) + 1
                outcome = "suppressed"
            elif row.status == "failed":
                report.failed += 1
                reason, outcome = "undeliverable", "failed"
            else:
                report.pending += 1
                deferred = delivery.note is not None and delivery.note.startswith("deferred")
                report.deferred += deferred
                reason, outcome = ("quiet_hours", "deferred") if deferred else ("", "")
            if self.metrics is not None and outcome:
                self.metrics.delivery(delivery.channel, outcome)
            if self.metrics is not None and delivery.inhibited_by is not None:
                self.metrics.delivery_inhibited(
                    delivery.alert.rule_id, delivery.inhibited_by.rule_id
                )
