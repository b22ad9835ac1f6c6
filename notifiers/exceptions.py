"""Errors of the notifiers package, and the one way a channel says a send failed.

Channels never retry and never sleep: they raise :class:`DeliveryFailed` saying whether
the failure is worth retrying and why (a :class:`Reason`, which becomes the ``reason``
label of the delivery metrics). One retry stage (``churnwatch.notifiers.retry``) decides when.
Error text is written for operators and must never carry a secret, a token-bearing URL
or a full phone number; the conformance suite checks every channel for it.
"""

from __future__ import annotations

from enum import StrEnum

from churnwatch.exceptions import ChurnwatchError

__all__ = [
    "ConfigError",
    "DeliveryFailed",
    "NotifierError",
    "Reason",
    "RoutingError",
    "TemplateError",
]


class NotifierError(ChurnwatchError):
    """Base class of the notifiers package's errors."""


class ConfigError(NotifierError):
    """A channel or routing setting is missing or wrong; names the setting, never its value."""


class SecretUnavailable(ConfigError):
    """A secret the settings refer to is not there (unset variable, unreadable file).

    ``churnwatch config check`` reports it as a warning: the machine that checks a config
    often is not the one that holds the secrets.
    """


class RoutingError(NotifierError):
    """The routing file is invalid (file, field and what to write instead)."""


class TemplateError(NotifierError):
    """A message template is missing, does not render, or renders a text we refuse to send.

    ``problems`` lists each problem (one sentence naming the file) when a load found
    several, so compliance fixes them all in one pass.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


class Reason(StrEnum):
    """Why a send failed; the ``reason`` label of ``churnwatch_deliveries_total``."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    INVALID_RECIPIENT = "invalid_recipient"
    NOT_MOBILE = "not_mobile"
    OPTED_OUT = "opted_out"
    UNAUTHORIZED = "unauthorized"
    REJECTED = "rejected"
    MISCONFIGURED = "misconfigured"
    UNDELIVERABLE = "undeliverable"
    UNKNOWN = "unknown"


class DeliveryFailed(NotifierError):
    """A send did not go through. ``retryable`` says whether trying again can help.

    ``retry_after`` (seconds) is the peer's own hint (HTTP ``Retry-After``); the retry
    stage waits at least that long.
    """

    def __init__(
        self,
        reason: Reason,
        detail: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after

    @classmethod
    def transient(
        cls, reason: Reason, detail: str, retry_after: float | None = None
    ) -> DeliveryFailed:
        return cls(reason, detail, retryable=True, retry_after=retry_after)

    @classmethod
    def permanent(cls, reason: Reason, detail: str) -> DeliveryFailed:
        return cls(reason, detail, retryable=False)
