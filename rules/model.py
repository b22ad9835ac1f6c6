"""What a rule file may say, as typed specs.

A rule file is plain data compliance edits; these Structs are its schema. msgspec
converts the loaded YAML into them and reports the exact path of anything wrong
(``$.rules[2].window.over``), which the loader turns into a file and line.

Each rule has one *building block* that decides when it fires, or none (the ``match``
condition alone fires it):

``threshold``     one event's field reaches a value (optionally also a multiple of the
                  customer's own history: ``threshold.history``)
``window``        sum / count / max of matching events in the last W reaches a value
``balance_fall``  the customer's balance at the bank falls from its peak within W
``follow_up``     after a trigger event, matching events within W reach a share of it
``schedule``      steps at offsets before a date field (e.g. 7, 3 and 1 day before maturity)
``absence``       a customer who used to be active has gone quiet (fires without any event)
``change``        a customer field changed (e.g. the tier fell by a level)
``calendar``      a reminder N days before a customer's date (birthday) or the pack's dates
``overdue``       a regular event (a monthly payroll) did not come by its expected date plus
                  a grace period (fires without any event)
``score``         the customer's churn score (the pack's ``score:``, rules/score.py) crossed
                  a threshold upward: once per crossing
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from churnwatch.rules.texts import Localized, LocalizedList, RuleTexts
from churnwatch.schemas.models import Severity

__all__ = [
    "AUDIENCES",
    "BLOCK_NAMES",
    "BalanceFallSpec",
    "FollowUpSpec",
    "HistorySpec",
    "RuleFileSpec",
    "RuleSpec",
    "ThresholdSpec",
    "WindowSpec",
]

AUDIENCES = ("customer", "relationship_manager", "branch_head", "executive")
Audience = Literal["customer", "relationship_manager", "branch_head", "executive"]
EventTypeName = Literal["transaction", "product", "customer"]
__all__ += [
    "AbsenceSpec",
    "CalendarSpec",
    "ChangeSpec",
    "OutcomeSpec",
    "OverdueSpec",
    "ScheduleSpec",
    "ScoreRuleSpec",
    "ScoreSpec",
    "StepSpec",
]
Aggregate = Literal["sum", "count", "max"]
#: each pattern's ``description`` is what a rule check says when a value does not match
RuleId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$",
        description="2 to 63 lowercase letters, digits and '-', e.g. large-transfer-out",
    ),
]
Duration = str | int


def _refuse_bad_numbers(spec: msgspec.Struct, *names: str) -> None:
    """Refuse NaN, infinities and negative values in the named Decimal fields.

    A NaN threshold would crash the engine at the first comparison; an infinite or
    negative one silently disables a rule or makes it fire on every event.
    """
    for name in names:
        value: Decimal = getattr(spec, name)
        if not value.is_finite():
            raise ValueError(f"`{name}` must be a finite number such as 0.5 or 50000, got {value}")
        if value < 0:
            raise ValueError(f"`{name}` cannot be negative, got {value}")


HistoryName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z][a-z0-9_]{0,30}$",
        description="a lowercase letter, then up to 30 lowercase letters, digits and '_'",
    ),
]


class HistorySpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Aggregates of the customer's own past matching events, for a relative threshold.

    ``values`` names each aggregate (``largest: max(amount)``, ``outflows: count``); the
    expressions ``at_least`` and ``require`` read them as ``history.<name>``. The events
    are those the rule matched in the ``over`` period before the event at hand.
    """

    over: Duration
    values: dict[HistoryName, str]
    #: the event's field must also reach this (e.g. ``history.largest * 1.5``)
    at_least: str | None = None
    #: no alert unless this holds (e.g. ``history.outflows >= 5``: enough history to judge)
    require: str = "true"


class ThresholdSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Fire when one event's ``field`` is at least ``at_least`` (and what ``history`` asks)."""

    at_least: Decimal
    field: str = "amount"
    history: HistorySpec | None = None

    def __post_init__(self) -> None:
        _refuse_bad_numbers(self, "at_least")


class WindowSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Fire when the aggregate of matching events in the last ``over`` reaches ``at_least``."""

    over: Duration
    at_least: Decimal
    aggregate: Aggregate = "sum"
    field: str = "amount"

    def __post_init__(self) -> None:
        _refuse_bad_numbers(self, "at_least")


class BalanceFallSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Fire when the balance is at most a share of its peak in ``over`` and fell by enough."""

    over: Duration
    at_most_share_of_peak: Decimal
    drop_at_least: Decimal
    #: debits that move money into the bank's own products: still the customer's money here
    parked_when: str = 'event.kind == "product" and event.counterparty.same_bank'

    def __post_init__(self) -> None:
        _refuse_bad_numbers(self, "at_most_share_of_peak", "drop_at_least")


class FollowUpSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """After a ``trigger`` event, matching events within ``within`` reach a share of it."""

    trigger: str
    within: Duration
    at_least_share: Decimal
    aggregate: Aggregate = "sum"
    field: str = "amount"
    trigger_field: str = "amount"

    def __post_init__(self) -> None:
        _refuse_bad_numbers(self, "at_least_share")


TimeOfDay = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="a time of day as HH:MM on the 24-hour clock, e.g. 09:30",
    ),
]


class StepSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One step of a schedule: ``before`` the date, at ``at`` local time, tell ``audience``."""

    name: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^[a-z0-9][a-z0-9-]{0,30}$",
            description="up to 31 lowercase letters, digits and '-', e.g. week-before",
        ),
    ]
    before: Duration
    audience: list[Audience]
    at: TimeOfDay = "09:00"
    template: str | None = None


class ScheduleSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Steps relative to a date field of the matching event (e.g. a maturity date).

    A step already past when the event arrives is skipped, not sent late. An event
    for the same ``key`` matching ``cancel_when`` cancels the steps still pending; a
    new matching event for the same key replaces them.
    """

    date_field: str
    steps: list[StepSpec]
    key: str = "product_id"
    cancel_when: str = "false"


class AbsenceSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Matching events in the ``recent`` period fell far below the customer's usual.

    "Usual" is the count in the ``baseline`` period before ``recent``, scaled to the
    length of ``recent``. The check runs daily at ``check_at`` local time, so it fires
    even when the customer sends no event at all. ``at_most_share: 0`` means "no
    matching event at all in ``recent``".
    """

    recent: Duration
    baseline: Duration
    usual_at_least: Annotated[int, msgspec.Meta(ge=1)]
    at_most_share: Decimal
    check_at: TimeOfDay = "09:00"

    def __post_init__(self) -> None:
        _refuse_bad_numbers(self, "at_most_share")


class ChangeSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A customer field changed: ``direction`` down / up / any, by at least ``by_at_least``.

    For ``tier`` the steps are tier levels (mass < C < B < A < private); for numeric
    fields such as ``aum`` they are amounts.
    """

    field: str
    direction: Literal["down", "up", "any"] = "any"
    by_at_least: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        _refuse_bad_numbers(self, "by_at_least")


class OverdueSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A regular matching event did not come by the expected date plus ``grace``.

    Regular: at least ``at_least`` matching events within ``history`` up to the latest,
    with a median gap between ``median_gap_at_least`` and ``median_gap_at_most``. The
    expected date is the latest + the median gap. Checked daily at ``check_at``.
    """

    history: Duration
    at_least: Annotated[int, msgspec.Meta(ge=2, le=50)]
    median_gap_at_least: Duration
    median_gap_at_most: Duration
    grace: Duration
    check_at: TimeOfDay = "09:00"


OccasionName = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z][a-z0-9-]{0,40}$",
        description="a lowercase letter, then up to 40 lowercase letters, digits and '-'",
    ),
]


class CalendarSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Remind ``before`` a customer date field (yearly) or each of the pack's ``dates``.

    Exactly one of ``date_field`` (e.g. ``birthday``) and ``dates`` (a name per date,
    e.g. ``{mid-autumn-2026: 2026-09-25}``). Rules with a calendar are ``on: [customer]``.
    """

    before: Duration
    date_field: str | None = None
    dates: dict[OccasionName, dt.date] | None = None
    at: TimeOfDay = "09:00"


OutcomeValue = Literal["retained", "left", "unknown"]


class OutcomeSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How an alert's outcome is derived from the customer's own later events.

    After the alert the customer's events are watched for ``within`` (counted from the
    end of the day named by the alert's date fact ``after``, e.g. ``maturity_date``,
    when given; otherwise from the alert). Events matching ``kept`` count toward
    *retained*, events matching ``lost`` toward *left*. With ``at_stake`` (a money fact
    of the alert) they add up the events' amounts and the thresholds are shares of it;
    without it they count events. ``balance_back_to`` (rules with ``balance_fall``
    only): the customer's balance at the bank back to this share of the alert's
    ``peak_balance`` is *retained*. Undecided at the end of the watch: *partly
    retained* when some money was kept, otherwise ``otherwise``.
    """

    within: Duration
    kept: str = "false"
    lost: str = "false"
    after: str | None = None
    at_stake: str | None = None
    #: ``at_stake``: share of it kept (lost) that decides; without: the number of events
    retained_at_least: Decimal = Decimal(1)
    left_at_least: Decimal = Decimal(1)
    #: only product events of the alert's product (this fact, e.g. ``product_id``) count
    key: Literal["product_id"] | None = None
    balance_back_to: Decimal | None = None
    otherwise: OutcomeValue = "unknown"

    def __post_init__(self) -> None:
        _refuse_bad_numbers(self, "retained_at_least", "left_at_least")
        if self.balance_back_to is not None:
            _refuse_bad_numbers(self, "balance_back_to")


class ScoreRuleSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Fire when the customer's churn score rises from below ``at_least`` to it or above."""

    at_least: Decimal

    def __post_init__(self) -> None:
        _refuse_bad_numbers(self, "at_least")


class ScoreSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The pack's churn score: points per rule's alert, halved every ``half_life``.

    ``weights`` names rules in force (a rule not named adds nothing); ``bands`` are the
    lower bounds of the report's score bands above the first (``[25, 50, 75]``: below
    25, 25 to 50, 50 to 75, 75 and above).
    """

    half_life: Duration
    weights: dict[RuleId, Decimal]
    bands: list[Decimal] = msgspec.field(
        default_factory=lambda: [Decimal(25), Decimal(50), Decimal(75)]
    )


class RuleSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, rename={"on": "on"}):
    """One rule as written in the file."""

    id: RuleId
    version: Annotated[int, msgspec.Meta(ge=1)]
    #: one text, or one per language (``{zh-CN: …, en: …}``), as are description and actions
    title: Localized
    description: Localized
    owner: Annotated[str, msgspec.Meta(min_length=1)]
    severity: Severity
    audience: list[Audience]
    enabled: bool = True
    on: list[EventTypeName] = msgspec.field(default_factory=lambda: ["transaction"])
    match: str = "true"
    template: str | None = None
    cooldown: Duration = 0
    threshold: ThresholdSpec | None = None
    window: WindowSpec | None = None
    balance_fall: BalanceFallSpec | None = None
    follow_up: FollowUpSpec | None = None
    schedule: ScheduleSpec | None = None
    absence: AbsenceSpec | None = None
    change: ChangeSpec | None = None
    overdue: OverdueSpec | None = None
    calendar: CalendarSpec | None = None
    score: ScoreRuleSpec | None = None
    suggested_actions: LocalizedList = msgspec.field(default_factory=list)
    #: share of triggered customers held back as a control group: alert recorded, no message
    control_share: Decimal = Decimal(0)
    #: ``shadow``: evaluated and stored, marked as shadow, never routed, delivered or escalated
    mode: Literal["live", "shadow"] = "live"
    #: the rule in force this one is tried against (``churnwatch rules compare``)
    shadows: RuleId | None = None
    #: ``morning_list``: each hit goes on the relationship manager's morning list
    #: (followup/morning/), stored but never routed, delivered, followed up or escalated
    delivery: Literal["alert", "morning_list"] = "alert"
    #: how each alert's outcome is derived from the customer's later events
    outcome: OutcomeSpec | None = None

    def __post_init__(self) -> None:
        titles = [self.title] if isinstance(self.title, str) else list(self.title.values())
        if not titles or not all(t.strip() for t in titles):
            raise ValueError("`title` cannot be empty - at `$.title`")
        try:
            _refuse_bad_numbers(self, "control_share")
        except ValueError as exc:
            raise ValueError(f"{exc} - at `$.control_share`") from None
        if self.delivery == "morning_list" and self.audience != ["relationship_manager"]:
            raise ValueError(
                "a rule with `delivery: morning_list` is for the relationship manager's "
                "morning list: write `audience: [relationship_manager]` - at `$.audience`"
            )
        if not (0 <= self.control_share < 1):
            raise ValueError(
                f"`control_share` must be at least 0 and below 1, got {self.control_share}"
                " - at `$.control_share`"
            )

    @property
    def texts(self) -> RuleTexts:
        return RuleTexts(self.title, self.description, self.suggested_actions)


BLOCK_NAMES = (
    "threshold",
    "window",
    "balance_fall",
    "follow_up",
    "schedule",
    "absence",
    "change",
    "overdue",
    "calendar",
    "score",
)


class RuleFileSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A rule file: named predicates, rules and the churn score; any may be absent."""

    predicates: dict[str, str] = msgspec.field(default_factory=dict)
    rules: list[RuleSpec] = msgspec.field(default_factory=list)
    #: the churn score (at most one file of the pack says it)
    score: ScoreSpec | None = None
