"""An API access token fetched once and reused until shortly before it expires.

WeCom's ``gettoken`` and DingTalk's ``gettoken`` both hand out a token valid for
``expires_in`` seconds (7200) and both limit how often it may be fetched, so a channel
that fetched one per message would soon be refused. :class:`CachedToken` keeps the token
with its expiry, fetches a new one ``margin`` seconds early, and forgets it when the peer
says it is invalid or expired (errcode 40014, 42001) so the next call fetches afresh.
One lock makes concurrent senders share a single fetch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["CachedToken"]


class CachedToken:
    """``get()`` returns a valid token, calling ``fetch`` only when there is none.

    ``fetch`` returns ``(token, expires_in_seconds)`` or raises; a failed fetch caches
    nothing.
    """

    __slots__ = ("_expires", "_fetch", "_lock", "_margin", "_now", "_token", "fetches")

    def __init__(
        self,
        fetch: Callable[[], tuple[str, float]],
        *,
        now: Callable[[], float] = time.monotonic,
        margin: float = 300.0,
    ) -> None:
        self._fetch = fetch
        self._now = now
        self._margin = margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        #: how many times a token was fetched (tests and logs read it)
        self.fetches = 0

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._now() >= self._expires:
                token, expires_in = self._fetch()
                self.fetches += 1
                self._token = token
                # a token shorter-lived than the margin is still used, for half its life
                early = min(self._margin, expires_in / 2)
                self._expires = self._now() + expires_in - early
            return self._token

    def forget(self, token: str) -> None:
        """Drops ``token`` if it is still the cached one (another sender may have renewed)."""
        with self._lock:
            if self._token == token:
                self._token = None
