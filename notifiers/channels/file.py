"""The file channel: each message as one JSON line, appended and flushed (audits, tests).

It is idempotent on its own: a message whose ``key`` is already in the file is not
written again, so a retried delivery after a crash does not duplicate a line.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from churnwatch.notifiers.exceptions import DeliveryFailed, Reason
from churnwatch.notifiers.protocol import Channel, Message, Receipt
from churnwatch.notifiers.settings import channel_settings

__all__ = ["CHANNEL", "FileConfig", "FileNotifier"]

_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EAGAIN, errno.EINTR, errno.EIO}


class FileConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str = "var/notifications.jsonl"
    fsync: bool = False


class FileNotifier:
    """Appends messages to a JSON lines file, once per key."""

    __slots__ = ("config", "encoder", "keys", "path")

    def __init__(self, config: FileConfig) -> None:
        self.config = config
        self.path = Path(config.path)
        self.encoder = msgspec.json.Encoder()
        self.keys: set[str] | None = None

    def _known_keys(self) -> set[str]:
        if self.keys is None:
            self.keys = set()
            if self.path.is_file():
                with self.path.open("rb") as handle:
                    for line in handle:
                        try:
                            self.keys.add(msgspec.json.decode(line)["key"])
                        except (msgspec.DecodeError, KeyError, TypeError):
                            continue  # a torn last line from a crash: not a delivery
        return self.keys

    def send(self, message: Message) -> Receipt:
        try:
            keys = self._known_keys()
            if message.key not in keys:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("ab") as handle:
                    handle.write(self.encoder.encode(message) + b"\n")
                    handle.flush()
                    if self.config.fsync:
                        os.fsync(handle.fileno())
                keys.add(message.key)
        except OSError as exc:
            self.keys = None  # re-read what actually reached the file next time
            if exc.errno in _TRANSIENT_ERRNOS:
                raise DeliveryFailed.transient(
                    Reason.CONNECTION, f"cannot append to {self.path} ({exc.strerror})"
                ) from exc
            raise DeliveryFailed.permanent(
                Reason.MISCONFIGURED, f"cannot append to {self.path} ({exc.strerror})"
            ) from exc
        return Receipt(f"file:{message.key}")

    def close(self) -> None:
        return None


def _configure(raw: Mapping[str, Any], env: Mapping[str, str]) -> FileConfig:
    return channel_settings(
        "file", raw, env, FileConfig, env_defaults={"path": "CHURNWATCH_NOTIFY_FILE"}
    )


CHANNEL = Channel(
    name="file",
    summary="appends messages as JSON lines to a file (audit, tests)",
    address="none",
    configure=_configure,
    build=lambda config: FileNotifier(config),
)
