"""churnwatch on a ``faust.App``: the app's settings from the config, and :func:`mount`.

A bank with a Faust estate runs churnwatch in its own app::

    import faust
    from churnwatch.streams.config import load_config
    from churnwatch.streams.faust import faust_settings, mount

    config = load_config("/etc/churnwatch/config.yaml")
    app = faust.App("bank-streams", **faust_settings(config))
    churnwatch = mount(app, config)          # agent, table, timer, start and stop hooks
    # ... the bank's own agents ...

    if __name__ == "__main__":
        app.main()

``deploy/faust/bank_app.py`` is that example whole. The app's id is the consumer group
the agent reads the input topics in (``worker.group_id`` when churnwatch builds the
app); the state table's changelog is ``worker.group_id``'s, whatever the app is called,
so ``churnwatch topics create`` makes it.

``churnwatch worker --runtime faust`` builds the app itself (:func:`build_app`) and runs
it (:func:`run_faust_worker`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import faust

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.schemas.models import Alert
from churnwatch.streams.config import Config
from churnwatch.streams.exceptions import WorkerError
from churnwatch.streams.kafka import _ssl_context
from churnwatch.streams.replay.driver import AlertSink, wall_clock
from churnwatch.streams.replay.pack import Pack
from churnwatch.streams.worker.health import WorkerObservability
from churnwatch.streams.worker.stats import WorkerStats
from churnwatch.streams.worker.topics import prepare_topics

from .runtime import FaustWorker

__all__ = ["build_app", "faust_settings", "mount", "run_faust_worker"]

log = logging.getLogger("churnwatch.worker")


def faust_settings(config: Config) -> dict[str, Any]:
    """``faust.App`` keyword settings that make Faust behave as churnwatch's worker does.

    At-least-once (the store refuses repeats; Faust's exactly-once needs three brokers
    and has open bugs), no standby tables (two workers sharing a machine never open one
    partition's RocksDB twice), no waiting for every stream to empty on a rebalance
    (churnwatch checkpoints itself first), no web server (churnwatch serves its probes).
    """
    worker = config.worker
    state_dir = config.state_dir
    settings: dict[str, Any] = {
        "broker": [f"kafka://{host}" for host in config.bootstrap_servers],
        "broker_client_id": config.broker.client_id,
        "store": "memory://" if state_dir is None else "rocksdb://",
        # Faust makes its data directory even for memory:// tables; not the cwd's
        "datadir": str(state_dir) if state_dir is not None else _scratch_dir(),
        "topic_partitions": config.topics.partitions,
        "topic_replication_factor": config.topics.replication_factor,
        "broker_max_poll_records": worker.max_poll_records,
        "broker_commit_interval": worker.commit_interval,
        "broker_session_timeout": worker.session_timeout_ms / 1000,
        "broker_heartbeat_interval": worker.heartbeat_interval_ms / 1000,
        "consumer_auto_offset_reset": "earliest",
        "processing_guarantee": "at_least_once",
        "stream_wait_empty": False,
        "table_standby_replicas": 0,
        # churnwatch reads the states itself, checking the changelog's end by a fetch
        # (streams/faust/runtime.py); Faust's check trusts ListOffsets alone
        "recovery_consistency_check": False,
        "web_enabled": False,
        "producer_acks": -1,
        "producer_linger": 0.005,
        "rocksdb_options": {"block_cache_size": worker.rocksdb_block_cache_mb * 2**20},
    }
    credentials = _credentials(config)
    if credentials is not None:
        settings["broker_credentials"] = credentials
    return settings


def _scratch_dir() -> str:
    return tempfile.mkdtemp(prefix="churnwatch-faust-")


def _credentials(config: Config) -> Any:
    security = config.broker.security
    context = _ssl_context(config)
    if security.protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=config.secret("sasl_password"),
            mechanism=security.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def build_app(config: Config) -> faust.App:
    """The Faust app ``churnwatch worker --runtime faust`` runs: id = ``worker.group_id``."""
    return faust.App(config.worker.group_id, **faust_settings(config))


def mount(
    app: faust.App,
    config: Config,
    *,
    sinks: Sequence[AlertSink] = (),
    route: Callable[[Alert, InMemoryDirectory], Alert] | None = None,
    clock: Callable[[], dt.datetime] = wall_clock,
    observe: WorkerObservability | None = None,
    on_reload: Callable[[Pack], None] | None = None,
    serve_metrics: bool = True,
) -> FaustWorker:
    """Register churnwatch on ``app``: its agent on the input topics, its state table,
    its timer, and start and stop hooks; return the runtime (for its stats).

    ``sinks``, ``route`` and ``on_reload`` are the default worker's (the notifications
    of ``churnwatch.streams.worker.notify`` plug in the same way). The app's settings
    should include :func:`faust_settings`' (``stream_wait_empty=False`` above all: the
    agent holds events unacked until its checkpoint). ``serve_metrics=False`` leaves
    ``/metrics`` and the probes to the bank's app (``observe.metrics`` holds them).
    """
    runtime = FaustWorker(
        config,
        app,
        sinks=sinks,
        route=route,
        clock=clock,
        observe=observe,
        on_reload=on_reload,
        serve_metrics=serve_metrics,
    )
    app.task(runtime.start)
    return runtime


class _Worker(faust.Worker):
    """Faust's worker, finishing churnwatch's batch in hand before it stops on a signal."""

    runtime: FaustWorker

    def _on_sigterm(self) -> None:
        self._graceful(signal.SIGTERM)

    def _on_sigint(self) -> None:
        self._graceful(signal.SIGINT)

    def _graceful(self, signum: signal.Signals) -> None:
        async def stop() -> None:
            await self.runtime.quiesce()
            self._schedule_shutdown(signum)

        if not self.runtime.stopping.is_set():
            self.add_future(stop())


def run_faust_worker(
    config: Config,
    *,
    sinks: Sequence[AlertSink] = (),
    route: Callable[[Alert, InMemoryDirectory], Alert] | None = None,
    observe: WorkerObservability | None = None,
    on_reload: Callable[[Pack], None] | None = None,
    loglevel: str = "info",
) -> WorkerStats:
    """Run churnwatch's Faust app until SIGTERM / SIGINT; return the totals."""
    asyncio.run(prepare_topics(config))  # before the consumer subscribes to them
    app = build_app(config)
    runtime = mount(app, config, sinks=sinks, route=route, observe=observe, on_reload=on_reload)
    worker = _Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    worker.runtime = runtime
    code: Any = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code
    if code not in (0, None) or runtime.failed:
        raise WorkerError(f"the Faust worker stopped with exit code {code}")
    return runtime.stats
