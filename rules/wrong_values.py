"""A wrong value in a hand-written file, said the way the file's editors need it.

msgspec says ``Invalid enum value '高'``, ``Invalid decimal string`` or
``Expected `str` matching regex '^[a-z0-9][a-z0-9-]{1,62}$'``: right, and written for
programmers. Rule and routing files are edited by compliance staff, who need the value
as they wrote it and what the key takes instead: its choices (with the one they probably
meant), how to write a number, a pattern's ``description`` (rules/model.py gives each
pattern one). A message this does not know is returned as it is.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

import msgspec

__all__ = ["did_you_mean", "in_plain_words", "optional_part"]

_INVALID_CHOICE = re.compile(r"Invalid enum value '(.*)'")
_NOT_THE_PATTERN = re.compile(r"Expected `str` matching regex '.*'")
_NOT_A_WHOLE_NUMBER = re.compile(r"Expected `int`, got `(str|float|decimal)`")
_NOT_WRITTEN = object()


def in_plain_words(message: str, data: Any, keys: list[str | int], root: type) -> str:
    """``message``, msgspec's words for the value at ``keys`` of a file read into ``data``
    and converted to ``root``, as the file's editors need them: the value as written and
    what the key takes."""
    written = _written_at(data, keys)
    expected = _type_at(root, keys)
    choice = _INVALID_CHOICE.fullmatch(message)
    if choice and isinstance(expected, msgspec.inspect.LiteralType):
        allowed = [str(value) for value in expected.values]
        return (
            f"{choice[1]!r} is not one of: {', '.join(allowed)}{did_you_mean(choice[1], allowed)}"
        )
    if written is _NOT_WRITTEN:
        return message
    if message == "Invalid decimal string":
        return (
            f"{written!r} is not a number: write digits with at most one decimal point, "
            "e.g. 50000.00 or 0.5 (no thousands separators, units or %)"
        )
    if _NOT_A_WHOLE_NUMBER.fullmatch(message):
        return f"{written!r} is not a whole number: write digits only, e.g. 2"
    if _NOT_THE_PATTERN.fullmatch(message) and isinstance(expected, msgspec.inspect.Metadata):
        description = (expected.extra_json_schema or {}).get("description")
        if description:
            return f"{written!r} is not {description}"
    return message


def _written_at(data: Any, keys: list[str | int]) -> Any:
    """The value the file holds at ``keys``, or _NOT_WRITTEN."""
    for key in keys:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return _NOT_WRITTEN
    return data


def _type_at(root: type, keys: list[str | int]) -> msgspec.inspect.Type | None:
    """The type ``root`` takes at ``keys`` (its optional part when it may be null)."""
    found = optional_part(msgspec.inspect.type_info(root))
    for key in keys:
        if isinstance(found, msgspec.inspect.Metadata):
            found = found.type
        if isinstance(found, msgspec.inspect.StructType) and isinstance(key, str):
            fields = {field.encode_name: field.type for field in found.fields}
            found = optional_part(fields.get(key))
        elif isinstance(found, msgspec.inspect.ListType) and isinstance(key, int):
            found = optional_part(found.item_type)
        elif isinstance(found, msgspec.inspect.DictType) and isinstance(key, str):
            found = optional_part(found.value_type)
        else:
            return None
    return found


def optional_part(found: msgspec.inspect.Type | None) -> msgspec.inspect.Type | None:
    """``X | None`` as ``X``; another union (which of its types was meant?) as None."""
    if not isinstance(found, msgspec.inspect.UnionType):
        return found
    kinds = [t for t in found.types if not isinstance(t, msgspec.inspect.NoneType)]
    return kinds[0] if len(kinds) == 1 else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
