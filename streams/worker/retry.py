"""Writes to the alert store that survive the store going away for a while.

Why. A batch's offsets and states may only advance once its alerts are stored
(DESIGN principle 1). Before this, one refused connection made ``add_alerts`` raise, the
worker exit, and its shutdown commit the failed batch: those alerts never came back. Now
a failure that a later attempt can cure — a refused or dropped connection, a pool
timeout, a locked SQLite file — is retried with capped exponential backoff, forever,
while the worker reports not-ready and reads nothing more; it resumes by itself when a
write succeeds. Anything else (a bug, a schema the store does not have) is not retried:
it stops the worker without committing, and the next start reprocesses the batch (the
store refuses alerts it already has).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from churnwatch.streams.exceptions import WorkerError

__all__ = ["FIRST_BACKOFF", "MAX_BACKOFF", "is_transient", "with_retry"]

log = logging.getLogger("churnwatch.worker")

T = TypeVar("T")

#: seconds before the first retry; doubled after each failure up to MAX_BACKOFF
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 5.0


def is_transient(exc: BaseException) -> bool:
    """Whether a store error may go away by itself (the connection, not the statement)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError | InterfaceError | PoolTimeout):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__
    return False


async def with_retry(
    call: Callable[[], T],
    *,
    what: str,
    stopping: asyncio.Event,
    on_outage: Callable[[bool], None],
    beat: Callable[[], None] = lambda: None,
    thread: bool = True,
) -> T:
    """``call()`` in a thread until it succeeds; transient failures wait and try again.

    ``on_outage(True)`` is called at the first failure and ``on_outage(False)`` when a
    retry succeeds. A stop asked for during the outage ends the wait with
    :class:`WorkerError`: the batch in hand is then not committed. ``thread=False`` runs
    ``call`` on the loop (a sink sharing the worker's in-memory directory). ``beat`` is
    called at each attempt: a worker waiting out an outage is alive, not wedged, and must
    not be restarted by its liveness probe for it.
    """
    delay = FIRST_BACKOFF
    failures = 0
    while True:
        beat()
        try:
            result = await asyncio.to_thread(call) if thread else call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            failures += 1
            if failures == 1:
                on_outage(True)
            log.warning(
                "cannot %s (attempt %d, retrying in %.1f s; nothing is committed meanwhile): %s",
                what,
                failures,
                delay,
                str(exc).splitlines()[0],
            )
            if stopping.is_set():
                raise WorkerError(
                    f"stopped while unable to {what}; the batch in hand is not committed "
                    "and is processed again at the next start"
                ) from exc
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            delay = min(delay * 2, MAX_BACKOFF)
            continue
        if failures:
            on_outage(False)
            log.info("%s: succeeded after %d failed attempts", what, failures)
        return result
