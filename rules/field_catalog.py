"""The names a condition may read: the fields the compiler checks each dotted name against.

A catalog is built from the event types' fields (``rules/fields.py``) or a history block's
values (``rules/signal_building.py``) and passed through the rule builders to the compiler:
a value in its own right, apart from how a condition is compiled.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from churnwatch.rules.exceptions import ExpressionError

__all__ = ["FieldCatalog"]


class FieldCatalog:
    """Which dotted names a condition may read, e.g. ``event.amount``, ``customer.tier``."""

    def __init__(
        self,
        fields: Mapping[str, set[str]],
        partial: Mapping[str, set[str]] | None = None,
        *,
        event_type: str | None = None,
        absent: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        self.fields = {root: frozenset(names) for root, names in fields.items()}
        #: fields only some of the rule's event types have: read as None on the others
        self.partial = {root: frozenset(names) for root, names in (partial or {}).items()}
        #: when compiling for one event type: its name, and the event fields it lacks
        self.event_type = event_type
        self.absent = frozenset(absent)

    def check(self, root: str, path: tuple[str, ...], offset: int) -> None:
        allowed = self.fields.get(root)
        if allowed is None:
            raise ExpressionError(f"unknown name {root!r}", offset)
        dotted = ".".join(path)
        if dotted not in allowed:
            hint = difflib.get_close_matches(dotted, sorted(allowed), n=1)
            suggestion = f" (did you mean '{root}.{hint[0]}'?)" if hint else ""
            raise ExpressionError(f"unknown field '{root}.{dotted}'{suggestion}", offset)
