"""Liveness, readiness and ``/metrics`` on one small HTTP port for the worker.

Kubernetes restarts a pod whose liveness fails and takes a pod whose readiness fails out
of its Service; both answer in JSON so an operator running ``curl`` sees which check failed.
Everything is on the port Prometheus already scrapes, so one ``containerPort`` and one
firewall rule cover all three.

The server is the standard library's ``ThreadingHTTPServer`` in a daemon thread: the
worker's asyncio loop may be busy or wedged, and the probes must still be answered (and
liveness must notice the wedge, hence the heartbeat in ``Liveness``).

Readiness means: partitions assigned, rule set loaded, store reachable. The worker flips
the first two with setters as Faust tells it of assignments and reloads; the store is
probed on each request through a callable, since only a live query says it is reachable.
A check's failure detail carries the exception's class name only, never its message:
a database error can quote its URL, password included (DESIGN.md, principle 4).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

__all__ = [
    "PARTITIONS_ASSIGNED",
    "RULE_SET_LOADED",
    "STORE_REACHABLE",
    "CheckResult",
    "Liveness",
    "ObservabilityServer",
    "Readiness",
]

PARTITIONS_ASSIGNED: Final = "partitions_assigned"
RULE_SET_LOADED: Final = "rule_set_loaded"
STORE_REACHABLE: Final = "store_reachable"

Check = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One readiness check's answer, as shown in the ``/readyz`` body."""

    name: str
    ok: bool
    detail: str


class Readiness:
    """Whether this worker should receive traffic: every check must pass.

    The three standard checks start failing, so a worker is not ready until it has
    said otherwise. Extra checks can be added with ``add_check``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partitions = 0
        self._rule_set_version: str | None = None
        self._checks: dict[str, Check] = {}
        self.add_check(STORE_REACHABLE, _never_set)

    def set_partitions_assigned(self, count: int) -> None:
        """Record how many partitions the group gave this worker (0 after a revoke)."""
        with self._lock:
            self._partitions = count

    def set_rule_set_loaded(self, version: str | None) -> None:
        """Record the rule-set version in force (``None`` before the first good load)."""
        with self._lock:
            self._rule_set_version = version

    def set_store_check(self, check: Check) -> None:
        """Use ``check`` (returns True or raises) to probe the store on each request."""
        self.add_check(STORE_REACHABLE, check)

    def add_check(self, name: str, check: Check) -> None:
        """Add or replace a named check called on each ``/readyz`` request."""
        with self._lock:
            self._checks[name] = check

    def results(self) -> list[CheckResult]:
        """Run every check now, in a stable order, catching what they raise."""
        with self._lock:
            partitions, version = self._partitions, self._rule_set_version
            checks = list(self._checks.items())
        results = [
            CheckResult(
                PARTITIONS_ASSIGNED,
                partitions > 0,
                f"{partitions} assigned" if partitions > 0 else "no partitions assigned",
            ),
            CheckResult(
                RULE_SET_LOADED,
                version is not None,
                f"version {version}" if version is not None else "no rule set loaded",
            ),
        ]
        results.extend(_run(name, check) for name, check in checks)
        return results


class Liveness:
    """Whether the process is alive enough to be worth not restarting.

    The HTTP thread answers even when the worker's event loop is stuck, so the worker
    calls ``beat()`` from its loop (a Faust timer); once beating, silence longer than
    ``max_silence_s`` fails liveness and Kubernetes restarts the pod. A worker that never
    beats is judged by the HTTP thread answering at all.
    """

    def __init__(
        self, max_silence_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_silence_s = max_silence_s
        self.clock = clock
        self._last_beat: float | None = None

    def beat(self) -> None:
        """Say the event loop is still turning."""
        self._last_beat = self.clock()

    def result(self) -> CheckResult:
        """Alive unless a heartbeat was started and has gone quiet for too long."""
        if self._last_beat is None:
            return CheckResult("heartbeat", True, "no heartbeat configured")
        silence = self.clock() - self._last_beat
        ok = silence <= self.max_silence_s
        return CheckResult(
            "heartbeat", ok, f"last beat {silence:.1f} s ago (limit {self.max_silence_s:g} s)"
        )


class ObservabilityServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on one port, served from a daemon thread."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        readiness: Readiness | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        self.registry = registry
        self.readiness = readiness if readiness is not None else Readiness()
        self.liveness = liveness if liveness is not None else Liveness()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0)."""
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        """Serve in a daemon thread; returns at once."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            args=(0.1,),  # poll interval: close() returns within 0.1 s
            name="churnwatch-observability",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ObservabilityServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _run(name: str, check: Check) -> CheckResult:
    try:
        ok = bool(check())
    except _NotConfiguredError:
        return CheckResult(name, False, "no check configured yet")
    except Exception as exc:  # a probe must answer, whatever the check does
        return CheckResult(name, False, f"check raised {type(exc).__name__}")
    return CheckResult(name, ok, "ok" if ok else "check returned false")


def _never_set() -> bool:
    raise _NotConfiguredError


class _NotConfiguredError(Exception):
    """The worker has not told readiness how to probe the store yet."""


def _handler_for(server: ObservabilityServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._send(200, content_type, encoder(server.registry))
            elif path in ("/healthz", "/livez"):
                live = server.liveness.result()
                self._json(200 if live.ok else 503, {"alive": live.ok, "checks": [_as(live)]})
            elif path == "/readyz":
                results = server.readiness.results()
                failed = [r.name for r in results if not r.ok]
                body = {"ready": not failed, "failed": failed, "checks": [_as(r) for r in results]}
                self._json(503 if failed else 200, body)
            else:
                self._json(404, {"error": "no such path; try /metrics, /healthz or /readyz"})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, "application/json", json.dumps(body).encode() + b"\n")

        def _send(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes every few seconds would flood the worker's log; stay quiet."""

    return Handler


def _as(result: CheckResult) -> dict[str, Any]:
    return {"name": result.name, "ok": result.ok, "detail": result.detail}
