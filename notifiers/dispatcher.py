"""Send stage: claim due outbox rows, send each (group) once, record the outcome.

The dispatcher is the only caller of notifiers. For every claimed group it builds one
:class:`~churnwatch.notifiers.protocol.Message`, calls the channel, and records ``sent`` with the
provider's id, or asks the retry stage when to try again, or records ``failed``. Only a
successful send is recorded as sent. See :mod:`churnwatch.notifiers.outbox` for what a crash can and
cannot do to "exactly once".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from churnwatch.notifiers.clock import Clock, wall_clock
from churnwatch.notifiers.exceptions import DeliveryFailed, Reason, TemplateError
from churnwatch.notifiers.metrics import DeliveryMetrics
from churnwatch.notifiers.outbox import DeliveryRow, Outbox
from churnwatch.notifiers.protocol import Message, Notifier
from churnwatch.notifiers.retry import RetryPolicy
from churnwatch.notifiers.templates import TemplateBook

__all__ = ["DispatchReport", "Dispatcher", "group_key"]

log = logging.getLogger("churnwatch.notifiers")


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    lost_lease: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: DispatchReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.lost_lease += other.lost_lease
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n


class Dispatcher:
    """Sends due deliveries through the configured notifiers.

    It claims only deliveries for channels it has: deliveries for a channel configured on
    another dispatcher (or not yet configured anywhere) stay pending, visible in
    ``churnwatch deliveries list``, rather than failing here.
    """

    def __init__(
        self,
        outbox: Outbox,
        notifiers: Mapping[str, Notifier],
        *,
        templates: TemplateBook | None = None,
        clock: Clock = wall_clock,
        retry: RetryPolicy | None = None,
        lease: dt.timedelta = dt.timedelta(minutes=5),
        batch: int = 100,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self.outbox = outbox
        self.notifiers = notifiers
        self.templates = templates
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.lease = lease
        self.batch = batch
        self.metrics = metrics

    def run_once(self) -> DispatchReport:
        """Claim what is due now and send it; returns what happened."""
        claimed_at = self.clock()
        rows = self.outbox.claim(
            claimed_at, limit=self.batch, lease=self.lease, channels=self.notifiers.keys()
        )
        report = DispatchReport()
        for group in group_rows(rows):
            self._send(group, claimed_at, report)
        return report

    def run_until_idle(self) -> DispatchReport:
        """``run_once`` until nothing due is left (retries due later stay for later)."""
        total = DispatchReport()
        while True:
            report = self.run_once()
            total.add(report)
            if report.sent + report.retried + report.failed + report.lost_lease == 0:
                return total

    def _send(
        self, rows: list[DeliveryRow], claimed_at: dt.datetime, report: DispatchReport
    ) -> None:
        first = rows[0]
        notifier = self.notifiers[first.channel]  # claim() takes only channels we have
        try:
            message = self.compose(rows)
        except TemplateError as exc:
            self._record_failure(rows, DeliveryFailed.permanent(Reason.REJECTED, str(exc)), report)
            return
        if self.clock() >= claimed_at + self.lease:
            report.lost_lease += len(rows)  # too late to send safely: another claim may own it
            return
        if self.metrics is not None:
            self.metrics.delivery_attempt(first.channel)
        try:
            receipt = notifier.send(message)
        except DeliveryFailed as failed:
            self._record_failure(rows, failed, report)
            return
        except Exception as exc:  # a bug in a plugin: retry, but say what kind of error
            log.exception("notifier %s raised an unexpected error", first.channel)
            unexpected = DeliveryFailed.transient(
                Reason.UNKNOWN, f"notifier raised {type(exc).__name__}"
            )
            self._record_failure(rows, unexpected, report)
            return
        now = self.clock()
        done = self.outbox.mark_sent(rows, now, receipt.provider_message_id)
        report.sent += done
        report.lost_lease += len(rows) - done
        if self.metrics is not None:
            for row in rows[:done]:
                detected = row.payload.get("detected_at")
                latency = None
                if detected:
                    latency = (now - dt.datetime.fromisoformat(detected)).total_seconds()
                self.metrics.delivery(first.channel, "sent", latency)

    def _record_failure(
        self, rows: list[DeliveryRow], failure: DeliveryFailed, report: DispatchReport
    ) -> None:
        now = self.clock()
        attempts = max(row.attempts for row in rows)
        error = str(failure)
        when = self.retry.next_try(attempts, failure, now)
        report.reasons[failure.reason.value] = report.reasons.get(failure.reason.value, 0) + len(
            rows
        )
        if when is not None:
            done = self.outbox.mark_retry(rows, now, when, error)
            report.retried += done
            outcome = "retry"
        else:
            if failure.retryable:
                error = f"{error} (gave up after {attempts} attempts)"
            done = self.outbox.mark_failed(rows, now, error)
            report.failed += done
            outcome = "failed"
        report.lost_lease += len(rows) - done
        if self.metrics is not None:
            self.metrics.delivery_failure(rows[0].channel, failure.reason.value)
            for _ in range(done):
                self.metrics.delivery(rows[0].channel, outcome)
        log.warning(
            "delivery %s via %s: %s (%s)",
            ",".join(str(r.id) for r in rows),
            rows[0].channel,
            error,
            outcome,
        )

    def compose(self, rows: Sequence[DeliveryRow]) -> Message:
        """One message for one row, or for a group of rows to the same person."""
        first = rows[0]
        payload = first.payload
        body = str(payload.get("body", ""))
        subject = str(payload.get("subject", ""))
        key = f"{first.alert_id}:{first.audience}:{first.recipient_id}:{first.channel}"
        if len(rows) > 1:
            if self.templates is None:
                body = "\n\n".join(str(r.payload.get("body", "")) for r in rows)
            else:
                body = self.templates.render_group(
                    first.audience,
                    str(payload.get("language", "zh-CN")),
                    [r.payload for r in rows],
                    {"id": first.recipient_id, "name": payload.get("recipient_name", "")},
                )
            subject = body.splitlines()[0] if body else subject
            key = group_key(rows)
        return Message(
            key=key,
            channel=first.channel,
            audience=first.audience,
            recipient_id=first.recipient_id,
            address=payload.get("address"),
            language=str(payload.get("language", "zh-CN")),
            subject=subject,
            body=body,
            alert_ids=tuple(r.alert_id for r in rows),
            customer_id=_one({r.payload.get("customer_id") for r in rows}),
            rule_id=payload.get("rule_id") if len(rows) == 1 else None,
            segments=int(payload.get("segments", 0)) if len(rows) == 1 else 0,
        )


def _one(values: set[Any]) -> Any:
    """The value all rows share, else None (a group about several customers)."""
    return next(iter(values)) if len(values) == 1 else None


def group_rows(rows: Sequence[DeliveryRow]) -> list[list[DeliveryRow]]:
    """Claimed rows as send units: grouped rows to the same person together, others alone."""
    groups: dict[tuple[str, str, str], list[DeliveryRow]] = {}
    units: list[list[DeliveryRow]] = []
    for row in rows:
        if not row.grouped:
            units.append([row])
            continue
        key = (row.channel, row.audience, row.recipient_id)
        if key not in groups:
            groups[key] = []
            units.append(groups[key])
        groups[key].append(row)
    return units


def group_key(rows: Sequence[DeliveryRow]) -> str:
    """The same key for every retry of one grouped message, and a bounded one: robots and
    SMTP get it as an idempotency key, and receivers and the outbox's provider id column
    take only so much (a list of forty row ids did not fit PostgreSQL's 128 characters,
    so a sent message could not be recorded and went out again after its lease)."""
    ids = "+".join(str(r.id) for r in rows)
    return f"group:{rows[0].id}:{len(rows)}:{hashlib.sha256(ids.encode()).hexdigest()[:24]}"
