"""The webhook channel: a JSON POST signed with HMAC-SHA256; presets for group robots.

Presets:

* ``generic``: churnwatch's own JSON, with ``X-Churnwatch-Timestamp`` and
  ``X-Churnwatch-Signature: sha256=<hex HMAC of "<timestamp>." + body>`` (the receiver
  recomputes it and rejects stale timestamps), and an ``Idempotency-Key`` header that is
  stable across retries so a receiver can drop a repeat.
* ``wecom``: a WeCom (企业微信) group robot text message that @-mentions the recipient's
  mobile. The robot authenticates by the key in its URL, so the URL is a secret.
* ``dingtalk``: a DingTalk (钉钉) group robot text message with ``atMobiles``, signed the
  way DingTalk's "加签" setting asks (timestamp and sign query parameters) when a secret
  is set; the churnwatch headers are added as well.

Robots answer HTTP 200 with an ``errcode``; their rate-limit codes (WeCom 45009, DingTalk
130101) are retryable, any other non-zero code is permanent. Error text never includes
the URL (it carries the robot's key) nor the transport's own message (which quotes it).

httpx is imported when a notifier is built and sends, not with this module: checking a
rule pack or listing the channels reads only the settings (:data:`CHANNEL`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from churnwatch.notifiers.exceptions import ConfigError, DeliveryFailed, Reason
from churnwatch.notifiers.http_status import classify_status
from churnwatch.notifiers.protocol import Channel, Message, Receipt
from churnwatch.notifiers.secrets import Secret, read_secret
from churnwatch.notifiers.settings import channel_settings

if TYPE_CHECKING:
    import httpx

__all__ = ["CHANNEL", "WebhookConfig", "WebhookNotifier", "sign_generic", "verify_generic"]

Preset = Literal["generic", "wecom", "dingtalk"]
_ROBOT_RATE_LIMIT = {"wecom": {45009}, "dingtalk": {130101}}


class WebhookConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Secret
    preset: Preset = "generic"
    secret: Secret | None = None
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.url.reveal().startswith(("http://", "https://")):
            raise ValueError("`url` must start with http:// or https:// - at `$.url`")
        if self.preset == "generic" and self.secret is None:
            raise ValueError(
                "the generic preset signs every request: set `secret` "
                "(CHURNWATCH_WEBHOOK_SECRET) - at `$.secret`"
            )
        if self.timeout <= 0:
            raise ValueError("`timeout` must be positive - at `$.timeout`")


def sign_generic(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Churnwatch-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_generic(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float, tolerance: float = 300
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        fresh = abs(now - float(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign_generic(secret, timestamp, body), signature)


class WebhookNotifier:
    """POSTs a message as JSON to one URL."""

    __slots__ = ("client", "config", "now")

    def __init__(
        self,
        config: WebhookConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        import httpx

        self.config = config
        self.now = now
        self.client = httpx.Client(
            timeout=config.timeout, transport=transport, follow_redirects=False
        )

    def payload(self, message: Message) -> dict[str, Any]:
        text = message.body  # templates open with their own heading; subject is for email
        mobiles = [message.address] if message.address else []
        if self.config.preset == "wecom":
            return {
                "msgtype": "text",
                "text": {"content": text, "mentioned_mobile_list": mobiles},
            }
        if self.config.preset == "dingtalk":
            return {
                "msgtype": "text",
                "text": {"content": text},
                "at": {"atMobiles": mobiles, "isAtAll": False},
            }
        return {
            "key": message.key,
            "alert_ids": list(message.alert_ids),
            "rule_id": message.rule_id,
            "customer_id": message.customer_id,
            "audience": message.audience,
            "recipient_id": message.recipient_id,
            "language": message.language,
            "subject": message.subject,
            "text": message.body,
        }

    def send(self, message: Message) -> Receipt:
        import httpx

        body = msgspec.json.encode(self.payload(message))
        now = self.now()
        timestamp = str(int(now))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.key,
            "X-Churnwatch-Timestamp": timestamp,
        }
        url = self.config.url.reveal()
        secret = self.config.secret.reveal() if self.config.secret else None
        if secret is not None:
            headers["X-Churnwatch-Signature"] = sign_generic(secret, timestamp, body)
            if self.config.preset == "dingtalk":
                url = _dingtalk_signed(url, secret, int(now * 1000))
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed.transient(
                Reason.TIMEOUT, "webhook did not answer in time"
            ) from exc
        except httpx.TransportError as exc:
            raise DeliveryFailed.transient(
                Reason.CONNECTION, f"cannot reach the webhook ({type(exc).__name__})"
            ) from exc
        if not response.is_success:
            raise classify_status(
                response.status_code,
                f"{self.config.preset} webhook",
                response.headers.get("Retry-After"),
            )
        return Receipt(self._accepted(response, message))

    def _accepted(self, response: httpx.Response, message: Message) -> str | None:
        """Checks a robot's ``errcode``; returns the peer's message id when it gives one."""
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if self.config.preset in _ROBOT_RATE_LIMIT:
            code = answer.get("errcode", 0)
            if code in _ROBOT_RATE_LIMIT[self.config.preset]:
                raise DeliveryFailed.transient(
                    Reason.RATE_LIMITED, f"{self.config.preset} robot errcode {code}", 60.0
                )
            if code != 0:
                raise DeliveryFailed.permanent(
                    Reason.REJECTED, f"{self.config.preset} robot errcode {code}"
                )
        peer_id = answer.get("id") or response.headers.get("X-Message-Id")
        return str(peer_id) if peer_id else f"{self.config.preset}:{message.key}"

    def close(self) -> None:
        self.client.close()


def _dingtalk_signed(url: str, secret: str, timestamp_ms: int) -> str:
    text = f"{timestamp_ms}\n{secret}".encode()
    sign = base64.b64encode(hmac.new(secret.encode(), text, hashlib.sha256).digest()).decode()
    query = urllib.parse.urlencode({"timestamp": timestamp_ms, "sign": sign})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _configure(raw: Mapping[str, Any], env: Mapping[str, str]) -> WebhookConfig:
    url = read_secret("webhook", "url", raw, env, "CHURNWATCH_WEBHOOK_URL")
    secret = read_secret("webhook", "secret", raw, env, "CHURNWATCH_WEBHOOK_SECRET", required=False)
    config = channel_settings(
        "webhook",
        raw,
        env,
        WebhookConfig,
        secrets={"url": url, "secret": secret},
        env_defaults={"preset": "CHURNWATCH_WEBHOOK_PRESET"},
    )
    if config.preset not in ("generic", "wecom", "dingtalk"):  # pragma: no cover - typed
        raise ConfigError("channel 'webhook' setting 'preset' must be generic, wecom or dingtalk")
    return config


CHANNEL = Channel(
    name="webhook",
    summary="JSON POST signed with HMAC-SHA256 (presets: generic, WeCom, DingTalk robots)",
    address="staff",
    configure=_configure,
    build=lambda config: WebhookNotifier(config),
)
