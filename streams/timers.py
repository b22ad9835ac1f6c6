"""Rule timers in the drivers: which customer is due when, and which clock says it is time.

The replay driver and the worker both keep a :class:`TimerIndex`; only the worker has
a choice of clock.

Timers (a ``maturity-reminder`` step, an ``activity-drop`` daily check) are *state*: the
engine keeps each pending one inside the customer's :class:`~churnwatch.rules.state.CustomerState`,
which the changelog stores. This index is only a way to find the next due customer fast
(a heap of ``(due µs, customer_id)`` with lazy deletion), so it is never written anywhere:
after an assignment it is rebuilt from the restored states (:meth:`TimerIndex.rebuild`),
and a restarted worker neither loses a step nor sends one twice (a step fired before a
crash but after the last checkpoint fires again with the same ``alert_id``, which the
store refuses).

Two clocks (``worker.timer_clock``):
- ``event``: timers fire as the event-time watermark (the latest ``occurred_at`` seen)
  passes them, exactly as the replay driver does, so the same input gives the same alerts.
  Tests use it; in production a quiet night would hold every reminder back.
- ``wall`` (the default): timers fire when ``max(wall clock, watermark)`` passes them, so a
  reminder goes out on its day even when no event arrives, and a backlog being replayed
  still fires its timers in event-time order as it goes.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from churnwatch.rules.durations import micros
from churnwatch.rules.state import CustomerState

__all__ = ["TimerClock", "TimerIndex", "wall_micros"]

TimerClock = Literal["wall", "event"]


def wall_micros(clock: Callable[[], dt.datetime]) -> int:
    """``clock()`` as µs since the epoch, the unit of ``Outcome.next_due``."""
    return micros(clock())


class TimerIndex:
    """Each owned customer's earliest timer, in a heap; superseded entries are skipped."""

    __slots__ = ("due_of", "heap")

    def __init__(self) -> None:
        self.heap: list[tuple[int, str]] = []
        self.due_of: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.due_of)

    def next_due(self) -> int | None:
        """The earliest due time in the heap (possibly a superseded one), or None."""
        return self.heap[0][0] if self.heap else None

    def set(self, customer_id: str, due: int) -> None:
        """Note the customer's earliest timer; a push only when it changed."""
        if self.due_of.get(customer_id) != due:
            self.due_of[customer_id] = due
            heapq.heappush(self.heap, (due, customer_id))

    def pop_due(self, until: int) -> Iterator[tuple[int, str]]:
        """Yield and forget each (due, customer) at or before ``until``, earliest first.

        The caller may :meth:`set` a new timer for the customer while iterating; one due
        at or before ``until`` is yielded in turn.
        """
        heap, due_of = self.heap, self.due_of
        while heap and heap[0][0] <= until:
            due, customer_id = heapq.heappop(heap)
            if due_of.get(customer_id) != due:
                continue  # superseded by a later push for the same customer
            del due_of[customer_id]
            yield due, customer_id

    def rebuild(
        self,
        states: Iterable[tuple[str, CustomerState]],
        next_due: Callable[[CustomerState], int | None],
    ) -> None:
        """Start again from the given customers' states (after an assignment)."""
        self.due_of = {}
        for customer_id, state in states:
            due = next_due(state)
            if due is not None:
                self.due_of[customer_id] = due
        self.heap = [(due, customer_id) for customer_id, due in self.due_of.items()]
        heapq.heapify(self.heap)
