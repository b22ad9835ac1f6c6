"""``churnwatch rules test``: rule test cases written in YAML beside the rules.

In the spirit of ``promtool test rules``: each ``*.test.yaml`` file lists cases — given
these events, expect exactly these alerts (or none). Cases run through the real
engine with the directory's rules, so a passing case is a promise about production.

A test file::

    rules: [large-transfer-out]          # which rules' alerts are compared (default: all)
    defaults:                            # merged into every event of that type
      transaction: {customer_id: C1, account_id: AC1, direction: debit, ...}
    tests:
      - name: exactly 50,000.00 alerts
        events:
          - {occurred_at: "2026-03-02T10:00:00+08:00", amount: 50000.00}
        expect:
          - {rule: large-transfer-out, customer: C1, facts: {amount: "50000.00"}}
        outcomes:                        # optional: the alerts' derived outcomes, exactly
          - {rule: large-transfer-out, outcome: retained, share: "0.6000"}

A case with ``outcomes:`` compares the outcomes derived from the events (the rules'
``outcome:`` definitions) with these, as ``expect:`` compares alerts; without it they
are not compared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from churnwatch.rules.durations import parse_duration
from churnwatch.rules.engine import Engine
from churnwatch.rules.exceptions import RuleSetError
from churnwatch.rules.loader import RuleSet, load_rules
from churnwatch.rules.yamlfile import YamlSyntaxError, load_yaml, plain
from churnwatch.schemas.decode import DeadLetter, decode
from churnwatch.schemas.models import Alert, DerivedOutcome

__all__ = [
    "MAX_REPEAT",
    "CaseResult",
    "TestFileSpec",
    "run_rule_tests",
    "sample_alerts",
    "test_files",
]


class ExpectedAlert(msgspec.Struct, forbid_unknown_fields=True):
    rule: str
    customer: str | None = None
    trigger: list[str] | None = None
    facts: dict[str, Any] = msgspec.field(default_factory=dict)


class ExpectedOutcome(msgspec.Struct, forbid_unknown_fields=True):
    rule: str
    outcome: str
    customer: str | None = None
    #: the share of the money at stake kept, as the outcome records it ("0.6000")
    share: str | None = None
    #: the event that decided it; ``null`` when the watch ran out
    evidence: str | None = None


class TestCaseSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    events: list[dict[str, Any]]
    expect: list[ExpectedAlert] = msgspec.field(default_factory=list)
    outcomes: list[ExpectedOutcome] | None = None
    rules: list[str] | None = None
    #: move the event-time clock here after the last event (timers due by then fire)
    until: str | None = None


class TestFileSpec(msgspec.Struct, forbid_unknown_fields=True):
    tests: list[TestCaseSpec]
    rules: list[str] | None = None
    defaults: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


@dataclass
class CaseResult:
    file: str
    name: str
    line: int
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def test_files(directory: Path) -> list[Path]:
    return sorted(
        [
            *directory.glob("*.test.yaml"),
            *directory.glob("*.test.yml"),
            *directory.glob("tests/*.yaml"),
        ]
    )


def run_rule_tests(directory: Path | str, ruleset: RuleSet | None = None) -> list[CaseResult]:
    """Run every test file in ``directory`` against its rules (raises RuleSetError if invalid)."""
    root = Path(directory)
    rules = ruleset or load_rules(root)
    results: list[CaseResult] = []
    for path in test_files(root):
        results.extend(_run_file(path, rules, root))
    return results


def sample_alerts(directory: Path, ruleset: RuleSet) -> list[Alert]:
    """Every alert the directory's test cases raise, passing or not: real facts of each rule.

    The template check renders each rule's messages with these facts. A test file or
    case that cannot run gives no samples here; ``churnwatch rules test`` reports it.
    """
    alerts: list[Alert] = []
    for path in test_files(directory):
        try:
            spec = msgspec.convert(plain(load_yaml(path).data), TestFileSpec, strict=True)
        except (YamlSyntaxError, msgspec.ValidationError):
            continue
        for index, case in enumerate(spec.tests):
            try:
                alerts.extend(_play(ruleset, spec.defaults, case, index)[0])
            except (ValueError, TypeError, OverflowError, KeyError):
                continue
    return alerts


def _run_file(path: Path, ruleset: RuleSet, root: Path) -> Iterator[CaseResult]:
    name = str(path.relative_to(root.parent))
    try:
        doc = load_yaml(path)
        spec = msgspec.convert(plain(doc.data), TestFileSpec, strict=True)
    except YamlSyntaxError as exc:
        yield CaseResult(name, "(file)", exc.line, [exc.message])
        return
    except msgspec.ValidationError as exc:
        yield CaseResult(name, "(file)", 1, [f"not a valid test file: {exc}"])
        return
    known = {r.id for r in ruleset.rules}
    for index, case in enumerate(spec.tests):
        line = doc.locate(["tests", index]).line
        result = CaseResult(name, case.name, line)
        scope = case.rules or spec.rules
        unknown = [r for r in scope or [] if r not in known]
        if unknown:
            result.failures.append(f"unknown rule id(s): {', '.join(unknown)}")
            yield result
            continue
        try:
            alerts, problems, outcomes = _play(ruleset, spec.defaults, case, index)
        except (ValueError, TypeError, OverflowError, KeyError) as exc:
            result.failures.append(f"the case cannot run: {exc}")
            yield result
            continue
        result.failures.extend(problems)
        if scope is not None:
            alerts = [a for a in alerts if a.rule_id in scope]
            outcomes = [o for o in outcomes if o.rule_id in scope]
        result.failures.extend(_compare(case.expect, alerts))
        if case.outcomes is not None:
            result.failures.extend(_compare_outcomes(case.outcomes, outcomes))
        yield result


def _play(
    ruleset: RuleSet, defaults: dict[str, dict[str, Any]], case: TestCaseSpec, index: int
) -> tuple[list[Alert], list[str], list[DerivedOutcome]]:
    """Run the case through the replay driver, the very path production replays take."""
    from churnwatch.streams.replay.driver import (
        ReplayDriver,  # the driver sits above rules/ in the layering
    )

    fixed_now = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    driver = ReplayDriver(Engine(ruleset), None, clock=lambda: fixed_now)
    problems: list[str] = []
    segment: list[bytes] = []
    number = 0
    for item in _expand(case.events):
        if "advance_to" in item:
            driver.run(segment)
            segment = []
            driver.advance_to(_parse_time(item["advance_to"]))
            continue
        number += 1
        event_type = item.get("type", "transaction")
        merged = {**defaults.get(event_type, {}), **item, "type": event_type}
        merged.setdefault("event_id", f"t{index + 1}-e{number}")
        raw = msgspec.json.encode(_jsonable(merged))
        decoded = decode(raw)
        if isinstance(decoded, DeadLetter):
            problems.append(f"event {number} is not a valid {event_type}: {decoded.reason}")
            continue
        segment.append(raw)
    driver.run(segment)
    if case.until is not None:
        driver.advance_to(_parse_time(case.until))
    return driver.stored, problems, driver.derived


#: the most events one ``repeat:`` item may unroll to, and its longest ``every:``
MAX_REPEAT = 10_000
MAX_EVERY_SECONDS = 366 * 86400


def _expand(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Events as written, with ``{repeat: N, every: 2d, event: {...}}`` unrolled.

    A repeated event's ``occurred_at`` moves by ``every`` each time and its id gets a
    suffix, so a test can describe ninety days of ordinary activity in three lines.
    ``repeat`` is at most :data:`MAX_REPEAT` and ``every`` at most a year; anything else
    raises ValueError naming the item.
    """
    for position, item in enumerate(items, start=1):
        if "repeat" not in item:
            yield item
            continue
        template, count, step = _repeat_spec(item, position)
        start = _parse_time(str(template["occurred_at"]))
        base_id = template.get("event_id", f"repeat{position}")
        for n in range(count):
            yield {
                **template,
                "occurred_at": (start + n * step).isoformat(),
                "event_id": f"{base_id}-{n + 1}",
            }


def _repeat_spec(item: dict[str, Any], position: int) -> tuple[dict[str, Any], int, dt.timedelta]:
    where = f"event {position} (repeat)"
    unknown = sorted(set(item) - {"repeat", "every", "event"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; use repeat, every, event")
    template = item.get("event")
    if not isinstance(template, dict) or "occurred_at" not in template:
        raise ValueError(f"{where}: 'event:' must be an event with an occurred_at")
    count = item["repeat"]
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_REPEAT:
        raise ValueError(f"{where}: 'repeat:' is a whole number from 1 to {MAX_REPEAT:,}")
    try:
        seconds = parse_duration(item.get("every", ""))
    except ValueError as exc:
        raise ValueError(f"{where}: 'every:' {exc}") from exc
    if not 0 < seconds <= MAX_EVERY_SECONDS:
        raise ValueError(f"{where}: 'every:' is a duration from 1s to 366d, e.g. '1d'")
    return dict(template), count, dt.timedelta(seconds=seconds)


def _parse_time(text: str | dt.datetime) -> dt.datetime:
    value = text if isinstance(text, dt.datetime) else dt.datetime.fromisoformat(str(text))
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} needs a UTC offset, e.g. +08:00")
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "as_tuple"):
        return str(value)
    return value


def _compare(expected: list[ExpectedAlert], actual: list[Alert]) -> list[str]:
    remaining = list(actual)
    failures: list[str] = []
    for want in expected:
        found = next((a for a in remaining if _matches(want, a)), None)
        if found is None:
            failures.append(f"expected alert not raised: {_describe_expected(want)}")
        else:
            remaining.remove(found)
    for extra in remaining:
        failures.append(
            f"unexpected alert: {extra.rule_id} for {extra.customer_id} "
            f"(trigger {', '.join(extra.trigger_event_ids)}; facts {extra.facts})"
        )
    return failures


def _compare_outcomes(expected: list[ExpectedOutcome], actual: list[DerivedOutcome]) -> list[str]:
    remaining = list(actual)
    failures: list[str] = []
    for want in expected:
        found = next((o for o in remaining if _outcome_matches(want, o)), None)
        if found is None:
            failures.append(
                f"expected outcome not derived: {want.rule} {want.outcome}"
                + (f" (share {want.share})" if want.share is not None else "")
            )
        else:
            remaining.remove(found)
    for extra in remaining:
        failures.append(
            f"unexpected outcome: {extra.rule_id} {extra.outcome} for {extra.customer_id} "
            f"(share {extra.share}; decided by {extra.evidence_event_id or 'the end of the watch'})"
        )
    return failures


def _outcome_matches(want: ExpectedOutcome, got: DerivedOutcome) -> bool:
    return (
        want.rule == got.rule_id
        and want.outcome == got.outcome
        and (want.customer is None or want.customer == got.customer_id)
        and (want.share is None or want.share == str(got.share))
        and (want.evidence is None or want.evidence == got.evidence_event_id)
    )


def _matches(want: ExpectedAlert, alert: Alert) -> bool:
    if want.rule != alert.rule_id:
        return False
    if want.customer is not None and want.customer != alert.customer_id:
        return False
    if (
        want.trigger is not None
        and list(want.trigger) != alert.trigger_event_ids[: len(want.trigger)]
    ):
        return False
    return all(str(alert.facts.get(k)) == str(v) for k, v in want.facts.items())


def _describe_expected(want: ExpectedAlert) -> str:
    parts = [want.rule]
    if want.customer:
        parts.append(f"for {want.customer}")
    if want.trigger:
        parts.append(f"triggered by {', '.join(want.trigger)}")
    if want.facts:
        parts.append(f"with facts {want.facts}")
    return " ".join(parts)


def format_results(results: list[CaseResult]) -> str:
    lines = []
    for result in results:
        status = "PASS" if result.passed else "FAIL"
        lines.append(f"{status}  {result.file}:{result.line}  {result.name}")
        lines.extend(f"        {failure}" for failure in result.failures)
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)


__all__ += ["RuleSetError", "format_results"]
