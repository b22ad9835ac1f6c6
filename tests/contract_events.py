"""Builders for contract-v1 test data: valid events as dicts and bytes, rule directories.

Each builder returns a valid message; a test overrides only the field it is about, so
the rest of the message cannot be the reason a test passes or fails.
"""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from pathlib import Path
from typing import Any

import msgspec

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.exceptions import Problem, RuleSetError
from churnwatch.rules.loader import RuleSet, load_rules
from churnwatch.schemas.decode import decode_or_raise
from churnwatch.schemas.models import Event

__all__ = [
    "NOW",
    "T0",
    "at",
    "customer",
    "encode",
    "engine_for",
    "event",
    "only_problem",
    "pack_copy",
    "product",
    "staff",
    "transaction",
    "write_rules",
]

#: a fixed detection clock: alerts must not depend on the wall clock
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
#: the start of every test timeline (Monday, 2 March 2026, 10:00 Shanghai time)
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def at(**offset: float) -> str:
    """An ISO timestamp ``offset`` after :data:`T0`, e.g. ``at(hours=3)``."""
    return (T0 + dt.timedelta(**offset)).isoformat()


_encoder = msgspec.json.Encoder(decimal_format="number")


def encode(message: Any) -> bytes:
    """One JSON line (no newline) for ``message``; a Decimal is written as a JSON number."""
    return _encoder.encode(message)


def _build(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in overrides.items():
        if value is ...:
            result.pop(key, None)  # ``field=...`` drops the field
        else:
            result[key] = value
    return result


def transaction(**overrides: Any) -> dict[str, Any]:
    """A valid outgoing transfer to another bank; ``field=...`` removes a field."""
    return _build(
        {
            "type": "transaction",
            "event_id": "tx-1",
            "occurred_at": at(),
            "account_id": "AC1",
            "customer_id": "C1",
            "direction": "debit",
            "amount": "100.00",
            "balance_after": "900000.00",
            "kind": "transfer",
            "channel": "mobile",
            "counterparty": {"bank": "Other Bank", "same_bank": False, "same_customer": False},
        },
        overrides,
    )


def product(**overrides: Any) -> dict[str, Any]:
    return _build(
        {
            "type": "product",
            "event_id": "pr-1",
            "occurred_at": at(),
            "customer_id": "C1",
            "account_id": "AC1",
            "product_id": "P1",
            "product_kind": "time_deposit",
            "action": "matured",
            "amount": "200000.00",
        },
        overrides,
    )


def customer(**overrides: Any) -> dict[str, Any]:
    return _build(
        {
            "type": "customer",
            "event_id": "cu-1",
            "occurred_at": at(),
            "customer_id": "C1",
            "name": "Li Wei",
            "phone": "+8613800001234",
            "language": "zh-CN",
            "aum": "300000.00",
            "branch_id": "B1",
            "manager_id": "S1",
            "sms_opt_in": True,
        },
        overrides,
    )


def staff(**overrides: Any) -> dict[str, Any]:
    return _build(
        {
            "type": "staff",
            "event_id": "st-1",
            "occurred_at": at(),
            "staff_id": "S1",
            "name": "Wang Fang",
            "phone": "+8613900005678",
            "role": "relationship_manager",
            "branch_id": "B1",
            "active": True,
        },
        overrides,
    )


def event(message: dict[str, Any]) -> Event:
    """The decoded event of a builder's dict (fails the test if it is not valid)."""
    return decode_or_raise(encode(message))


def write_rules(directory: Path, files: dict[str, str]) -> Path:
    """Write rule files (dedented YAML) into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return directory


def only_problem(directory: Path) -> Problem:
    """The one problem loading ``directory`` reports (a test of one mistake expects one)."""
    try:
        load_rules(directory)
    except RuleSetError as caught:
        problems = caught.problems
    else:
        raise AssertionError(f"{directory} loaded without a problem")
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def pack_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped pack a test may break."""
    target = tmp_path / "pack"
    shutil.copytree(SHIPPED_RULES, target)
    return target


def engine_for(directory: Path | None = None) -> Engine:
    ruleset: RuleSet = load_rules(directory or SHIPPED_RULES)
    return Engine(ruleset)
