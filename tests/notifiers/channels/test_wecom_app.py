"""The WeCom application-message channel against a local server speaking WeCom's API."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from im_peers import WecomAppPeer

from churnwatch.notifiers.channels.wecom_app import CHANNEL, WecomAppNotifier
from churnwatch.notifiers.exceptions import ConfigError, DeliveryFailed, Reason
from churnwatch.notifiers.im_app import split_text
from churnwatch.notifiers.protocol import Message

SECRET = "wecom-app-secret-0c4e"


@pytest.fixture
def peer() -> Iterator[WecomAppPeer]:
    made = WecomAppPeer("ww-corp-1", SECRET, {"wangfang", "lilei"})
    yield made
    made.close()


def notifier(peer: WecomAppPeer, secret: str = SECRET) -> WecomAppNotifier:
    config = CHANNEL.configure(
        {"corp_id": "ww-corp-1", "agent_id": 1000002, "base_url": peer.url},
        {"CHURNWATCH_WECOM_SECRET": secret},
    )
    return WecomAppNotifier(config)


def note(address: str | None = "wangfang", key: str = "A1:relationship_manager:RM1:x") -> Message:
    return Message(
        key=key,
        channel="wecom_app",
        audience="relationship_manager",
        recipient_id="RM1",
        address=address,
        language="zh-CN",
        subject="大额资金转出他行",
        body="【流失预警·高】大额资金转出他行\n客户：王芳",
        alert_ids=("A1",),
    )


def test_sends_a_private_text_to_the_user_id(peer: WecomAppPeer) -> None:
    """The message goes to the person's WeCom user id through the app, as a text."""
    receipt = notifier(peer).send(note())
    [sent] = peer.sent
    assert sent["touser"] == "wangfang" and sent["agentid"] == 1000002
    assert sent["msgtype"] == "text" and sent["text"]["content"].startswith("【流失预警·高】")
    assert sent["enable_duplicate_check"] == 1
    assert receipt.provider_message_id == "msg-1"


def test_the_token_is_fetched_once_and_reused(peer: WecomAppPeer) -> None:
    """Three messages cost one gettoken: the token is cached until it expires."""
    sender = notifier(peer)
    for n in range(3):
        sender.send(note(key=f"k{n}"))
    assert peer.token_requests == 1 and len(peer.sent) == 3


def test_an_expired_token_is_renewed_and_the_message_still_goes(peer: WecomAppPeer) -> None:
    """WeCom's 42001 (token expired) fetches a new token and sends within the same call."""
    sender = notifier(peer)
    sender.send(note(key="k1"))
    peer.expire_tokens()
    sender.send(note(key="k2"))
    assert peer.token_requests == 2 and len(peer.sent) == 2


def test_an_invalid_token_is_renewed(peer: WecomAppPeer) -> None:
    """A token WeCom no longer knows (40014, e.g. after the secret was reset) is fetched again."""
    sender = notifier(peer)
    sender.send(note(key="k1"))
    peer.tokens.clear()
    sender.send(note(key="k2"))
    assert peer.token_requests == 2 and len(peer.sent) == 2


def test_a_token_refused_twice_is_permanent(peer: WecomAppPeer) -> None:
    """A freshly fetched token refused again is not retried forever: permanent, unauthorized."""
    sender = notifier(peer)
    sender.send(note(key="k1"))
    peer.fail_next(42001)
    peer.fail_next(42001)
    with pytest.raises(DeliveryFailed) as caught:
        sender.send(note(key="k2"))
    assert (caught.value.retryable, caught.value.reason) == (False, Reason.UNAUTHORIZED)


def test_a_wrong_secret_is_permanent_and_not_quoted(peer: WecomAppPeer) -> None:
    """gettoken refusing the credentials (40001) is permanent; the secret is in no error text."""
    with pytest.raises(DeliveryFailed) as caught:
        notifier(peer, secret="not-the-secret-99").send(note())
    assert (caught.value.retryable, caught.value.reason) == (False, Reason.UNAUTHORIZED)
    assert "not-the-secret-99" not in str(caught.value) and not peer.sent


def test_an_unknown_user_id_is_permanent(peer: WecomAppPeer) -> None:
    """A user id WeCom does not know (81013) fails for good: fixing the staff record helps."""
    with pytest.raises(DeliveryFailed) as caught:
        notifier(peer).send(note("nobody"))
    assert (caught.value.retryable, caught.value.reason) == (False, Reason.INVALID_RECIPIENT)


def test_invaliduser_in_a_successful_answer_is_a_failure(peer: WecomAppPeer) -> None:
    """errcode 0 with the recipient listed in ``invaliduser`` is not a delivery."""
    with pytest.raises(DeliveryFailed) as caught:
        notifier(peer).send(note("lilei|nobody"))
    assert caught.value.reason is Reason.INVALID_RECIPIENT


@pytest.mark.parametrize(
    ("errcode", "reason"), [(45009, Reason.RATE_LIMITED), (-1, Reason.SERVER_ERROR)]
)
def test_rate_limits_and_busy_are_retryable(
    peer: WecomAppPeer, errcode: int, reason: Reason
) -> None:
    """The API frequency limit and "system busy" are worth retrying; the limit waits a minute."""
    sender = notifier(peer)
    sender.send(note(key="k1"))
    peer.fail_next(errcode)
    with pytest.raises(DeliveryFailed) as caught:
        sender.send(note(key="k2"))
    assert (caught.value.retryable, caught.value.reason) == (True, reason)
    if reason is Reason.RATE_LIMITED:
        assert caught.value.retry_after == 60.0


def test_http_errors_are_classified_and_hide_the_token(peer: WecomAppPeer) -> None:
    """A 503 from the gateway is retryable, and the token in the URL is never quoted."""
    sender = notifier(peer)
    sender.send(note(key="k1"))
    peer.fail_next(-1, status=503)
    with pytest.raises(DeliveryFailed) as caught:
        sender.send(note(key="k2"))
    assert caught.value.retryable and "tok-" not in str(caught.value)


def test_no_user_id_fails_without_calling_wecom(peer: WecomAppPeer) -> None:
    """A staff member without ``im_user_id`` cannot be reached privately: permanent, no request."""
    with pytest.raises(DeliveryFailed) as caught:
        notifier(peer).send(note(None))
    assert caught.value.reason is Reason.INVALID_RECIPIENT and peer.token_requests == 0


def test_unreachable_wecom_is_retryable() -> None:
    """Nothing listening: a connection failure, retryable."""
    config = CHANNEL.configure(
        {"corp_id": "c", "agent_id": 1, "base_url": "http://127.0.0.1:9", "timeout": 0.5},
        {"CHURNWATCH_WECOM_SECRET": SECRET},
    )
    with pytest.raises(DeliveryFailed) as caught:
        WecomAppNotifier(config).send(note())
    assert caught.value.retryable and caught.value.reason is Reason.CONNECTION


def test_settings_come_from_the_environment_and_are_checked() -> None:
    """corp id and agent id may come from the environment; an inline secret is refused."""
    env = {
        "CHURNWATCH_WECOM_SECRET": SECRET,
        "CHURNWATCH_WECOM_CORP_ID": "ww1",
        "CHURNWATCH_WECOM_AGENT_ID": "1000009",
    }
    config = CHANNEL.configure({}, env)
    assert (config.corp_id, config.agent_id) == ("ww1", 1000009)
    assert SECRET not in repr(config)
    with pytest.raises(ConfigError):
        CHANNEL.configure({"secret": SECRET, "corp_id": "c", "agent_id": 1}, {})


def test_a_long_digest_goes_as_several_texts_within_wecoms_limit(peer: WecomAppPeer) -> None:
    """A digest over WeCom's 2,048 bytes is sent in parts cut between lines, none refused."""
    lines = [f"{n}. 【流失预警·高】大额资金流出 客户：王芳 金额 ¥80,000.00" for n in range(60)]
    receipt = notifier(peer).send(msgspec.structs.replace(note(), body="\n".join(lines)))
    assert len(peer.sent) >= 2
    assert all(len(m["text"]["content"].encode()) <= 2048 for m in peer.sent)
    assert "\n".join(m["text"]["content"] for m in peer.sent) == "\n".join(lines)
    assert receipt.provider_message_id == f"msg-{len(peer.sent)}"


@given(st.text(alphabet="ab流失\n", max_size=400), st.integers(min_value=4, max_value=64))
def test_split_text_keeps_every_character_within_the_limit(text: str, limit: int) -> None:
    """Every part fits the byte limit, and the parts hold the text's characters in order."""
    parts = split_text(text, limit)
    assert all(len(p.encode()) <= limit for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")
    if all(len(line.encode()) <= limit for line in text.split("\n")):
        assert "\n".join(parts) == text
