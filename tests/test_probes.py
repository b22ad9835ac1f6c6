"""churnwatch.probes: /healthz, /readyz and /metrics over a real loopback HTTP connection."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from churnwatch.metrics import Metrics
from churnwatch.probes import (
    PARTITIONS_ASSIGNED,
    RULE_SET_LOADED,
    STORE_REACHABLE,
    Liveness,
    ObservabilityServer,
    Readiness,
)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(server: ObservabilityServer, path: str) -> tuple[int, str, bytes]:
    """One GET over a fresh TCP connection: status, content type and body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def get_json(server: ObservabilityServer, path: str) -> tuple[int, dict[str, Any]]:
    status, content_type, body = get(server, path)
    assert content_type == "application/json"
    return status, json.loads(body)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def server(metrics: Metrics, clock: FakeClock) -> Iterator[ObservabilityServer]:
    """The server on a free loopback port (port 0), closed after the test."""
    srv = ObservabilityServer(
        metrics.registry, host="127.0.0.1", port=0, liveness=Liveness(30.0, clock)
    )
    srv.start()
    yield srv
    srv.close()


def make_ready(readiness: Readiness) -> None:
    readiness.set_partitions_assigned(2)
    readiness.set_rule_set_loaded("2026.03-1")
    readiness.set_store_check(lambda: True)


class TestReadiness:
    def test_a_fresh_worker_is_not_ready_and_says_why(self, server: ObservabilityServer) -> None:
        """Before anything is set, /readyz is 503 and names all three failed checks."""
        status, body = get_json(server, "/readyz")
        assert status == 503
        assert body["ready"] is False
        assert body["failed"] == [PARTITIONS_ASSIGNED, RULE_SET_LOADED, STORE_REACHABLE]

    def test_ready_when_every_check_passes(self, server: ObservabilityServer) -> None:
        """Partitions assigned, rule set loaded and store reachable make /readyz 200."""
        make_ready(server.readiness)
        status, body = get_json(server, "/readyz")
        assert (status, body["ready"], body["failed"]) == (200, True, [])
        details = {c["name"]: c["detail"] for c in body["checks"]}
        assert details[RULE_SET_LOADED] == "version 2026.03-1"

    def test_a_revoke_makes_the_worker_unready(self, server: ObservabilityServer) -> None:
        """Losing every partition in a rebalance fails only the partitions check."""
        make_ready(server.readiness)
        server.readiness.set_partitions_assigned(0)
        status, body = get_json(server, "/readyz")
        assert (status, body["failed"]) == (503, [PARTITIONS_ASSIGNED])

    def test_a_store_check_that_raises_fails_without_leaking_its_message(
        self, server: ObservabilityServer
    ) -> None:
        """A store error fails readiness, naming the exception class but not its secret text."""
        make_ready(server.readiness)

        def broken() -> bool:
            raise ConnectionError("postgresql://churnwatch:hunter2@db/churnwatch refused")

        server.readiness.set_store_check(broken)
        status, _, raw = get(server, "/readyz")
        body = json.loads(raw)
        assert (status, body["failed"]) == (503, [STORE_REACHABLE])
        assert b"ConnectionError" in raw
        assert b"hunter2" not in raw

    def test_a_store_check_returning_false_fails(self, server: ObservabilityServer) -> None:
        """A check that answers False fails readiness just as one that raises."""
        make_ready(server.readiness)
        server.readiness.set_store_check(lambda: False)
        assert get_json(server, "/readyz")[0] == 503

    def test_extra_checks_take_part(self, server: ObservabilityServer) -> None:
        """A check added by name is reported and can fail readiness on its own."""
        make_ready(server.readiness)
        server.readiness.add_check("outbox_table", lambda: False)
        status, body = get_json(server, "/readyz")
        assert (status, body["failed"]) == (503, ["outbox_table"])


class TestLiveness:
    def test_alive_without_a_heartbeat(self, server: ObservabilityServer) -> None:
        """A worker that never beats is alive while the HTTP thread answers."""
        status, body = get_json(server, "/healthz")
        assert (status, body["alive"]) == (200, True)

    def test_a_silent_heartbeat_fails_liveness(
        self, server: ObservabilityServer, clock: FakeClock
    ) -> None:
        """Beats keep it alive; 31 s of silence against a 30 s limit answers 503."""
        server.liveness.beat()
        clock.now += 29
        assert get_json(server, "/healthz")[0] == 200
        clock.now += 2
        status, body = get_json(server, "/healthz")
        assert (status, body["alive"]) == (503, False)
        server.liveness.beat()
        assert get_json(server, "/healthz")[0] == 200

    def test_liveness_does_not_depend_on_readiness(self, server: ObservabilityServer) -> None:
        """An unready worker (e.g. mid-rebalance) is not restarted: /healthz stays 200."""
        assert get_json(server, "/readyz")[0] == 503
        assert get_json(server, "/healthz")[0] == 200


class TestMetricsEndpoint:
    def test_metrics_are_served_on_the_same_port(
        self, server: ObservabilityServer, metrics: Metrics
    ) -> None:
        """/metrics shows counters as they move, in the Prometheus text format."""
        metrics.event_in("transaction")
        metrics.event_in("transaction")
        status, content_type, body = get(server, "/metrics")
        assert status == 200
        assert content_type.startswith("text/plain")
        assert b'churnwatch_events_total{type="transaction"} 2.0' in body

    def test_unknown_paths_are_404(self, server: ObservabilityServer) -> None:
        """Anything but the three paths answers 404 with a hint."""
        status, body = get_json(server, "/admin")
        assert status == 404
        assert "/readyz" in body["error"]

    def test_metrics_serve_starts_a_server(self, metrics: Metrics) -> None:
        """Metrics.serve returns a running server for the worker, with its readiness."""
        readiness = Readiness()
        make_ready(readiness)
        srv = metrics.serve(0, "127.0.0.1", readiness=readiness)
        try:
            assert get(srv, "/readyz")[0] == 200
            assert get(srv, "/metrics")[0] == 200
        finally:
            srv.close()
