"""One classification of HTTP answers for every HTTP channel (Twilio, webhooks).

Retry on what can get better by waiting: 408, 425, 429 and 5xx (except 501 and 505,
which will not), and honour ``Retry-After``. Everything else in 4xx is permanent: the
request itself is wrong, retrying only repeats it.
"""

from __future__ import annotations

import datetime as dt
import email.utils

from churnwatch.notifiers.exceptions import DeliveryFailed, Reason

__all__ = ["classify_status", "parse_retry_after"]

_NEVER_BETTER = {501, 505}


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def classify_status(status: int, detail: str, retry_after: str | None = None) -> DeliveryFailed:
    """The failure an HTTP ``status`` stands for. Call only for non-2xx answers."""
    text = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status == 429:
        return DeliveryFailed.transient(Reason.RATE_LIMITED, text, parse_retry_after(retry_after))
    if status in (408, 425):
        return DeliveryFailed.transient(Reason.TIMEOUT, text, parse_retry_after(retry_after))
    if status >= 500 and status not in _NEVER_BETTER:
        return DeliveryFailed.transient(Reason.SERVER_ERROR, text, parse_retry_after(retry_after))
    if status in (401, 403):
        return DeliveryFailed.permanent(Reason.UNAUTHORIZED, text)
    if status in (404, 410) or status in _NEVER_BETTER:
        return DeliveryFailed.permanent(Reason.MISCONFIGURED, text)
    return DeliveryFailed.permanent(Reason.REJECTED, text)
