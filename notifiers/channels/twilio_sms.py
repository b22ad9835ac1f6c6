"""The Twilio SMS channel: the real ``twilio`` SDK, with a timeout and no retries of its own.

Settings come from the environment by default (``TWILIO_ACCOUNT_SID``,
``TWILIO_AUTH_TOKEN``, ``TWILIO_FROM`` or ``TWILIO_MESSAGING_SERVICE_SID``,
``TWILIO_BASE_URL``). ``base_url`` replaces the ``https://*.twilio.com`` origin of every
request, for an egress proxy or a local test server; the SDK's own request path
(auth, form encoding, error parsing) is unchanged.

Why these choices (from Twilio's docs and issue tracker): the SDK's default HTTP client
has no timeout, so we set one; its ``max_retries`` does not retry 429, so we leave
retries to churnwatch's retry stage; the Messages API has no idempotency key, so the
outbox is what keeps a message from going out twice. Error text carries Twilio's error
code but never the server's message, which quotes the phone number.

The SDK (and requests under it) is imported when a notifier is built and sends, not with
this module: checking a rule pack or listing the channels reads only the settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from churnwatch.notifiers.exceptions import ConfigError, DeliveryFailed, Reason
from churnwatch.notifiers.http_status import classify_status
from churnwatch.notifiers.protocol import Channel, Message, Receipt
from churnwatch.notifiers.secrets import Secret, read_secret
from churnwatch.notifiers.settings import channel_settings

if TYPE_CHECKING:
    from twilio.base.exceptions import TwilioRestException
    from twilio.http.http_client import TwilioHttpClient

__all__ = ["CHANNEL", "PERMANENT_CODES", "TwilioConfig", "TwilioSmsNotifier"]

#: Twilio error codes that no retry can fix, with the reason label they get
PERMANENT_CODES: dict[int, Reason] = {
    21211: Reason.INVALID_RECIPIENT,  # invalid 'To' number
    21614: Reason.NOT_MOBILE,  # 'To' is not a mobile number
    21610: Reason.OPTED_OUT,  # recipient replied STOP
    21408: Reason.MISCONFIGURED,  # region not enabled
    21606: Reason.MISCONFIGURED,  # 'From' cannot send SMS
    20003: Reason.UNAUTHORIZED,  # authentication failed
}
_TWILIO_ORIGIN = re.compile(r"^https://[a-z0-9.-]*twilio\.com")


class TwilioConfig(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename={"from_": "from"}
):
    account_sid: str
    auth_token: Secret
    from_: str | None = None
    messaging_service_sid: str | None = None
    base_url: str | None = None
    timeout: float = 10.0
    status_callback: str | None = None

    def __post_init__(self) -> None:
        if not self.account_sid.startswith("AC"):
            raise ValueError("`account_sid` must start with AC - at `$.account_sid`")
        if not (self.from_ or self.messaging_service_sid):
            raise ValueError(
                "set `from` (TWILIO_FROM) or `messaging_service_sid` (TWILIO_MESSAGING_SERVICE_SID)"
            )
        if self.timeout <= 0:
            raise ValueError("`timeout` must be positive - at `$.timeout`")


def _http_client(base_url: str | None, timeout: float) -> TwilioHttpClient:
    """The SDK's own HTTP client with a timeout, sending to ``base_url`` (when set) instead
    of Twilio's host. The subclass is made here, at build, as the SDK is imported only then."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.http.response import Response

    origin = base_url.rstrip("/") if base_url else None

    class RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
            if origin is not None:
                url = _TWILIO_ORIGIN.sub(origin, url, count=1)
            return super().request(method, url, *args, **kwargs)

    return RebasedHttpClient(timeout=timeout)


class TwilioSmsNotifier:
    """Sends an SMS through Twilio's Messages API."""

    __slots__ = ("client", "config")

    def __init__(self, config: TwilioConfig) -> None:
        from twilio.rest import Client

        self.config = config
        self.client = Client(
            config.account_sid,
            config.auth_token.reveal(),
            http_client=_http_client(config.base_url, config.timeout),
            environment={},  # never pick up TWILIO_EDGE/REGION behind our back
        )

    def send(self, message: Message) -> Receipt:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException

        if not message.address:
            raise DeliveryFailed.permanent(Reason.INVALID_RECIPIENT, "no phone number on record")
        options: dict[str, Any] = {"to": message.address, "body": message.body}
        if self.config.messaging_service_sid:
            options["messaging_service_sid"] = self.config.messaging_service_sid
        else:
            options["from_"] = self.config.from_
        if self.config.status_callback:
            options["status_callback"] = self.config.status_callback
        try:
            sent = self.client.messages.create(**options)
        except TwilioRestException as exc:
            raise classify_twilio(exc) from exc
        except requests.Timeout as exc:
            raise DeliveryFailed.transient(Reason.TIMEOUT, "Twilio did not answer in time") from exc
        except requests.ConnectionError as exc:
            raise DeliveryFailed.transient(Reason.CONNECTION, "cannot connect to Twilio") from exc
        except requests.RequestException as exc:
            raise DeliveryFailed.transient(
                Reason.UNKNOWN, f"request to Twilio failed ({type(exc).__name__})"
            ) from exc
        except TwilioException as exc:
            raise DeliveryFailed.permanent(
                Reason.MISCONFIGURED, f"Twilio client error ({type(exc).__name__})"
            ) from exc
        return Receipt(str(sent.sid) if sent.sid else None)

    def close(self) -> None:
        session = getattr(self.client.http_client, "session", None)
        if session is not None:
            session.close()


def classify_twilio(exc: TwilioRestException) -> DeliveryFailed:
    """Twilio's error code first (it is more precise), then the HTTP status."""
    code = exc.code
    if code in PERMANENT_CODES:
        return DeliveryFailed.permanent(PERMANENT_CODES[code], f"Twilio error {code}")
    if code == 20429:
        return DeliveryFailed.transient(Reason.RATE_LIMITED, "Twilio error 20429")
    return classify_status(int(exc.status), f"Twilio error {code}" if code else "Twilio error")


def _configure(raw: Mapping[str, Any], env: Mapping[str, str]) -> TwilioConfig:
    token = read_secret("twilio_sms", "auth_token", raw, env, "TWILIO_AUTH_TOKEN")
    config = channel_settings(
        "twilio_sms",
        raw,
        env,
        TwilioConfig,
        secrets={"auth_token": token},
        env_defaults={
            "account_sid": "TWILIO_ACCOUNT_SID",
            "from": "TWILIO_FROM",
            "messaging_service_sid": "TWILIO_MESSAGING_SERVICE_SID",
            "base_url": "TWILIO_BASE_URL",
        },
    )
    if config.base_url and not config.base_url.startswith(("http://", "https://")):
        raise ConfigError("channel 'twilio_sms' setting 'base_url' must start with http(s)://")
    return config


CHANNEL = Channel(
    name="twilio_sms",
    summary="SMS through Twilio's Messages API (the twilio SDK)",
    address="phone",
    configure=_configure,
    build=lambda config: TwilioSmsNotifier(config),
    sms=True,
)
