"""WeCom application messages (企业微信应用消息): one private text to one staff member.

A group robot (the ``webhook`` channel's ``wecom`` preset) shows every customer's name and
amounts to everyone in the group; an application message reaches only the person it is
addressed to, by their WeCom user id (the staff record's ``im_user_id``). The app is the
bank's own (自建应用): its ``corp_id``, ``agent_id`` and secret.

``GET /cgi-bin/gettoken?corpid=&corpsecret=`` gives a token valid for ``expires_in``
seconds, cached until shortly before then; ``POST /cgi-bin/message/send?access_token=``
with ``{"touser", "msgtype": "text", "agentid", "text": {"content"}}`` sends, asking
WeCom to drop a repeat of the same text within 30 minutes (``enable_duplicate_check``).
An answer naming the recipient in ``invaliduser`` (or errcode 81013, 40003, 60111) means
the user id is wrong: permanent. 45009 and 45033 (rate and concurrency limits) and -1
(busy) are retryable; an expired or invalid token (42001, 40014) is fetched again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from churnwatch.notifiers.im_app import ImAppNotifier
from churnwatch.notifiers.protocol import Channel, Message
from churnwatch.notifiers.secrets import Secret, read_secret
from churnwatch.notifiers.settings import channel_settings

if TYPE_CHECKING:
    import httpx

__all__ = ["CHANNEL", "WecomAppConfig", "WecomAppNotifier"]


class WecomAppConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    corp_id: str
    agent_id: int
    secret: Secret
    base_url: str = "https://qyapi.weixin.qq.com"
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.corp_id.strip():
            raise ValueError("`corp_id` must not be empty - at `$.corp_id`")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("`base_url` must start with http:// or https:// - at `$.base_url`")
        if self.timeout <= 0:
            raise ValueError("`timeout` must be positive - at `$.timeout`")


class WecomAppNotifier(ImAppNotifier):
    """Sends a text to one WeCom user through the bank's own WeCom app."""

    peer = "WeCom app"
    token_path = "/cgi-bin/gettoken"
    send_path = "/cgi-bin/message/send"
    rate_codes = frozenset({45009, 45033})
    recipient_codes = frozenset({81013, 40003, 60111})
    max_bytes = 2048

    def __init__(
        self, config: WecomAppConfig, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.config = config
        super().__init__(config.base_url, config.timeout, transport=transport)

    def token_params(self) -> dict[str, str]:
        return {"corpid": self.config.corp_id, "corpsecret": self.config.secret.reveal()}

    def payload(self, message: Message, text: str) -> dict[str, Any]:
        return {
            "touser": message.address,
            "msgtype": "text",
            "agentid": self.config.agent_id,
            "text": {"content": text},
            "safe": 0,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": 1800,
        }

    def refused_recipient(self, answer: Mapping[str, Any]) -> bool:
        return bool(answer.get("invaliduser"))

    def message_id(self, answer: Mapping[str, Any]) -> str | None:
        msgid = answer.get("msgid")
        return str(msgid) if msgid else None


def _configure(raw: Mapping[str, Any], env: Mapping[str, str]) -> WecomAppConfig:
    secret = read_secret("wecom_app", "secret", raw, env, "CHURNWATCH_WECOM_SECRET")
    return channel_settings(
        "wecom_app",
        raw,
        env,
        WecomAppConfig,
        secrets={"secret": secret},
        env_defaults={
            "corp_id": "CHURNWATCH_WECOM_CORP_ID",
            "agent_id": "CHURNWATCH_WECOM_AGENT_ID",
        },
    )


CHANNEL = Channel(
    name="wecom_app",
    summary="WeCom application message to one staff member (im_user_id), private",
    address="im_user",
    configure=_configure,
    build=lambda config: WecomAppNotifier(config),
)
