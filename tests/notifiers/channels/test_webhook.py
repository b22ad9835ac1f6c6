"""The webhook channel against a local receiver that verifies the HMAC signature."""

from __future__ import annotations

import json

import httpx
import pytest
from helpers import WEBHOOK_SECRET, WebhookPeer

from churnwatch.notifiers.channels.webhook import (
    CHANNEL,
    WebhookNotifier,
    sign_generic,
    verify_generic,
)
from churnwatch.notifiers.exceptions import ConfigError, DeliveryFailed, Reason
from churnwatch.notifiers.protocol import Message


def note(key: str = "A1:relationship_manager:RM1:webhook") -> Message:
    return Message(
        key=key,
        channel="webhook",
        audience="relationship_manager",
        recipient_id="RM1",
        address="+8613900000001",
        language="zh-CN",
        subject="大额资金转出他行",
        body="【流失预警·高】大额资金转出他行\n客户：王芳",
        alert_ids=("A1",),
        rule_id="large-transfer-out",
    )


def notifier(
    url: str, preset: str = "generic", secret: str | None = WEBHOOK_SECRET
) -> WebhookNotifier:
    env = {"CHURNWATCH_WEBHOOK_URL": url}
    if secret:
        env["CHURNWATCH_WEBHOOK_SECRET"] = secret
    return WebhookNotifier(CHANNEL.configure({"preset": preset}, env))


class TestGeneric:
    def test_receiver_verifies_the_signature(self, webhook_peer: WebhookPeer) -> None:
        """A generic POST carries a valid HMAC-SHA256 signature and the idempotency key."""
        receipt = notifier(webhook_peer.url + "/hook").send(note())
        [accepted] = webhook_peer.accepted
        assert webhook_peer.bad_signatures == 0
        assert accepted["json"]["text"].startswith("【流失预警·高】")
        assert accepted["headers"]["Idempotency-Key"] == "A1:relationship_manager:RM1:webhook"
        assert receipt.provider_message_id == "wh-1"

    def test_wrong_secret_is_refused_by_the_receiver(self, webhook_peer: WebhookPeer) -> None:
        """Signed with another secret, the receiver answers 401, which is permanent."""
        with pytest.raises(DeliveryFailed) as caught:
            notifier(webhook_peer.url, secret="not-the-secret").send(note())
        assert webhook_peer.bad_signatures == 1
        assert (caught.value.retryable, caught.value.reason) == (False, Reason.UNAUTHORIZED)

    def test_signature_rejects_a_changed_body_or_stale_time(self) -> None:
        """verify_generic fails for a tampered body and for an old timestamp."""
        signature = sign_generic("k", "1000", b"{}")
        assert verify_generic("k", "1000", b"{}", signature, now=1000)
        assert not verify_generic("k", "1000", b'{"x":1}', signature, now=1000)
        assert not verify_generic("k", "1000", b"{}", signature, now=2000)

    @pytest.mark.parametrize(
        ("status", "retryable"), [(429, True), (503, True), (400, False), (404, False)]
    )
    def test_status_classification(
        self, webhook_peer: WebhookPeer, status: int, retryable: bool
    ) -> None:
        """429 and 5xx are retryable; other 4xx are permanent."""
        webhook_peer.fail_next(status, **{"Retry-After": "7"})
        with pytest.raises(DeliveryFailed) as caught:
            notifier(webhook_peer.url).send(note())
        assert caught.value.retryable is retryable
        if status == 429:
            assert caught.value.retry_after == 7.0

    def test_generic_preset_requires_a_secret(self) -> None:
        """An unsigned generic webhook is refused at load."""
        with pytest.raises(ConfigError, match="secret"):
            CHANNEL.configure({}, {"CHURNWATCH_WEBHOOK_URL": "http://127.0.0.1:1/x"})


class TestRobots:
    def test_wecom_payload_mentions_the_manager(self, webhook_peer: WebhookPeer) -> None:
        """The WeCom preset sends a text message that @-mentions the recipient's mobile."""
        notifier(webhook_peer.url + "/cgi-bin/webhook/send?key=abc", "wecom").send(note())
        body = json.loads(webhook_peer.requests[0]["body"])
        assert body["msgtype"] == "text"
        assert body["text"]["mentioned_mobile_list"] == ["+8613900000001"]

    def test_dingtalk_is_signed_the_dingtalk_way(self, webhook_peer: WebhookPeer) -> None:
        """The DingTalk preset adds timestamp and sign query parameters and atMobiles."""
        notifier(webhook_peer.url + "/robot/send?access_token=t", "dingtalk").send(note())
        request = webhook_peer.requests[0]
        assert "timestamp=" in request["path"] and "sign=" in request["path"]
        assert json.loads(request["body"])["at"]["atMobiles"] == ["+8613900000001"]

    def test_robot_errcode_rate_limit_is_retryable(self) -> None:
        """DingTalk's 130101 (sending too fast) in a 200 answer is retryable; others permanent."""
        answers = iter([{"errcode": 130101}, {"errcode": 310000}])
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json=next(answers)))
        config = CHANNEL.configure(
            {"preset": "dingtalk"},
            {"CHURNWATCH_WEBHOOK_URL": "https://oapi.dingtalk.com/robot/send?access_token=t"},
        )
        robot = WebhookNotifier(config, transport=transport)
        with pytest.raises(DeliveryFailed) as first:
            robot.send(note())
        with pytest.raises(DeliveryFailed) as second:
            robot.send(note())
        assert (first.value.retryable, second.value.retryable) == (True, False)
        assert "access_token" not in str(first.value) + str(second.value)
