"""Event-time order within a task, the way Kafka Streams' ``PartitionGroup`` keeps it.

Why. Transactions, products and customers arrive on three topics, fetched independently.
Processed in fetch order, a customer's transactions could run days of event time ahead of
their product and customer events, which then fell outside the allowed lateness and were
dead-lettered as ``too_late`` — after an outage or a backfill, when the whole backlog is
on the broker, hundreds of them, and which ones depended on fetch order (a race).

What. The input partitions that share a partition number (transactions *p*, products *p*,
customers *p*, the repartition topic's *p*) form one *task*: one customer's events are all
in it. Fetched records are buffered per partition; a task hands out its records by taking
the buffered head with the smallest event time, like ``PartitionGroup.nextRecord``. While
one of its partitions has nothing buffered the task may not run ahead of it:

- records known to be on the broker but not fetched yet (the last fetch's high watermark
  is beyond the position) or nothing known yet: wait for the fetch, at most
  ``worker.lagging_wait`` seconds of the broker answering (so a partition whose leader is
  away cannot stall the task for good, while a broker that answers nobody — restarting,
  unreachable — cannot make the task run ahead of records it is about to serve: that
  wait only starts to count once fetches are answered again);
- caught up to its end offset: wait ``worker.max_task_idle`` seconds (Kafka Streams'
  ``max.task.idle.ms``; 0 by default: a live stream is not held back for a quiet topic).
  That wait ends only on a fetch of the partition answered after it: "caught up" is the
  last answer's word, and a broker that stops answering mid-wait (restarting) said
  nothing about what was produced since. Counted from that last answer, the wait ran out
  before the word went stale, and a task ran ahead of a customer record already on the
  broker: dead-lettered as too late once the broker was back (seen in the fault matrix's
  broker restart, one run in two).

A partition whose buffer holds ``limit`` records is paused (its fetches stop) until the
buffer is half drained, so a partition running ahead cannot fill memory. Time spent with
buffered records held back is counted (``churnwatch_task_idle_seconds_total``).

Everything here is pure bookkeeping (no I/O): the worker's loop passes in the lags it
read from the consumer and applies the pauses this module asks for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

__all__ = ["Item", "OrderedInput", "Task"]

#: The event time of a buffered message that has none (a dead letter, a tombstone, a
#: message forwarded to the repartition topic): taken as soon as it is at a head.
NO_TIME = -1


@dataclass(slots=True)
class Item:
    """One fetched record: its partition, event time (µs) and what decoding made of it."""

    tp: TopicPartition
    at: int
    record: Any
    event: Any


@dataclass(slots=True)
class Task:
    """The partitions sharing one partition number, and that task's event-time clock."""

    number: int
    queues: dict[TopicPartition, deque[Item]]
    #: per empty partition: (caught up?, monotonic deadline of the wait)
    deadlines: dict[TopicPartition, tuple[bool, float]] = field(default_factory=dict)
    #: the latest event time processed in this task (µs): its timers fire as it passes them
    clock: int = 0
    #: monotonic time the task was first seen held back with records buffered, or None
    waiting_since: float | None = None

    def buffered(self) -> int:
        return sum(len(queue) for queue in self.queues.values())


class OrderedInput:
    """Every assigned task's buffers, what is ready to process, and what to pause."""

    def __init__(self, *, max_task_idle: float, lagging_wait: float, limit: int) -> None:
        self.max_task_idle = max_task_idle
        self.lagging_wait = lagging_wait
        self.limit = max(limit, 1)
        self.tasks: dict[int, Task] = {}
        #: seconds tasks spent held back since the caller last read it
        self.waited = 0.0

    def assign(self, tps: Iterable[TopicPartition]) -> None:
        """Start empty buffers for a new assignment (the fetch positions start again too)."""
        tasks: dict[int, Task] = {}
        for tp in sorted(tps):
            task = tasks.get(tp.partition)
            if task is None:
                old = self.tasks.get(tp.partition)
                task = Task(tp.partition, {}, clock=old.clock if old is not None else 0)
                tasks[tp.partition] = task
            task.queues[tp] = deque()
        self.tasks = tasks

    def add(self, tp: TopicPartition, items: list[Item]) -> None:
        task = self.tasks.get(tp.partition)
        queue = task.queues.get(tp) if task is not None else None
        if queue is not None:
            queue.extend(items)

    def flow(
        self, paused: set[TopicPartition]
    ) -> tuple[list[TopicPartition], list[TopicPartition]]:
        """Partitions to pause (buffer full) and to resume (buffer half drained)."""
        pause: list[TopicPartition] = []
        resume: list[TopicPartition] = []
        for task in self.tasks.values():
            for tp, queue in task.queues.items():
                if tp in paused:
                    if len(queue) <= self.limit // 2:
                        resume.append(tp)
                elif len(queue) >= self.limit:
                    pause.append(tp)
        return pause, resume

    def ready(
        self,
        task: Task,
        now: float,
        lags: Mapping[TopicPartition, int | None],
        answering: bool = True,
        answered: Mapping[TopicPartition, float] | None = None,
    ) -> bool:
        """May the task hand out its smallest head now? (``PartitionGroup.readyToProcess``)

        ``answering``: the broker answered a fetch lately; when it did not, the wait for a
        partition that is not caught up starts again (a broker away stalls, not skips).
        ``answered``: when each partition's last fetch answer came (the clock of ``now``);
        given, a caught-up partition's ``max_task_idle`` ends only on an answer after it.
        """
        ready = True
        deadlines = task.deadlines
        for tp, queue in task.queues.items():
            if queue:
                deadlines.pop(tp, None)
                continue
            caught_up = lags.get(tp) == 0
            noted = deadlines.get(tp)
            if noted is None or noted[0] != caught_up or not (answering or caught_up):
                wait = self.max_task_idle if caught_up else self.lagging_wait
                noted = (caught_up, now + wait)
                deadlines[tp] = noted
            if now < noted[1]:
                ready = False
            elif (
                caught_up
                and self.max_task_idle > 0
                and answered is not None
                and answered.get(tp, float("-inf")) < noted[1]
            ):
                ready = False  # no answer since the wait ran out: is it still caught up?
        return ready

    def idle(self, task: Task, lags: Mapping[TopicPartition, int | None]) -> bool:
        """Nothing buffered and every partition caught up: no event can come before more
        arrives, so the task's timers may follow the worker's clock."""
        return all(not queue and lags.get(tp) == 0 for tp, queue in task.queues.items())

    def take(
        self,
        limit: int,
        now: float,
        lags: Mapping[TopicPartition, int | None],
        answering: bool = True,
        answered: Mapping[TopicPartition, float] | None = None,
    ) -> list[tuple[Task, list[Item]]]:
        """Up to ``limit`` records, each task's in event-time order across its partitions."""
        out: list[tuple[Task, list[Item]]] = []
        left = limit
        for task in self.tasks.values():
            taken: list[Item] = []
            held = False
            if left > 0 and task.buffered():
                held = self._take_task(task, taken, left, now, lags, answering, answered)
                left -= len(taken)
            self._note_wait(task, now, held)
            if taken:
                out.append((task, taken))
        return out

    def _take_task(
        self,
        task: Task,
        taken: list[Item],
        left: int,
        now: float,
        lags: Mapping[TopicPartition, int | None],
        answering: bool,
        answered: Mapping[TopicPartition, float] | None,
    ) -> bool:
        """Append the task's records in event-time order; True when held back.

        The same choice as taking the smallest head one record at a time (the first
        partition in assignment order on a tie), done in runs: the partition with the
        smallest head gives records while they stay below every other head. Readiness
        only changes when a partition runs empty (``now`` and ``lags`` are fixed here),
        so it is checked then, not per record.
        """
        queues = list(task.queues.values())
        if not self.ready(task, now, lags, answering, answered):
            return True
        while left > 0:
            best = -1
            best_at = 0
            for index, queue in enumerate(queues):
                if queue and (best < 0 or queue[0].at < best_at):
                    best, best_at = index, queue[0].at
            if best < 0:
                return False
            queue = queues[best]
            # it keeps the turn while its head is below the heads of partitions before
            # it and not above those after it (a tie goes to the earlier partition)
            below = above = None
            for index, other in enumerate(queues):
                if index != best and other:
                    at = other[0].at
                    if index < best:
                        below = at if below is None or at < below else below
                    else:
                        above = at if above is None or at < above else above
            popleft, append = queue.popleft, taken.append
            if below is None and above is None:
                count = min(left, len(queue))
                for _ in range(count):
                    append(popleft())
                left -= count
            else:
                while queue and left > 0:
                    at = queue[0].at
                    if (below is not None and at >= below) or (above is not None and at > above):
                        break
                    append(popleft())
                    left -= 1
            if (
                left > 0
                and not queue
                and any(queues)
                and not self.ready(task, now, lags, answering, answered)
            ):
                return True
        return False

    def _note_wait(self, task: Task, now: float, held: bool) -> None:
        if held and task.waiting_since is None:
            task.waiting_since = now
        elif not held and task.waiting_since is not None:
            self.waited += now - task.waiting_since
            task.waiting_since = None

    def take_waited(self, now: float) -> float:
        """Seconds held back since the last call, including waits still going on."""
        waited = self.waited
        for task in self.tasks.values():
            if task.waiting_since is not None:
                waited += now - task.waiting_since
                task.waiting_since = now
        self.waited = 0.0
        return waited
