"""Contract-v1 events and the alert, as typed models.

The models are msgspec Structs: decoding bytes into them validates types, enums and
timezones in one C-speed pass, which is what keeps the replay driver above 50,000
events per second. The JSON Schema files in ``schemas/json/`` are generated from these
models (``python -m churnwatch.schemas.jsonschema``) and a test keeps the two in step.

Money is :class:`~decimal.Decimal` from the first byte: msgspec parses a JSON number
or a decimal string straight into a Decimal, never through float.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeAlias

import msgspec

__all__ = [
    "EVENT_TYPES",
    "TOPIC_OF_TYPE",
    "Alert",
    "AlertScore",
    "Counterparty",
    "CustomerEvent",
    "DerivedOutcome",
    "Event",
    "ProductEvent",
    "Recipient",
    "ScoreContribution",
    "StaffEvent",
    "TransactionEvent",
]

AwareDatetime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
#: an ISO 4217 code's shape (schemas/posting.py applies it once per currency seen)
CURRENCY_PATTERN = "^[A-Z]{3}$"
Currency = Annotated[str, msgspec.Meta(pattern=CURRENCY_PATTERN)]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+[1-9][0-9]{6,14}$")]

Direction = Literal["debit", "credit"]
TransactionKind = Literal[
    "transfer",
    "payroll",
    "card",
    "cash",
    "fee",
    "interest",
    "auto_debit",
    "product",
    "loan",
    "other",
]
Channel = Literal["mobile", "online", "counter", "atm", "pos", "batch"]
ProductKind = Literal["time_deposit", "wealth", "fund_plan", "insurance", "auto_debit"]
ProductAction = Literal[
    "opened", "maturity_scheduled", "matured", "renewed", "redeemed", "cancelled"
]
Language = Literal["zh-CN", "en"]
StaffRole = Literal["relationship_manager", "branch_head", "executive"]
Severity = Literal["low", "medium", "high", "critical"]


#: the zero a posting's amount is compared with: a Decimal, since an int would first be
#: converted to one at every comparison
_ZERO = Decimal(0)


def _require_positive(name: str, value: Decimal | None) -> None:
    if value is None:
        return
    if not value.is_finite():
        raise ValueError(f"`{name}` must be a finite number, got {value} - at `$.{name}`")
    if value <= 0:
        raise ValueError(f"`{name}` must be positive, got {value} - at `$.{name}`")


def _require_finite(name: str, value: Decimal | None) -> None:
    if value is not None and not value.is_finite():
        raise ValueError(f"`{name}` must be a finite number, got {value} - at `$.{name}`")


class Counterparty(msgspec.Struct, frozen=True, omit_defaults=True):
    """The other side of a transaction. Absent fields read as unknown (None / False)."""

    name: str | None = None
    account: str | None = None
    bank: str | None = None
    same_bank: bool = False
    same_customer: bool = False


NO_COUNTERPARTY = Counterparty()


class TransactionEvent(
    msgspec.Struct, frozen=True, tag_field="type", tag="transaction", omit_defaults=True
):
    """A posting on one account (topic ``churnwatch.transactions``)."""

    event_id: NonEmpty
    occurred_at: AwareDatetime
    account_id: NonEmpty
    customer_id: NonEmpty
    direction: Direction
    amount: Decimal
    balance_after: Decimal
    kind: TransactionKind
    channel: Channel
    currency: Currency = "CNY"
    counterparty: Counterparty = NO_COUNTERPARTY
    description: str | None = None

    def __post_init__(self) -> None:
        # the common case in one line (runs for every posting); the helpers say why not
        amount = self.amount
        if amount.is_finite() and self.balance_after.is_finite() and amount > _ZERO:
            return
        _require_positive("amount", self.amount)
        _require_finite("balance_after", self.balance_after)


class ProductEvent(
    msgspec.Struct, frozen=True, tag_field="type", tag="product", omit_defaults=True
):
    """A product lifecycle step (topic ``churnwatch.products``)."""

    event_id: NonEmpty
    occurred_at: AwareDatetime
    customer_id: NonEmpty
    account_id: NonEmpty
    product_id: NonEmpty
    product_kind: ProductKind
    action: ProductAction
    amount: Decimal | None = None
    maturity_date: dt.date | None = None
    currency: Currency = "CNY"

    def __post_init__(self) -> None:
        _require_positive("amount", self.amount)


class CustomerEvent(
    msgspec.Struct, frozen=True, tag_field="type", tag="customer", omit_defaults=True
):
    """An upsert of the customer directory (compacted topic ``churnwatch.customers``)."""

    event_id: NonEmpty
    occurred_at: AwareDatetime
    customer_id: NonEmpty
    name: NonEmpty
    phone: Phone
    language: Language
    aum: Decimal
    branch_id: NonEmpty
    manager_id: NonEmpty
    sms_opt_in: bool
    birthday: dt.date | None = None
    tier: str | None = None

    def __post_init__(self) -> None:
        _require_finite("aum", self.aum)


class StaffEvent(msgspec.Struct, frozen=True, tag_field="type", tag="staff", omit_defaults=True):
    """An upsert of the staff directory (compacted topic ``churnwatch.staff``)."""

    event_id: NonEmpty
    occurred_at: AwareDatetime
    staff_id: NonEmpty
    name: NonEmpty
    phone: Phone
    role: StaffRole
    branch_id: NonEmpty
    active: bool
    #: the language of this person's messages and pages; unset: routing's staff default
    language: Language | None = None
    #: the person's id in the bank's messenger (WeCom user id, DingTalk user id)
    im_user_id: str | None = None
    #: the branch's name as staff call it (reports and pages show it instead of the id)
    branch_name: str | None = None


Event: TypeAlias = TransactionEvent | ProductEvent | CustomerEvent | StaffEvent

EVENT_TYPES: dict[str, type[Event]] = {
    "transaction": TransactionEvent,
    "product": ProductEvent,
    "customer": CustomerEvent,
    "staff": StaffEvent,
}

TOPIC_OF_TYPE: dict[str, str] = {
    "transaction": "churnwatch.transactions",
    "product": "churnwatch.products",
    "customer": "churnwatch.customers",
    "staff": "churnwatch.staff",
}

FactValue: TypeAlias = str | int | bool | None


class Recipient(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who is told of an alert, and how. ``address`` is filled by routing, masked in logs."""

    audience: str
    staff_id: str | None = None
    channel: str | None = None


class ScoreContribution(msgspec.Struct, frozen=True):
    """One signal in a churn score: the rule whose alert it was, when, its weight, and
    what it is still worth at the time of the alert that carries it (points)."""

    rule_id: str
    at: AwareDatetime
    weight: Decimal
    value: Decimal


class AlertScore(msgspec.Struct, frozen=True, omit_defaults=True):
    """The customer's churn score at the time of an alert (rules/score.py), and why.

    ``band_from`` and ``band_to`` are the report's band it fell in, as the pack's
    ``score.bands`` stood when the alert was raised (``band_to`` None: the top band).
    """

    points: Decimal
    half_life: str
    band_from: Decimal
    band_to: Decimal | None = None
    contributions: list[ScoreContribution] = msgspec.field(default_factory=list)


class Alert(msgspec.Struct, frozen=True, tag_field="type", tag="alert", omit_defaults=True):
    """What churnwatch sends back (topic ``churnwatch.alerts`` and the alert store).

    ``alert_id`` is derived from the rule, its version, the customer and the triggering
    events, so the same trigger always gives the same id. ``facts`` holds the numbers
    the rule used, money as decimal strings so no reader can turn them into floats.
    """

    alert_id: str
    rule_id: str
    rule_version: int
    severity: Severity
    customer_id: str
    account_id: str | None
    occurred_at: dt.datetime
    detected_at: dt.datetime
    facts: dict[str, FactValue]
    trigger_event_ids: list[str]
    recipients: list[Recipient] = msgspec.field(default_factory=list)
    title: str = ""
    #: the message template to render, when not the rule's own (e.g. a schedule step's)
    template: str | None = None
    #: from a rule in ``mode: shadow``: stored for comparison, never routed or delivered
    shadow: bool = False
    #: the customer's churn score at the alert's time, when the pack defines one
    score: AlertScore | None = None
    #: from a rule with ``delivery: morning_list``: stored, shown on the relationship
    #: manager's morning list, never routed or delivered as an alert
    listed: bool = False


class DerivedOutcome(msgspec.Struct, frozen=True, omit_defaults=True):
    """An alert's outcome as the customer's own later events show it (not an alert).

    ``outcome`` is ``retained``, ``partly_retained``, ``left`` or ``unknown`` (the watch
    ended undecided); ``share`` the share of the money at stake kept, when the rule's
    definition measures money. Derived alike for customers in a control group, whom no
    manager was told about, so the uplift has something to compare.
    """

    alert_id: str
    rule_id: str
    customer_id: str
    outcome: str
    decided_at: dt.datetime
    share: Decimal | None = None
    #: the event that decided it; None when the watch ran out
    evidence_event_id: str | None = None


def event_type_name(event: Event) -> str:
    """The contract ``type`` of an event, without a dictionary lookup per call site."""
    return event.__struct_config__.tag  # type: ignore[return-value]


def to_builtins(obj: Any) -> Any:
    """Plain JSON-ready data: Decimals and datetimes become strings."""
    return msgspec.to_builtins(obj)
