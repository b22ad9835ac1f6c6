"""The DingTalk work-notification channel against a local server speaking DingTalk's API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from im_peers import DingtalkAppPeer

from churnwatch.notifiers.channels.dingtalk_work import CHANNEL, DingtalkWorkNotifier
from churnwatch.notifiers.exceptions import DeliveryFailed, Reason
from churnwatch.notifiers.protocol import Message

SECRET = "dingtalk-app-secret-77e1"


@pytest.fixture
def peer() -> Iterator[DingtalkAppPeer]:
    made = DingtalkAppPeer("ding-app-1", SECRET, {"manager0425"})
    yield made
    made.close()


def notifier(peer: DingtalkAppPeer, secret: str = SECRET) -> DingtalkWorkNotifier:
    config = CHANNEL.configure(
        {"app_key": "ding-app-1", "agent_id": 2000003, "base_url": peer.url},
        {"CHURNWATCH_DINGTALK_SECRET": secret},
    )
    return DingtalkWorkNotifier(config)


def note(address: str = "manager0425", key: str = "A1:relationship_manager:RM1:x") -> Message:
    return Message(
        key=key,
        channel="dingtalk_work",
        audience="relationship_manager",
        recipient_id="RM1",
        address=address,
        language="zh-CN",
        subject="工资代发转出",
        body="【流失预警·中】工资到账后转出",
        alert_ids=("A1",),
    )


def test_sends_a_work_notification_to_the_user_id(peer: DingtalkAppPeer) -> None:
    """asyncsend_v2 gets the agent, the one user id and the text; the task id is the receipt."""
    receipt = notifier(peer).send(note())
    [sent] = peer.sent
    assert sent["agent_id"] == 2000003 and sent["userid_list"] == "manager0425"
    assert sent["msg"] == {"msgtype": "text", "text": {"content": "【流失预警·中】工资到账后转出"}}
    assert receipt.provider_message_id == "task:1001"


def test_an_expired_token_wrapped_in_errcode_88_is_renewed(peer: DingtalkAppPeer) -> None:
    """DingTalk reports an expired token as errcode 88 / sub_code 42001: renewed, then sent."""
    sender = notifier(peer)
    sender.send(note(key="k1"))
    sender.send(note(key="k2"))
    assert peer.token_requests == 1
    peer.expire_tokens()
    sender.send(note(key="k3"))
    assert peer.token_requests == 2 and len(peer.sent) == 3


def test_a_wrong_app_secret_is_permanent(peer: DingtalkAppPeer) -> None:
    """gettoken refusing the app's key and secret is permanent and quotes neither."""
    with pytest.raises(DeliveryFailed) as caught:
        notifier(peer, secret="wrong-secret-31").send(note())
    assert (caught.value.retryable, caught.value.reason) == (False, Reason.UNAUTHORIZED)
    assert "wrong-secret-31" not in str(caught.value)


def test_an_unknown_user_is_permanent(peer: DingtalkAppPeer) -> None:
    """A user id the organisation does not have (33012) fails for good."""
    with pytest.raises(DeliveryFailed) as caught:
        notifier(peer).send(note("somebody-else"))
    assert (caught.value.retryable, caught.value.reason) == (False, Reason.INVALID_RECIPIENT)


@pytest.mark.parametrize("errcode", [90018, 90002, -1])
def test_frequency_limits_and_busy_are_retryable(peer: DingtalkAppPeer, errcode: int) -> None:
    """DingTalk's frequency limits and "system busy" are retryable."""
    peer.fail_next(errcode)
    with pytest.raises(DeliveryFailed) as caught:
        notifier(peer).send(note())
    assert caught.value.retryable
