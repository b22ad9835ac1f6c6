"""The email channel: SMTP with STARTTLS (required by default), for staff digests.

Staff records in the contract carry no email address, so ``to`` is a pattern filled with
the recipient's staff id (``"{recipient_id}@bank.example"``) or a fixed address of a
shared mailbox. The ``Message-ID`` is derived from the delivery key, so a receiving
system can drop the repeat of a message resent after a crash.

Classification follows SMTP: 4xx replies are transient, 5xx permanent (535 means our
credentials are wrong); a dropped connection or a timeout is transient; a TLS failure
is permanent until someone fixes the certificate or ``ca_file``.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import msgspec

from churnwatch.notifiers.exceptions import DeliveryFailed, Reason
from churnwatch.notifiers.protocol import Channel, Message, Receipt
from churnwatch.notifiers.secrets import Secret, read_secret
from churnwatch.notifiers.settings import channel_settings

__all__ = ["CHANNEL", "EmailConfig", "EmailNotifier", "message_id"]


class EmailConfig(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename={"from_": "from"}
):
    host: str
    from_: str
    to: str = "{recipient_id}"
    port: int = 587
    username: str | None = None
    password: Secret | None = None
    starttls: bool = True
    ca_file: str | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if "@" not in self.from_:
            raise ValueError("`from` must be an email address - at `$.from`")
        if self.username and self.password is None:
            raise ValueError("`username` is set but no password (CHURNWATCH_SMTP_PASSWORD)")
        if self.password is not None and not self.starttls:
            raise ValueError("refusing to send a password without STARTTLS - at `$.starttls`")


def message_id(key: str) -> str:
    """A ``Message-ID`` that is the same for every retry of the same delivery."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@churnwatch>"


class EmailNotifier:
    """Sends one email per message over a fresh SMTP connection."""

    __slots__ = ("config",)

    def __init__(self, config: EmailConfig) -> None:
        self.config = config

    def compose(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.config.from_
        mail["To"] = self.config.to.format(recipient_id=message.recipient_id)
        mail["Subject"] = message.subject or "churnwatch"
        mail["Message-ID"] = message_id(message.key)
        mail["Content-Language"] = message.language
        mail.set_content(message.body)
        return mail

    def send(self, message: Message) -> Receipt:
        mail = self.compose(message)
        config = self.config
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
                if config.starttls:
                    context = ssl.create_default_context(cafile=config.ca_file)
                    smtp.starttls(context=context)
                if config.username and config.password is not None:
                    _login(smtp, config.username, config.password.reveal())
                refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted(code for code, _ in exc.recipients.values())
            raise _by_code(codes[0] if codes else 550, "recipient refused") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryFailed.permanent(
                Reason.MISCONFIGURED, "the SMTP server does not offer STARTTLS"
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed.permanent(
                Reason.UNAUTHORIZED, f"SMTP login refused ({exc.smtp_code})"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, "SMTP server refused the message") from exc
        except ssl.SSLError as exc:
            raise DeliveryFailed.permanent(
                Reason.MISCONFIGURED, f"TLS with the SMTP server failed ({exc.reason})"
            ) from exc
        except TimeoutError as exc:
            raise DeliveryFailed.transient(Reason.TIMEOUT, "SMTP server timed out") from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise DeliveryFailed.transient(
                Reason.CONNECTION, f"cannot talk to the SMTP server ({type(exc).__name__})"
            ) from exc
        if refused:
            raise DeliveryFailed.permanent(Reason.INVALID_RECIPIENT, "recipient refused")
        return Receipt(mail["Message-ID"])

    def close(self) -> None:
        return None


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH PLAIN when offered: one round trip, and a refusal is final (535).

    ``SMTP.login`` falls through to AUTH LOGIN after a refused PLAIN, a second exchange
    that can only fail the same way; one attempt keeps a wrong password a clean 535.
    """
    smtp.ehlo_or_helo_if_needed()
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" not in offered:
        smtp.login(username, password)
        return
    smtp.user, smtp.password = username, password
    code, reply = smtp.auth("PLAIN", smtp.auth_plain, initial_response_ok=True)
    if code not in (235, 503):
        raise smtplib.SMTPAuthenticationError(code, reply)


def _by_code(code: int, text: str) -> DeliveryFailed:
    detail = f"{text} ({code})"
    if 400 <= code < 500:
        reason = Reason.RATE_LIMITED if code in (421, 450, 451, 452) else Reason.SERVER_ERROR
        return DeliveryFailed.transient(reason, detail)
    if code in (550, 551, 553):
        return DeliveryFailed.permanent(Reason.INVALID_RECIPIENT, detail)
    return DeliveryFailed.permanent(Reason.REJECTED, detail)


def _configure(raw: Mapping[str, Any], env: Mapping[str, str]) -> EmailConfig:
    password = read_secret(
        "email", "password", raw, env, "CHURNWATCH_SMTP_PASSWORD", required=False
    )
    return channel_settings(
        "email",
        raw,
        env,
        EmailConfig,
        secrets={"password": password},
        env_defaults={
            "host": "CHURNWATCH_SMTP_HOST",
            "port": "CHURNWATCH_SMTP_PORT",
            "username": "CHURNWATCH_SMTP_USER",
            "from": "CHURNWATCH_SMTP_FROM",
        },
    )


CHANNEL = Channel(
    name="email",
    summary="email over SMTP with STARTTLS (staff digests)",
    address="staff",
    configure=_configure,
    build=lambda config: EmailNotifier(config),
)
