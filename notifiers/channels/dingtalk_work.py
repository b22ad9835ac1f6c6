"""DingTalk work notifications (钉钉工作通知): one private text to one staff member.

Unlike a DingTalk group robot, a work notification reaches only the person it names, by
their DingTalk user id (the staff record's ``im_user_id``), from the bank's own app
(``app_key``, ``agent_id`` and the app secret).

``GET /gettoken?appkey=&appsecret=`` gives a token valid for ``expires_in`` seconds,
cached until shortly before then; ``POST /topapi/message/corpconversation/asyncsend_v2
?access_token=`` with ``{"agent_id", "userid_list", "msg": {"msgtype": "text", "text":
{"content"}}}`` sends and answers a ``task_id``. -1 (busy) and the frequency limits
(90002, 90005, 90006, 90018) are retryable; an expired or invalid token (42001, 40014,
also as errcode 88 with that ``sub_code``) is fetched again; 33012 (no such user) and
anything else are permanent.
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

__all__ = ["CHANNEL", "DingtalkWorkConfig", "DingtalkWorkNotifier"]


class DingtalkWorkConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    app_key: str
    agent_id: int
    app_secret: Secret
    base_url: str = "https://oapi.dingtalk.com"
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.app_key.strip():
            raise ValueError("`app_key` must not be empty - at `$.app_key`")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("`base_url` must start with http:// or https:// - at `$.base_url`")
        if self.timeout <= 0:
            raise ValueError("`timeout` must be positive - at `$.timeout`")


class DingtalkWorkNotifier(ImAppNotifier):
    """Sends a work notification to one DingTalk user through the bank's own app."""

    peer = "DingTalk app"
    token_path = "/gettoken"
    send_path = "/topapi/message/corpconversation/asyncsend_v2"
    rate_codes = frozenset({90002, 90005, 90006, 90018})
    recipient_codes = frozenset({33012})
    max_bytes = 2048  # the same cut as WeCom: a work notification is read on a phone too

    def __init__(
        self, config: DingtalkWorkConfig, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.config = config
        super().__init__(config.base_url, config.timeout, transport=transport)

    def token_params(self) -> dict[str, str]:
        return {"appkey": self.config.app_key, "appsecret": self.config.app_secret.reveal()}

    def payload(self, message: Message, text: str) -> dict[str, Any]:
        return {
            "agent_id": self.config.agent_id,
            "userid_list": message.address,
            "msg": {"msgtype": "text", "text": {"content": text}},
        }

    def message_id(self, answer: Mapping[str, Any]) -> str | None:
        task = answer.get("task_id")
        return f"task:{task}" if task else None


def _configure(raw: Mapping[str, Any], env: Mapping[str, str]) -> DingtalkWorkConfig:
    secret = read_secret("dingtalk_work", "app_secret", raw, env, "CHURNWATCH_DINGTALK_SECRET")
    return channel_settings(
        "dingtalk_work",
        raw,
        env,
        DingtalkWorkConfig,
        secrets={"app_secret": secret},
        env_defaults={
            "app_key": "CHURNWATCH_DINGTALK_APP_KEY",
            "agent_id": "CHURNWATCH_DINGTALK_AGENT_ID",
        },
    )


CHANNEL = Channel(
    name="dingtalk_work",
    summary="DingTalk work notification to one staff member (im_user_id), private",
    address="im_user",
    configure=_configure,
    build=lambda config: DingtalkWorkNotifier(config),
)
