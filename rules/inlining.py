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

Rules of one type often ask the same thing: the pack's outgoing-transfer rules each
match ``outflow and event.kind in [...]`` and some add to it. :class:`SharedMatches`
lets the step ask it once: a ``match`` a later rule's condition repeats (whole, or as a
part) is kept in a local as it is evaluated, and the later rule reads the local. The
value is the one the expression would give again: a condition is pure over the event
and the customer (both immutable), and the first rule's ``match`` is evaluated, before
any later rule's, on every path through the step.
"""

from __future__ import annotations

import ast
from decimal import Decimal
from typing import Any

from churnwatch.rules.expressions import CompiledCondition, condition_body

__all__ = ["NOT_CONSTANT", "SharedMatches", "constant_value", "inline", "inline_tree"]

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
    tree = inline_tree(condition, tag, namespace)
    return None if tree is None else f"({ast.unparse(tree)})"


def inline_tree(
    condition: CompiledCondition, tag: str, namespace: dict[str, object]
) -> ast.expr | None:
    """:func:`inline`'s expression as a tree, for :class:`SharedMatches` to rewrite."""
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
    return tree.body


def _value_key(value: object) -> tuple[str, str | int]:
    """Constants of these types are the same constant when their type and text are (a
    Decimal's text keeps its exponent); any other value only when it is the same object."""
    if isinstance(value, str | int | Decimal | frozenset | tuple | None):
        return (type(value).__qualname__, repr(value))
    return ("object", id(value))


class SharedMatches:
    """The ``match`` expressions of a step that later rules repeat, kept in locals.

    :meth:`plan` is given every rule's inlined ``match`` (in rule order) before the step
    is written; then :meth:`write` gives each condition's text as the step holds it: a
    ``match`` that a later one repeats assigns its value to a local (``(shared1 :=
    ...)``), and any part of a condition equal to a match kept so far reads the local.
    ``namespace`` is the step's globals, where each name a condition reads has its value.
    """

    def __init__(self, namespace: dict[str, object]) -> None:
        self.namespace = namespace
        #: a number per distinct expression (its shape, and the values of its names)
        self.numbers: dict[tuple[object, ...], int] = {}
        #: the numbers of every part of each planned match, by rule index
        self.parts: dict[int, set[int]] = {}
        #: the number of a kept match -> its local
        self.kept: dict[int, str] = {}

    def _number(self, node: ast.AST, numbers: dict[int, int]) -> int:
        """Number ``node`` and its parts (into ``numbers``, by node id), bottom up."""
        parts: list[object] = [type(node).__name__]
        for name, value in ast.iter_fields(node):
            if isinstance(value, ast.AST):
                parts.append(self._number(value, numbers))
            elif isinstance(value, list):
                parts.append(tuple(self._number(item, numbers) for item in value))
            elif name == "id" and value not in _STEP_ARGUMENTS:  # a global: its value
                parts.append(_value_key(self.namespace[value]))
            else:  # a literal, an operator's field: told apart by type too (1 == True)
                parts.append((type(value).__qualname__, repr(value)))
        number = self.numbers.setdefault(tuple(parts), len(self.numbers))
        numbers[id(node)] = number
        return number

    def plan(self, index: int, match: ast.expr) -> None:
        numbers: dict[int, int] = {}
        self._number(match, numbers)
        self.parts[index] = set(numbers.values())

    def write(self, tree: ast.expr, index: int | None = None) -> str:
        """``tree`` (changed in place) as the step's text, in parentheses; ``index``
        when it is that rule's ``match``, evaluated first thing in the rule's code."""
        numbers: dict[int, int] = {}
        whole = self._number(tree, numbers)
        if self.kept:
            tree = _Reuse(self.kept, numbers).visit(tree)
        text = ast.unparse(tree)
        if (
            index is not None
            and whole not in self.kept
            and not isinstance(tree, ast.Name)
            and any(whole in parts for later, parts in self.parts.items() if later > index)
        ):
            local = self.kept[whole] = f"shared{index}"
            return f"({local} := {text})"
        return f"({text})"


#: the step's argument names a condition reads (never replaced by a value)
_STEP_ARGUMENTS = frozenset(_ARGUMENTS.values())


class _Reuse(ast.NodeTransformer):
    """Replaces each part of an expression equal to a kept match by the match's local."""

    def __init__(self, kept: dict[int, str], numbers: dict[int, int]) -> None:
        self.kept = kept
        self.numbers = numbers

    def visit(self, node: ast.AST) -> Any:
        local = self.kept.get(self.numbers.get(id(node), -1))
        if local is not None and isinstance(node, ast.expr):
            return ast.Name(id=local, ctx=ast.Load())
        return self.generic_visit(node)


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
