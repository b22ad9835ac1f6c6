"""A driver collects young objects less often while it runs, and leaves the process as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from churnwatch.streams.collector import (
    YOUNG_THRESHOLD,
    fewer_young_collections,
    tune_for_many_states,
)
from churnwatch.streams.config import load_config
from churnwatch.streams.worker.loop import Worker


@pytest.fixture(autouse=True)
def thresholds_restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_a_replay_raises_the_young_threshold_only_while_it_runs() -> None:
    gc.set_threshold(700, 10, 10)
    with fewer_young_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_the_thresholds_come_back_when_the_replay_raises() -> None:
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), fewer_young_collections():
        raise RuntimeError("a sink failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_set_by_the_operator_is_kept() -> None:
    gc.set_threshold(200_000, 10, 10)
    tune_for_many_states()
    assert gc.get_threshold() == (200_000, 10, 10)


def test_a_worker_with_states_in_memory_raises_it(tmp_path: Path) -> None:
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
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
