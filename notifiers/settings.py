"""Reading a channel's settings: the channels file's section, environment defaults, secrets.

Every channel validates its own settings through :func:`channel_settings` at load, so a
typo fails at start-up with the channel and setting named, not at the first alert.
The channels file (``--channels``) is read by the same key as the config file,
``notifiers:``, one section per channel (``deploy/config.example.yaml`` shows them);
anything secret in it is a reference, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from churnwatch.notifiers.exceptions import ConfigError

__all__ = ["channel_settings", "load_channels_file"]

T = TypeVar("T")


def channel_settings(
    channel: str,
    raw: Mapping[str, Any],
    env: Mapping[str, str],
    kind: type[T],
    *,
    secrets: Mapping[str, Any] | None = None,
    env_defaults: Mapping[str, str] | None = None,
) -> T:
    """``raw`` (minus secret fields) over environment defaults, checked against ``kind``.

    ``secrets`` are already-resolved secret values merged in after validation of the
    rest, so a validation message can never quote them.
    """
    values: dict[str, Any] = {}
    for field, variable in (env_defaults or {}).items():
        if env.get(variable):
            values[field] = env[variable]
    secret_names = set(secrets or {})
    values.update({k: v for k, v in raw.items() if k not in secret_names})
    values.update(secrets or {})
    try:
        return msgspec.convert(values, kind, strict=False, dec_hook=_keep_instances)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"channel {channel!r}: {exc}") from exc


def _keep_instances(kind: type[Any], value: Any) -> Any:
    """Lets already-built values (a resolved ``Secret``) through."""
    if isinstance(value, kind):
        return value
    # msgspec's dec_hook protocol: NotImplementedError means "not a type I convert", and
    # msgspec turns it into a ValidationError naming the field.
    raise NotImplementedError(f"cannot convert to {kind.__name__}")


def load_channels_file(path: Path | None) -> dict[str, dict[str, Any]]:
    """The file's ``notifiers:`` section as ``{channel: settings}``; ``{}`` without a file.

    The key is the config file's, so ``--channels`` can be given the worker's own config
    file. A file without it is refused rather than read as "no channel".
    """
    if path is None:
        return {}
    from churnwatch.rules.yamlfile import YamlSyntaxError, load_yaml, plain

    try:
        document = load_yaml(path)
    except (OSError, YamlSyntaxError) as exc:
        raise ConfigError(f"cannot read the channels file {path}: {exc}") from exc
    data = plain(document.data) or {}
    if not isinstance(data, dict) or "notifiers" not in data:
        hint = (
            " (rename `channels:` to `notifiers:`)"
            if isinstance(data, dict) and "channels" in data
            else ""
        )
        raise ConfigError(f"{path}: no `notifiers:` section{hint}")
    channels = data["notifiers"] or {}
    if not isinstance(channels, dict) or not all(isinstance(v, dict) for v in channels.values()):
        raise ConfigError(f"{path}: expected `notifiers:` mapping each channel name to settings")
    return {str(name): dict(section) for name, section in channels.items()}
