"""The email channel against a local SMTP server that requires STARTTLS and a login."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SMTP_PASSWORD, SmtpPeer

from churnwatch.notifiers.channels.email import CHANNEL, EmailNotifier, message_id
from churnwatch.notifiers.exceptions import ConfigError, DeliveryFailed, Reason
from churnwatch.notifiers.protocol import Message


def mail() -> Message:
    return Message(
        key="A1:executive:EX1:email",
        channel="email",
        audience="executive",
        recipient_id="EX1",
        address=None,
        language="en",
        subject="[churn alert · high] Large transfer out",
        body="Customer: Wang Fang (tier private)",
        alert_ids=("A1",),
    )


def notifier(peer: SmtpPeer, certificate: tuple[Path, Path], **raw: object) -> EmailNotifier:
    settings = {
        "host": "127.0.0.1",
        "port": peer.port,
        "from": "churnwatch@bank.example",
        "to": "{recipient_id}@bank.example",
        "username": "churnwatch",
        "ca_file": str(certificate[0]),
        **raw,
    }
    return EmailNotifier(CHANNEL.configure(settings, {"CHURNWATCH_SMTP_PASSWORD": SMTP_PASSWORD}))


class TestSend:
    def test_delivers_over_starttls_with_login(
        self, smtp_peer: SmtpPeer, certificate: tuple[Path, Path]
    ) -> None:
        """The message reaches the server after STARTTLS and a login, to the patterned address."""
        receipt = notifier(smtp_peer, certificate).send(mail())
        [envelope] = smtp_peer.messages
        assert envelope.rcpt_tos == ["EX1@bank.example"]
        assert smtp_peer.logins == ["churnwatch"]
        content = (
            envelope.content.decode()
            if isinstance(envelope.content, bytes)
            else str(envelope.content)
        )
        assert "Large transfer out" in content
        assert receipt.provider_message_id == message_id("A1:executive:EX1:email")

    def test_untrusted_certificate_is_permanent(
        self, smtp_peer: SmtpPeer, certificate: tuple[Path, Path]
    ) -> None:
        """Without the CA file the server's certificate is not trusted: misconfigured, permanent."""
        with pytest.raises(DeliveryFailed) as caught:
            notifier(smtp_peer, certificate, ca_file=None).send(mail())
        assert (caught.value.retryable, caught.value.reason) == (False, Reason.MISCONFIGURED)


class TestClassification:
    @pytest.mark.parametrize(
        ("reply", "retryable"), [("451 4.3.0 try later", True), ("554 5.7.1 rejected", False)]
    )
    def test_smtp_reply_codes(
        self, smtp_peer: SmtpPeer, certificate: tuple[Path, Path], reply: str, retryable: bool
    ) -> None:
        """A 4xx reply is retryable, a 5xx reply is permanent."""
        smtp_peer.replies.append(reply)
        with pytest.raises(DeliveryFailed) as caught:
            notifier(smtp_peer, certificate).send(mail())
        assert caught.value.retryable is retryable
        assert SMTP_PASSWORD not in str(caught.value)

    def test_wrong_password_is_unauthorized(
        self, smtp_peer: SmtpPeer, certificate: tuple[Path, Path]
    ) -> None:
        """A refused login is permanent and the error does not contain the password."""
        settings = {
            "host": "127.0.0.1",
            "port": smtp_peer.port,
            "from": "cw@bank.example",
            "username": "churnwatch",
            "ca_file": str(certificate[0]),
        }
        bad = EmailNotifier(
            CHANNEL.configure(settings, {"CHURNWATCH_SMTP_PASSWORD": "wrong-pass-123"})
        )
        with pytest.raises(DeliveryFailed) as caught:
            bad.send(mail())
        assert (caught.value.retryable, caught.value.reason) == (False, Reason.UNAUTHORIZED)
        assert "wrong-pass-123" not in str(caught.value)

    def test_password_without_starttls_is_refused_at_load(self) -> None:
        """Sending a password in clear text is refused when the settings load."""
        with pytest.raises(ConfigError, match="STARTTLS"):
            CHANNEL.configure(
                {"host": "h", "from": "a@b.c", "username": "u", "starttls": False},
                {"CHURNWATCH_SMTP_PASSWORD": "p"},
            )
