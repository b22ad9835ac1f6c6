"""The morning list's settings: ``morning_list:`` in ``routing.yaml``, on the bank's calendar.

Configuration, in ``routing.yaml`` beside the escalation calendar it shares::

    morning_list:
      at: "08:30"          # local time on business days
      latest: "12:00"      # a list not built by then (a worker down all morning) is skipped
      outcome_due: 7d
      inflow_lookback: 7d
      max_lines: 5         # per section in the message; the page shows every item
      channel: wecom_app   # default: the relationship_manager audience's channel

The business days and the time zone are those of ``escalation: business_hours`` (holidays
and 调休 workdays included), so one calendar rules both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from churnwatch.exceptions import ChurnwatchError
from churnwatch.followup.businesstime import BusinessHours
from churnwatch.followup.escalation import policy_from_data
from churnwatch.followup.exceptions import FollowUpError
from churnwatch.rules.durations import parse_duration
from churnwatch.rules.yamlfile import YamlSyntaxError, load_yaml, plain

__all__ = ["MorningConfig", "config_from_data", "due_day", "list_time", "load_config"]


@dataclass(frozen=True)
class MorningConfig:
    enabled: bool = True
    at: dt.time = dt.time(8, 30)
    latest: dt.time = dt.time(12, 0)
    calendar: BusinessHours = field(default_factory=BusinessHours)
    outcome_due: dt.timedelta = dt.timedelta(days=7)
    inflow_lookback: dt.timedelta = dt.timedelta(days=7)
    max_lines: int = 5
    channel: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.calendar.timezone)


def config_from_data(
    data: dict[str, Any] | None, escalation: dict[str, Any] | None
) -> MorningConfig:
    """The ``morning_list:`` mapping, on the calendar of ``escalation: business_hours``."""
    data = dict(data or {})
    calendar = policy_from_data(escalation).hours
    known = {"enabled", "at", "latest", "outcome_due", "inflow_lookback", "max_lines", "channel"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    default = MorningConfig()
    config = MorningConfig(
        enabled=bool(data.get("enabled", True)),
        at=dt.time.fromisoformat(str(data.get("at", "08:30"))),
        latest=dt.time.fromisoformat(str(data.get("latest", "12:00"))),
        calendar=calendar,
        outcome_due=dt.timedelta(seconds=parse_duration(data.get("outcome_due", "7d"))),
        inflow_lookback=dt.timedelta(seconds=parse_duration(data.get("inflow_lookback", "7d"))),
        max_lines=int(data.get("max_lines", default.max_lines)),
        channel=str(data["channel"]) if data.get("channel") else None,
    )
    if config.latest <= config.at:
        raise ValueError("`latest` must come after `at`")
    if config.max_lines < 1:
        raise ValueError("`max_lines` must be at least 1")
    return config


def load_config(routing_file: Path) -> MorningConfig:
    """The morning list's settings in ``routing_file``; defaults when it says nothing."""
    if not routing_file.exists():
        return MorningConfig()
    try:
        data = plain(load_yaml(routing_file).data) or {}
        return config_from_data(data.get("morning_list"), data.get("escalation"))
    except (ChurnwatchError, YamlSyntaxError, KeyError, TypeError, ValueError) as exc:
        raise FollowUpError(f"{routing_file}: bad morning_list section: {exc}") from exc


def list_time(config: MorningConfig, day: dt.date) -> dt.datetime:
    """When ``day``'s list is due, in UTC."""
    return dt.datetime.combine(day, config.at, config.zone).astimezone(dt.UTC)


def due_day(config: MorningConfig, now: dt.datetime) -> dt.date | None:
    """The day whose lists are due at ``now``: a business day, from ``at`` until ``latest``."""
    local = now.astimezone(config.zone)
    if not config.enabled or not config.calendar.is_business_day(local.date()):
        return None
    if not config.at <= local.time().replace(tzinfo=None) < config.latest:
        return None
    return local.date()
