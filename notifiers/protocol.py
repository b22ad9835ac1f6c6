"""The one small protocol every channel implements, and what a plugin declares.

A channel plugin is a :class:`Channel` object named in the ``churnwatch.notifiers`` entry
point group. It says how to read and validate its settings (``configure``), how to build a
:class:`Notifier` from them (``build``), and what a recipient needs for it (``address``).
A notifier does one thing: ``send`` a rendered :class:`Message` once, returning the
provider's message id, or raise :class:`~churnwatch.notifiers.exceptions.DeliveryFailed` saying
whether a retry can help. It never retries, sleeps or decides policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import msgspec

__all__ = ["AddressKind", "Channel", "Message", "Notifier", "Receipt"]

#: what a channel sends to: a phone number, a staff member (by phone), a staff member by
#: their messenger user id (``im_user_id``), or nobody in particular
AddressKind = Literal["phone", "staff", "im_user", "none"]


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """One rendered message to one recipient on one channel.

    ``key`` identifies the (alert, audience, recipient, channel) delivery, or a group of
    them, and is stable across retries: channels that can pass an idempotency key to
    their peer (webhooks) send it.
    """

    key: str
    channel: str
    audience: str
    recipient_id: str
    address: str | None
    language: str
    subject: str
    body: str
    alert_ids: tuple[str, ...]
    customer_id: str | None = None
    rule_id: str | None = None
    segments: int = 0


class Receipt(msgspec.Struct, frozen=True):
    """What the provider said when it accepted a message."""

    provider_message_id: str | None = None


class Notifier(Protocol):
    """Sends one message; raises ``DeliveryFailed`` when it could not."""

    def send(self, message: Message) -> Receipt: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Channel:
    """A channel plugin, as found through the ``churnwatch.notifiers`` entry point group.

    ``configure(raw, env)`` validates the channel's section of the channels file with
    the environment (for secrets and defaults) and returns its config, raising
    ``ConfigError`` when the channel cannot be used as configured. ``sms`` marks channels
    whose texts are counted in SMS segments.
    """

    name: str
    summary: str
    address: AddressKind
    configure: Callable[[Mapping[str, Any], Mapping[str, str]], Any]
    build: Callable[[Any], Notifier]
    sms: bool = False
