"""Every channel in the ``churnwatch.notifiers`` registry, held to the same contract.

For each registered channel: a transient failure is classified retryable and a
permanent one not; no secret appears in error text or in the config's repr; and a
delivery repeated through the pipeline reaches the peer once. A new channel fails here
until it has a harness, which is the point.
"""

from __future__ import annotations

import errno
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from helpers import (
    SMTP_PASSWORD,
    TWILIO_TOKEN,
    WEBHOOK_SECRET,
    Rig,
    SmtpPeer,
    TwilioPeer,
    WebhookPeer,
    alert,
    twilio_env,
)
from im_peers import DingtalkAppPeer, WecomAppPeer

from churnwatch.notifiers.channels.console import ConsoleNotifier
from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.notifiers.exceptions import ConfigError, DeliveryFailed
from churnwatch.notifiers.protocol import Message, Notifier
from churnwatch.notifiers.registry import channels


class Harness(Protocol):
    secrets: tuple[str, ...]

    def notifier(self) -> Notifier: ...
    def transient(self) -> Notifier: ...
    def permanent(self) -> Notifier: ...
    def received(self) -> int: ...
    def bad_config(self) -> tuple[dict[str, Any], dict[str, str]]: ...


class TwilioHarness:
    secrets = (TWILIO_TOKEN,)

    def __init__(self, peer: TwilioPeer) -> None:
        self.peer = peer

    def notifier(self) -> Notifier:
        plugin = channels()["twilio_sms"]
        return plugin.build(plugin.configure({}, twilio_env(self.peer)))

    def transient(self) -> Notifier:
        self.peer.fail_next(503)
        return self.notifier()

    def permanent(self) -> Notifier:
        self.peer.fail_next(400, 21211)
        return self.notifier()

    def received(self) -> int:
        return len(self.peer.requests)

    def bad_config(self) -> tuple[dict[str, Any], dict[str, str]]:
        env = twilio_env(self.peer)
        return {"account_sid": "XX-not-a-sid"}, env


class WebhookHarness:
    secrets = (WEBHOOK_SECRET, "robot-key-3c91")

    def __init__(self, peer: WebhookPeer) -> None:
        self.peer = peer

    def env(self) -> dict[str, str]:
        return {
            "CHURNWATCH_WEBHOOK_URL": f"{self.peer.url}/hook?key=robot-key-3c91",
            "CHURNWATCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }

    def notifier(self) -> Notifier:
        plugin = channels()["webhook"]
        return plugin.build(plugin.configure({}, self.env()))

    def transient(self) -> Notifier:
        self.peer.fail_next(502)
        return self.notifier()

    def permanent(self) -> Notifier:
        self.peer.fail_next(403)
        return self.notifier()

    def received(self) -> int:
        return len(self.peer.accepted)

    def bad_config(self) -> tuple[dict[str, Any], dict[str, str]]:
        return {"timeout": -1}, self.env()


class EmailHarness:
    secrets = (SMTP_PASSWORD,)

    def __init__(self, peer: SmtpPeer, ca_file: Path) -> None:
        self.peer = peer
        self.ca_file = ca_file

    def settings(self) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.peer.port,
            "from": "cw@bank.example",
            "username": "churnwatch",
            "ca_file": str(self.ca_file),
        }

    def notifier(self) -> Notifier:
        plugin = channels()["email"]
        return plugin.build(
            plugin.configure(self.settings(), {"CHURNWATCH_SMTP_PASSWORD": SMTP_PASSWORD})
        )

    def transient(self) -> Notifier:
        self.peer.replies.append("421 4.3.2 busy")
        return self.notifier()

    def permanent(self) -> Notifier:
        self.peer.replies.append("550 5.1.1 no such user")
        return self.notifier()

    def received(self) -> int:
        return len(self.peer.messages)

    def bad_config(self) -> tuple[dict[str, Any], dict[str, str]]:
        return {**self.settings(), "starttls": False}, {"CHURNWATCH_SMTP_PASSWORD": SMTP_PASSWORD}


IM_SECRET = "im-app-secret-6b20f1"
#: the user ids the messenger peers know: the pipeline's staff, and ``message()``'s address
IM_USERS = {"rm1", "bh1", "ex1", "+8613900000001"}


class ImAppHarness:
    """The WeCom application and DingTalk work-notice channels against their local APIs."""

    secrets = (IM_SECRET, "tok-1", "tok-2")

    def __init__(self, name: str) -> None:
        self.name = name
        self.peer: WecomAppPeer | DingtalkAppPeer
        if name == "wecom_app":
            self.peer = WecomAppPeer("ww-corp", IM_SECRET, IM_USERS)
            self.settings: dict[str, Any] = {"corp_id": "ww-corp", "agent_id": 1000002}
            self.env = {"CHURNWATCH_WECOM_SECRET": IM_SECRET}
        else:
            self.peer = DingtalkAppPeer("ding-key", IM_SECRET, IM_USERS)
            self.settings = {"app_key": "ding-key", "agent_id": 2000003}
            self.env = {"CHURNWATCH_DINGTALK_SECRET": IM_SECRET}
        self.settings["base_url"] = self.peer.url

    def notifier(self) -> Notifier:
        plugin = channels()[self.name]
        return plugin.build(plugin.configure(self.settings, self.env))

    def transient(self) -> Notifier:
        self.peer.fail_next(-1)  # system busy
        return self.notifier()

    def permanent(self) -> Notifier:
        self.peer.fail_next(60020)  # the server's IP is not on the app's allow list
        return self.notifier()

    def received(self) -> int:
        return len(self.peer.sent)

    def bad_config(self) -> tuple[dict[str, Any], dict[str, str]]:
        return {**self.settings, "agent_id": "the-app"}, self.env

    def close(self) -> None:
        self.peer.close()


class _FailingStream(io.StringIO):
    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code

    def write(self, text: str) -> int:
        raise OSError(self.code, "stream failure")


class ConsoleHarness:
    secrets = ()

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.plugin = channels()["console"]

    def notifier(self) -> Notifier:
        return ConsoleNotifier(self.plugin.configure({}, {}), self.stream)

    def transient(self) -> Notifier:
        return ConsoleNotifier(self.plugin.configure({}, {}), _FailingStream(errno.EAGAIN))

    def permanent(self) -> Notifier:
        return ConsoleNotifier(self.plugin.configure({}, {}), _FailingStream(errno.EPIPE))

    def received(self) -> int:
        return self.stream.getvalue().count("── to ")

    def bad_config(self) -> tuple[dict[str, Any], dict[str, str]]:
        return {"stream": "printer"}, {}


class FileHarness:
    secrets = ()

    def __init__(self, directory: Path) -> None:
        self.path = directory / "out.jsonl"
        self.plugin = channels()["file"]

    def notifier(self) -> Notifier:
        return self.plugin.build(self.plugin.configure({"path": str(self.path)}, {}))

    def transient(self) -> Notifier:
        return self.plugin.build(self.plugin.configure({"path": "/dev/full"}, {}))  # ENOSPC

    def permanent(self) -> Notifier:
        return self.plugin.build(
            self.plugin.configure({"path": str(self.path.parent)}, {})
        )  # EISDIR

    def received(self) -> int:
        return len(self.path.read_text().splitlines()) if self.path.exists() else 0

    def bad_config(self) -> tuple[dict[str, Any], dict[str, str]]:
        return {"path": 42, "fsync": "sometimes"}, {}


@pytest.fixture(params=sorted(channels()))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    name = request.param
    if name == "twilio_sms":
        yield TwilioHarness(request.getfixturevalue("twilio_peer"))
    elif name == "webhook":
        yield WebhookHarness(request.getfixturevalue("webhook_peer"))
    elif name == "email":
        yield EmailHarness(
            request.getfixturevalue("smtp_peer"), request.getfixturevalue("certificate")[0]
        )
    elif name == "console":
        yield ConsoleHarness()
    elif name == "file":
        yield FileHarness(tmp_path)
    elif name in ("wecom_app", "dingtalk_work"):
        im = ImAppHarness(name)
        yield im
        im.close()
    else:
        pytest.fail(f"the registered channel {name!r} has no conformance harness: add one")


def message() -> Message:
    return Message(
        key="A1:relationship_manager:RM1:x",
        channel="x",
        audience="relationship_manager",
        recipient_id="RM1",
        address="+8613900000001",
        language="zh-CN",
        subject="s",
        body="【流失预警】测试",
        alert_ids=("A1",),
    )


def test_transient_failure_is_retryable(harness: Harness) -> None:
    """A failure that waiting can cure is classified retryable, with no secret in its text."""
    with pytest.raises(DeliveryFailed) as caught:
        harness.transient().send(message())
    assert caught.value.retryable
    for secret in harness.secrets:
        assert secret not in str(caught.value) and secret not in repr(caught.value)


def test_permanent_failure_is_not_retryable(harness: Harness) -> None:
    """A failure that retrying cannot cure is classified permanent, with no secret in its text."""
    with pytest.raises(DeliveryFailed) as caught:
        harness.permanent().send(message())
    assert not caught.value.retryable
    for secret in harness.secrets:
        assert secret not in str(caught.value)


def test_bad_config_is_refused_without_secrets(
    harness: Harness, request: pytest.FixtureRequest
) -> None:
    """Invalid settings fail at load with a ConfigError that quotes no secret."""
    name = request.node.callspec.params["harness"]
    raw, env = harness.bad_config()
    with pytest.raises(ConfigError) as caught:
        channels()[name].configure(raw, env)
    for secret in harness.secrets:
        assert secret not in str(caught.value)


def test_config_repr_hides_secrets(harness: Harness, request: pytest.FixtureRequest) -> None:
    """A channel's loaded config can be logged: its repr shows no secret."""
    notifier = harness.notifier()
    text = repr(getattr(notifier, "config", notifier))
    for secret in harness.secrets:
        assert secret not in text


def test_repeated_delivery_reaches_the_peer_once(
    harness: Harness, request: pytest.FixtureRequest, sqlite_url: str, directory: InMemoryDirectory
) -> None:
    """The same alert delivered twice through the pipeline reaches the peer once."""
    name = request.node.callspec.params["harness"]
    rig = Rig(sqlite_url, {name: harness.notifier()}, channel=name)
    same = alert(alert_id="A-conformance")
    rig.deliver([same], directory)
    rig.pipeline([rig.pipeline.router(same, directory)], directory)
    rig.clock.advance(minutes=5)
    rig.dispatcher.run_until_idle()
    rig.pipeline([rig.pipeline.router(same, directory)], directory)
    rig.clock.advance(minutes=5)
    rig.dispatcher.run_until_idle()
    assert harness.received() == 1
    rig.close()
