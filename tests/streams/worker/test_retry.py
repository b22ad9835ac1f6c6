"""Store writes through an outage (``streams/worker/retry.py``), without a store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from churnwatch.schemas.exceptions import StoreError
from churnwatch.streams.exceptions import WorkerError
from churnwatch.streams.worker import retry
from churnwatch.streams.worker.retry import is_transient, with_retry


def refused() -> StoreError:
    cause = OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))
    error = StoreError("cannot write alerts")
    error.__cause__ = cause
    return error


def test_transient_means_the_connection_not_the_statement() -> None:
    assert is_transient(refused())
    assert not is_transient(StoreError("bad"))
    assert not is_transient(IntegrityError("INSERT", {}, ValueError("duplicate")))


def test_a_write_is_retried_until_it_succeeds_reporting_the_outage_and_beating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retry, "FIRST_BACKOFF", 0.01)
    failures = iter([refused(), refused()])
    outage: list[bool] = []
    beats: list[int] = []

    def write() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "stored"

    result = asyncio.run(
        with_retry(
            write,
            what="store alerts",
            stopping=asyncio.Event(),
            on_outage=outage.append,
            beat=lambda: beats.append(1),
        )
    )
    assert result == "stored"
    assert outage == [True, False]
    assert len(beats) == 3


def test_other_errors_and_a_stop_during_an_outage_are_not_retried() -> None:
    def broken() -> None:
        raise StoreError("no such column")

    async def run(call: Callable[[], None], stop: bool) -> None:
        stopping = asyncio.Event()
        if stop:
            stopping.set()
        await with_retry(call, what="store alerts", stopping=stopping, on_outage=print)

    with pytest.raises(StoreError):
        asyncio.run(run(broken, stop=False))

    def down() -> None:
        raise refused()

    with pytest.raises(WorkerError, match="not committed"):
        asyncio.run(run(down, stop=True))
