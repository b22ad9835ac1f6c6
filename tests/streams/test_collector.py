"""A driver collects young objects less often while it runs, and leaves the process as it was."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from churnwatch.streams.collector import (
    YOUNG_THRESHOLD,
    fewer_young_collections,
    freeze_survivors,
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


class _Node:
    """A container that can be put in a reference cycle and watched through a weakref."""

    def __init__(self) -> None:
        self.other: object = None


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Objects this test froze go back to the collector's sight afterwards."""
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_a_cycle_already_dead_is_collected_before_the_survivors_are_frozen() -> None:
    """A worker's freeze keeps no garbage: what died since the last one is collected
    first, and only what is alive leaves the collectors' sight."""
    dead, alive = _Node(), _Node()
    dead.other = dead  # a cycle only a collection frees
    alive.other = alive
    dead_ref, alive_ref = weakref.ref(dead), weakref.ref(alive)
    del dead
    before = gc.get_freeze_count()
    freeze_survivors()
    assert dead_ref() is None
    assert alive_ref() is alive
    assert gc.get_freeze_count() > before
    assert not any(o is alive for o in gc.get_objects())  # no collection walks it now


@pytest.mark.usefixtures("unfrozen")
def test_a_frozen_state_replaced_is_still_freed_by_reference_counting() -> None:
    """States are plain containers: the one a customer's next event replaces, or a revoked
    partition's, is freed when dropped, frozen or not."""
    states = {"cu1": _Node()}
    replaced = weakref.ref(states["cu1"])
    freeze_survivors()
    states["cu1"] = _Node()
    assert replaced() is None
