"""The template sandbox's bounds: a template renders in bounded time and size, or fails."""

from __future__ import annotations

import resource
import time

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnwatch.notifiers.sandbox import (
    MAX_OUTPUT,
    BoundedEnvironment,
    TemplateLimitError,
    render_bounded,
)

HOSTILE = {
    "power": "{{ 10 ** (10 ** 10) }}",
    "repeat": "{{ 'x' * 10**9 }}",
    "repeat-left": "{{ 10**9 * 'x' }}",
    "list-repeat": "{{ ([1] * 10**9)|length }}",
    "nested-range": (
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    ),
    "nested-loops": "{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}",
    "macro-doubling": (
        "{% macro m(n) %}{% if n %}{{ m(n-1) }}{{ m(n-1) }}{% endif %}x{% endmacro %}{{ m(40) }}"
    ),
    "concat-doubling": (
        "{% macro m(s, n) %}{% if n %}{{ m(s ~ s, n-1) }}{% else %}{{ s|length }}{% endif %}"
        "{% endmacro %}{{ m('x', 60) }}"
    ),
    "ljust": "{{ 'x'.ljust(10**9) }}",
    "center-filter": "{{ 'x'|center(1000000000) }}",
    "percent-width": "{{ '%999999999d' % 1 }}",
    "percent-star": "{{ '%*d' % (10**9, 1) }}",
    "format-width": "{{ '{:>999999999}'.format(1) }}",
    "replace": "{{ ('x' * 9000).replace('x', 'y' * 9000) }}",
    "lipsum": "{{ lipsum(100000) }}",
    "batch": "{{ range(10)|list|batch(10**9)|list }}",
    "output": "{% for i in range(4000) %}{{ 'x' * 1000 }}{% endfor %}",
}


@pytest.fixture(scope="module")
def env() -> BoundedEnvironment:
    return BoundedEnvironment(undefined=jinja2.StrictUndefined)


@pytest.mark.parametrize("source", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_templates_fail_fast_and_small(env: BoundedEnvironment, source: str) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises((TemplateLimitError, jinja2.UndefinedError)):
        render_bounded(env.from_string(source), {})
    assert time.monotonic() - started < 2
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "{{ 2 ** 8 }} {{ 'ab' * 3 }} {{ '%05.1f' % 3.14159 }} {{ 'a' ~ 'b' }}",
            "256 ababab 003.1 ab",
        ),
        (
            "{% for i in range(3) %}{{ i }}{% endfor %}{{ [1, 2, 3]|sum }}{{ 'abc'|upper }}",
            "0126ABC",
        ),
        (
            "{{ '{:>5}'.format(7) }}|{{ 'x'|center(5) }}|{{ 'a-b'.replace('-', '+') }}",
            "    7|  x  |a+b",
        ),
    ],
)
def test_ordinary_templates_render(env: BoundedEnvironment, source: str, expected: str) -> None:
    assert render_bounded(env.from_string(source), {}) == expected


def test_templates_do_not_reload_under_a_running_process(env: BoundedEnvironment) -> None:
    """What the load checked is what runs: jinja's automatic reloading is off."""
    assert env.auto_reload is False


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["*", "**", "+", "%", "~"]),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["'ab'", "[1, 2]", "7", "'%d'"]),
)
def test_any_operator_on_any_size_is_bounded(
    env: BoundedEnvironment, op: str, number: int, operand: str
) -> None:
    """Whatever the numbers, an operator renders a bounded text or fails with a clear error."""
    source = f"{{{{ {operand} {op} {number} }}}}"
    try:
        out = render_bounded(env.from_string(source), {})
    except (TemplateLimitError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        return
    assert len(out) <= MAX_OUTPUT
