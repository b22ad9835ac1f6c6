"""The worker's garbage-collector thresholds (``streams/worker/collector.py``): young
collections rare enough that an event's short-lived objects die before one sees them."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from churnwatch.streams.config import load_config
from churnwatch.streams.worker.collector import YOUNG_THRESHOLD, tune_gc_for_states
from churnwatch.streams.worker.loop import Worker


@pytest.fixture
def thresholds() -> Iterator[None]:
    """The process's thresholds as they were, whatever the test set."""
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("thresholds")
def test_young_collections_wait_for_fifty_thousand_allocations_older_ones_unchanged() -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc_for_states()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


@pytest.mark.usefixtures("thresholds")
def test_a_higher_young_threshold_already_set_is_kept() -> None:
    gc.set_threshold(200_000, 5, 20)
    tune_gc_for_states()
    assert gc.get_threshold() == (200_000, 5, 20)


@pytest.mark.usefixtures("thresholds")
def test_a_worker_with_states_in_memory_sets_them(tmp_path: Path) -> None:
    """Not only the RocksDB working set: ``memory://`` holds every customer's state."""
    gc.set_threshold(700, 10, 10)
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
broker: {{url: "kafka://127.0.0.1:9"}}
store: {{url: "sqlite:///{tmp_path / "alerts.db"}"}}
worker: {{state_store: "memory://"}}
"""
    )
    Worker(load_config(path, environ={}))
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
