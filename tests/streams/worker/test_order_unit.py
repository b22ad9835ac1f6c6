"""The task buffers' rules (``streams/worker/order.py``), without a broker."""

from __future__ import annotations

from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from churnwatch.streams.worker.order import Item, OrderedInput

TOPICS = ("tx", "products", "customers")


def tps(partition: int = 0) -> list[TopicPartition]:
    return [TopicPartition(topic, partition) for topic in TOPICS]


def items(tp: TopicPartition, times: list[int]) -> list[Item]:
    return [Item(tp, at, None, (tp.topic, n)) for n, at in enumerate(times)]


def ordered(idle: float = 0.0, wait: float = 10.0, limit: int = 100) -> OrderedInput:
    order = OrderedInput(max_task_idle=idle, lagging_wait=wait, limit=limit)
    order.assign(tps(0) + tps(1))
    return order


@given(st.lists(st.lists(st.integers(0, 10**6), min_size=1, max_size=30), min_size=3, max_size=3))
def test_a_task_hands_out_its_partitions_merged_in_event_time(
    streams: list[list[int]],
) -> None:
    """Each partition in order on its own, all buffered: the task's output is the merge,
    in event-time order, every record once, each partition's own order kept."""
    order = ordered()
    for tp, times in zip(tps(0), streams, strict=True):
        order.add(tp, items(tp, sorted(times)))
    caught_up = {tp: 0 for tp in tps(0) + tps(1)}
    taken = [item for _, batch in order.take(10**6, 0.0, caught_up) for item in batch]
    assert [item.at for item in taken] == sorted(t for times in streams for t in times)
    for tp in tps(0):
        mine = [item.event[1] for item in taken if item.tp == tp]
        assert mine == sorted(mine)


def test_an_empty_partition_with_records_on_the_broker_holds_the_task_back() -> None:
    """Nothing buffered for customers 0 but records known on the broker: transactions 0
    wait (up to the lagging bound); task 1 is not held back by task 0."""
    order = ordered(wait=5.0)
    tx0, products0, customers0 = tps(0)
    order.add(tx0, items(tx0, [10, 20]))
    order.add(products0, items(products0, [15]))
    tx1 = TopicPartition("tx", 1)
    order.add(tx1, items(tx1, [30]))
    lags: dict[TopicPartition, int | None] = {tp: 0 for tp in tps(1)}
    lags[customers0] = 7
    assert [(task.number, len(got)) for task, got in order.take(100, 0.0, lags)] == [(1, 1)]
    assert order.take(100, 4.9, lags) == []
    assert order.take_waited(4.9) == 4.9
    order.add(customers0, items(customers0, [12]))
    lags.pop(customers0)  # nothing known: waited for as if lagging
    assert [item.at for item in order.take(100, 5.0, lags)[0][1]] == [10, 12]
    assert order.take(100, 9.9, lags) == []
    assert [item.at for item in order.take(100, 10.0, lags)[0][1]] == [15]
    assert [item.at for item in order.take(100, 15.0, lags)[0][1]] == [20]


def test_a_caught_up_partition_holds_back_only_for_max_task_idle() -> None:
    order = ordered(idle=0.5)
    tx0 = tps(0)[0]
    order.add(tx0, items(tx0, [1, 2]))
    caught_up: dict[TopicPartition, int | None] = {tp: 0 for tp in tps(0)[1:]}
    assert order.take(100, 0.0, caught_up) == []
    assert order.take(100, 0.4, caught_up) == []
    assert [item.at for item in order.take(100, 0.5, caught_up)[0][1]] == [1, 2]
    assert order.idle(order.tasks[0], {tp: 0 for tp in tps(0)})
    assert not order.idle(order.tasks[0], {**caught_up, tx0: 4})


def test_a_partition_running_ahead_is_paused_until_half_drained() -> None:
    order = ordered(limit=4)
    tx0 = tps(0)[0]
    order.add(tx0, items(tx0, [1, 2, 3, 4]))
    assert order.flow(set()) == ([tx0], [])
    order.take(1, 0.0, {tp: 0 for tp in tps(0) + tps(1)})
    assert order.flow({tx0}) == ([], [])
    order.take(1, 0.0, {tp: 0 for tp in tps(0) + tps(1)})
    assert order.flow({tx0}) == ([], [tx0])


def test_a_new_assignment_starts_empty_and_keeps_the_task_clock() -> None:
    order = ordered()
    tx0 = tps(0)[0]
    order.add(tx0, items(tx0, [5]))
    order.tasks[0].clock = 99
    order.assign(tps(0))
    assert order.tasks[0].buffered() == 0 and order.tasks[0].clock == 99
    assert set(order.tasks) == {0}
