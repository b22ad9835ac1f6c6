"""The task buffers' rules (``streams/worker/order.py``), without a broker."""

from __future__ import annotations

from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from churnwatch.streams.worker.order import NO_TIME, Item, OrderedInput

TOPICS = ("tx", "products", "customers")


def tps(partition: int = 0) -> list[TopicPartition]:
    return [TopicPartition(topic, partition) for topic in TOPICS]


def items(tp: TopicPartition, times: list[int]) -> list[Item]:
    return [Item(tp, at, None, (tp.topic, n)) for n, at in enumerate(times)]


def ordered(
    idle: float = 0.0, wait: float = 10.0, limit: int = 100, lateness: int = 0
) -> OrderedInput:
    order = OrderedInput(max_task_idle=idle, lagging_wait=wait, limit=limit, lateness=lateness)
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


def test_a_broker_answering_no_fetch_stalls_the_task_rather_than_skipping() -> None:
    """While no fetch is answered (the broker restarting), the wait for a partition with
    records on the broker does not run down, however long; once fetches are answered
    again it counts from there, and the records that came first go first."""
    order = ordered(wait=5.0)
    tx0, products0, customers0 = tps(0)
    order.add(tx0, items(tx0, [10, 20]))
    order.add(products0, items(products0, [30]))
    lagging: dict[TopicPartition, int | None] = {**{tp: 0 for tp in tps(1)}, customers0: 3}
    assert order.take(100, 0.0, lagging) == []
    for now in (4.0, 9.0, 60.0):  # the broker away: no answer
        assert order.take(100, now, lagging, answering=False) == []
    assert order.take(100, 64.9, lagging) == []  # answering again: 5 s from the last
    order.add(customers0, items(customers0, [15]))
    assert [item.at for item in order.take(100, 65.0, lagging)[0][1]] == [10, 15]
    assert order.take(100, 69.9, lagging) == []  # customers 0 empty again, lagging
    assert [item.at for item in order.take(100, 70.0, lagging)[0][1]] == [20]


def test_a_task_goes_on_without_a_lagging_partition_only_within_the_lateness() -> None:
    """Customers 0 has records on the broker that the broker does not serve: once the
    lagging wait runs out the task goes on, but not past the lateness after customers 0's
    last record, so that record's successor cannot come too late; it comes, and the
    rest follows in order."""
    order = ordered(wait=5.0, lateness=100)
    tx0, _, customers0 = tps(0)
    order.add(customers0, items(customers0, [50]))
    order.add(tx0, items(tx0, [40]))
    lags: dict[TopicPartition, int | None] = {tp: 0 for tp in tps(0) + tps(1)}
    lags[customers0] = 3
    assert [item.at for item in order.take(100, 0.0, lags)[0][1]] == [40, 50]
    order.add(tx0, items(tx0, [60, 140, 151, 200]))
    assert order.take(100, 0.0, lags) == []  # customers 0 empty: its wait starts
    assert order.take(100, 4.9, lags) == []
    assert [item.at for item in order.take(100, 5.0, lags)[0][1]] == [60, 140]
    assert order.take(100, 100.0, lags) == []  # held at the horizon, however long
    order.add(customers0, items(customers0, [155]))
    lags[customers0] = 0
    assert [item.at for item in order.take(100, 100.0, lags)[0][1]] == [151, 155, 200]


def test_before_a_partitions_first_record_the_horizon_is_the_clock_at_assignment() -> None:
    order = ordered(wait=5.0, lateness=100)
    tx0, products0, customers0 = tps(0)
    order.add(tx0, items(tx0, [50, 150]))
    lags: dict[TopicPartition, int | None] = {products0: 0, customers0: None}
    assert order.take(100, 0.0, lags) == []
    assert [item.at for item in order.take(100, 5.0, lags)[0][1]] == [50]


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


def test_max_task_idle_ends_only_on_a_fetch_answered_after_it() -> None:
    """A caught-up partition's last answer came before the broker went away: the task
    stays held past max_task_idle until an answer after the wait says nothing came (the
    broker restarting must not let it run ahead of a record it is about to serve)."""
    order = ordered(idle=2.0)
    tx0, products0, customers0 = tps(0)
    order.add(tx0, items(tx0, [1, 2]))
    caught_up: dict[TopicPartition, int | None] = {products0: 0, customers0: 0}
    before = {products0: 0.1, customers0: 0.1}  # the last answers, then the broker died
    assert order.take(100, 0.2, caught_up, answered=before) == []
    for now in (2.2, 2.3, 3.0):  # the wait ran out; the lags are still the old word
        assert order.take(100, now, caught_up, answered=before) == []
    after = {products0: 3.5, customers0: 3.5}  # answering again: nothing came
    assert [item.at for item in order.take(100, 3.5, caught_up, answered=after)[0][1]] == [1, 2]


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


class OneAtATime:
    """The ordering's rule written plainly: before each record, is the task ready? Then
    the buffered head with the smallest event time (the first partition on a tie)."""

    def __init__(self, order: OrderedInput) -> None:
        self.order = order

    def take(
        self, limit: int, now: float, lags: dict[TopicPartition, int | None], answering: bool
    ) -> list[tuple[int, list[Item]]]:
        out: list[tuple[int, list[Item]]] = []
        left = limit
        for task in self.order.tasks.values():
            taken: list[Item] = []
            held = False
            while left > 0:
                heads = [queue for queue in task.queues.values() if queue]
                if not heads:
                    break
                if not self.order.ready(task, now, lags, answering):
                    held = True
                    break
                queue = min(heads, key=lambda queue: queue[0].at)  # the first on a tie
                if queue[0].at > self.order.horizon(task, lags):
                    held = True
                    break
                item = queue.popleft()
                taken.append(item)
                if item.at > task.last_at.get(item.tp, NO_TIME):
                    task.last_at[item.tp] = item.at
                left -= 1
            self.order._note_wait(task, now, held)
            if taken:
                out.append((task.number, taken))
        return out


Step = tuple[int, int, int, int, float, int, bool]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 5),  # which partition of the two tasks gets a fetch
            st.integers(0, 6),  # how many records it brings
            st.integers(0, 40),  # their first event time
            st.integers(1, 8),  # records taken at most, then
            st.floats(0, 3),  # seconds passing
            st.integers(0, 2),  # 0 caught up, 1 records on the broker, 2 nothing known
            st.booleans(),  # the broker answering fetches
        ),
        max_size=40,
    )
)
def test_taking_in_runs_hands_out_what_one_at_a_time_would(steps: list[Step]) -> None:
    """The run-based take hands out the same records, in the same order, holds the same
    tasks back for the same time as taking one smallest head at a time (a horizon
    included: lagging partitions bound how far a task may run ahead)."""
    fast, slow = ordered(idle=0.5, wait=2.0, lateness=12), ordered(idle=0.5, wait=2.0, lateness=12)
    reference = OneAtATime(slow)
    everything = tps(0) + tps(1)
    now, serial = 0.0, 0
    for which, count, first, limit, passing, lag, answering in steps:
        tp = everything[which]
        times = [first + n * (which % 3) for n in range(count)]  # ties, repeats, orders
        for order in (fast, slow):
            order.add(tp, [Item(tp, at, None, serial + n) for n, at in enumerate(times)])
        serial += count
        now += passing
        lags = {tp: (None if lag == 2 else lag) for tp in everything[:which]}
        got = [
            (task.number, [item.event for item in items])
            for task, items in fast.take(limit, now, lags, answering)
        ]
        want = [
            (number, [item.event for item in items])
            for number, items in reference.take(limit, now, lags, answering)
        ]
        assert got == want
        assert fast.take_waited(now) == slow.take_waited(now)


@given(
    st.lists(st.lists(st.integers(0, 50), max_size=12), min_size=3, max_size=3),
    st.lists(st.tuples(st.integers(0, 2), st.integers(1, 5), st.integers(1, 7)), max_size=60),
)
def test_a_backlog_comes_out_in_event_time_order_however_it_is_fetched(
    streams: list[list[int]], fetches: list[tuple[int, int, int]]
) -> None:
    """A backlog on the broker, each partition in order on its own, fetched in any
    interleaving of chunks with takes in between: the task hands out the merge in event
    time (the first partition on a tie), each record once, none before its turn."""
    order = ordered(idle=0.0, wait=10.0)
    topics = tps(0)
    backlog = {
        tp: [Item(tp, at, None, (tp, i)) for i, at in enumerate(sorted(times))]
        for tp, times in zip(topics, streams, strict=True)
    }
    everything = sorted((item for items in backlog.values() for item in items), key=_turn)
    out: list[Item] = []

    def lags() -> dict[TopicPartition, int | None]:
        return {tp: len(rest) for tp, rest in backlog.items()}

    for which, size, limit in fetches:
        tp = topics[which]
        order.add(tp, backlog[tp][:size])
        del backlog[tp][:size]
        out.extend(item for _, items in order.take(limit, 0.0, lags()) for item in items)
    for tp in topics:  # the rest arrives
        order.add(tp, backlog[tp])
        backlog[tp] = []
    out.extend(item for _, items in order.take(10**6, 0.0, lags()) for item in items)
    assert [item.event for item in out] == [item.event for item in everything]


def _turn(item: Item) -> tuple[int, TopicPartition, int]:
    """A record's turn: event time, then the task's partition order, then its offset."""
    return item.at, item.tp, item.event[1]
