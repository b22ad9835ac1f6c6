"""Signed, expiring, per-person links: ``/a/{token}`` opens one alert for one staff member.

A manager opens the page from a text message on a phone, so there is no password: the
link itself is the credential. It is scoped to one (alert, staff member) pair, expires,
and is signed with HMAC-SHA256 under a server secret. The token is packed in binary and
base64url-encoded so the link stays short enough for an SMS (about 50 characters for a
churnwatch alert id): every character costs in a 70-character UCS-2 segment.

The MAC is truncated to 80 bits. That is plenty for an online check: every refused token
is counted (``churnwatch_followup_refused_total``), so guessing shows up long before it
could succeed.

The secret comes from ``CHURNWATCH_WEB_SECRET`` or the file named by
``CHURNWATCH_WEB_SECRET_FILE``; it is never logged or put in error text. To rotate it
without breaking links already sent, ``churnwatch web`` also accepts the previous one
(``CHURNWATCH_WEB_SECRET_PREVIOUS``) for an overlap, and never signs with it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from churnwatch.followup.exceptions import LinkRefused, SecretMissing

__all__ = [
    "DEFAULT_TTL",
    "PREVIOUS_ENV",
    "PREVIOUS_FILE_ENV",
    "PREVIOUS_UNTIL_ENV",
    "REPORT_SCOPE",
    "SECRET_ENV",
    "SECRET_FILE_ENV",
    "LinkClaims",
    "LinkSigner",
    "PreviousSecret",
    "load_previous_secret",
    "load_secret",
    "load_signer",
    "manager_link",
    "morning_link",
    "morning_scope",
    "report_link",
    "short_ref",
]

SECRET_ENV = "CHURNWATCH_WEB_SECRET"
SECRET_FILE_ENV = "CHURNWATCH_WEB_SECRET_FILE"
PREVIOUS_ENV = "CHURNWATCH_WEB_SECRET_PREVIOUS"
PREVIOUS_FILE_ENV = "CHURNWATCH_WEB_SECRET_PREVIOUS_FILE"
PREVIOUS_UNTIL_ENV = "CHURNWATCH_WEB_SECRET_PREVIOUS_UNTIL"
#: long enough to cover a weekend and an escalation to the executive
DEFAULT_TTL = dt.timedelta(days=7)
_MAC_BYTES = 10
_VERSION = 1
_FLAG_COMPACT_ID = 0x01
_COMPACT_ID = re.compile(r"^al-([0-9a-f]{24})$")
_MIN_SECRET = 16


def _read(env: Mapping[str, str], name: str, file_name: str) -> str | None:
    value = env.get(name)
    if not value and env.get(file_name):
        try:
            value = Path(env[file_name]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretMissing(f"cannot read the secret file named by {file_name}") from exc
    return value or None


def load_secret(environ: Mapping[str, str] | None = None) -> bytes:
    """The server secret from the environment or a file; at least 16 bytes."""
    env = os.environ if environ is None else environ
    value = _read(env, SECRET_ENV, SECRET_FILE_ENV)
    if not value:
        raise SecretMissing(f"set {SECRET_ENV} or {SECRET_FILE_ENV} to the link-signing secret")
    secret = value.encode("utf-8")
    if len(secret) < _MIN_SECRET:
        raise SecretMissing(f"the link-signing secret must be at least {_MIN_SECRET} bytes")
    return secret


class PreviousSecret(NamedTuple):
    """The secret links were signed with before a rotation, accepted until ``until``."""

    secret: bytes
    until: dt.datetime | None


def load_previous_secret(environ: Mapping[str, str] | None = None) -> PreviousSecret | None:
    """The previous secret while a rotation overlaps, or None.

    Links already sent stay valid for up to their lifetime (seven days) after the secret
    changes, so ``churnwatch web`` keeps accepting the old one until
    ``CHURNWATCH_WEB_SECRET_PREVIOUS_UNTIL`` (an ISO time with offset; unset: until the
    variable is removed). It never signs with it.
    """
    env = os.environ if environ is None else environ
    value = _read(env, PREVIOUS_ENV, PREVIOUS_FILE_ENV)
    if not value:
        return None
    if len(value.encode("utf-8")) < _MIN_SECRET:
        raise SecretMissing(
            f"the previous link-signing secret must be at least {_MIN_SECRET} bytes"
        )
    until_text = env.get(PREVIOUS_UNTIL_ENV, "").strip()
    until = None
    if until_text:
        try:
            until = dt.datetime.fromisoformat(until_text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise SecretMissing(f"{PREVIOUS_UNTIL_ENV} is not an ISO time: {until_text!r}") from exc
        if until.tzinfo is None:
            raise SecretMissing(f"{PREVIOUS_UNTIL_ENV} needs an offset (+08:00 or Z)")
    return PreviousSecret(value.encode("utf-8"), until)


def load_signer(environ: Mapping[str, str] | None = None) -> LinkSigner:
    """What ``churnwatch web`` checks links with: the secret, and the previous one if any."""
    return LinkSigner(load_secret(environ), previous=load_previous_secret(environ))


def short_ref(alert_id: str) -> str:
    """A six-character reference a person can type in an SMS reply (``2 3f9a2c``)."""
    match = _COMPACT_ID.match(alert_id)
    return (match.group(1) if match else hashlib.sha256(alert_id.encode()).hexdigest())[:6]


def _derive(secret: bytes) -> bytes:
    # separate keys per purpose, so a CSRF token can never pass as a link and back
    return hmac.new(secret, b"churnwatch-link-v1", hashlib.sha256).digest()


class LinkClaims(NamedTuple):
    alert_id: str
    staff_id: str
    expires_at: dt.datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Signs and checks link tokens and the CSRF tokens of the forms they open.

    With a ``previous`` secret (a rotation under way) it still signs with the current
    one only, and accepts tokens of either until the previous one's ``until``.
    """

    __slots__ = ("_key", "_previous", "_previous_until")

    def __init__(self, secret: bytes, previous: PreviousSecret | None = None) -> None:
        self._key = _derive(secret)
        self._previous = _derive(previous.secret) if previous is not None else None
        self._previous_until = previous.until if previous is not None else None

    def __repr__(self) -> str:  # never show key material
        return "LinkSigner(<secret>)"

    def _mac(self, purpose: bytes, data: bytes, key: bytes | None = None) -> bytes:
        return hmac.new(key or self._key, purpose + b"\x00" + data, hashlib.sha256).digest()

    def _keys(self, now: dt.datetime | None) -> list[bytes]:
        """The current key, and the previous one while its overlap lasts."""
        keys = [self._key]
        if self._previous is not None and (
            self._previous_until is None or now is None or now < self._previous_until
        ):
            keys.append(self._previous)
        return keys

    def sign(self, alert_id: str, staff_id: str, expires_at: dt.datetime) -> str:
        match = _COMPACT_ID.match(alert_id)
        flags = _FLAG_COMPACT_ID if match else 0
        alert = bytes.fromhex(match.group(1)) if match else alert_id.encode("utf-8")
        staff = staff_id.encode("utf-8")
        if len(alert) > 255 or len(staff) > 255:
            raise ValueError("alert and staff ids must be at most 255 bytes")
        payload = (
            struct.pack("!BBIB", _VERSION, flags, int(expires_at.timestamp()), len(alert))
            + alert
            + staff
        )
        return _b64(payload + self._mac(b"link", payload)[:_MAC_BYTES])

    def verify(self, token: str, now: dt.datetime) -> LinkClaims:
        """The token's claims; :class:`LinkRefused` when malformed, forged or expired."""
        try:
            raw = _unb64(token)
        except (ValueError, TypeError) as exc:
            raise LinkRefused("malformed") from exc
        if len(raw) < 7 + _MAC_BYTES:
            raise LinkRefused("malformed")
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if not any(
            hmac.compare_digest(mac, self._mac(b"link", payload, key)[:_MAC_BYTES])
            for key in self._keys(now)
        ):
            raise LinkRefused("forged")
        version, flags, expires, alert_len = struct.unpack("!BBIB", payload[:7])
        alert, staff = payload[7 : 7 + alert_len], payload[7 + alert_len :]
        if version != _VERSION or len(alert) != alert_len or not staff:
            raise LinkRefused("malformed")
        expires_at = dt.datetime.fromtimestamp(expires, dt.UTC)
        if now >= expires_at:
            raise LinkRefused("expired")
        alert_id = "al-" + alert.hex() if flags & _FLAG_COMPACT_ID else alert.decode("utf-8")
        return LinkClaims(alert_id, staff.decode("utf-8"), expires_at)

    def csrf_token(self, link_token: str, session: str) -> str:
        """The form token for ``link_token`` in a browser holding the ``session`` cookie."""
        return _b64(self._mac(b"csrf", f"{link_token}\x00{session}".encode())[:16])

    def check_csrf(self, link_token: str, session: str, given: str) -> None:
        if not session or not given:
            raise LinkRefused("csrf")
        data = f"{link_token}\x00{session}".encode()
        if not any(
            hmac.compare_digest(_b64(self._mac(b"csrf", data, key)[:16]), given)
            for key in self._keys(None)  # a form opened just before a restart
        ):
            raise LinkRefused("csrf")


def manager_link(
    base_url: str,
    alert_id: str,
    staff_id: str,
    *,
    secret: bytes | None = None,
    now: dt.datetime | None = None,
    ttl: dt.timedelta = DEFAULT_TTL,
) -> str:
    """The short signed link to put in a manager's message about ``alert_id``.

    The notifier templates get this as ``link`` in their context. ``base_url`` is the
    public address of ``churnwatch web`` (e.g. ``https://cw.bank.example``).
    """
    signer = LinkSigner(secret if secret is not None else load_secret())
    when = now if now is not None else dt.datetime.now(dt.UTC)
    return f"{base_url.rstrip('/')}/a/{signer.sign(alert_id, staff_id, when + ttl)}"


#: the "alert id" a report link is signed for
REPORT_SCOPE = "report"


def report_link(
    base_url: str,
    staff_id: str,
    *,
    secret: bytes | None = None,
    now: dt.datetime | None = None,
    ttl: dt.timedelta = dt.timedelta(days=90),
) -> str:
    """A branch head's or executive's own signed link to their report page.

    A branch head's shows their branch, an executive's the whole bank; the page checks
    the role when it is opened, so a link outlives no change of role.
    """
    signer = LinkSigner(secret if secret is not None else load_secret())
    when = now if now is not None else dt.datetime.now(dt.UTC)
    return f"{base_url.rstrip('/')}/report/{signer.sign(REPORT_SCOPE, staff_id, when + ttl)}"


def morning_scope(day: dt.date) -> str:
    """The "alert id" a morning list link is signed for: the list of one day."""
    return f"morning:{day.isoformat()}"


def morning_link(
    base_url: str,
    staff_id: str,
    day: dt.date,
    *,
    secret: bytes | None = None,
    now: dt.datetime | None = None,
    ttl: dt.timedelta = DEFAULT_TTL,
) -> str:
    """A relationship manager's own signed link to their morning list of ``day``."""
    signer = LinkSigner(secret if secret is not None else load_secret())
    when = now if now is not None else dt.datetime.now(dt.UTC)
    token = signer.sign(morning_scope(day), staff_id, when + ttl)
    return f"{base_url.rstrip('/')}/m/{token}"
