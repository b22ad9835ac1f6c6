"""What the worker counts, and the small HTTP server that shows it.

A worker is one process, so the default prometheus-client registry is enough (no
multiprocess mode). ``/metrics`` serves Prometheus text; ``/health`` answers 200 while
the worker runs and has an assignment or is waiting for one, 503 while it stops.
The batch latency histogram has a bucket at the 500 ms objective.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

__all__ = [
    "ALERTS",
    "BATCH_SECONDS",
    "DEAD_LETTERS",
    "EVENTS",
    "RULE_RELOADS",
    "HealthServer",
]

EVENTS = Counter("churnwatch_events_total", "Messages read by the worker", ["topic"])
DEAD_LETTERS = Counter(
    "churnwatch_dead_letters_total", "Messages sent to the dead-letter topic", ["code"]
)
ALERTS = Counter("churnwatch_alerts_total", "New alerts stored", ["rule_id"])
RULE_RELOADS = Counter("churnwatch_rule_reloads_total", "Rule directory changes seen", ["outcome"])
BATCH_SECONDS = Histogram(
    "churnwatch_batch_seconds",
    "Time to process one fetched batch, decode to alerts stored",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class HealthServer:
    """``/health`` and ``/metrics`` on ``host:port`` (aiohttp, on the worker's loop)."""

    def __init__(self, host: str, port: int, status: Callable[[], dict[str, Any]]) -> None:
        self.host = host
        self.port = port
        self.status = status
        self.runner: Any = None

    async def start(self) -> None:
        from aiohttp import web

        async def health(_request: web.Request) -> web.Response:
            status = self.status()
            code = 200 if status.get("status") == "ok" else 503
            return web.Response(
                text=json.dumps(status), status=code, content_type="application/json"
            )

        async def metrics(_request: web.Request) -> web.Response:
            return web.Response(
                body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        app = web.Application()
        app.router.add_get("/health", health)
        app.router.add_get("/metrics", metrics)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
