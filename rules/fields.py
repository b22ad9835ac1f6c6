"""Which fields a condition may read, per event type, and compiling per type.

Conditions are checked against the union of the fields of the event types a rule is on,
then compiled once per type with the fields that type lacks folded to None, so a rule on
transactions and products pays nothing at run time for the difference.
"""

from __future__ import annotations

from functools import cache
from typing import get_args

import msgspec

from churnwatch.rules.expressions import CompiledCondition, compile_condition
from churnwatch.rules.field_catalog import FieldCatalog
from churnwatch.rules.wrong_values import optional_part
from churnwatch.schemas.models import EVENT_TYPES, Counterparty, Language

__all__ = [
    "CUSTOMER_FIELDS",
    "compile_per_type",
    "event_fields",
    "field_catalog",
    "numeric_fields",
    "text_values",
]

CUSTOMER_FIELDS = {
    "aum",
    "tier",
    "branch_id",
    "manager_id",
    "language",
    "sms_opt_in",
    "birthday",
    "known",
}


def event_fields(type_name: str) -> set[str]:
    """Dotted field names of one event type, as conditions write them."""
    names = set(EVENT_TYPES[type_name].__struct_fields__) | {"type"}
    if type_name == "transaction":
        names.discard("counterparty")
        names |= {f"counterparty.{n}" for n in Counterparty.__struct_fields__}
    return names


def _texts_of(kind: msgspec.inspect.Type) -> frozenset[str] | None:
    """The texts a field of this type may hold when the contract lists them (a
    ``Literal``, optional or not), else None: any text, or no text at all."""
    literal = optional_part(kind)
    if isinstance(literal, msgspec.inspect.LiteralType):
        return frozenset(str(value) for value in literal.values)
    return None


@cache
def _closed_texts(type_name: str) -> dict[str, frozenset[str] | None]:
    """Each field of one event type, with :func:`_texts_of` its type."""
    info = msgspec.inspect.type_info(EVENT_TYPES[type_name])
    assert isinstance(info, msgspec.inspect.StructType)
    return {field.name: _texts_of(field.type) for field in info.fields}


def text_values(types: list[str]) -> dict[str, frozenset[str]]:
    """The only texts a field can hold on a rule on ``types``, by dotted name.

    A field one of the types leaves open (any text) has no entry; ``event.type`` may be
    any event type (a predicate is checked apart from the rules that use it).
    """
    values: dict[str, frozenset[str]] = {"customer.language": frozenset(get_args(Language))}
    if types:
        values["event.type"] = frozenset(EVENT_TYPES)
    merged: dict[str, frozenset[str] | None] = {}
    for type_name in types:
        for name, closed in _closed_texts(type_name).items():
            before = merged.get(name, frozenset())
            merged[name] = None if closed is None or before is None else before | closed
    values.update({f"event.{name}": closed for name, closed in merged.items() if closed})
    return values


def numeric_fields(types: list[str]) -> set[str]:
    """Event fields holding money or another number on every one of ``types``."""
    per_type = [
        {
            f.name
            for f in msgspec.structs.fields(EVENT_TYPES[name])
            if "Decimal" in str(f.type) or f.type is int
        }
        for name in types
    ]
    return set.intersection(*per_type) if per_type else set()


def field_catalog(types: list[str]) -> FieldCatalog:
    """The event and customer fields a rule on ``types`` may read.

    A rule on several event types may read any of their fields; a field the event at
    hand does not have reads as unknown (None), so ``event.action == "matured"`` is
    simply false for a transaction.
    """
    per_type = [event_fields(t) for t in types]
    union = set().union(*per_type) if per_type else set()
    common = set.intersection(*per_type) if per_type else set()
    return FieldCatalog(
        {"event": union, "customer": CUSTOMER_FIELDS},
        partial={"event": union - common},
        values=text_values(types),
    )


def compile_per_type(
    text: str, types: list[str], predicates: dict[str, str]
) -> dict[str, CompiledCondition]:
    """One compiled condition per event type, with the fields a type lacks folded to None.

    A rule on transactions and products then pays nothing on the hot path for reading
    a field only one of them has.
    """
    union = field_catalog(types).fields["event"]
    compiled = {}
    for type_name in types:
        catalog = FieldCatalog(
            {"event": set(union), "customer": CUSTOMER_FIELDS},
            event_type=type_name,
            absent=union - event_fields(type_name),
            values=text_values(types),
        )
        compiled[type_name] = compile_condition(text, catalog, predicates)
    return compiled
