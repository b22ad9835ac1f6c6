"""The one configuration of churnwatch: a YAML or TOML file, environment overrides, flags.

Precedence, lowest first: built-in defaults, the file, ``CHURNWATCH_*`` environment
variables, then command-line flags (``--broker``, ``--db``, ``--rules``). Every setting
has an environment variable named after its path, so a container can be configured
without a file: ``broker.url`` is ``CHURNWATCH_BROKER_URL``, ``worker.max_poll_records``
is ``CHURNWATCH_WORKER_MAX_POLL_RECORDS``. ``CHURNWATCH_DB_URL`` is an alias of
``CHURNWATCH_STORE_URL``, and ``CHURNWATCH_NOTIFIERS`` replaces the whole ``notifiers``
mapping (YAML or JSON text).

Secrets (passwords) come from the environment or from a file named by the matching
``*_file`` setting, never need to sit in the config file, and are masked
(:mod:`churnwatch.streams.masking`) wherever the effective config is shown. The
``notifiers`` mapping is carried as-is: the notifier registry validates it.
"""

from __future__ import annotations

import importlib.util
import io
import os
import tomllib
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec

from churnwatch.rules import DEFAULT_TIMEZONE, SHIPPED_RULES
from churnwatch.rules.durations import format_duration, parse_duration
from churnwatch.schemas.screen import DEFAULT_LIMITS, Limits
from churnwatch.settings import DEFAULT_DB_URL
from churnwatch.streams.exceptions import ConfigError
from churnwatch.streams.future import DEFAULT_MAX_AHEAD

__all__ = [
    "ENV_PREFIX",
    "BrokerConfig",
    "Config",
    "MetricsConfig",
    "RulesConfig",
    "SecurityConfig",
    "StoreConfig",
    "TopicsConfig",
    "WorkerConfig",
    "env_names",
    "load_config",
]

ENV_PREFIX = "CHURNWATCH_"


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A config section: unknown keys are refused, so a typo never passes silently."""


class SecurityConfig(_Section):
    """How to reach a secured broker (SASL and/or TLS)."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    sasl_password_file: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: str | None = None
    ssl_password_file: str | None = None
    ssl_check_hostname: bool = True


class BrokerConfig(_Section):
    """The Kafka cluster: ``kafka://host:port[,host:port…]`` or a bare ``host:port`` list."""

    url: str = "kafka://127.0.0.1:9092"
    client_id: str = "churnwatch"
    security: SecurityConfig = msgspec.field(default_factory=SecurityConfig)


class TopicsConfig(_Section):
    """Topic names (CONTRACT.md's by default) and how ``topics create`` makes them."""

    transactions: str = "churnwatch.transactions"
    products: str = "churnwatch.products"
    customers: str = "churnwatch.customers"
    staff: str = "churnwatch.staff"
    alerts: str = "churnwatch.alerts"
    dead_letter: str = "churnwatch.dead-letter"
    partitions: int = 8
    replication_factor: int = 1


class StoreConfig(_Section):
    """The alert store: any SQLAlchemy URL (SQLite embedded, PostgreSQL in production)."""

    url: str = DEFAULT_DB_URL


class RulesConfig(_Section):
    """The rule directory, and how often the worker looks for changes (0 = never)."""

    dir: str = str(SHIPPED_RULES)
    reload_interval: float = 2.0


class WorkerConfig(_Section):
    """Consumer-group worker tuning. See ``streams/worker/loop.py`` for what each one costs."""

    #: ``aiokafka`` (the default: batches, one state write per customer per checkpoint) or
    #: ``faust``: the same pipeline as agents of a faust-streaming app, state in a Faust
    #: table (``streams/faust/``, for banks that run Faust already; slower, see README)
    runtime: Literal["aiokafka", "faust"] = "aiokafka"
    group_id: str = "churnwatch-worker"
    max_poll_records: int = 5000
    fetch_max_wait_ms: int = 50
    commit_interval: float = 5.0
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    #: ``memory://`` (restored from the changelog's start on every assignment) or
    #: ``rocksdb:///path`` (a RocksDB database per partition under the path, restored
    #: from it plus the changelog's tail; needs the ``rocksdb`` extra)
    state_store: str = "memory://"
    #: RocksDB memory of the whole process (block cache, memtables charged to it), MiB
    rocksdb_block_cache_mb: int = 64
    #: with ``rocksdb://``: decoded states the worker keeps in memory, shared evenly by
    #: its partitions (least recently used leave first; states changed since the last
    #: checkpoint always stay, encoded). A decoded state is ~10 KB of Python objects
    state_cache_customers: int = 50_000
    shutdown_timeout: float = 30.0
    #: ``wall``: timers fire when max(wall clock, event-time watermark) passes them (a
    #: reminder goes out on its day with no event arriving); ``event``: on the watermark
    #: only, exactly like the replay driver (tests, backfills compared with replay)
    timer_clock: Literal["wall", "event"] = "wall"
    #: seconds a task waits for an input partition with nothing buffered that is caught up
    #: to its end before running ahead of it (Kafka Streams' max.task.idle.ms); raise it
    #: when producers write one customer's topics with skew, at that cost in latency; the
    #: wait ends on a fetch answered after it (a broker restarting stalls, not skips)
    max_task_idle: float = 0.0
    #: seconds a task waits at most for records known to be on the broker but not yet
    #: fetched from one of its partitions before running ahead of them; only seconds
    #: with the broker answering fetches count (a broker restarting stalls, not skips);
    #: ahead by at most ``lateness`` of that partition's last event time
    lagging_wait: float = 10.0


class MetricsConfig(_Section):
    """Where ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz`` are served; 0 is off."""

    host: str = "127.0.0.1"
    port: int = 6066


class Config(_Section):
    """Everything a churnwatch process needs to know, already validated."""

    broker: BrokerConfig = msgspec.field(default_factory=BrokerConfig)
    topics: TopicsConfig = msgspec.field(default_factory=TopicsConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    rules: RulesConfig = msgspec.field(default_factory=RulesConfig)
    worker: WorkerConfig = msgspec.field(default_factory=WorkerConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    timezone: str = DEFAULT_TIMEZONE
    lateness: str = "48h"
    #: how far past the wall clock an event may be dated; later ones are dead letters
    #: (streams/future.py: one would fire every timer due until its date)
    max_ahead: str = format_duration(DEFAULT_MAX_AHEAD)
    #: the largest amount, balance or AUM an event may carry; larger ones are dead letters
    max_amount: Decimal = DEFAULT_LIMITS.max_amount
    notifiers: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def limits(self) -> Limits:
        """What decode accepts, as this deployment configures it."""
        return Limits(max_amount=self.max_amount)

    @property
    def lateness_seconds(self) -> int:
        return parse_duration(self.lateness)

    @property
    def max_ahead_seconds(self) -> int:
        return parse_duration(self.max_ahead)

    @property
    def bootstrap_servers(self) -> list[str]:
        return bootstrap_servers(self.broker.url)

    @property
    def state_dir(self) -> Path | None:
        """Where ``rocksdb://`` keeps its databases; None for ``memory://``."""
        return state_store_dir(self.worker.state_store)

    @property
    def changelog_topic(self) -> str:
        """Per-customer engine state, compacted; partitioned like the input topics."""
        return f"{self.worker.group_id}-state-changelog"

    @property
    def repartition_topic(self) -> str:
        """Input that arrived keyed by something else, re-keyed by ``customer_id``."""
        return f"{self.worker.group_id}-repartition"

    def secret(self, name: Literal["sasl_password", "ssl_password"]) -> str | None:
        """A password from its setting or, failing that, from the file its ``*_file`` names."""
        security = self.broker.security
        value: str | None = getattr(security, name)
        path: str | None = getattr(security, f"{name}_file")
        if value is None and path:
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError([f"broker.security.{name}_file: cannot read {path}"]) from exc
        return value


def state_store_dir(url: str) -> Path | None:
    """``rocksdb:///var/lib/x`` as its directory; None for ``memory://``; ValueError else."""
    text = url.strip()
    if text == "memory://":
        return None
    if text.startswith("rocksdb://") and text[len("rocksdb://") :].strip():
        return Path(text[len("rocksdb://") :])
    raise ValueError(
        f"unknown state store {url!r}: use memory:// or rocksdb:///path/to/dir "
        "(e.g. rocksdb:///var/lib/churnwatch/state)"
    )


def bootstrap_servers(url: str) -> list[str]:
    """``kafka://a:9092,b:9092`` (or ``a:9092,b:9092``) as a list of ``host:port``."""
    text = url.strip()
    for scheme in ("kafka://", "tcp://"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
    hosts = [part.strip().rstrip("/") for part in text.split(",") if part.strip()]
    return [host if ":" in host else f"{host}:9092" for host in hosts]


def env_names(config_type: type[msgspec.Struct] = Config) -> dict[str, tuple[str, ...]]:
    """Every environment variable churnwatch reads, mapped to the setting path it sets."""
    names: dict[str, tuple[str, ...]] = {}

    def walk(struct: type[msgspec.Struct], path: tuple[str, ...]) -> None:
        for field in msgspec.structs.fields(struct):
            here = (*path, field.name)
            if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
                walk(field.type, here)
            else:
                names[ENV_PREFIX + "_".join(here).upper()] = here

    walk(config_type, ())
    names[ENV_PREFIX + "DB_URL"] = ("store", "url")
    return names


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read config file {path}: {exc.strerror}"]) from exc
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        else:
            from ruamel.yaml import YAML

            data = YAML(typ="safe").load(io.StringIO(text))
    except Exception as exc:  # any parser error: report where, never the text itself
        raise ConfigError(
            [f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"]
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping at the top level"])
    return data


def _parse_env_mapping(name: str, text: str) -> Any:
    from ruamel.yaml import YAML

    try:
        return YAML(typ="safe").load(io.StringIO(text))
    except Exception as exc:
        raise ConfigError([f"{name}: not valid YAML or JSON"]) from exc


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def load_config(
    path: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    broker: str | None = None,
    db: str | None = None,
    rules: Path | str | None = None,
) -> Config:
    """The effective config: defaults < ``path`` < environment < the given flags."""
    env = os.environ if environ is None else environ
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = env[ENV_PREFIX + "CONFIG"]
    data: dict[str, Any] = _read_file(Path(path)) if path is not None else {}
    for name, where in env_names().items():
        if name in env and not (name == ENV_PREFIX + "DB_URL" and ENV_PREFIX + "STORE_URL" in env):
            value: Any = env[name]
            if where == ("notifiers",):
                value = _parse_env_mapping(name, env[name])
            _set(data, where, value)
    for where, flag in ((("broker", "url"), broker), (("store", "url"), db)):
        if flag is not None:
            _set(data, where, flag)
    if rules is not None:
        _set(data, ("rules", "dir"), str(rules))
    try:
        config = msgspec.convert(data, Config, strict=False)
    except msgspec.ValidationError as exc:
        # msgspec names the path and the expected type; it never echoes the value
        raise ConfigError([f"invalid setting: {exc}"]) from exc
    problems = _check(config)
    if problems:
        raise ConfigError(problems)
    return config


def _check(config: Config) -> list[str]:
    problems: list[str] = []
    if not config.bootstrap_servers:
        problems.append("broker.url: no broker address (use e.g. kafka://host:9092)")
    try:
        zoneinfo.ZoneInfo(config.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone: unknown time zone {config.timezone!r} (e.g. Asia/Shanghai)")
    try:
        parse_duration(config.lateness)
    except ValueError as exc:
        problems.append(f"lateness: {exc}")
    try:
        parse_duration(config.max_ahead)
    except ValueError as exc:
        problems.append(f"max_ahead: {exc}")
    if not config.max_amount.is_finite() or config.max_amount <= 0:
        problems.append("max_amount: must be a positive number, e.g. 1000000000000000")
    if config.topics.partitions < 1:
        problems.append("topics.partitions: must be at least 1")
    if config.topics.replication_factor < 1:
        problems.append("topics.replication_factor: must be at least 1")
    if config.worker.max_poll_records < 1:
        problems.append("worker.max_poll_records: must be at least 1")
    if config.worker.commit_interval <= 0:
        problems.append("worker.commit_interval: must be more than 0 seconds")
    problems.extend(_check_state_store(config.worker))
    if not 0 <= config.metrics.port <= 65535:
        problems.append("metrics.port: must be 0 (off) or a TCP port")
    security = config.broker.security
    if security.protocol.startswith("SASL") and not (
        security.sasl_mechanism and security.sasl_username
    ):
        problems.append(
            f"broker.security: protocol {security.protocol} needs sasl_mechanism and sasl_username"
        )
    if security.protocol.startswith("SASL") and not (
        security.sasl_password or security.sasl_password_file
    ):
        problems.append(
            "broker.security: SASL needs a password: set CHURNWATCH_BROKER_SECURITY_SASL_PASSWORD "
            "or sasl_password_file"
        )
    return problems


def _check_state_store(worker: WorkerConfig) -> list[str]:
    try:
        directory = state_store_dir(worker.state_store)
    except ValueError as exc:
        return [f"worker.state_store: {exc}"]
    problems: list[str] = []
    if directory is not None:
        if importlib.util.find_spec("rocksdict") is None:
            problems.append(
                "worker.state_store: rocksdb:// needs rocksdict: pip install 'churnwatch[rocksdb]'"
            )
        if not directory.is_absolute():
            problems.append(
                f"worker.state_store: {worker.state_store!r} is relative; use an absolute "
                "path, rocksdb:///var/lib/churnwatch/state"
            )
    if worker.rocksdb_block_cache_mb < 1:
        problems.append("worker.rocksdb_block_cache_mb: must be at least 1")
    if worker.state_cache_customers < 1:
        problems.append("worker.state_cache_customers: must be at least 1")
    return problems
