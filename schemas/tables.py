"""The alert store's tables (SQLAlchemy 2.x Core), shared by both drivers and the notifiers.

``alerts.alert_id`` is unique: writing the same alert twice is a no-op, which is how a
restart, a rebalance or a replay never alerts twice. ``deliveries`` is the outbox:
one row per (alert, recipient, channel), written before anything is sent.
Migrations live in ``schemas/migrations`` (Alembic); these definitions are the target.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "alerts",
    "customer_products",
    "customer_profiles",
    "deliveries",
    "derived_outcomes",
    "directory_staff",
    "followup_assignees",
    "followup_events",
    "followups",
    "inbound_messages",
    "metadata",
    "morning_lists",
    "phone_reveals",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), nullable=False, unique=True),
    Column("rule_id", String(64), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("account_id", String(64)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("title", Text, nullable=False, default=""),
    Column("facts", Json, nullable=False),
    Column("trigger_event_ids", Json, nullable=False),
    Column("recipients", Json, nullable=False),
    #: the customer's churn score at the alert's time (AlertScore), when the pack has one
    Column("score", Json),
    Index("ix_alerts_customer_occurred", "customer_id", "occurred_at"),
    Index("ix_alerts_rule_detected", "rule_id", "detected_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), ForeignKey("alerts.alert_id"), nullable=False),
    Column("audience", String(32), nullable=False),
    Column("recipient_id", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("provider_message_id", String(128)),
    Column("last_error", Text),
    Column("payload", Json),
    UniqueConstraint(
        "alert_id", "audience", "recipient_id", "channel", name="uq_deliveries_target"
    ),
    Index("ix_deliveries_status_due", "status", "due_at"),
)

# --- managers' follow-up (issue 7; see followup/) -----------------------------------------
# ``followups`` is the current state of one alert's follow-up, with the customer snapshot
# the page needs (there is no persistent customer directory; the dispatcher knows the
# profile when it opens the follow-up). ``followup_events`` is the append-only record of
# who did what, when. ``followup_assignees`` is who the alert was routed to (first routing
# and escalations), so a staff member sees only their alerts. ``directory_staff`` holds the
# staff directory, so an inbound SMS can be matched to a person and escalation can find the
# branch head after a restart.

followups = Table(
    "followups",
    metadata,
    Column("alert_id", String(64), ForeignKey("alerts.alert_id"), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("outcome", String(24)),
    Column("retained_amount", String(32)),
    Column("is_control", Boolean, nullable=False, default=False),
    Column("customer_name", Text, nullable=False, default=""),
    Column("customer_tier", String(16), nullable=False, default=""),
    Column("branch_id", String(64), nullable=False, default=""),
    Column("manager_id", String(64), nullable=False, default=""),
    Column("language", String(8), nullable=False, default="zh-CN"),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", String(64)),
    Column("contacted_at", DateTime(timezone=True)),
    Column("outcome_at", DateTime(timezone=True)),
    Column("outcome_by", String(64)),
    Column("escalation_level", Integer, nullable=False, default=0),
    Column("next_escalation_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_followups_status_escalation", "status", "next_escalation_at"),
    Index("ix_followups_branch", "branch_id"),
)

followup_events = Table(
    "followup_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), ForeignKey("alerts.alert_id"), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("outcome", String(24)),
    Column("note", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_followup_events_alert", "alert_id", "id"),
)

followup_assignees = Table(
    "followup_assignees",
    metadata,
    Column("alert_id", String(64), ForeignKey("alerts.alert_id"), primary_key=True),
    Column("staff_id", String(64), primary_key=True),
    Column("audience", String(32), nullable=False),
    Column("reason", String(24), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Column("notified_at", DateTime(timezone=True)),
    Index("ix_followup_assignees_staff", "staff_id", "assigned_at"),
)

directory_staff = Table(
    "directory_staff",
    metadata,
    Column("staff_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("phone", String(32), nullable=False),
    Column("role", String(32), nullable=False),
    Column("branch_id", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("language", String(16)),
    Column("branch_name", Text),
    Column("im_user_id", String(128)),
    Index("ix_directory_staff_phone", "phone"),
    Index("ix_directory_staff_branch_role", "branch_id", "role"),
)

#: each inbound SMS handled, by Twilio's MessageSid: a retried or replayed webhook call
#: gets the first answer again and changes nothing
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("message_sid", String(64), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("answer", Text),
)


# --- the bank's view of its customers (issues 13 and 17; see schemas/profiles.py) ---------
# Kept current by both drivers from the customer, product and transaction events, written
# once per batch. Each row carries the version of the event it reflects (event time in µs,
# then event id), and an upsert only ever moves a row to a newer version: an older event
# never overwrites a newer one, and reading events again changes nothing.

customer_profiles = Table(
    "customer_profiles",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("name", Text),
    Column("phone", String(32)),
    Column("language", String(8)),
    Column("tier", String(32)),
    #: assets under management at the bank, as the exact decimal the event gave
    Column("aum", String(48)),
    #: the same in whole cents (rounded down), for ranking a branch's customers
    Column("aum_cents", BigInteger),
    Column("branch_id", String(64)),
    Column("manager_id", String(64)),
    #: version of the customer event the fields above come from (NULL: none seen yet)
    Column("customer_at", BigInteger),
    Column("customer_event", Text),
    #: the latest payroll credit seen, and the account it landed on
    Column("payroll_last_at", DateTime(timezone=True)),
    Column("payroll_account", String(64)),
    Index("ix_customer_profiles_branch_aum", "branch_id", "aum_cents"),
    Index("ix_customer_profiles_manager", "manager_id"),
)

customer_products = Table(
    "customer_products",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("product_id", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("amount", String(48)),
    Column("currency", String(3), nullable=False),
    Column("maturity_date", Date),
    #: amount and maturity date each come from the newest event that gave one
    Column("amount_at", BigInteger),
    Column("amount_event", Text),
    Column("maturity_at", BigInteger),
    Column("maturity_event", Text),
    #: held: opened, maturity scheduled or renewed; not held: matured, redeemed, cancelled
    Column("held", Boolean, nullable=False),
    Column("last_action", String(24), nullable=False),
    Column("version_at", BigInteger, nullable=False),
    Column("version_event", Text, nullable=False),
)

#: who revealed a customer's phone number on an alert page, and when (an audit record,
#: never updated or deleted)
phone_reveals = Table(
    "phone_reveals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), ForeignKey("alerts.alert_id"), nullable=False),
    Column("staff_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_phone_reveals_alert_staff", "alert_id", "staff_id", "at"),
)


#: each alert's outcome as derived from the customer's own later events (the rule pack's
#: ``outcome:``), one row per alert, written once: beside, never over, what managers record
derived_outcomes = Table(
    "derived_outcomes",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("rule_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("outcome", String(24), nullable=False),
    #: share of the money at stake kept, as a decimal string (rules with ``at_stake``)
    Column("share", String(32)),
    #: event time the outcome was decided (an event, or the end of the watch)
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("evidence_event_id", String(128)),
    Index("ix_derived_outcomes_rule", "rule_id"),
)


#: each relationship manager's morning list of one business day (followup/morning/):
#: one row per person and day, written before anything is sent, so a restart neither
#: sends a list twice nor forgets one; ``entries`` is what the list held (the page shows
#: it, and the next list leaves out the inflows this one already named). A day with
#: nothing to do is recorded as ``empty`` and nothing is sent.
morning_lists = Table(
    "morning_lists",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("staff_id", String(64), nullable=False),
    Column("list_date", Date, nullable=False),
    #: empty | pending | sending | sent | failed
    Column("status", String(16), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("provider_message_id", String(128)),
    Column("last_error", Text),
    #: the rendered message: address, language, subject, body
    Column("payload", Json),
    Column("entries", Json, nullable=False),
    UniqueConstraint("staff_id", "list_date", name="uq_morning_lists_staff_day"),
    Index("ix_morning_lists_status_due", "status", "due_at"),
)
