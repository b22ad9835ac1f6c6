"""Secrets kept out of everything churnwatch prints about its configuration.

``churnwatch config check`` shows the effective config, and every problem line names the
setting it refuses: both must be safe to paste into a ticket. Passwords and tokens are
replaced by ``********`` by their key, URL passwords and credential query values by their
place in the URL, and a channel's inline ``url`` keeps only its origin (a webhook URL is
its own key). Nothing here reads a secret; it only hides what a config holds.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from churnwatch.streams.config import Config

__all__ = ["MASK", "SECRET_FIELDS", "mask_text", "masked"]

MASK = "********"
SECRET_FIELDS = frozenset({"sasl_password", "ssl_password"})
_SECRET_KEY = re.compile(r"pass|secret|token|auth|api_?key|credential|private", re.IGNORECASE)
#: a URL query parameter whose value is a credential (``?password=…``, ``&key=…``)
_SECRET_PARAM = re.compile(
    r"(?P<head>[?&;](?P<name>[^=&;#\s]*(?:pass|pwd|secret|token|key|sig|auth|credential)"
    r"[^=&;#\s]*)=)[^&;#\s]*",
    re.IGNORECASE,
)
#: everything after the host of a URL: a webhook's path and query are its key
_URL_AFTER_HOST = re.compile(r"^(?P<origin>[a-z][a-z0-9+.-]*://[^/?#\s]*)[/?#].*$", re.I | re.S)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@:\s]*):[^/@\s]*@", re.I)


def _mask_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if key in SECRET_FIELDS or (_SECRET_KEY.search(key) and not key.endswith("_file")):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_text(text: str) -> str:
    """``text`` with the passwords of URLs and their credential query values masked.

    For every line churnwatch prints about its configuration, problems included: a
    refused setting is named, never echoed.
    """
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m['head']}{MASK}", text)


def _mask_channel_urls(notifiers: Any) -> Any:
    """A channel's inline ``url`` keeps only its origin: a webhook URL is its own key."""
    if not isinstance(notifiers, dict):
        return notifiers
    out: dict[str, Any] = {}
    for name, section in notifiers.items():
        if isinstance(section, dict):
            section = {
                key: _URL_AFTER_HOST.sub(lambda m: f"{m['origin']}/{MASK}", value)
                if isinstance(value, str) and key.endswith("url")
                else value
                for key, value in section.items()
            }
        out[name] = section
    return out


def masked(config: Config) -> dict[str, Any]:
    """The effective config as plain data, every secret replaced by ``********``."""
    # SQLAlchemy parses the URL: imported here, so that every command that reads the
    # config (all of them) does not load it at startup
    from churnwatch.schemas.store import mask_url

    data: dict[str, Any] = msgspec.to_builtins(config)
    data["store"]["url"] = mask_text(mask_url(config.store.url))
    data["notifiers"] = _mask_channel_urls(data.get("notifiers"))
    result: dict[str, Any] = _mask_value("", data)
    return result
