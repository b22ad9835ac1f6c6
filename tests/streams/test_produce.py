"""``churnwatch topics create`` and ``churnwatch produce`` against a real broker."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.streams.topics import create_topics

from .conftest import Setup, clean_env
from .eventgen import events
from .worker.test_loop import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_topics_create_compacts_directories_and_is_repeatable(
    make_setup: Callable[..., Setup],
) -> None:
    """Directory topics and the changelog are compacted; a second run creates nothing."""
    setup = make_setup(partitions=3)
    first = {r.name: r for r in create_topics(setup.config)}
    assert all(r.created and r.partitions == 3 for r in first.values())
    assert first[setup.config.topics.customers].compacted
    assert first[setup.config.changelog_topic].compacted
    assert not first[setup.config.topics.transactions].compacted
    again = create_topics(setup.config)
    assert not any(r.created for r in again)


def test_produce_routes_by_type_keys_by_customer_and_reports_bad_lines(
    make_setup: Callable[..., Setup],
) -> None:
    """Each line lands on its type's topic on its customer's partition; bad lines go to the
    dead-letter topic with file and line, and the command says how many."""
    setup = make_setup(partitions=3)
    create_topics(setup.config)
    good = list(events(customers=5, per_customer=4))
    path = setup.tmp / "in.jsonl"
    path.write_bytes(b"\n".join([*good[:3], b"{broken", *good[3:], b""]) + b"\n")
    result = CliRunner().invoke(
        app, ["produce", str(path), "--config", str(setup.path)], env=clean_env()
    )
    assert result.exit_code == 0, result.output
    assert "1 bad lines" in result.output
    letters = read_topic(setup.config.broker.url, setup.config.topics.dead_letter, 1)
    letter = json.loads(letters[0])
    assert letter["source"] == {"file": str(path), "line": 4}
    assert letter["code"] == "bad_json"
    transactions = read_topic(setup.config.broker.url, setup.config.topics.transactions, 20)
    assert len(transactions) == 20
