"""The routing file (``rules/pack/routing.yaml``): who hears of an alert, how, and when.

Compliance edits it beside the rules. It is checked whole at load: every audience needs
an installed channel, durations and quiet hours must parse, tiers must increase; an
error names the file, line and setting. See the shipped file for every setting.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from churnwatch.notifiers.exceptions import RoutingError
from churnwatch.notifiers.inhibit import (
    EQUAL_LABELS,
    SOURCE_LABELS,
    TARGET_LABELS,
    InhibitRule,
    Matcher,
)
from churnwatch.rules import DEFAULT_TIMEZONE
from churnwatch.rules.durations import parse_duration
from churnwatch.rules.tiers import TierScale

__all__ = [
    "AudienceRoute",
    "Escalation",
    "QuietHours",
    "Routing",
    "TopCustomersRoute",
    "load_routing",
]

Audience = Literal["customer", "relationship_manager", "branch_head", "executive"]
Severity = Literal["low", "medium", "high", "critical"]
AUDIENCES: tuple[Audience, ...] = ("customer", "relationship_manager", "branch_head", "executive")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class _AudienceSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    channel: str
    language: Literal["zh-CN", "en"] | None = None
    quiet_hours: str | None = None
    max_per_day: int | None = None
    max_per_week: int | None = None
    cooldown: str | int = 0
    group_wait: str | int = 0


class _EscalationSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    audience: Audience
    tiers: list[str] = msgspec.field(default_factory=list)
    severities: list[Severity] = msgspec.field(default_factory=list)


class _TiersSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    names: list[str]
    bounds: list[Decimal]


class _TopCustomersSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    per_branch: int
    branch_head: bool = True
    leaders: str | None = None


class _SmsSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    max_segments: int = 3


class _InhibitSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    source_matchers: list[str]
    target_matchers: list[str]
    duration: str | int
    equal: list[str] = msgspec.field(default_factory=lambda: ["customer_id"])
    name: str | None = None


class _RoutingSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    audiences: dict[Audience, _AudienceSpec]
    timezone: str = DEFAULT_TIMEZONE
    #: the language of staff messages and pages, unless a person's own ``language`` says otherwise
    staff_language: Literal["zh-CN", "en"] = "zh-CN"
    tiers: _TiersSpec | None = None
    escalate: list[_EscalationSpec] = msgspec.field(default_factory=list)
    manager_fallback: Literal["branch_head"] = "branch_head"
    sms: _SmsSpec = msgspec.field(default_factory=_SmsSpec)
    top_customers: _TopCustomersSpec | None = None
    #: an alert of some rules holds the customer messages of others (notifiers/inhibit.py)
    inhibit: list[_InhibitSpec] = msgspec.field(default_factory=list)
    #: when unacknowledged alerts escalate; checked by churnwatch.followup.escalation.load_policy
    escalation: dict[str, Any] | None = None
    #: the relationship managers' morning list; checked by churnwatch.followup.morning
    morning_list: dict[str, Any] | None = None


@dataclass(frozen=True)
class QuietHours:
    """A daily window in the bank's time zone; ``start > end`` wraps past midnight."""

    start: dt.time
    end: dt.time

    def contains(self, local: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = _CLOCK.match(text.replace(" ", ""))
        if not match:
            raise ValueError(f"{text!r} is not a time window: write e.g. '21:00-08:00'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return cls(dt.time(h1, m1), dt.time(h2, m2))


@dataclass(frozen=True)
class AudienceRoute:
    """How one audience is reached, and the contact policy that applies to it."""

    channel: str
    language: str | None = None
    quiet_hours: QuietHours | None = None
    max_per_day: int | None = None
    max_per_week: int | None = None
    cooldown: dt.timedelta = dt.timedelta(0)
    group_wait: dt.timedelta = dt.timedelta(0)


@dataclass(frozen=True)
class Escalation:
    """Also tell ``audience`` when the customer's tier and the alert's severity match."""

    audience: str
    tiers: frozenset[str]
    severities: frozenset[str]

    def applies(self, tier: str | None, severity: str) -> bool:
        tier_ok = not self.tiers or (tier is not None and tier in self.tiers)
        return tier_ok and (not self.severities or severity in self.severities)


@dataclass(frozen=True)
class TopCustomersRoute:
    """A branch's first ``per_branch`` customers by assets: their staff alerts also go to
    the branch head (``branch_head``) and to the leader ``leaders`` names for them."""

    per_branch: int
    branch_head: bool = True
    #: customer id -> staff id, from the assignment list compliance keeps
    leaders: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Routing:
    """The routing file, checked and compiled."""

    audiences: Mapping[str, AudienceRoute]
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIMEZONE))
    tiers: TierScale = field(default_factory=TierScale)
    escalate: tuple[Escalation, ...] = ()
    max_segments: int = 3
    source: str = "<defaults>"
    staff_language: str = "zh-CN"
    top_customers: TopCustomersRoute | None = None
    inhibit: tuple[InhibitRule, ...] = ()

    def route_for(self, audience: str) -> AudienceRoute:
        try:
            return self.audiences[audience]
        except KeyError:
            raise RoutingError(f"{self.source}: no route for the audience {audience!r}") from None

    def with_channel(self, channel: str) -> Routing:
        """The same policy with every audience sent to ``channel`` (``--notify console``)."""
        return replace(
            self,
            audiences={a: replace(r, channel=channel) for a, r in self.audiences.items()},
        )

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(r.channel for r in self.audiences.values())


def load_routing(path: Path, installed: frozenset[str] | None = None) -> Routing:
    """Load and check ``path``; ``installed`` channel names are checked when given."""
    from churnwatch.rules.wrong_values import in_plain_words
    from churnwatch.rules.yamlfile import YamlSyntaxError, load_yaml, plain

    try:
        document = load_yaml(path)
    except YamlSyntaxError as exc:
        raise RoutingError(f"{path}:{exc.line}:{exc.column}: {exc.message}") from exc
    except OSError as exc:
        raise RoutingError(f"cannot read the routing file {path}: {exc.strerror}") from exc

    def fail(keys: list[str | int], message: str) -> RoutingError:
        where = document.locate(keys)
        return RoutingError(f"{path}:{where.line}:{where.column}: {message}")

    try:
        spec = msgspec.convert(plain(document.data), _RoutingSpec)
    except msgspec.ValidationError as exc:
        where = _keys_of(str(exc))
        message = str(exc).partition(" - at `")[0]
        wording = in_plain_words(message, document.data, where, _RoutingSpec)
        raise fail(where, wording if wording != message else str(exc)) from exc
    try:
        timezone = ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise fail(["timezone"], f"unknown time zone {spec.timezone!r}") from exc
    tiers = TierScale()
    if spec.tiers is not None:
        try:
            tiers = TierScale(tuple(spec.tiers.names), tuple(spec.tiers.bounds))
        except ValueError as exc:
            raise fail(["tiers"], str(exc)) from exc
    missing = [a for a in AUDIENCES if a not in spec.audiences]
    if missing:
        raise fail(["audiences"], f"give a route for every audience; missing: {', '.join(missing)}")
    audiences: dict[str, AudienceRoute] = {}
    for name, item in spec.audiences.items():
        keys: list[str | int] = ["audiences", name]
        if installed is not None and item.channel not in installed:
            raise fail(
                [*keys, "channel"],
                f"no channel {item.channel!r} is installed "
                f"(installed: {', '.join(sorted(installed))})",
            )
        try:
            quiet = QuietHours.parse(item.quiet_hours) if item.quiet_hours else None
        except ValueError as exc:
            raise fail([*keys, "quiet_hours"], str(exc)) from exc
        durations = {}
        for setting in ("cooldown", "group_wait"):
            try:
                durations[setting] = dt.timedelta(seconds=parse_duration(getattr(item, setting)))
            except ValueError as exc:
                raise fail([*keys, setting], str(exc)) from exc
        for setting in ("max_per_day", "max_per_week"):
            value = getattr(item, setting)
            if value is not None and value < 0:
                raise fail([*keys, setting], f"{setting} cannot be negative")
        audiences[name] = AudienceRoute(
            channel=item.channel,
            language=item.language,
            quiet_hours=quiet,
            max_per_day=item.max_per_day,
            max_per_week=item.max_per_week,
            cooldown=durations["cooldown"],
            group_wait=durations["group_wait"],
        )
    for index, escalation in enumerate(spec.escalate):
        unknown = [t for t in escalation.tiers if tiers.rank(t) < 0]
        if unknown:
            raise fail(["escalate", index, "tiers"], f"unknown tier(s): {', '.join(unknown)}")
    top = spec.top_customers
    if top is not None and top.per_branch < 1:
        raise fail(["top_customers", "per_branch"], "per_branch must be at least 1")
    leaders: dict[str, str] = {}
    if top is not None and top.leaders:
        from churnwatch.notifiers.top_customers import load_leaders

        leaders = load_leaders(path.parent / top.leaders)
    if spec.sms.max_segments < 1:
        raise fail(["sms", "max_segments"], "max_segments must be at least 1")
    inhibit = tuple(
        _inhibit_rule(index, item, tiers, fail, document.locate(["inhibit", index]).line)
        for index, item in enumerate(spec.inhibit)
    )
    named = [rule.name for rule in inhibit]
    for position, rule_name in enumerate(named):
        if rule_name in named[:position]:
            raise fail(["inhibit", position, "name"], f"two inhibit rules are named {rule_name!r}")
    return Routing(
        audiences=audiences,
        timezone=timezone,
        tiers=tiers,
        escalate=tuple(
            Escalation(e.audience, frozenset(e.tiers), frozenset(e.severities))
            for e in spec.escalate
        ),
        max_segments=spec.sms.max_segments,
        source=str(path),
        staff_language=spec.staff_language,
        top_customers=(
            TopCustomersRoute(top.per_branch, top.branch_head, leaders) if top is not None else None
        ),
        inhibit=inhibit,
    )


#: a hold longer than this is a mistake (a lost unit), not a policy
_LONGEST_HOLD = dt.timedelta(days=366)
_SEVERITIES = frozenset(("low", "medium", "high", "critical"))


def _inhibit_rule(
    index: int,
    item: _InhibitSpec,
    tiers: TierScale,
    fail: Callable[[list[str | int], str], RoutingError],
    line: int,
) -> InhibitRule:
    """One ``inhibit:`` entry, checked; every error points at the entry's line."""
    keys: list[str | int] = ["inhibit", index]
    if not item.source_matchers:
        raise fail(
            [*keys, "source_matchers"],
            "name the alerts that hold messages: an empty source_matchers would make every "
            "alert hold the customer's texts",
        )
    matchers: dict[str, tuple[Matcher, ...]] = {}
    for side, allowed in (("source_matchers", SOURCE_LABELS), ("target_matchers", TARGET_LABELS)):
        parsed: list[Matcher] = []
        for position, text in enumerate(getattr(item, side)):
            where = [*keys, side, position]
            try:
                matcher = Matcher.parse(text)
            except ValueError as exc:
                raise fail(where, str(exc)) from exc
            if matcher.label not in allowed:
                raise fail(
                    where,
                    f"{side} cannot test {matcher.label!r}; it can test {', '.join(allowed)}"
                    + (
                        " (inhibition holds customer messages only: staff are always told)"
                        if matcher.label == "audience"
                        else ""
                    ),
                )
            exact = matcher.op in ("=", "!=")
            if exact and matcher.label == "severity" and matcher.value not in _SEVERITIES:
                known = ", ".join(sorted(_SEVERITIES))
                raise fail(where, f"unknown severity {matcher.value!r}; use {known}")
            if exact and matcher.label == "tier" and tiers.rank(matcher.value) < 0:
                known = ", ".join(tiers.names)
                raise fail(where, f"unknown tier {matcher.value!r}; the tiers are {known}")
            parsed.append(matcher)
        matchers[side] = tuple(parsed)
    unknown = [name for name in item.equal if name not in EQUAL_LABELS]
    if unknown:
        raise fail(
            [*keys, "equal"],
            f"equal can list {', '.join(EQUAL_LABELS)}; not {', '.join(unknown)}",
        )
    if "customer_id" not in item.equal:
        raise fail(
            [*keys, "equal"],
            "equal must list customer_id: one customer's alert never holds another "
            "customer's messages",
        )
    try:
        duration = dt.timedelta(seconds=parse_duration(item.duration))
    except ValueError as exc:
        raise fail([*keys, "duration"], str(exc)) from exc
    if duration <= dt.timedelta(0) or duration > _LONGEST_HOLD:
        raise fail([*keys, "duration"], "duration must be more than 0 and at most 366d")
    return InhibitRule(
        name=item.name or f"inhibit[{index}]",
        source=matchers["source_matchers"],
        target=matchers["target_matchers"],
        equal=tuple(dict.fromkeys(item.equal)),
        duration=duration,
        line=line,
    )


def _keys_of(message: str) -> list[str | int]:
    """``... - at `$.audiences.customer[0]` `` → ``["audiences", "customer", 0]``."""
    match = re.search(r"at `\$((?:\.[^.`\[]+|\[\d+\])*)`", message)
    if not match:
        return []
    keys: list[str | int] = []
    for name, index in re.findall(r"\.([^.`\[]+)|\[(\d+)\]", match.group(1)):
        keys.append(int(index) if index else name)
    return keys
