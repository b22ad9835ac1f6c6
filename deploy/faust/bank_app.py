"""A bank's own Faust app with churnwatch mounted in it (``churnwatch.streams.faust.mount``).

Run it as any Faust app, with churnwatch's config where ``churnwatch worker`` would read it:

    CHURNWATCH_CONFIG=/etc/churnwatch/config.yaml python bank_app.py worker -l info --without-web

(churnwatch serves its own ``/metrics``, ``/healthz`` and ``/readyz`` on ``metrics.port``,
6066 by default, which is also Faust's web port: run Faust's without its web server, or
move one of them.)

churnwatch adds one agent (on its input topics), one table (per-customer rule state,
changelog ``<worker.group_id>-state-changelog``) and one timer to the app; the bank's own
agents run beside them in the same consumer group (the app's id). The app takes
churnwatch's Faust settings (``faust_settings``): at-least-once, no standby tables,
``stream_wait_empty=False`` (churnwatch's agent holds events until its checkpoint). Create
churnwatch's topics first (``churnwatch topics create``) and bring the store's schema up
(``churnwatch db upgrade``), as for the default worker.
"""

from __future__ import annotations

import atexit
import logging

import faust

from churnwatch.streams.config import load_config
from churnwatch.streams.faust import faust_settings, mount
from churnwatch.streams.worker.health import WorkerObservability
from churnwatch.streams.worker.notify import worker_notifications

log = logging.getLogger("bank")
config = load_config()  # CHURNWATCH_CONFIG and the CHURNWATCH_* variables
app = faust.App("bank-streams", **faust_settings(config))

# churnwatch's notifications, as `churnwatch worker` wires them (none when not configured)
observe = WorkerObservability()
delivery = worker_notifications(config, observe.metrics)
churnwatch = mount(
    app,
    config,
    sinks=delivery.sinks if delivery is not None else (),
    route=delivery.route if delivery is not None else None,
    observe=observe,
    on_reload=delivery.use_templates if delivery is not None else None,
)
if delivery is not None:

    @app.task
    async def start_deliveries() -> None:
        delivery.loop.start()

    atexit.register(delivery.loop.stop)


# The bank's own agent beside churnwatch's, in the same app and consumer group.
card_payments = app.topic("bank.card-payments", value_serializer="json")


@app.agent(card_payments)
async def large_card_payments(payments: faust.StreamT[dict[str, object]]) -> None:
    async for payment in payments:
        if float(str(payment.get("amount", 0))) >= 50_000:
            log.info("large card payment %s", payment.get("payment_id"))


if __name__ == "__main__":
    app.main()
