"""What every answer and log line of ``churnwatch web`` carries against an attacker.

The pages are server-rendered with inline styles and SVG and no script at all, so a strict
Content-Security-Policy costs nothing and shuts out injected scripts and framing. A link
token in a path opens a page for whoever holds it, so access-log lines show ``/a/…``
instead: logs travel further than the people a link was sent to.
"""

from __future__ import annotations

import logging
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "NO_STORE",
    "SecurityHeaders",
    "redact",
    "redact_access_log",
]

#: the pages are server-rendered with inline styles and SVG and no script at all
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: on a page that shows one person's customers: no cache keeps a copy, no other site frames it
NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
_TOKEN_IN_PATH = re.compile(r"(/(?:a|report|m)/)[^/?#\s\"]+")


class SecurityHeaders:
    """Adds the Content-Security-Policy and nosniff headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, with_headers)


class _RedactTokens(logging.Filter):
    """Access-log lines show ``/a/…`` instead of the link token: a token opens a page."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact(text: str) -> str:
    """``text`` with any link token in a path replaced by an ellipsis."""
    return _TOKEN_IN_PATH.sub(r"\1…", text)


def redact_access_log() -> None:
    """Put the token filter on uvicorn's loggers, once however many apps are created."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokens) for f in logger.filters):
            logger.addFilter(_RedactTokens())
