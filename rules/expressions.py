"""The condition language: a small, safe subset of Python expressions.

Compliance writes conditions such as::

    outflow and event.kind in ["transfer", "cash"] and customer.tier != "private"

They are parsed with :mod:`ast`, checked against a whitelist (boolean logic, comparisons,
arithmetic, literals, and the names ``event``, ``customer`` and the pack's named
predicates), and compiled once into a Python function. Nothing else is reachable: no
calls, no subscripts, no attribute of anything but those fields. A compiled condition
evaluates in well under a microsecond, which the hot path needs.

Number literals are exact decimals, read from the source text (``50000.00`` is
``Decimal("50000.00")``). A condition never raises on the hot path: ordering
comparisons and ``in`` with an unknown value (``None``) are false, and arithmetic with
an unknown value, a division by zero or mismatched types gives unknown (``None``).
Text cannot be ordered or used in arithmetic; that is refused when the rule loads.

Limits keep a careless or hostile condition from costing the machine: a condition is at
most :data:`MAX_CONDITION_CHARS` characters and :data:`MAX_DEPTH` levels deep (counting
the predicates it names), and each predicate is translated once per compilation and
its text reused, with the whole compiled condition capped at :data:`MAX_COMPILED_CHARS`
— so predicates that name each other twice per line cost what the file costs, not two
to the power of its length.
"""

from __future__ import annotations

import ast
import difflib
import weakref
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from churnwatch.rules.condition_runtime import HELPERS
from churnwatch.rules.exceptions import ExpressionError
from churnwatch.rules.field_catalog import FieldCatalog

__all__ = [
    "MAX_COMPILED_CHARS",
    "MAX_CONDITION_CHARS",
    "MAX_DEPTH",
    "CompiledCondition",
    "compile_condition",
    "condition_body",
    "parse_condition",
]

#: the longest condition or predicate text; the shipped ones are under 200 characters
MAX_CONDITION_CHARS = 10_000
#: the deepest nesting of a condition, predicates included (Python's own limit is near 200)
MAX_DEPTH = 50
#: the longest compiled condition, every named predicate written out
MAX_COMPILED_CHARS = 100_000

CompiledCondition = Callable[[Any, Any], Any]

_COMPARE_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_ORDERING = {"<", "<=", ">", ">="}
_BIN_OPS: dict[type[ast.operator], str] = {
    ast.Add: "_add",
    ast.Sub: "_sub",
    ast.Mult: "_mul",
    ast.Div: "_div",
}
_LITERAL_NAMES = {
    "true": True,
    "false": False,
    "True": True,
    "False": False,
    "null": None,
    "None": None,
}


def parse_condition(text: str) -> ast.expr:
    """Parse ``text`` as one expression, with errors pointing at the offending column."""
    text = text.strip()
    if len(text) > MAX_CONDITION_CHARS:
        raise ExpressionError(
            f"the condition is {len(text):,} characters long; at most "
            f"{MAX_CONDITION_CHARS:,} are allowed (name parts of it as predicates)"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        if "too many nested" in exc.msg or "too complex" in exc.msg:
            raise _LimitError(_too_deep(), 0) from exc
        offset = max((exc.offset or 1) - 1, 0)
        foreign = _foreign_letter(text) if exc.msg == "invalid syntax" else None
        if foreign is not None:
            raise ExpressionError(
                f"syntax error: {text[foreign]!r} is not a word of conditions: they are "
                "written with and, or, not, fields, quoted texts and numbers in digits "
                "(50000, not 5万)",
                foreign,
            ) from exc
        raise ExpressionError(f"syntax error: {exc.msg}", offset) from exc
    except (RecursionError, MemoryError) as exc:
        raise _LimitError(_too_deep(), 0) from exc
    except ValueError as exc:  # a NUL character or a lone surrogate
        raise ExpressionError(f"the condition is not valid text ({exc})") from exc
    return tree.body


def _foreign_letter(text: str) -> int | None:
    """Where the first non-ASCII character outside quotes stands, if any: Python reads
    ``5万`` and ``outflow 和 …`` as names and says only "invalid syntax"."""
    quote: str | None = None
    for index, char in enumerate(text):
        if quote is not None:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif not char.isascii():
            return index
    return None


class _LimitError(ExpressionError):
    """A condition over a size or depth limit: reported once, at the outermost reference."""


def _too_deep() -> str:
    return (
        f"the condition is nested more than {MAX_DEPTH} levels deep "
        "(counting the predicates it names); simplify it"
    )


class _Expansion:
    """What one compilation shares: each predicate's translation, and the size so far."""

    def __init__(self) -> None:
        #: predicate name -> (translated source, depth of its own nesting)
        self.done: dict[str, tuple[str, int]] = {}
        self.size = 0


class _Translator:
    """Turns a whitelisted AST into Python source over the locals ``e`` and ``c``."""

    def __init__(
        self,
        catalog: FieldCatalog,
        predicates: Mapping[str, str],
        constants: list[object],
        expanding: tuple[str, ...] = (),
        source: str = "",
        expansion: _Expansion | None = None,
    ) -> None:
        self.catalog = catalog
        self.predicates = predicates
        self.constants = constants
        self.expanding = expanding
        #: the (stripped) text the AST was parsed from, so number literals keep their digits
        self.source = source
        self.expansion = expansion if expansion is not None else _Expansion()
        self.depth = 0
        #: the deepest level this translation reached (predicates counted in full)
        self.deepest = 0

    def constant(self, value: object) -> str:
        """A name for ``value`` in the compiled function's globals: ``_k3`` is one global
        read where ``_k[3]`` was a global read and a subscript, per use and event."""
        self.constants.append(value)
        return f"_k{len(self.constants) - 1}"

    def visit(self, node: ast.expr) -> str:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _LimitError(_too_deep(), getattr(node, "col_offset", 0))
            self.deepest = max(self.deepest, self.depth)
            return self.translate(node)
        finally:
            self.depth -= 1

    def translate(self, node: ast.expr) -> str:
        offset = getattr(node, "col_offset", 0)
        if isinstance(node, ast.BoolOp):
            op = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + op.join(self.visit(v) for v in node.values) + ")"
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return f"(not {self.visit(node.operand)})"
            if isinstance(node.op, ast.USub):
                if isinstance(node.operand, ast.Constant):
                    return self.literal(node.operand, negate=True)
                return f"_neg({self.visit(node.operand)})"
            raise ExpressionError("only 'not' and '-' may stand before a value", offset)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BinOp):
            arithmetic = _BIN_OPS.get(type(node.op))
            if arithmetic is None:
                raise ExpressionError("only + - * / are allowed in arithmetic", offset)
            for side in (node.left, node.right):
                _refuse_text(side, "arithmetic works on numbers, not text")
            return f"{arithmetic}({self.visit(node.left)}, {self.visit(node.right)})"
        if isinstance(node, ast.Constant):
            return self.literal(node)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = []
            for element in node.elts:
                if isinstance(element, ast.Constant):
                    items.append(self.value(element))
                elif (
                    isinstance(element, ast.UnaryOp)
                    and isinstance(element.op, ast.USub)
                    and isinstance(element.operand, ast.Constant)
                ):
                    items.append(self.value(element.operand, negate=True))
                else:
                    raise ExpressionError("a list may hold only literal values", element.col_offset)
            return self.constant(frozenset(items))
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            return self.field(node)
        if isinstance(node, ast.Call):
            raise ExpressionError("function calls are not allowed", offset)
        if isinstance(node, ast.Subscript):
            raise ExpressionError("indexing with [] is not allowed", offset)
        raise ExpressionError(f"{type(node).__name__} is not allowed in a condition", offset)

    def value(self, node: ast.Constant, negate: bool = False) -> object:
        """The literal's value; a number is an exact Decimal of its digits as written."""
        value = _literal_value(node)
        if isinstance(value, Decimal):
            written = ast.get_source_segment(self.source, node) if self.source else None
            if written is not None:
                value = Decimal(written.replace("_", ""))
        if negate:
            if not isinstance(value, int | Decimal) or isinstance(value, bool):
                raise ExpressionError("'-' goes only before a number", node.col_offset)
            value = -value
        return value

    def literal(self, node: ast.Constant, negate: bool = False) -> str:
        value = self.value(node, negate)
        if isinstance(value, str | Decimal | int) and not isinstance(value, bool):
            return self.constant(value)
        return repr(value)

    def compare(self, node: ast.Compare) -> str:
        left = self.visit(node.left)
        left_node = node.left
        parts = []
        for op_node, right_node in zip(node.ops, node.comparators, strict=True):
            op = _COMPARE_OPS.get(type(op_node))
            if op is None:
                raise ExpressionError("'is' is not allowed; use == or !=", node.col_offset)
            right = self.visit(right_node)
            self.check_texts(left_node, right_node, op)
            if op in _ORDERING:
                for side in (left_node, right_node):
                    _refuse_text(side, f"'{op}' compares numbers; use == or 'in' for text")
                parts.append(
                    f"({left} is not None and {right} is not None and {left} {op} {right})"
                )
            elif op in ("in", "not in"):
                if isinstance(right_node, ast.List | ast.Tuple | ast.Set):
                    parts.append(f"({left} {op} {right})")
                else:  # a field: None or a non-container reads as "unknown", i.e. false
                    negate = "True" if op == "not in" else "False"
                    parts.append(f"_contains({left}, {right}, {negate})")
            else:
                parts.append(f"({left} {op} {right})")
            left, left_node = right, right_node
        return "(" + " and ".join(parts) + ")"

    def check_texts(self, left: ast.expr, right: ast.expr, op: str) -> None:
        """A field compared with a text it never holds is refused where the text is
        written (``event.kind == "transfers"``, ``event.channel in ["app"]``). ``in``
        with a text, not a list, tests for a part of it and is left alone."""
        if op in ("in", "not in"):
            where = _field_path(left)
            if where is None or not isinstance(right, ast.List | ast.Tuple | ast.Set):
                return
            texts = right.elts
        elif op in ("==", "!="):
            where = _field_path(left)
            texts = [right]
            if where is None:
                where, texts = _field_path(right), [left]
            if where is None:
                return
        else:
            return
        for text in texts:
            if isinstance(text, ast.Constant) and isinstance(text.value, str):
                self.catalog.check_value(*where, text.value, text.col_offset)

    def name(self, node: ast.Name) -> str:
        if node.id in _LITERAL_NAMES:
            return repr(_LITERAL_NAMES[node.id])
        if node.id in self.predicates:
            if node.id in self.expanding:
                chain = " -> ".join((*self.expanding, node.id))
                raise ExpressionError(f"predicate refers to itself: {chain}", node.col_offset)
            try:
                return self.predicate(node.id)
            except _LimitError as exc:
                raise _LimitError(exc.message, node.col_offset) from exc
            except ExpressionError as exc:
                raise ExpressionError(
                    f"in predicate {node.id!r}: {exc.message}", node.col_offset
                ) from exc
        if node.id in self.catalog.fields:
            example = min(self.catalog.fields[node.id], default="field")
            raise ExpressionError(
                f"{node.id!r} needs a field, e.g. '{node.id}.{example}'", node.col_offset
            )
        known = sorted(self.predicates)
        hint = difflib.get_close_matches(node.id, known, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ExpressionError(f"unknown name {node.id!r}{suggestion}", node.col_offset)

    def predicate(self, name: str) -> str:
        """The predicate's translation, made once per compilation and reused."""
        expansion = self.expansion
        if name not in expansion.done:
            text = self.predicates[name]
            nested = _Translator(
                self.catalog,
                self.predicates,
                self.constants,
                (*self.expanding, name),
                text.strip(),
                expansion,
            )
            expansion.done[name] = (nested.visit(parse_condition(text)), nested.deepest)
        source, depth = expansion.done[name]
        self.deepest = max(self.deepest, self.depth + depth - 1)
        if self.depth + depth - 1 > MAX_DEPTH:
            raise _LimitError(_too_deep())
        expansion.size += len(source)
        if expansion.size > MAX_COMPILED_CHARS:
            raise _LimitError(
                f"the condition grows to more than {MAX_COMPILED_CHARS:,} characters with "
                f"its predicates written out (predicate {name!r} is "
                f"{len(source):,}); name fewer predicates twice"
            )
        return source

    def field(self, node: ast.Attribute) -> str:
        path: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            path.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            raise ExpressionError("only fields of event and customer can be read", node.col_offset)
        path.reverse()
        root = current.id
        if root not in self.catalog.fields:
            readable = " and ".join(f"'{name}.…'" for name in self.catalog.fields)
            raise ExpressionError(
                f"unknown name {root!r}: conditions here read {readable}", current.col_offset
            )
        if any(part.startswith("_") for part in path):
            raise ExpressionError("names starting with '_' are not allowed", node.col_offset)
        self.catalog.check(root, tuple(path), node.col_offset)
        if root == "event":
            if path == ["type"]:
                return repr(self.catalog.event_type) if self.catalog.event_type else "_type(e)"
            if ".".join(path) in self.catalog.absent:
                return "None"
            if ".".join(path) in self.catalog.partial.get("event", ()) or len(path) > 2:
                return f"_get(e, {self.constant(tuple(path))})"
            return "e" + "".join(f".{p}" for p in path)
        return f"_get(c, {self.constant(tuple(path))})"


def _field_path(node: ast.expr) -> tuple[str, tuple[str, ...]] | None:
    """``event.counterparty.bank`` as ``("event", ("counterparty", "bank"))``; None for
    anything but a field."""
    path: list[str] = []
    while isinstance(node, ast.Attribute):
        path.append(node.attr)
        node = node.value
    if not path or not isinstance(node, ast.Name):
        return None
    return node.id, tuple(reversed(path))


def _literal_value(node: ast.Constant) -> object:
    value = node.value
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        source = ast.unparse(node)
        return Decimal(source)
    raise ExpressionError(f"literal {value!r} is not allowed", node.col_offset)


def _refuse_text(node: ast.expr, message: str) -> None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        raise ExpressionError(message, node.col_offset)


def compile_condition(
    text: str, catalog: FieldCatalog, predicates: Mapping[str, str] | None = None
) -> CompiledCondition:
    """Compile ``text`` into ``f(event, customer) -> truthy``; raise ExpressionError if unsafe."""
    tree = parse_condition(text)
    constants: list[object] = []
    translator = _Translator(catalog, predicates or {}, constants, source=text.strip())
    source = translator.visit(tree)
    code = compile(f"lambda e, c: {source}", "<condition>", "eval")
    namespace = {
        **{f"_k{index}": value for index, value in enumerate(constants)},
        **HELPERS,
        "__builtins__": {},
    }
    function: CompiledCondition = eval(code, namespace)  # the source was built from a whitelist
    _bodies[function] = (source, namespace)
    return function


#: each compiled condition's expression and the names it reads (rules/inlining.py writes
#: it into a rule step's code); weak: a reloaded pack's conditions leave with it
_bodies: weakref.WeakKeyDictionary[CompiledCondition, tuple[str, dict[str, object]]] = (
    weakref.WeakKeyDictionary()
)


def condition_body(condition: CompiledCondition) -> tuple[str, Mapping[str, object]] | None:
    """The expression ``condition`` evaluates, over ``e`` and ``c``, and the names it
    reads; None for a condition this module did not compile."""
    return _bodies.get(condition)
