"""The console channel: prints each message as a readable block (the demo's output).

Addresses are masked in the header; the body is the text the real channel would send.
``sample`` limits how many messages of each (rule, audience, language) are printed, so a
demo over thousands of alerts shows one of each kind and counts the rest.
"""

from __future__ import annotations

import errno
import sys
from collections import Counter
from collections.abc import Mapping
from typing import IO, Any, Literal

import msgspec

from churnwatch.notifiers.exceptions import DeliveryFailed, Reason
from churnwatch.notifiers.masking import mask_digits
from churnwatch.notifiers.protocol import Channel, Message, Receipt
from churnwatch.notifiers.settings import channel_settings

__all__ = ["CHANNEL", "ConsoleConfig", "ConsoleNotifier"]

_TRANSIENT_ERRNOS = {errno.EAGAIN, errno.EINTR, errno.ENOSPC}


class ConsoleConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    stream: Literal["stdout", "stderr"] = "stdout"
    #: print at most this many messages per (rule, audience, language); 0 prints all
    sample: int = 0


class ConsoleNotifier:
    """Writes messages to a text stream; counts what it did not print."""

    __slots__ = ("config", "printed", "skipped", "stream")

    def __init__(self, config: ConsoleConfig, stream: IO[str] | None = None) -> None:
        self.config = config
        self.stream = stream
        self.printed: Counter[tuple[str, str, str]] = Counter()
        self.skipped = 0

    def _out(self) -> IO[str]:
        if self.stream is not None:
            return self.stream
        return sys.stdout if self.config.stream == "stdout" else sys.stderr

    def send(self, message: Message) -> Receipt:
        kind = (message.rule_id or "-", message.audience, message.language)
        if self.config.sample and self.printed[kind] >= self.config.sample:
            self.skipped += 1
            return Receipt(f"console:{message.key}")
        try:
            self._out().write(render_block(message))
            self._out().flush()
        except OSError as exc:
            if exc.errno in _TRANSIENT_ERRNOS:
                raise DeliveryFailed.transient(
                    Reason.CONNECTION, f"console write failed ({exc.strerror})"
                ) from exc
            raise DeliveryFailed.permanent(
                Reason.UNDELIVERABLE, f"console is closed ({exc.strerror})"
            ) from exc
        except ValueError as exc:  # write to a closed file
            raise DeliveryFailed.permanent(Reason.UNDELIVERABLE, "console is closed") from exc
        self.printed[kind] += 1
        return Receipt(f"console:{message.key}")

    def close(self) -> None:
        return None


def render_block(message: Message) -> str:
    """The message as a header line (who, how, masked address) and its body."""
    who = f"{message.audience} {message.recipient_id}"
    if message.address:
        who += f" ({mask_digits(message.address)})"
    parts = [message.language]
    if message.segments:
        parts.append(f"{message.segments} SMS segment{'s' if message.segments > 1 else ''}")
    if message.rule_id:
        parts.append(message.rule_id)
    if len(message.alert_ids) > 1:
        parts.append(f"{len(message.alert_ids)} alerts grouped")
    header = f"── to {who} · {' · '.join(parts)} "
    lines = [header.ljust(78, "─")]
    lines.append(message.body.rstrip())
    return "\n".join(lines) + "\n\n"


def _configure(raw: Mapping[str, Any], env: Mapping[str, str]) -> ConsoleConfig:
    return channel_settings("console", raw, env, ConsoleConfig)


CHANNEL = Channel(
    name="console",
    summary="prints messages to the terminal (demo, development)",
    address="none",
    configure=_configure,
    build=lambda config: ConsoleNotifier(config),
)
