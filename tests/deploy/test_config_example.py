"""deploy/config.example.yaml: parses, has the agreed keys, and every setting is explained."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from deploy_files import DEPLOY, load_yaml

EXAMPLE = DEPLOY / "config.example.yaml"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):")

#: keys the example must show; ``test_config_files_pass_config_check`` holds them to config.py
AGREED = (
    "broker.url",
    "broker.security.protocol",
    "broker.security.sasl_mechanism",
    "broker.security.sasl_username",
    "broker.security.sasl_password_file",
    "broker.security.ssl_cafile",
    "topics.transactions",
    "topics.products",
    "topics.customers",
    "topics.staff",
    "topics.alerts",
    "topics.dead_letter",
    "topics.partitions",
    "topics.replication_factor",
    "store.url",
    "rules.dir",
    "timezone",
    "lateness",
    "max_amount",
    "worker.group_id",
    "worker.commit_interval",
    "worker.state_store",
    "worker.rocksdb_block_cache_mb",
    "worker.timer_clock",
    "metrics.port",
    "notifiers",
)


def lookup(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, dotted
        node = node[part]
    return node


def test_example_has_every_agreed_key() -> None:
    """Each key the config schema uses is present in the example."""
    config = load_yaml(EXAMPLE)
    for dotted in AGREED:
        lookup(config, dotted)


def test_every_setting_has_a_comment() -> None:
    """Each key line has a comment on it or directly above it, so the example explains itself."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    bare = []
    for number, line in enumerate(lines):
        if not KEY.match(line):
            continue
        above = lines[number - 1].strip() if number else ""
        if "#" not in line and not above.startswith("#"):
            bare.append(f"line {number + 1}: {line.strip()}")
    assert not bare, bare


def test_example_holds_no_secret() -> None:
    """Passwords are referred to by file or env-var name; no password or token value appears."""
    config = load_yaml(EXAMPLE)
    assert "sasl_password" not in config["broker"]["security"]
    url = config["store"]["url"]
    userinfo = url.split("://", 1)[1].split("@", 1)[0] if "@" in url else ""
    assert ":" not in userinfo, "the store URL in the example must not carry a password"
    for channel, section in config["notifiers"].items():
        for key in ("auth_token", "password", "secret"):
            value = section.get(key)
            if value is not None:
                assert isinstance(value, dict) and set(value) <= {"env", "file"}, (channel, key)
        for key in ("app_secret",):
            value = section.get(key)
            if value is not None:
                assert isinstance(value, dict) and set(value) <= {"env", "file"}, (channel, key)
        if channel == "webhook":
            assert isinstance(section["url"], dict), "a robot URL carries its key: a secret"


def test_ports_agree_across_deploy() -> None:
    """metrics.port is the same in the example, the compose config, Kubernetes and the image."""
    port = load_yaml(EXAMPLE)["metrics"]["port"]
    assert load_yaml(DEPLOY / "compose.config.yaml")["metrics"]["port"] == port
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert f"EXPOSE {port}" in dockerfile
    assert f"'{port}'" in dockerfile  # the HEALTHCHECK's default port
    statefulset = (DEPLOY / "kubernetes" / "statefulset.yaml").read_text(encoding="utf-8")
    assert f"containerPort: {port}" in statefulset


def test_config_files_pass_config_check(tmp_path: Path) -> None:
    """The example, the compose config and the Kubernetes ConfigMap's config all load with
    streams/config.py (what ``churnwatch config check`` runs): no unknown or misspelt key."""
    from test_kubernetes import load_yaml_all_config

    from churnwatch.streams.config import load_config

    configmap = tmp_path / "configmap-config.json"
    configmap.write_text(json.dumps(load_yaml_all_config()), encoding="utf-8")
    for path in (EXAMPLE, DEPLOY / "compose.config.yaml", configmap):
        load_config(path, environ={})


def test_deploy_uses_only_environment_variables_config_reads() -> None:
    """Every ``CHURNWATCH_*`` variable the deploy files set or mention is one config.py reads
    (or a notifier credential the example names by ``*_env``)."""
    from churnwatch.streams.config import env_names

    # plus the variables of churnwatch web (followup/), which has no config file
    known = set(env_names()) | {
        "CHURNWATCH_CONFIG",
        "CHURNWATCH_WEB_SECRET",
        "CHURNWATCH_WEB_SECRET_FILE",
        "CHURNWATCH_WEB_SECRET_PREVIOUS",
        "CHURNWATCH_WEB_SECRET_PREVIOUS_FILE",
        "CHURNWATCH_WEB_SECRET_PREVIOUS_UNTIL",
        "CHURNWATCH_WEB_PUBLIC_URL",
        "CHURNWATCH_WEB_HOST",
        "CHURNWATCH_WEB_PORT",
        "CHURNWATCH_WEB_METRICS_HOST",
        "CHURNWATCH_WEB_METRICS_PORT",
    }
    named = {v for v in _walk(load_yaml(EXAMPLE)) if str(v).startswith("CHURNWATCH_")}
    found: set[str] = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix in ("", ".yaml", ".yml", ".md"):
            found |= set(re.findall(r"CHURNWATCH_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    assert found - known - named == set()


def _walk(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [v for value in node.values() for v in _walk(value)]
    return [node]
