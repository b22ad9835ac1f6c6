"""Fixtures for the notifier tests: real local peers, a directory, a pipeline rig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    SMTP_PASSWORD,
    WEBHOOK_SECRET,
    Rig,
    SmtpPeer,
    TwilioPeer,
    WebhookPeer,
    customer,
    make_certificate,
    staff,
)

from churnwatch.notifiers.directory import InMemoryDirectory


@pytest.fixture
def twilio_peer() -> Iterator[TwilioPeer]:
    peer = TwilioPeer()
    yield peer
    peer.close()


@pytest.fixture
def webhook_peer() -> Iterator[WebhookPeer]:
    peer = WebhookPeer(WEBHOOK_SECRET)
    yield peer
    peer.close()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_peer(certificate: tuple[Path, Path]) -> Iterator[SmtpPeer]:
    peer = SmtpPeer(*certificate, username="churnwatch", password=SMTP_PASSWORD)
    yield peer
    peer.close()


@pytest.fixture
def directory() -> InMemoryDirectory:
    book = InMemoryDirectory()
    book.put_customer(customer())
    for person in (
        staff("RM1", "relationship_manager"),
        staff("BH1", "branch_head"),
        staff("EX1", "executive", "HQ"),
    ):
        book.put_staff(person)
    return book


@pytest.fixture
def rig(sqlite_url: str) -> Iterator[Rig]:
    made = Rig(sqlite_url)
    yield made
    made.close()
