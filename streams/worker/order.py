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
  Once that wait runs out the task goes on, but never more than the allowed lateness
  of event time past that partition's last record (before its first one, past the task's
  clock when it was assigned): the partition's next record, if in order on its own
  topic, can then never be "too late" (seen: a broker restarted on its storage served a
  partition's records written after the restart only some twenty seconds later, while a
  live stream ran days of event time per second; the task ran ahead and a transaction
  of the partition was dead-lettered as 107 h late). Live, where event time moves with
  the clock, that bound is two days away and holds nothing back; in a backlog it stalls
  the task until the partition is served, as Kafka Streams waits for a partition it
  knows has records;
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

import logging
import sys
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiokafka import TopicPartition

__all__ = ["Item", "OrderedInput", "Task"]

log = logging.getLogger("churnwatch.worker")

#: The event time of a buffered message that has none (a dead letter, a tombstone, a
#: message forwarded to the repartition topic): taken as soon as it is at a head.
NO_TIME = -1
#: no bound on the event time a task may hand out
UNBOUNDED = sys.maxsize


class Item(msgspec.Struct, gc=False):
    """One fetched record: its partition, event time (µs) and what decoding made of it.

    A msgspec struct, one per fetched record: built in C at half the CPU of a slotted
    dataclass's ``__init__``, and never tracked by the collector (it refers to its record
    and event, nothing refers back to it, so it can be in no cycle).
    """

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
    #: per partition: the latest event time handed out from it (µs; none: none yet)
    last_at: dict[TopicPartition, int] = field(default_factory=dict)
    #: the clock when the task was assigned: a partition's place before its first record
    origin: int = 0
    #: partitions whose lagging wait ran out, already reported
    reported: set[TopicPartition] = field(default_factory=set)

    def buffered(self) -> int:
        return sum(len(queue) for queue in self.queues.values())


class OrderedInput:
    """Every assigned task's buffers, what is ready to process, and what to pause."""

    def __init__(
        self, *, max_task_idle: float, lagging_wait: float, limit: int, lateness: int = 0
    ) -> None:
        self.max_task_idle = max_task_idle
        self.lagging_wait = lagging_wait
        self.limit = max(limit, 1)
        #: µs of event time a task may run past a lagging partition's last record (0: any)
        self.lateness = lateness
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
                clock = old.clock if old is not None else 0
                task = Task(tp.partition, {}, clock=clock, origin=clock)
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
                task.reported.discard(tp)
                continue
            caught_up = lags.get(tp) == 0
            noted = deadlines.get(tp)
            if noted is None or noted[0] != caught_up or not (answering or caught_up):
                wait = self.max_task_idle if caught_up else self.lagging_wait
                noted = (caught_up, now + wait)
                deadlines[tp] = noted
            if now < noted[1]:
                ready = False
            elif not caught_up and tp not in task.reported and self.lateness:
                task.reported.add(tp)
                self._report(task, tp, lags.get(tp))
            elif (
                caught_up
                and self.max_task_idle > 0
                and answered is not None
                and answered.get(tp, float("-inf")) < noted[1]
            ):
                ready = False  # no answer since the wait ran out: is it still caught up?
        return ready

    def horizon(self, task: Task, lags: Mapping[TopicPartition, int | None]) -> int:
        """The latest event time the task may hand out now: the allowed lateness past the
        last record of each partition it waits for in vain (records on the broker, or
        nothing known, and none buffered)."""
        if not self.lateness:
            return UNBOUNDED
        bound = UNBOUNDED
        for tp, queue in task.queues.items():
            if not queue and lags.get(tp) != 0:
                at = task.last_at.get(tp, task.origin) + self.lateness
                if at < bound:
                    bound = at
        return bound

    def _report(self, task: Task, tp: TopicPartition, lag: int | None) -> None:
        known = f"{lag} records on the broker" if lag is not None else "records not known"
        last = task.last_at.get(tp)
        log.warning(
            "task %d goes on without %s-%d (%s, none served for %.0f s of the broker "
            "answering); it stays within the allowed lateness of %s",
            task.number,
            tp.topic,
            tp.partition,
            known,
            self.lagging_wait,
            "that partition's last event" if last is not None else "its clock when assigned",
        )

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
        smallest head gives records while they stay below every other head and within
        the horizon. Readiness and the horizon only change when a partition runs empty
        (``now`` and ``lags`` are fixed here), so they are checked then, not per record.
        """
        tps = list(task.queues)
        queues = list(task.queues.values())
        if not self.ready(task, now, lags, answering, answered):
            return True
        horizon = self.horizon(task, lags)
        last_at = task.last_at
        while left > 0:
            best = -1
            best_at = 0
            for index, queue in enumerate(queues):
                if queue and (best < 0 or queue[0].at < best_at):
                    best, best_at = index, queue[0].at
            if best < 0:
                return False
            if best_at > horizon:
                return True  # a lagging partition's next record may come before it
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
            if horizon < UNBOUNDED and (above is None or horizon < above):
                above = horizon  # no record past the horizon either
            popleft, append = queue.popleft, taken.append
            tp = tps[best]
            latest = last_at.get(tp, NO_TIME)
            if below is None and above is None:
                count = min(left, len(queue))
                for _ in range(count):
                    append(popleft())
                left -= count
                latest = max(latest, max(item.at for item in taken[-count:]))
            else:
                while queue and left > 0:
                    at = queue[0].at
                    if (below is not None and at >= below) or (above is not None and at > above):
                        break
                    append(popleft())
                    left -= 1
                    if at > latest:
                        latest = at
            if latest > NO_TIME:
                last_at[tp] = latest
            if left > 0 and not queue and any(queues):
                if not self.ready(task, now, lags, answering, answered):
                    return True
                horizon = self.horizon(task, lags)
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
