"""churnwatch.streams.masking: no secret of a config in what churnwatch prints about it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.rules import SHIPPED_RULES
from churnwatch.streams.config import load_config
from churnwatch.streams.masking import mask_text, masked

from .conftest import SECRETS, clean_env


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
    """A URL's password and its credential query values are masked; the rest stays readable."""
    text = "see https://u:pw@h/x?token=abc&a=1 and postgresql://h/db?sslpassword=zz"
    assert mask_text(text) == (
        "see https://u:********@h/x?token=********&a=1 and postgresql://h/db?sslpassword=********"
    )
