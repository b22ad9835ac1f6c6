"""What the WeCom application and DingTalk work-notice channels share: token, POST, errcodes.

Both messengers speak the same shape of API. A ``GET gettoken`` with the app's key and
secret returns ``{"errcode": 0, "access_token": ..., "expires_in": 7200}``; a message is a
JSON ``POST`` to the send path with ``?access_token=``; every answer is HTTP 200 with an
``errcode``. The token is cached until shortly before it expires
(:class:`~churnwatch.notifiers.access_token.CachedToken`); when the peer says the token is
invalid or expired (40014, 42001, or 88 with those sub-codes on DingTalk) it is fetched
again and the message sent once more, within the same ``send``.

A text longer than the messenger takes in one message (WeCom: 2,048 bytes; a digest of
many alerts reaches that) is sent as several, split between lines. A retry after a part
went out sends every part again; both messengers drop a repeated identical text to the
same person (WeCom within ``duplicate_check_interval``, DingTalk within the day).

Classification, as for every channel: busy (-1) and rate limits are retryable; an unknown
recipient and everything else are permanent. Error text never carries the secret or the
token (both travel in the URL, so the transport's own message is never quoted).

httpx is imported when a notifier is built and calls its peer, not with this module: the
channels' settings (what checking a rule pack validates) need none of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from churnwatch.notifiers.access_token import CachedToken
from churnwatch.notifiers.exceptions import DeliveryFailed, Reason
from churnwatch.notifiers.http_status import classify_status
from churnwatch.notifiers.protocol import Message, Receipt

if TYPE_CHECKING:
    import httpx

__all__ = ["ImAppNotifier", "split_text"]

#: the token was refused as invalid or expired: fetch a new one and send again
TOKEN_CODES = frozenset({40014, 42001})
BUSY = -1


class ImAppNotifier(ABC):
    """Sends one text to one person through a messenger's application API.

    Subclasses name the peer and give its paths, its token request, its message body and
    its error codes; this class does the HTTP, the token cache and the classification.
    """

    peer: ClassVar[str]
    token_path: ClassVar[str]
    send_path: ClassVar[str]
    rate_codes: ClassVar[frozenset[int]]
    recipient_codes: ClassVar[frozenset[int]]
    #: the most UTF-8 bytes one text message may carry
    max_bytes: ClassVar[int]

    def __init__(
        self, base_url: str, timeout: float, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        import httpx

        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        self.token = CachedToken(self._fetch_token)

    # -- what a subclass gives ----------------------------------------------------------

    @abstractmethod
    def token_params(self) -> dict[str, str]:
        """The query of the vendor's gettoken call (its app id and secret)."""

    @abstractmethod
    def payload(self, message: Message, text: str) -> dict[str, Any]:
        """The vendor's JSON body that sends ``text`` to the message's person."""

    def refused_recipient(self, answer: Mapping[str, Any]) -> bool:
        """Whether an ``errcode`` 0 answer still says the person could not be reached."""
        return False

    @abstractmethod
    def message_id(self, answer: Mapping[str, Any]) -> str | None:
        """The vendor's id for the sent message, kept as the delivery's receipt."""

    # -- the request path -----------------------------------------------------------------

    def send(self, message: Message) -> Receipt:
        if not message.address:
            raise DeliveryFailed.permanent(
                Reason.INVALID_RECIPIENT,
                f"staff member {message.recipient_id} has no im_user_id for {self.peer}",
            )
        receipt = Receipt()
        for part in split_text(message.body, self.max_bytes):
            receipt = self._send_one(message, msgspec.json.encode(self.payload(message, part)))
        return receipt

    def _send_one(self, message: Message, body: bytes) -> Receipt:
        for last in (False, True):
            token = self.token.get()
            answer = self._call(
                "POST",
                self.send_path,
                params={"access_token": token},
                content=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            code = _errcode(answer)
            if code in TOKEN_CODES and not last:
                self.token.forget(token)
                continue
            self._check(code, "send")
            if self.refused_recipient(answer):
                raise DeliveryFailed.permanent(
                    Reason.INVALID_RECIPIENT,
                    f"{self.peer} does not know staff member {message.recipient_id}'s user id",
                )
            return Receipt(self.message_id(answer) or f"{self.peer}:{message.key}")
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _fetch_token(self) -> tuple[str, float]:
        answer = self._call("GET", self.token_path, params=self.token_params())
        code = _errcode(answer)
        if code in self.rate_codes or code == BUSY:
            self._check(code, "gettoken")
        if code != 0 or not answer.get("access_token"):
            raise DeliveryFailed.permanent(
                Reason.UNAUTHORIZED,
                f"{self.peer} gettoken refused the app's credentials (errcode {code})",
            )
        return str(answer["access_token"]), float(answer.get("expires_in", 7200))

    def _call(self, method: str, path: str, **options: Any) -> Mapping[str, Any]:
        import httpx

        try:
            response = self.client.request(method, path, **options)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed.transient(
                Reason.TIMEOUT, f"{self.peer} did not answer in time"
            ) from exc
        except httpx.TransportError as exc:
            raise DeliveryFailed.transient(
                Reason.CONNECTION, f"cannot reach {self.peer} ({type(exc).__name__})"
            ) from exc
        if not response.is_success:
            raise classify_status(
                response.status_code, self.peer, response.headers.get("Retry-After")
            )
        try:
            answer = response.json()
        except ValueError as exc:
            raise DeliveryFailed.transient(
                Reason.SERVER_ERROR, f"{self.peer} answered something that is not JSON"
            ) from exc
        if not isinstance(answer, dict):
            raise DeliveryFailed.transient(
                Reason.SERVER_ERROR, f"{self.peer} answered JSON that is not an object"
            )
        return answer

    def _check(self, code: int, what: str) -> None:
        if code == 0:
            return
        text = f"{self.peer} {what} errcode {code}"
        if code == BUSY:
            raise DeliveryFailed.transient(Reason.SERVER_ERROR, text + " (busy)")
        if code in self.rate_codes:
            raise DeliveryFailed.transient(Reason.RATE_LIMITED, text + " (rate limit)", 60.0)
        if code in TOKEN_CODES:
            raise DeliveryFailed.permanent(
                Reason.UNAUTHORIZED, text + " (a freshly fetched token was refused)"
            )
        if code in self.recipient_codes:
            raise DeliveryFailed.permanent(Reason.INVALID_RECIPIENT, text + " (unknown user id)")
        raise DeliveryFailed.permanent(Reason.REJECTED, text)

    def close(self) -> None:
        self.client.close()


def _errcode(answer: Mapping[str, Any]) -> int:
    """The answer's ``errcode`` (0 when absent); DingTalk's 88 carries the real one as
    ``sub_code``, which the token codes are looked up by."""
    try:
        code = int(answer.get("errcode", 0))
        if code == 88 and str(answer.get("sub_code", "")).lstrip("-").isdigit():
            sub = int(answer["sub_code"])
            return sub if sub in TOKEN_CODES else code
    except (TypeError, ValueError):
        return -2
    return code


def split_text(text: str, max_bytes: int) -> list[str]:
    """``text`` in parts of at most ``max_bytes`` UTF-8 bytes, cut between lines where it
    can be and inside a line (between characters) only when one line alone is too long."""
    parts: list[str] = []
    current: str | None = None  # the part being filled; None before its first line
    for line in text.split("\n"):
        while len(line.encode()) > max_bytes:
            if current is not None:
                parts.append(current)
                current = None
            cut = _fit(line, max_bytes)
            parts.append(line[:cut])
            line = line[cut:]
        if current is None:
            current = line
        elif len(f"{current}\n{line}".encode()) > max_bytes:
            parts.append(current)
            current = line
        else:
            current = f"{current}\n{line}"
    if current is not None:
        parts.append(current)
    return parts


def _fit(line: str, max_bytes: int) -> int:
    """How many characters of ``line`` fit in ``max_bytes`` bytes (at least one)."""
    size = 0
    for index, char in enumerate(line):
        size += len(char.encode())
        if size > max_bytes:
            return max(index, 1)
    return len(line)
