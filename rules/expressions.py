"""The condition language: a small, safe subset of Python expressions.

Compliance writes conditions such as::

    outflow and event.kind in ["transfer", "cash"] and customer.tier != "private"

They are parsed with :mod:`ast`, checked against a whitelist (boolean logic, comparisons,
arithmetic, literals, and the names ``event``, ``customer`` and the pack's named
predicates), and compiled once into a Python function. Nothing else is reachable: no
calls, no subscripts, no attribute of anything but those fields. A compiled condition
evaluates in well under a microsecond, which the hot path needs.

Number literals are exact decimals (``50000.00`` is ``Decimal("50000.00")``). Ordering
comparisons with an unknown value (``None``) are false rather than an error.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from rules.exceptions import ExpressionError

__all__ = ["CompiledCondition", "FieldCatalog", "compile_condition", "parse_condition"]

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
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}
_LITERAL_NAMES = {
    "true": True,
    "false": False,
    "True": True,
    "False": False,
    "null": None,
    "None": None,
}


class FieldCatalog:
    """Which dotted names a condition may read, e.g. ``event.amount``, ``customer.tier``."""

    def __init__(
        self, fields: Mapping[str, set[str]], partial: Mapping[str, set[str]] | None = None
    ) -> None:
        self.fields = {root: frozenset(names) for root, names in fields.items()}
        #: fields only some of the rule's event types have: read as None on the others
        self.partial = {root: frozenset(names) for root, names in (partial or {}).items()}

    def check(self, root: str, path: tuple[str, ...], offset: int) -> None:
        allowed = self.fields.get(root)
        if allowed is None:
            raise ExpressionError(f"unknown name {root!r}", offset)
        dotted = ".".join(path)
        if dotted not in allowed:
            hint = difflib.get_close_matches(dotted, sorted(allowed), n=1)
            suggestion = f" (did you mean '{root}.{hint[0]}'?)" if hint else ""
            raise ExpressionError(f"unknown field '{root}.{dotted}'{suggestion}", offset)


def parse_condition(text: str) -> ast.expr:
    """Parse ``text`` as one expression, with errors pointing at the offending column."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        offset = max((exc.offset or 1) - 1, 0)
        raise ExpressionError(f"syntax error: {exc.msg}", offset) from exc
    return tree.body


class _Translator:
    """Turns a whitelisted AST into Python source over the locals ``e`` and ``c``."""

    def __init__(
        self,
        catalog: FieldCatalog,
        predicates: Mapping[str, str],
        constants: list[object],
        expanding: tuple[str, ...] = (),
    ) -> None:
        self.catalog = catalog
        self.predicates = predicates
        self.constants = constants
        self.expanding = expanding

    def constant(self, value: object) -> str:
        self.constants.append(value)
        return f"_k[{len(self.constants) - 1}]"

    def visit(self, node: ast.expr) -> str:
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
                return f"(-{self.visit(node.operand)})"
            raise ExpressionError("only 'not' and '-' may stand before a value", offset)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.BinOp):
            arithmetic = _BIN_OPS.get(type(node.op))
            if arithmetic is None:
                raise ExpressionError("only + - * / are allowed in arithmetic", offset)
            return f"({self.visit(node.left)} {arithmetic} {self.visit(node.right)})"
        if isinstance(node, ast.Constant):
            return self.literal(node)
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            items = []
            for element in node.elts:
                if isinstance(element, ast.Constant):
                    items.append(_literal_value(element))
                elif isinstance(element, ast.UnaryOp) and isinstance(element.operand, ast.Constant):
                    items.append(-_literal_value(element.operand))  # type: ignore[operator]
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

    def literal(self, node: ast.Constant, negate: bool = False) -> str:
        value = _literal_value(node)
        if negate:
            value = -value  # type: ignore[operator]
        if isinstance(value, str | Decimal | int) and not isinstance(value, bool):
            return self.constant(value)
        return repr(value)

    def compare(self, node: ast.Compare) -> str:
        left = self.visit(node.left)
        parts = []
        for op_node, right_node in zip(node.ops, node.comparators, strict=True):
            op = _COMPARE_OPS.get(type(op_node))
            if op is None:
                raise ExpressionError("'is' is not allowed; use == or !=", node.col_offset)
            right = self.visit(right_node)
            if op in _ORDERING:
                parts.append(
                    f"({left} is not None and {right} is not None and {left} {op} {right})"
                )
            elif op in ("in", "not in"):
                parts.append(f"({left} {op} {right})")
            else:
                parts.append(f"({left} {op} {right})")
            left = right
        return "(" + " and ".join(parts) + ")"

    def name(self, node: ast.Name) -> str:
        if node.id in _LITERAL_NAMES:
            return repr(_LITERAL_NAMES[node.id])
        if node.id in self.predicates:
            if node.id in self.expanding:
                chain = " -> ".join((*self.expanding, node.id))
                raise ExpressionError(f"predicate refers to itself: {chain}", node.col_offset)
            try:
                inner = parse_condition(self.predicates[node.id])
                nested = _Translator(
                    self.catalog, self.predicates, self.constants, (*self.expanding, node.id)
                )
                return nested.visit(inner)
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
            raise ExpressionError(
                f"unknown name {root!r}: conditions read 'event.…' and 'customer.…'",
                current.col_offset,
            )
        if any(part.startswith("_") for part in path):
            raise ExpressionError("names starting with '_' are not allowed", node.col_offset)
        self.catalog.check(root, tuple(path), node.col_offset)
        if root == "event":
            if path == ["type"]:
                return "_type(e)"
            if ".".join(path) in self.catalog.partial.get("event", ()) or len(path) > 2:
                return f"_get(e, {self.constant(tuple(path))})"
            return "e" + "".join(f".{p}" for p in path)
        return f"_get(c, {self.constant(tuple(path))})"


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


def _type(event: Any) -> str:
    return str(event.__struct_config__.tag)


def _get(root: Any, path: tuple[str, ...]) -> Any:
    value = root
    for part in path:
        if value is None:
            return None
        value = getattr(value, part, None)
    return value


def compile_condition(
    text: str, catalog: FieldCatalog, predicates: Mapping[str, str] | None = None
) -> CompiledCondition:
    """Compile ``text`` into ``f(event, customer) -> truthy``; raise ExpressionError if unsafe."""
    tree = parse_condition(text)
    constants: list[object] = []
    source = _Translator(catalog, predicates or {}, constants).visit(tree)
    code = compile(f"lambda e, c: {source}", "<condition>", "eval")
    namespace = {"_k": tuple(constants), "_get": _get, "_type": _type, "__builtins__": {}}
    function: CompiledCondition = eval(code, namespace)  # the source was built from a whitelist
    return function
