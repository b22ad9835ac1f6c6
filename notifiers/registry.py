"""The one registry of channels: the ``churnwatch.notifiers`` entry point group.

Built-in channels are declared in churnwatch's own ``pyproject.toml`` exactly the way a
bank declares its own in its package, so there is no second list to keep in sync: this
registry drives config validation, ``churnwatch notifiers list`` and the ``channel``
label of the metrics.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from churnwatch.notifiers.exceptions import ConfigError, NotifierError
from churnwatch.notifiers.protocol import Channel, Notifier

__all__ = [
    "GROUP",
    "ChannelStatus",
    "build_configured",
    "build_notifiers",
    "channel",
    "channels",
    "status",
]

GROUP = "churnwatch.notifiers"


@functools.cache
def channels() -> Mapping[str, Channel]:
    """Every installed channel by name, loaded once."""
    found: dict[str, Channel] = {}
    for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
        try:
            plugin = point.load()
        except Exception as exc:
            raise NotifierError(
                f"the notifier plugin {point.name!r} ({point.value}) cannot be imported: "
                f"{type(exc).__name__}"
            ) from exc
        if not isinstance(plugin, Channel):
            raise NotifierError(
                f"the entry point {point.name!r} ({point.value}) must name a "
                "churnwatch.notifiers.protocol.Channel object"
            )
        if plugin.name != point.name:
            raise NotifierError(
                f"the entry point {point.name!r} names a channel called {plugin.name!r}; "
                "they must match"
            )
        found[point.name] = plugin
    return found


def channel(name: str) -> Channel:
    """The installed channel ``name``; ``ConfigError`` listing the installed ones if absent."""
    try:
        return channels()[name]
    except KeyError:
        installed = ", ".join(channels()) or "none"
        raise ConfigError(
            f"no notifier channel {name!r} is installed (installed: {installed})"
        ) from None


@dataclass(frozen=True)
class ChannelStatus:
    """What ``churnwatch notifiers list`` shows for one channel."""

    name: str
    summary: str
    configured: bool
    problem: str | None


def status(
    sections: Mapping[str, Mapping[str, Any]], env: Mapping[str, str]
) -> list[ChannelStatus]:
    """Every installed channel and whether its settings (``sections[name]``) are usable."""
    rows = []
    for name, plugin in channels().items():
        try:
            plugin.configure(sections.get(name, {}), env)
        except ConfigError as exc:
            rows.append(ChannelStatus(name, plugin.summary, False, str(exc)))
        else:
            rows.append(ChannelStatus(name, plugin.summary, True, None))
    return rows


def build_notifiers(
    names: set[str] | frozenset[str],
    sections: Mapping[str, Mapping[str, Any]],
    env: Mapping[str, str],
) -> dict[str, Notifier]:
    """Configured notifiers for ``names``; raises ``ConfigError`` for the first unusable one."""
    built = {}
    for name in sorted(names):
        plugin = channel(name)
        built[name] = plugin.build(plugin.configure(sections.get(name, {}), env))
    return built


def build_configured(
    names: set[str] | frozenset[str],
    sections: Mapping[str, Mapping[str, Any]],
    env: Mapping[str, str],
) -> tuple[dict[str, Notifier], dict[str, str]]:
    """The notifiers of ``names`` that are configured, and why each of the others is not.

    For an operator's dispatcher: it sends what it can; deliveries on the other channels stay
    pending for a dispatcher that has them (the worker, by contrast, refuses to start).
    """
    built: dict[str, Notifier] = {}
    problems: dict[str, str] = {}
    for name in sorted(names):
        try:
            plugin = channel(name)
            built[name] = plugin.build(plugin.configure(sections.get(name, {}), env))
        except ConfigError as exc:
            problems[name] = str(exc)
    return built, problems
