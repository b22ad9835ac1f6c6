"""The one config: file, environment and flags in that order; problems all named at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnwatch.streams.config import env_names, load_config
from churnwatch.streams.exceptions import ConfigError


class TestLoadConfig:
    def test_defaults_follow_the_contract(self) -> None:
        """With no file and no environment, topics are CONTRACT.md's and the zone Shanghai."""
        config = load_config(environ={})
        assert config.topics.dead_letter == "churnwatch.dead-letter"
        assert config.timezone == "Asia/Shanghai"
        assert config.lateness_seconds == 48 * 3600
        assert config.max_ahead_seconds == 3600  # as Kafka's record timestamps

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
        path.write_text('timezone = "Mars/Olympus"\nlateness = "two days"\nmax_ahead = "an hour"\n')
        with pytest.raises(ConfigError) as caught:
            load_config(path, environ={})
        assert len(caught.value.problems) == 3
        assert any(p.startswith("max_ahead: 'an hour'") for p in caught.value.problems)

    def test_unknown_keys_are_refused(self, tmp_path: Path) -> None:
        """A misspelt setting is an error, not silently ignored."""
        path = tmp_path / "typo.yaml"
        path.write_text("worker: {max_pol_records: 5}\n")
        with pytest.raises(ConfigError, match="max_pol_records"):
            load_config(path, environ={})
