"""What a compiled condition calls while it runs: the condition language's meaning of
"unknown" (None), kept apart from the compiler (rules/expressions.py) that writes calls
to these.

A condition never raises on the hot path: reading a field of something absent gives
None; arithmetic with None, a division by zero or mismatched types gives None; ``in``
with an unknown or non-container right side is false. Every compiled condition reads
the same functions, so a rule step that writes several conditions into its own code
(rules/inlining.py) holds one set.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["HELPERS"]


def _unknown_on_error(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``function`` made total: None in, a division by zero or a type clash gives None."""

    def apply(left: Any, right: Any) -> Any:
        if left is None or right is None:
            return None
        try:
            return function(left, right)
        except (TypeError, ArithmeticError):
            return None

    return apply


def _neg(value: Any) -> Any:
    if value is None:
        return None
    try:
        return -value
    except TypeError:
        return None


def _contains(item: Any, container: Any, negate: bool) -> bool:
    """``item in container`` (or ``not in``), false when the container is unknown or not one."""
    if container is None:
        return False
    try:
        found = item in container
    except TypeError:
        return False
    return not found if negate else found


def _type(event: Any) -> str:
    return str(event.__struct_config__.tag)


def _get(root: Any, path: tuple[str, ...]) -> Any:
    value = root
    for part in path:
        if value is None:
            return None
        value = getattr(value, part, None)
    return value


#: the names a compiled condition's expression calls, by the names it calls them
HELPERS: Mapping[str, object] = {
    "_get": _get,
    "_type": _type,
    "_neg": _neg,
    "_contains": _contains,
    "_add": _unknown_on_error(operator.add),
    "_sub": _unknown_on_error(operator.sub),
    "_mul": _unknown_on_error(operator.mul),
    "_div": _unknown_on_error(operator.truediv),
}
