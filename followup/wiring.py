"""Where follow-up meets the delivery pipeline: links, control groups, opening, escalating.

Both drivers (replay and worker) call :func:`follow_up_parts` once and get:

* ``links`` for the notifier templates (a signed ``churnwatch web`` link and a short
  reference for SMS replies in every staff message), when a web secret and a public URL
  are configured;
* ``control``, which tells the pipeline to record a control-group alert but tell nobody;
* ``sink``, an alert sink that opens each routed alert's follow-up (with its escalation
  timer) and keeps the staff directory the web pages and escalation read;
* :class:`OutboxNotify`, the ``notify`` of :class:`~churnwatch.followup.escalation.Escalator`, which
  sends an escalation through the same outbox as every other message.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import msgspec
from sqlalchemy import Engine

from churnwatch.exceptions import ChurnwatchError
from churnwatch.followup.control import is_control
from churnwatch.followup.escalation import Escalator, Notify, load_policy
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.tokens import LinkSigner, load_secret, morning_scope, short_ref
from churnwatch.notifiers.directory import Directory, InMemoryDirectory
from churnwatch.notifiers.pipeline import Notifications
from churnwatch.rules.loader import RuleSet
from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import Alert, Recipient, StaffEvent

__all__ = ["FollowUpParts", "FollowUpSink", "OutboxNotify", "follow_up_parts", "links_for"]

log = logging.getLogger(__name__)

PUBLIC_URL_ENV = "CHURNWATCH_WEB_PUBLIC_URL"
LINK_TTL = dt.timedelta(days=7)
STAFF_ROLES = ("relationship_manager", "branch_head", "executive")


def links_for(
    public_url: str | None, secret: bytes | None, clock: Callable[[], dt.datetime]
) -> Callable[[str, str], Mapping[str, str]] | None:
    """The template link maker, or None when links are not configured (no URL or secret)."""
    if not public_url or not secret:
        return None
    signer = LinkSigner(secret)
    base = public_url.rstrip("/")

    def link(alert_id: str, staff_id: str) -> Mapping[str, str]:
        token = signer.sign(alert_id, staff_id, clock() + LINK_TTL)
        return {"link": f"{base}/a/{token}", "ref": short_ref(alert_id)}

    return link


def morning_links_for(
    public_url: str | None, secret: bytes | None, clock: Callable[[], dt.datetime]
) -> Callable[[str, dt.date], str] | None:
    """The morning list's link maker (one person, one day), or None when links are off."""
    if not public_url or not secret:
        return None
    signer = LinkSigner(secret)
    base = public_url.rstrip("/")

    def link(staff_id: str, day: dt.date) -> str:
        return f"{base}/m/{signer.sign(morning_scope(day), staff_id, clock() + LINK_TTL)}"

    return link


def control_for(ruleset: RuleSet) -> Callable[[Alert], bool]:
    """Whether an alert falls in its rule's control group (``control_share`` in the rule)."""
    shares = {rule.id: rule.spec.control_share for rule in ruleset.rules}

    def control(alert: Alert) -> bool:
        share = shares.get(alert.rule_id, Decimal(0))
        return bool(share) and is_control(alert.rule_id, alert.customer_id, share)

    return control


class FollowUpSink:
    """Opens the follow-up of every new routed alert; mirrors staff into the store."""

    def __init__(
        self, store: FollowUpStore, escalator: Escalator, control: Callable[[Alert], bool]
    ) -> None:
        self.store = store
        self.escalator = escalator
        self.control = control
        self.synced: dict[str, StaffEvent] = {}
        self.synced_version = -1

    def __call__(self, alerts: Sequence[Alert], directory: Directory) -> None:
        self.sync_staff(directory)
        for alert in alerts:
            if alert.shadow or alert.listed:  # a rule on trial, or one for the morning list:
                continue  # nobody follows it up, nothing escalates
            assignees = [
                (r.staff_id, r.audience)
                for r in alert.recipients
                if r.staff_id and r.audience != "customer"
            ]
            self.escalator.open(
                alert,
                directory.customer(alert.customer_id),
                assignees,
                control=self.control(alert),
            )

    def sync_staff(self, directory: Directory) -> None:
        """Write staff records that are new or changed since the last call."""
        version = getattr(directory, "staff_version", None)
        if version is not None and version == self.synced_version:
            return  # no staff upsert since the last sync: nothing to compare
        self.synced_version = version if version is not None else -1
        now = dt.datetime.now(dt.UTC)
        for staff in directory.all_staff():
            if self.synced.get(staff.staff_id) != staff:
                self.store.put_staff(staff, now)
                self.synced[staff.staff_id] = staff


class OutboxNotify:
    """Escalations as ordinary deliveries: routed to one person, rendered, sent, recorded."""

    def __init__(self, store: FollowUpStore, notifications: Notifications) -> None:
        self.store = store
        self.notifications = notifications

    def __call__(self, alert: Alert, audience: str, staff_id: str, reason: str) -> None:
        directory = self.directory_for(alert)
        staff = directory.staff(staff_id)
        channel = self.notifications.routing.route_for(audience).channel
        routed = msgspec.structs.replace(
            alert, recipients=[Recipient(audience=audience, staff_id=staff_id, channel=channel)]
        )
        if staff is None:
            log.warning(
                "escalation of %s: staff %s is not in the directory", alert.alert_id, staff_id
            )
        self.notifications([routed], directory)

    def directory_for(self, alert: Alert) -> InMemoryDirectory:
        """A directory with what the message needs: the customer snapshot and the staff."""
        directory = InMemoryDirectory()
        followup = self.store.get(alert.alert_id)
        if followup is not None:
            directory.put_customer(
                CustomerProfile(
                    customer_id=alert.customer_id,
                    name=followup.customer_name,
                    phone="",
                    language=followup.language,
                    aum=Decimal(0),
                    tier=followup.customer_tier,
                    branch_id=followup.branch_id,
                    manager_id=followup.manager_id,
                    sms_opt_in=False,
                )
            )
        for role in STAFF_ROLES:
            for record in self.store.staff_with_role(role):
                directory.put_staff(
                    StaffEvent(
                        event_id=f"directory-{record.staff_id}",
                        occurred_at=dt.datetime.now(dt.UTC),
                        staff_id=record.staff_id,
                        name=record.name,
                        phone=record.phone,
                        role=record.role,  # type: ignore[arg-type]
                        branch_id=record.branch_id,
                        active=record.active,
                        language=record.language,  # type: ignore[arg-type]
                        im_user_id=record.im_user_id,
                        branch_name=record.branch_name,
                    )
                )
        return directory


@dataclass(frozen=True)
class FollowUpParts:
    links: Callable[[str, str], Mapping[str, str]] | None
    control: Callable[[Alert], bool]
    store: FollowUpStore
    policy_file: Path
    #: the morning list page's link for (staff id, day), when links are on
    morning_link: Callable[[str, dt.date], str] | None = None


def follow_up_parts(
    engine: Engine,
    ruleset: RuleSet,
    rules_dir: Path,
    *,
    public_url: str | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> FollowUpParts:
    """Links (when a web secret and public URL are set), control groups and the store."""
    url = public_url or os.environ.get(PUBLIC_URL_ENV)
    secret: bytes | None = None
    if url:
        try:
            secret = load_secret()
        except ChurnwatchError as exc:
            log.warning("follow-up links are off: %s", exc)
    return FollowUpParts(
        links=links_for(url, secret, clock),
        control=control_for(ruleset),
        store=FollowUpStore(engine),
        policy_file=rules_dir / "routing.yaml",
        morning_link=morning_links_for(url, secret, clock),
    )


def follow_up_sink(
    parts: FollowUpParts, notify: Notify, clock: Callable[[], dt.datetime]
) -> FollowUpSink:
    escalator = Escalator(parts.store, load_policy(parts.policy_file), notify, clock)
    return FollowUpSink(parts.store, escalator, parts.control)


__all__ += ["control_for", "follow_up_sink", "morning_links_for"]
