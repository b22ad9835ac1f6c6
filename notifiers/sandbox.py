"""jinja2's sandbox with resource bounds: a template renders in bounded time and size, or fails.

jinja2's :class:`~jinja2.sandbox.SandboxedEnvironment` keeps templates away from code and
files but not from the machine: ``{{ 10 ** (10 ** 10) }}`` computes forever (at compile
time, when jinja folds constants), ``{{ 'x' * 10**9 }}`` builds a gigabyte and nested
``range`` loops run for minutes. Compliance edits templates, so a typo or a hostile edit
must fail the load instead. The bounds, per render:

* ``**``, ``*``, ``+`` and ``%`` are intercepted (which also stops jinja folding them at
  compile time): integers stay under :data:`MAX_INT_BITS` bits, repeated or joined text
  and lists under :data:`MAX_TEXT` items, and ``%`` widths under :data:`MAX_ARGUMENT`;
* ``~``, filters and method calls whose result is text or a list longer than
  :data:`MAX_TEXT` fail, and no integer argument of a call or filter may exceed
  :data:`MAX_ARGUMENT`;
* loop iterations and calls (macros included) share a budget of :data:`MAX_STEPS`;
* the rendered text stops at :data:`MAX_OUTPUT` characters.

A message is a few hundred characters; these bounds are far above any real template
and far below what hurts a worker.
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "MAX_ARGUMENT",
    "MAX_INT_BITS",
    "MAX_OUTPUT",
    "MAX_STEPS",
    "MAX_TEXT",
    "BoundedEnvironment",
    "TemplateLimitError",
]

MAX_INT_BITS = 256
MAX_TEXT = 10_000
MAX_ARGUMENT = 10_000
MAX_STEPS = 5_000
MAX_OUTPUT = 20_000

_LOOP_FILTER = "_churnwatch_loop"
_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FIELD = re.compile(r"\{[^{}]*\}")
_NUMBER = re.compile(r"\d+")
_steps: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_steps")


class TemplateLimitError(SecurityError):
    """A template went over one of the sandbox's bounds."""


def _step() -> None:
    counter = _steps.get(None)
    if counter is None:
        return
    counter[0] += 1
    if counter[0] > MAX_STEPS:
        raise TemplateLimitError(
            f"more than {MAX_STEPS:,} loop iterations and calls in one message"
        )


def _sized(value: Any, what: str) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_TEXT:
        raise TemplateLimitError(f"{what} would be {len(value):,} long; at most {MAX_TEXT:,}")
    return value


def _check_length(length: int, what: str) -> None:
    if length > MAX_TEXT:
        raise TemplateLimitError(f"{what} would be {length:,} long; at most {MAX_TEXT:,}")


def _check_int(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARGUMENT:
        raise TemplateLimitError(f"{what} {value} is over {MAX_ARGUMENT:,}")


def _check_format(text: str) -> None:
    for width, precision in _WIDTH.findall(text):
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_ARGUMENT):
                raise TemplateLimitError(f"a '%' width or precision over {MAX_ARGUMENT:,}")


def _power(left: Any, right: Any) -> Any:
    ints = isinstance(left, int) and isinstance(right, int)
    if ints and right > 0 and abs(left) > 1 and right * abs(left).bit_length() > MAX_INT_BITS:
        raise TemplateLimitError(f"{left} ** {right} is too large a number")
    return left**right


def _times(left: Any, right: Any) -> Any:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(count, int):
            _check_length(len(seq) * max(count, 0), "repeated text")
            return left * right
    ints = isinstance(left, int) and isinstance(right, int)
    if ints and abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
        raise TemplateLimitError("the product is too large a number")
    return left * right


def _plus(left: Any, right: Any) -> Any:
    if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        _check_length(len(left) + len(right), "joined text")
    return left + right


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        _check_format(left)
        return _sized(left % right, "formatted text")
    return left % right


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "**": _power,
    "*": _times,
    "+": _plus,
    "%": _modulo,
}


def _loop(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _step()
        yield item


def _bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its arguments and result checked against the bounds."""
    skip = 2 if hasattr(function, "jinja_pass_arg") else 1  # (context,) value, arguments…

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[skip:], *kwargs.values()):
            _check_int(value, "a filter argument")
        if function.__name__ == "do_format" and args and isinstance(args[skip - 1], str):
            _check_format(args[skip - 1])
        return _sized(function(*args, **kwargs), "the filter's result")

    return bounded


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox with bounds on arithmetic, text size, iterations and output."""

    intercepted_binops = frozenset(_BINOPS)

    def __init__(self, **options: Any) -> None:
        super().__init__(auto_reload=False, **options)
        for name in ("lipsum", "cycler", "joiner", "namespace"):
            self.globals.pop(name, None)
        self.filters = {name: _bounded_filter(f) for name, f in self.filters.items()}
        self.filters[_LOOP_FILTER] = _loop

    def add_filters(self, filters: Mapping[str, Any]) -> None:
        self.filters.update({name: _bounded_filter(f) for name, f in filters.items()})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        operation = _BINOPS.get(operator)
        if operation is None:
            return super().call_binop(context, operator, left, right)
        return operation(left, right)

    def call(
        __self,  # jinja's own signature: keyword arguments may be named "self"
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        _step()
        for value in (*args, *kwargs.values()):
            _check_int(value, "an argument")
        method = getattr(__obj, "__name__", "")
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if method in ("format", "format_map") and isinstance(owner, str):
            for field in _FIELD.findall(owner):
                for number in _NUMBER.findall(field):
                    _check_int(int(number), "a width in a format field")
        if method == "replace" and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            if isinstance(owner, str):
                count = owner.count(old) if old else len(owner) + 1
                _check_length(len(owner) + count * len(new), "replaced text")
        result = SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        return _sized(result, "the call's result")

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(
                loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.lineno
            )
        return tree

    def bounded_text(self, text: str) -> str:
        """The result of ``~``, checked (called from the generated code)."""
        return str(_sized(text, "joined text"))


class _BoundedCodeGenerator(CodeGenerator):
    """Generates ``~`` as a call that checks the joined text's size."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_text(")
        super().visit_Concat(node, frame)
        self.write(")")


BoundedEnvironment.code_generator_class = _BoundedCodeGenerator


def render_bounded(template: jinja2.Template, variables: Mapping[str, Any]) -> str:
    """Render within the bounds; raise TemplateLimitError past one."""
    token = _steps.set([0])
    try:
        size = 0
        parts = []
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimitError(f"the message is longer than {MAX_OUTPUT:,} characters")
            parts.append(chunk)
        return "".join(parts)
    finally:
        _steps.reset(token)
