"""The fault matrix's fixtures: its generated bank, and a database per case."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ..conftest import Setup
from .matrix import Bank, Feed, Store, matrix_bank, new_database


@pytest.fixture(scope="session")
def bank() -> Bank:
    """One generated bank and replay's alerts for it, for every case of the session."""
    return matrix_bank()


@pytest.fixture
def store(postgres_empty_url: str) -> Iterator[Store]:
    """A migrated PostgreSQL database of the case's own (an outage or a gate on it must not
    touch another test's store, in this process or another)."""
    yield from new_database(postgres_empty_url)


@pytest.fixture
def make_feed() -> Iterator[Callable[[str, Setup, Bank], Feed]]:
    """Feeds of the case's bank; a live one still running when the case ends is stopped."""
    feeds: list[Feed] = []

    def make(mode: str, setup: Setup, bank: Bank) -> Feed:
        feed = Feed(mode, setup, bank)
        feeds.append(feed)
        return feed

    yield make
    for feed in feeds:
        feed.stop()
        if feed.thread is not None:
            feed.thread.join(timeout=30)
