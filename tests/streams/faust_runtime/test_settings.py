"""Choosing the Faust runtime, and the Faust settings churnwatch's config makes."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.streams.config import load_config
from churnwatch.streams.exceptions import ConfigError
from churnwatch.streams.faust import build_app, faust_settings


def test_the_runtime_comes_from_the_environment_and_defaults_to_aiokafka() -> None:
    """``CHURNWATCH_WORKER_RUNTIME`` picks the runtime; without it the default is aiokafka."""
    assert load_config(environ={}).worker.runtime == "aiokafka"
    chosen = load_config(environ={"CHURNWATCH_WORKER_RUNTIME": "faust"})
    assert chosen.worker.runtime == "faust"


def test_an_unknown_runtime_is_refused_by_config_and_by_the_command() -> None:
    """A runtime that does not exist is a config error naming the setting, and a usage
    error on the command line, never a worker started on the default."""
    with pytest.raises(ConfigError, match="runtime"):
        load_config(environ={"CHURNWATCH_WORKER_RUNTIME": "kafka-streams"})
    result = CliRunner().invoke(app, ["worker", "--runtime", "kafka-streams"])
    assert result.exit_code == 2
    assert "kafka-streams" in result.output


def test_settings_keep_at_least_once_and_leave_the_waiting_to_churnwatch() -> None:
    """The app is the worker group, at least once, with no standby tables, no web
    server and no stream-empty wait (the agent holds events until its checkpoint)."""
    config = load_config(
        environ={
            "CHURNWATCH_BROKER_URL": "kafka://a:9092,b:9093",
            "CHURNWATCH_WORKER_GROUP_ID": "bank-churn",
            "CHURNWATCH_WORKER_COMMIT_INTERVAL": "2.5",
        }
    )
    settings = faust_settings(config)
    assert [str(url) for url in settings["broker"]] == ["kafka://a:9092", "kafka://b:9093"]
    assert settings["store"] == "memory://"
    assert settings["processing_guarantee"] == "at_least_once"
    assert settings["stream_wait_empty"] is False
    assert settings["table_standby_replicas"] == 0
    assert settings["broker_commit_interval"] == 2.5
    built = build_app(config)
    assert built.conf.id == "bank-churn"
    assert built.conf.web_enabled is False


def test_a_rocksdb_state_store_and_sasl_reach_faust(tmp_path: Path) -> None:
    """``rocksdb:///dir`` becomes Faust's RocksDB store (rocksdict, the ``rocksdb`` extra)
    in that directory; SASL settings become Faust's credentials, password included."""
    secret = tmp_path / "kafka-password"
    secret.write_text("s3cret\n")
    config = load_config(
        environ={
            "CHURNWATCH_WORKER_STATE_STORE": f"rocksdb://{tmp_path / 'state'}",
            "CHURNWATCH_BROKER_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CHURNWATCH_BROKER_SECURITY_SASL_MECHANISM": "SCRAM-SHA-512",
            "CHURNWATCH_BROKER_SECURITY_SASL_USERNAME": "churnwatch",
            "CHURNWATCH_BROKER_SECURITY_SASL_PASSWORD_FILE": str(secret),
        }
    )
    settings = faust_settings(config)
    assert settings["store"] == "rocksdb://"
    assert settings["datadir"] == str(tmp_path / "state")
    credentials = settings["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("churnwatch", "s3cret")
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    from faust.stores.rocksdb import USE_ROCKSDICT

    assert USE_ROCKSDICT, "faust-streaming uses rocksdict when the rocksdb extra is installed"
