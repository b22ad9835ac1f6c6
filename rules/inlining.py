"""A rule's condition written into its event type's step instead of called from it.

Why. A posting meets about ten conditions (each rule's ``match``, and a follow-up's
trigger); each is a small compiled lambda, and calling one costs about as much as
evaluating it. The generated step (rules/plans.py) writes each condition's expression
into its own code instead, so a posting pays for the comparisons only.

The expression is the one rules/expressions.py compiled from the rule file's text (built
from its whitelist, never from the text itself), re-read here with :mod:`ast`: the
condition's argument names become the step's, and each name it reads (its constants, its
helpers) becomes a global of the step under a name of its own, so two conditions'
constants never meet. A condition whose expression reads neither the event nor the
customer has one value for every event: :func:`constant_value` gives it, and the step
is written with the answer in (the maturity rule's ``type == "product"``, asked of
every posting, is false once, when the rules load).
"""

from __future__ import annotations

import ast
from typing import Any

from churnwatch.rules.expressions import CompiledCondition, condition_body

__all__ = ["NOT_CONSTANT", "constant_value", "inline"]

#: the condition's two arguments in its compiled form, and the step's names for them
_ARGUMENTS = {"e": "event", "c": "customer"}


class _NotConstant:
    """The answer of :func:`constant_value` for a condition that reads its arguments."""


NOT_CONSTANT = _NotConstant()


def inline(condition: CompiledCondition, tag: str, namespace: dict[str, object]) -> str | None:
    """``condition`` as an expression over ``event`` and ``customer``, in parentheses.

    The names it reads are added to ``namespace`` (the step's globals) with ``tag`` in
    them. None when ``condition`` was not compiled by rules/expressions.py: the step
    then calls it.
    """
    found = condition_body(condition)
    if found is None:
        return None
    source, names = found
    tree = ast.parse(source, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name):
            continue
        if node.id in _ARGUMENTS:
            node.id = _ARGUMENTS[node.id]
        else:  # a constant or a helper of the condition (nothing else is reachable)
            renamed = f"{node.id}_{tag}"
            namespace[renamed] = names[node.id]
            node.id = renamed
    return f"({ast.unparse(tree.body)})"


def constant_value(condition: CompiledCondition) -> Any:
    """What ``condition`` gives for every event, or :data:`NOT_CONSTANT` when that
    depends on the event or the customer (or is not known: not compiled here, or it
    raises)."""
    found = condition_body(condition)
    if found is None:
        return NOT_CONSTANT
    tree = ast.parse(found[0], mode="eval")
    if any(isinstance(node, ast.Name) and node.id in _ARGUMENTS for node in ast.walk(tree)):
        return NOT_CONSTANT
    try:
        return condition(None, None)
    except Exception:  # left to raise at run time, where the rule's failure is isolated
        return NOT_CONSTANT
