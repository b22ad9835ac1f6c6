"""The Twilio channel through the real twilio SDK against a local Messages API."""

from __future__ import annotations

import pytest
from helpers import TWILIO_TOKEN, TwilioPeer, twilio_env

from churnwatch.notifiers.channels.twilio_sms import CHANNEL, TwilioSmsNotifier
from churnwatch.notifiers.exceptions import ConfigError, DeliveryFailed, Reason
from churnwatch.notifiers.protocol import Message


def sms(body: str = "您好") -> Message:
    return Message(
        key="A1:customer:C1:twilio_sms",
        channel="twilio_sms",
        audience="customer",
        recipient_id="C1",
        address="+8613800001234",
        language="zh-CN",
        subject="",
        body=body,
        alert_ids=("A1",),
    )


def notifier(peer: TwilioPeer, **extra: str) -> TwilioSmsNotifier:
    return TwilioSmsNotifier(CHANNEL.configure({}, {**twilio_env(peer), **extra}))


class TestSend:
    def test_posts_the_form_fields_with_basic_auth(self, twilio_peer: TwilioPeer) -> None:
        """The SDK's request reaches the base URL with To, From, Body and the account's auth."""
        receipt = notifier(twilio_peer).send(sms("到期提醒"))
        [request] = twilio_peer.requests
        assert request["path"] == f"/2010-04-01/Accounts/AC{'1' * 32}/Messages.json"
        assert request["form"] == {
            "To": "+8613800001234",
            "From": "+15005550006",
            "Body": "到期提醒",
        }
        assert (request["user"], request["password"]) == ("AC" + "1" * 32, TWILIO_TOKEN)
        assert receipt.provider_message_id == "SM" + "1".rjust(32, "0")

    def test_messaging_service_replaces_from(self, twilio_peer: TwilioPeer) -> None:
        """With a Messaging Service SID the request names it instead of a From number."""
        env = {**twilio_env(twilio_peer), "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32}
        del env["TWILIO_FROM"]
        TwilioSmsNotifier(CHANNEL.configure({}, env)).send(sms())
        assert twilio_peer.requests[0]["form"]["MessagingServiceSid"] == "MG" + "2" * 32
        assert "From" not in twilio_peer.requests[0]["form"]


class TestClassification:
    @pytest.mark.parametrize(
        ("code", "reason"),
        [(21211, Reason.INVALID_RECIPIENT), (21614, Reason.NOT_MOBILE), (21610, Reason.OPTED_OUT)],
    )
    def test_permanent_error_codes(
        self, twilio_peer: TwilioPeer, code: int, reason: Reason
    ) -> None:
        """Invalid, non-mobile and unsubscribed numbers are permanent, with their reason."""
        twilio_peer.fail_next(400, code)
        with pytest.raises(DeliveryFailed) as caught:
            notifier(twilio_peer).send(sms())
        assert (caught.value.retryable, caught.value.reason) == (False, reason)
        assert "+8613800001234" not in str(caught.value)  # Twilio's message quotes the number

    def test_429_is_retryable_and_not_retried_by_the_sdk(self, twilio_peer: TwilioPeer) -> None:
        """HTTP 429 is classified rate_limited for our retry stage; the SDK sends once."""
        twilio_peer.fail_next(429, 20429)
        with pytest.raises(DeliveryFailed) as caught:
            notifier(twilio_peer).send(sms())
        assert (caught.value.retryable, caught.value.reason) == (True, Reason.RATE_LIMITED)
        assert len(twilio_peer.requests) == 1

    def test_500_is_retryable(self, twilio_peer: TwilioPeer) -> None:
        """A 5xx answer is a transient server error."""
        twilio_peer.fail_next(500)
        with pytest.raises(DeliveryFailed) as caught:
            notifier(twilio_peer).send(sms())
        assert (caught.value.retryable, caught.value.reason) == (True, Reason.SERVER_ERROR)

    def test_timeout_is_retryable(self, twilio_peer: TwilioPeer) -> None:
        """A server slower than the configured timeout gives a retryable timeout."""
        from helpers import Scripted

        twilio_peer.script.append(Scripted(201, {"sid": "SMx"}, delay=1.0))
        slow = TwilioSmsNotifier(CHANNEL.configure({"timeout": 0.2}, twilio_env(twilio_peer)))
        with pytest.raises(DeliveryFailed) as caught:
            slow.send(sms())
        assert (caught.value.retryable, caught.value.reason) == (True, Reason.TIMEOUT)

    def test_connection_refused_is_retryable(self) -> None:
        """Nothing listening is a transient connection failure."""
        from helpers import free_port

        env = {
            "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_FROM": "+15005550006",
            "TWILIO_BASE_URL": f"http://127.0.0.1:{free_port()}",
        }
        with pytest.raises(DeliveryFailed) as caught:
            TwilioSmsNotifier(CHANNEL.configure({}, env)).send(sms())
        assert (caught.value.retryable, caught.value.reason) == (True, Reason.CONNECTION)


class TestConfig:
    def test_missing_token_names_the_variable_not_a_value(self) -> None:
        """Without a token the error names TWILIO_AUTH_TOKEN."""
        with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
            CHANNEL.configure({}, {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_FROM": "+15005550006"})

    def test_inline_token_is_refused(self) -> None:
        """A token written into the channels file is refused, and not echoed."""
        with pytest.raises(ConfigError) as caught:
            CHANNEL.configure({"auth_token": TWILIO_TOKEN}, {"TWILIO_ACCOUNT_SID": "AC1"})
        assert TWILIO_TOKEN not in str(caught.value)

    def test_token_from_a_file(self, tmp_path: object, twilio_peer: TwilioPeer) -> None:
        """``{file: PATH}`` reads the token from a mounted secret file."""
        from pathlib import Path

        secret = Path(str(tmp_path)) / "token"
        secret.write_text(TWILIO_TOKEN + "\n")
        env = twilio_env(twilio_peer)
        del env["TWILIO_AUTH_TOKEN"]
        config = CHANNEL.configure({"auth_token": {"file": str(secret)}}, env)
        assert config.auth_token.reveal() == TWILIO_TOKEN
        assert TWILIO_TOKEN not in repr(config)
