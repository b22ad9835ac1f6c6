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
        values: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.fields = {root: frozenset(names) for root, names in fields.items()}
        #: fields only some of the rule's event types have: read as None on the others
        self.partial = {root: frozenset(names) for root, names in (partial or {}).items()}
        #: when compiling for one event type: its name, and the event fields it lacks
        self.event_type = event_type
        self.absent = frozenset(absent)
        #: the only texts a field ever holds, by dotted name (``event.kind``): a
        #: condition comparing it with any other text can never hold
        self.values = dict(values or {})

    def check(self, root: str, path: tuple[str, ...], offset: int) -> None:
        allowed = self.fields.get(root)
        if allowed is None:
            raise ExpressionError(f"unknown name {root!r}", offset)
        dotted = ".".join(path)
        if dotted not in allowed:
            hint = difflib.get_close_matches(dotted, sorted(allowed), n=1)
            suggestion = f" (did you mean '{root}.{hint[0]}'?)" if hint else ""
            raise ExpressionError(f"unknown field '{root}.{dotted}'{suggestion}", offset)

    def check_value(self, root: str, path: tuple[str, ...], value: object, offset: int) -> None:
        """Refuse a text ``root.path`` never holds: ``event.kind == "transfers"`` would
        leave its rule silently dead, the misspelling found only when nothing fires."""
        dotted = ".".join((root, *path))
        allowed = self.values.get(dotted)
        if allowed is None or not isinstance(value, str) or value in allowed:
            return
        hint = difflib.get_close_matches(value, sorted(allowed), n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ExpressionError(
            f"{dotted} is never {value!r}{suggestion}; it is one of: " + ", ".join(sorted(allowed)),
            offset,
        )
