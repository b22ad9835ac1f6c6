"""Secrets as a type: they come from the environment or a file and never print themselves.

A :class:`Secret` shows ``********`` in ``repr``, ``str`` and f-strings, so passing one
to a log call or an error message cannot leak it; only :meth:`Secret.reveal` gives the
value, at the one place that sends it. Config files refer to secrets by name
(``{env: NAME}`` or ``{file: /run/secrets/x}``); an inline secret is refused at load,
because config files end up in repositories.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from churnwatch.notifiers.exceptions import ConfigError, SecretUnavailable

__all__ = ["Secret", "read_secret"]

MASK = "********"


class Secret:
    """A value that must not be shown."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not serialisable")


def read_secret(
    channel: str,
    field: str,
    raw: Mapping[str, Any],
    env: Mapping[str, str],
    default_env: str | None,
    *,
    required: bool = True,
) -> Secret | None:
    """The secret ``field`` of ``channel``'s settings: ``{env: NAME}``, ``{file: PATH}`` or
    the default environment variable. Errors name the setting and its source, not the value.
    """
    ref = raw.get(field)
    where = f"channel {channel!r} setting {field!r}"
    if ref is None:
        if default_env is not None and env.get(default_env):
            return Secret(env[default_env].strip())
        if required:
            hint = f"set the environment variable {default_env}" if default_env else "set it"
            raise SecretUnavailable(
                f"{where} is missing: {hint} (or give {{env: NAME}} / {{file: PATH}})"
            )
        return None
    if not isinstance(ref, Mapping) or len(ref) != 1 or next(iter(ref)) not in ("env", "file"):
        raise ConfigError(
            f"{where} must refer to a secret as {{env: NAME}} or {{file: PATH}}; "
            "secrets are never written inline in config files"
        )
    kind, name = next(iter(ref.items()))
    if kind == "env":
        value = env.get(str(name))
        if not value:
            raise SecretUnavailable(f"{where}: the environment variable {name} is not set")
        return Secret(value.strip())
    try:
        value = Path(str(name)).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretUnavailable(
            f"{where}: cannot read the secret file {name} ({exc.strerror})"
        ) from exc
    if not value:
        raise ConfigError(f"{where}: the secret file {name} is empty")
    return Secret(value)
