"""Does a deployment reach everyone its routing names? The check behind ``config check``.

A configuration can be valid on its own and still tell nobody: the routing file sends
managers to ``webhook`` while the config sets up only ``twilio_sms``, and the deliveries
fail one by one as "channel not configured" hours after go-live. This check puts the two
together before a rollout: every audience's channel must be installed and configured,
with the secrets it needs present where the check runs (the machines that run
churnwatch); and every configured section must belong to an installed channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from churnwatch.notifiers.exceptions import ConfigError, SecretUnavailable
from churnwatch.notifiers.protocol import Channel
from churnwatch.notifiers.routing_file import Routing

__all__ = ["AudienceReach", "DeploymentCheck", "check_deployment"]


@dataclass(frozen=True)
class AudienceReach:
    """One audience of the routing file and the channel that reaches it."""

    audience: str
    channel: str
    ok: bool


@dataclass(frozen=True)
class DeploymentCheck:
    """What ``config check`` prints: who goes where, then one line per problem."""

    audiences: list[AudienceReach] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_deployment(
    routing: Routing | None,
    sections: Mapping[str, Any],
    installed: Mapping[str, Channel],
    env: Mapping[str, str],
    *,
    secrets_here: bool = True,
) -> DeploymentCheck:
    """Check ``sections`` (the config's ``notifiers:``) against ``routing``'s audiences.

    ``secrets_here=False`` is for checking a config where its secrets are not (CI, a
    laptop): a missing secret is then a warning, every other problem still fails.
    ``routing`` None checks the sections alone.
    """
    result = DeploymentCheck()
    broken: dict[str, str] = {}
    for name, section in sorted(sections.items()):
        plugin = installed.get(name)
        if plugin is None:
            installed_names = ", ".join(sorted(installed))
            broken[name] = f"notifiers.{name}: no such channel; installed: {installed_names}"
            continue
        problem, secret = _configure(plugin, section, env)
        if problem is not None and secret and not secrets_here:
            result.warnings.append(f"notifiers.{name}: {problem}")
        elif problem is not None:
            broken[name] = f"notifiers.{name}: {'secret missing: ' if secret else ''}{problem}"
    routed = routing.channels if routing is not None else frozenset()
    # a broken section no audience uses is named on its own; the others, per audience
    result.problems.extend(problem for name, problem in broken.items() if name not in routed)
    if routing is None:
        return result
    for audience, route in routing.audiences.items():
        problem = _reach(audience, route.channel, sections, installed, env, broken)
        result.audiences.append(AudienceReach(audience, route.channel, problem is None))
        if problem is not None:
            result.problems.append(problem)
    return result


def _reach(
    audience: str,
    name: str,
    sections: Mapping[str, Any],
    installed: Mapping[str, Channel],
    env: Mapping[str, str],
    broken: Mapping[str, str],
) -> str | None:
    """Why ``audience`` cannot be reached by channel ``name``; None when it can."""
    if name not in installed:
        return (
            f"audience {audience}: channel {name!r} is not installed "
            f"(installed: {', '.join(sorted(installed))})"
        )
    if not sections:
        return (
            f"audience {audience}: channel {name!r} is not configured "
            "(the config has no notifiers: section, so nobody is told of anything)"
        )
    if name in broken:
        return f"audience {audience}: {broken[name]}"
    if name in sections:
        return None
    # a channel may take everything from its environment defaults (TWILIO_*)
    problem, _ = _configure(installed[name], {}, env)
    if problem is None:
        return None
    return (
        f"audience {audience}: channel {name!r} is not configured (add notifiers.{name}: {problem})"
    )


def _configure(plugin: Channel, section: Any, env: Mapping[str, str]) -> tuple[str | None, bool]:
    """The channel's own validation: (the problem or None, whether it is a missing secret)."""
    try:
        plugin.configure(section if isinstance(section, Mapping) else {}, env)
    except SecretUnavailable as exc:
        return str(exc), True
    except ConfigError as exc:
        return str(exc), False
    return None, False
