"""The one config: file, environment and flags in that order; secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.rules import SHIPPED_RULES
from churnwatch.streams.config import env_names, load_config, mask_text, masked
from churnwatch.streams.exceptions import ConfigError

from .conftest import clean_env

SECRETS = (
    "s3cr3t-sasl",
    "db-pa55word",
    "hook-t0ken",
    "ssl-keypass",
    "tw-t0ken",
    "smtp-pa55",
    "wecom-app-s3cret",
)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "churnwatch.yaml"
    path.write_text(
        """
broker:
  url: kafka://file-broker:9092
  security: {protocol: SASL_SSL, sasl_mechanism: SCRAM-SHA-512, sasl_username: churn}
store: {url: "postgresql://churn:db-pa55word@db.bank:5432/alerts"}
worker: {max_poll_records: 1000}
notifiers:
  twilio_sms: {account_sid: AC00000000000000000000000000000000, from: "+15005550006"}
  webhook: {preset: wecom, url: {env: CW_TEST_HOOK_URL}}
  wecom_app: {corp_id: ww-bank, agent_id: 1000002, secret: {env: CW_TEST_WECOM}}
  email: {host: smtp.bank, from: cw@bank.example, username: cw, password: {env: CW_TEST_SMTP}}
"""
    )
    return path


class TestLoadConfig:
    def test_defaults_follow_the_contract(self) -> None:
        """With no file and no environment, topics are CONTRACT.md's and the zone Shanghai."""
        config = load_config(environ={})
        assert config.topics.dead_letter == "churnwatch.dead-letter"
        assert config.timezone == "Asia/Shanghai"
        assert config.lateness_seconds == 48 * 3600

    def test_environment_overrides_file_and_flags_override_environment(
        self, config_file: Path
    ) -> None:
        """A CHURNWATCH_* variable beats the file, and a flag beats the variable."""
        env = {
            "CHURNWATCH_BROKER_URL": "kafka://env-broker:9092",
            "CHURNWATCH_WORKER_MAX_POLL_RECORDS": "250",
            "CHURNWATCH_BROKER_SECURITY_SASL_PASSWORD": "s3cr3t-sasl",
        }
        config = load_config(config_file, environ=env)
        assert config.bootstrap_servers == ["env-broker:9092"]
        assert config.worker.max_poll_records == 250
        flagged = load_config(config_file, environ=env, broker="b1:1,b2:2", db="sqlite:///x.db")
        assert flagged.bootstrap_servers == ["b1:1", "b2:2"]
        assert flagged.store.url == "sqlite:///x.db"

    def test_every_setting_has_an_environment_variable(self) -> None:
        """Each leaf setting maps to CHURNWATCH_<PATH>, plus the CHURNWATCH_DB_URL alias."""
        names = env_names()
        assert names["CHURNWATCH_BROKER_SECURITY_SASL_PASSWORD"] == (
            "broker",
            "security",
            "sasl_password",
        )
        assert names["CHURNWATCH_DB_URL"] == ("store", "url")
        assert "CHURNWATCH_TOPICS_PARTITIONS" in names

    def test_password_file_is_read(self, config_file: Path, tmp_path: Path) -> None:
        """A SASL password can come from a file named by sasl_password_file."""
        secret = tmp_path / "sasl"
        secret.write_text("s3cr3t-sasl\n")
        env = {"CHURNWATCH_BROKER_SECURITY_SASL_PASSWORD_FILE": str(secret)}
        assert load_config(config_file, environ=env).secret("sasl_password") == "s3cr3t-sasl"

    def test_problems_are_all_reported(self, tmp_path: Path) -> None:
        """Bad values are refused with every problem named, not just the first."""
        path = tmp_path / "bad.toml"
        path.write_text('timezone = "Mars/Olympus"\nlateness = "two days"\n')
        with pytest.raises(ConfigError) as caught:
            load_config(path, environ={})
        assert len(caught.value.problems) == 2

    def test_unknown_keys_are_refused(self, tmp_path: Path) -> None:
        """A misspelt setting is an error, not silently ignored."""
        path = tmp_path / "typo.yaml"
        path.write_text("worker: {max_pol_records: 5}\n")
        with pytest.raises(ConfigError, match="max_pol_records"):
            load_config(path, environ={})


class TestMasking:
    def test_masked_config_holds_no_secret(self, config_file: Path) -> None:
        """Passwords, URL passwords and notifier tokens are all replaced by asterisks."""
        env = {
            "CHURNWATCH_BROKER_SECURITY_SASL_PASSWORD": "s3cr3t-sasl",
            "CHURNWATCH_BROKER_SECURITY_SSL_PASSWORD": "ssl-keypass",
        }
        text = repr(masked(load_config(config_file, environ=env)))
        for secret in SECRETS:
            assert secret not in text
        assert "churn" in text  # the user name is not a secret

    def test_config_check_prints_no_secret(self, config_file: Path) -> None:
        """``churnwatch config check`` shows the effective config without any secret."""
        env = clean_env() | {
            "CHURNWATCH_BROKER_SECURITY_SASL_PASSWORD": "s3cr3t-sasl",
            "CHURNWATCH_BROKER_SECURITY_SSL_PASSWORD": "ssl-keypass",
            "CW_TEST_HOOK_URL": "https://hooks.example/x?key=hook-t0ken",
            "CW_TEST_WECOM": "wecom-app-s3cret",
            "TWILIO_AUTH_TOKEN": "tw-t0ken",
            "CW_TEST_SMTP": "smtp-pa55",
        }
        result = CliRunner().invoke(
            app, ["config", "check", "--config", str(config_file), "--env"], env=env
        )
        assert result.exit_code == 0, result.output
        assert "SCRAM-SHA-512" in result.output
        for secret in SECRETS:
            assert secret not in result.output

    def test_config_check_refuses_without_leaking(self, config_file: Path) -> None:
        """An invalid config exits 2 with the problem named and no secret echoed."""
        env = clean_env() | {
            "CHURNWATCH_BROKER_SECURITY_SASL_PASSWORD": "s3cr3t-sasl",
            "CHURNWATCH_METRICS_PORT": "not-a-port",
        }
        result = CliRunner().invoke(app, ["config", "check", "--config", str(config_file)], env=env)
        assert result.exit_code == 2
        assert "metrics.port" in result.output
        for secret in SECRETS:
            assert secret not in result.output


def test_config_check_masks_inline_and_query_string_secrets(tmp_path: Path) -> None:
    """An inline webhook key it refuses and a password in the store URL's query string are
    masked in the printed config and in every problem line."""
    path = tmp_path / "churnwatch.yaml"
    path.write_text(
        """
broker: {url: "kafka://localhost:9092"}
store: {url: "postgresql://churn@db.bank/alerts?password=QueryPa55&sslmode=require"}
notifiers:
  webhook: {url: "https://hooks.example/send?key=InlineK3y"}
"""
    )
    result = CliRunner().invoke(
        app,
        ["config", "check", "--config", str(path), "--rules", str(SHIPPED_RULES)],
        env=clean_env(),
    )
    assert result.exit_code == 1  # the inline webhook key is refused
    assert "never written inline" in result.output
    assert "QueryPa55" not in result.output and "InlineK3y" not in result.output
    assert "password=********" in result.output and "sslmode=require" in result.output
    assert "https://hooks.example/********" in result.output


def test_mask_text_hides_credentials_in_any_url() -> None:
    text = "see https://u:pw@h/x?token=abc&a=1 and postgresql://h/db?sslpassword=zz"
    assert mask_text(text) == (
        "see https://u:********@h/x?token=********&a=1 and postgresql://h/db?sslpassword=********"
    )
