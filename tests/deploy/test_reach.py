"""Every shipped deploy configuration reaches every audience of the shipped routing.

``churnwatch config check`` with the configuration, the secrets its deployment wires in
(compose.yaml's environment, the StatefulSet's Secret references) and the shipped rules
passes; take a channel out and it fails naming the audiences left unreached.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deploy_files import DEPLOY, REPO, load_yaml
from ruamel.yaml import YAML
from test_kubernetes import load_yaml_all_config, worker
from typer.testing import CliRunner, Result

from churnwatch.cli.app import app
from churnwatch.notifiers.routing_file import load_routing

PACK = REPO / "rules" / "pack"
AUDIENCES = load_routing(PACK / "routing.yaml").audiences


def _value(name: str) -> str:
    """A stand-in secret of the right shape for the variable ``name``."""
    if name.endswith("_URL") and "STORE" not in name:
        return "https://robot.example/send?key=stand-in-key"
    if name == "TWILIO_ACCOUNT_SID":
        return "AC" + "0" * 32
    if name == "TWILIO_FROM":
        return "+15005550006"
    if name == "CHURNWATCH_STORE_URL":
        return "postgresql+psycopg://churnwatch:pw@postgres:5432/churnwatch"
    return "stand-in-" + name.lower()


def compose_env() -> dict[str, str]:
    """The variables compose.yaml gives a worker (its ${...} filled by the operator)."""
    variables = load_yaml(DEPLOY / "compose.yaml")["x-worker"]["environment"]
    return {name: _value(name) for name in variables}


def kubernetes_env() -> dict[str, str]:
    """The variables the StatefulSet gives a worker from Secrets and ConfigMaps."""
    return {item["name"]: _value(item["name"]) for item in worker()["env"]}


def example_env() -> dict[str, str]:
    """The variables the example names by ``{env: NAME}``."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if set(node) == {"env"}:
                found.append(str(node["env"]))
            for value in node.values():
                walk(value)

    walk(load_yaml(DEPLOY / "config.example.yaml")["notifiers"])
    return {name: _value(name) for name in found}


def _kubernetes_config(tmp: Path) -> Path:
    path = tmp / "configmap-config.yaml"
    _dump(load_yaml_all_config(), path)
    return path


def _dump(data: Any, path: Path) -> None:
    yaml = YAML(typ="safe", pure=True)
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)


CONFIGS: dict[str, tuple[Callable[[Path], Path], Callable[[], dict[str, str]]]] = {
    "compose": (lambda tmp: DEPLOY / "compose.config.yaml", compose_env),
    "kubernetes": (_kubernetes_config, kubernetes_env),
    "example": (lambda tmp: DEPLOY / "config.example.yaml", example_env),
}


def check(config: Path, env: dict[str, str], *extra: str) -> Result:
    """``churnwatch config check`` with exactly ``env`` for churnwatch's and channels' variables."""
    scrubbed: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith(("CHURNWATCH_", "TWILIO_"))
    }
    return CliRunner().invoke(
        app,
        ["config", "check", "--config", str(config), "--rules", str(PACK), *extra],
        env={**scrubbed, **env, "COLUMNS": "300"},
    )


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_audience_has_a_configured_channel(name: str, tmp_path: Path) -> None:
    """With the secrets its deployment wires in, the configuration reaches all four audiences."""
    locate, env = CONFIGS[name]
    result = check(locate(tmp_path), env())
    assert result.exit_code == 0, result.output
    for audience, route in AUDIENCES.items():
        assert f"# {audience} -> {route.channel}: ok" in result.output


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_removing_a_channel_fails_naming_its_audiences(name: str, tmp_path: Path) -> None:
    """Each routed channel taken out of the configuration fails the check, one line per
    audience it leaves unreached, and none for the audiences still reached."""
    locate, env = CONFIGS[name]
    config = load_yaml(locate(tmp_path))
    for channel in sorted(config["notifiers"]):
        reduced = {**config, "notifiers": dict(config["notifiers"])}
        del reduced["notifiers"][channel]
        if channel == "twilio_sms":  # it would otherwise configure itself from TWILIO_*
            variables = {k: v for k, v in env().items() if not k.startswith("TWILIO_")}
        else:
            variables = env()
        path = tmp_path / f"without-{channel}.yaml"
        _dump(reduced, path)
        result = check(path, variables)
        if not any(route.channel == channel for route in AUDIENCES.values()):
            # configured but routed to nobody (the example's group robot, DingTalk): no loss
            assert result.exit_code == 0, (channel, result.output)
            continue
        assert result.exit_code == 1, (channel, result.output)
        problems = [line for line in result.output.splitlines() if "problem:" in line]
        unreached = {a for a, route in AUDIENCES.items() if route.channel == channel}
        assert len(problems) == len(unreached), problems
        for audience in unreached:
            assert any(f"audience {audience}: channel {channel!r}" in p for p in problems)


def test_a_missing_secret_fails_unless_the_secrets_are_elsewhere() -> None:
    """Without the WeCom app's secret the managers are not reached: a failure where churnwatch
    runs, a warning with ``--without-secrets`` (CI, where the secrets never are)."""
    env = compose_env()
    del env["CHURNWATCH_WECOM_SECRET"]
    here = check(DEPLOY / "compose.config.yaml", env)
    assert here.exit_code == 1
    assert "audience relationship_manager: notifiers.wecom_app: secret missing" in here.output
    elsewhere = check(DEPLOY / "compose.config.yaml", env, "--without-secrets")
    assert elsewhere.exit_code == 0, elsewhere.output
    assert "warning: notifiers.wecom_app" in elsewhere.output


def test_a_channel_routing_names_must_be_installed(tmp_path: Path) -> None:
    """A routing file naming a channel no package provides fails the check by audience."""
    rules = tmp_path / "rules"
    rules.mkdir()
    text = (PACK / "routing.yaml").read_text(encoding="utf-8")
    (rules / "routing.yaml").write_text(text.replace("channel: email", "channel: pager"))
    compose = str(DEPLOY / "compose.config.yaml")
    result = CliRunner().invoke(
        app,
        ["config", "check", "--config", compose, "--rules", str(rules), "--without-secrets"],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 1
    assert "audience executive: channel 'pager' is not installed" in result.output


def test_the_channels_file_and_the_config_share_their_key(tmp_path: Path) -> None:
    """``--channels`` reads ``notifiers:``, so a worker's config file serves (and ``notifiers
    list`` takes ``--rules`` like every command); a file with the old ``channels:`` key is
    refused with the rename to make, not read as empty."""
    compose = str(DEPLOY / "compose.config.yaml")
    listed = CliRunner().invoke(
        app,
        ["notifiers", "list", "--channels", compose, "--rules", str(PACK)],
        env={**compose_env(), "COLUMNS": "300"},
    )
    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[1].strip(): line for line in listed.output.splitlines() if "│" in line}
    for channel in ("twilio_sms", "wecom_app", "email"):
        cells = rows[channel].split("│")
        assert "yes" in cells[2], rows[channel]
        routed = [a for a, route in AUDIENCES.items() if route.channel == channel]
        assert cells[3].strip() == ", ".join(routed)
    old = tmp_path / "channels.yaml"
    old.write_text("channels:\n  console: {}\n", encoding="utf-8")
    refused = CliRunner().invoke(app, ["notifiers", "list", "--channels", str(old)])
    assert refused.exit_code == 2
    assert "rename `channels:` to `notifiers:`" in refused.output
