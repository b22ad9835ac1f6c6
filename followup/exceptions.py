"""The follow-up package's errors, under the project's one root."""

from __future__ import annotations

from typing import Literal

from churnwatch.exceptions import ChurnwatchError

__all__ = ["AccessDenied", "FollowUpError", "LinkRefused", "SecretMissing"]

RefusalReason = Literal["malformed", "forged", "expired", "not_routed", "csrf", "signature"]


class FollowUpError(ChurnwatchError):
    """A follow-up action could not be carried out."""


class SecretMissing(FollowUpError):
    """No server secret is configured; the message names where it is looked for, never a value."""


class LinkRefused(FollowUpError):
    """A link token or a form was refused; ``reason`` is a bounded metric label."""

    def __init__(self, reason: RefusalReason) -> None:
        super().__init__(f"refused: {reason}")
        self.reason: RefusalReason = reason


class AccessDenied(LinkRefused):
    """A valid token, but the alert is not routed to this staff member."""

    def __init__(self) -> None:
        super().__init__("not_routed")
