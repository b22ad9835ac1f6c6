"""The contract-v1 JSON Schema files, generated from the msgspec models.

The models in :mod:`churnwatch.schemas.models` are the source of truth; ``schemas/json/`` holds one
Draft 2020-12 schema per contract type for the systems on the other side of the bus.
Regenerate them after changing a model::

    python -m churnwatch.schemas.jsonschema            # write schemas/json/*.schema.json
    python -m churnwatch.schemas.jsonschema --check    # exit 1 if the files on disk are stale

msgspec's own schema says less than :func:`churnwatch.schemas.decode.decode` enforces, so the
output is post-processed:

- money (every ``Decimal`` field) is a decimal string *or* a JSON number, never a
  float in our hands; ``amount`` must be positive, the others finite;
- money is plain digits (no exponent, underscores, spaces or other scripts' digits) up
  to 10^15, decode's default ``max_amount``; the currency's decimals are checked when
  decoding;
- timestamps are RFC 3339 ``date-time`` with a required UTC offset (the ``pattern``
  checks the offset even for validators that ignore ``format``; the calendar itself is
  checked when the event is decoded), in the years 2000-2099; dates in 1900-2199.

Two refusals of decode are beyond JSON Schema: a key written twice in one object
(parsers keep one) and nesting deeper than 8 levels.

A test keeps the files on disk equal to what this module produces, and a property test
holds the schemas and the decoder to the same verdicts.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from churnwatch.schemas.decode import DeadLetter
from churnwatch.schemas.models import (
    Alert,
    CustomerEvent,
    ProductEvent,
    StaffEvent,
    TransactionEvent,
)
from churnwatch.schemas.screen import DEFAULT_LIMITS

__all__ = [
    "DATE_PATTERN",
    "DECIMAL_PATTERN",
    "DRAFT",
    "MAX_AMOUNT",
    "MODELS",
    "OUTPUT_DIR",
    "POSITIVE_DECIMAL_PATTERN",
    "POSITIVE_MONEY",
    "TIMESTAMP_PATTERN",
    "generate",
    "main",
    "render",
    "schema_for",
    "write",
]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
OUTPUT_DIR = Path(__file__).parent / "json"

#: the contract name of each schema file and the model it is generated from
MODELS: dict[str, type[msgspec.Struct]] = {
    "transaction": TransactionEvent,
    "product": ProductEvent,
    "customer": CustomerEvent,
    "staff": StaffEvent,
    "alert": Alert,
    "dead-letter": DeadLetter,
}

#: money fields that must be above zero (the models check it in ``__post_init__``)
POSITIVE_MONEY: dict[str, frozenset[str]] = {
    "transaction": frozenset({"amount"}),
    "product": frozenset({"amount"}),
}

#: plain digits up to the largest amount decode accepts by default (10^15); leading zeros
#: are harmless. The currency's own number of decimals is checked when decoding.
_PLAIN = r"0*(?:[0-9]{1,15}(?:\.[0-9]+)?|1000000000000000(?:\.0+)?)"
#: a finite decimal written as text, e.g. "50000.00", "-12.5" (no exponent, sign or spaces)
DECIMAL_PATTERN = rf"^-?{_PLAIN}$"
#: the same, above zero: no minus sign and at least one non-zero digit
POSITIVE_DECIMAL_PATTERN = rf"^(?=[^1-9]*[1-9]){_PLAIN}$"
#: RFC 3339 date-time with a required offset, in the years decode accepts (2000-2099)
TIMESTAMP_PATTERN = (
    r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:?[0-9]{2})$"
)
#: a date in the years decode accepts (1900-2199)
DATE_PATTERN = r"^(?:19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$"
#: the largest amount decode accepts by default, for money written as a JSON number
MAX_AMOUNT = int(DEFAULT_LIMITS.max_amount)
assert MAX_AMOUNT == 10**15, "_PLAIN spells the default maximum out: change both"


def _money(positive: bool) -> dict[str, Any]:
    if positive:
        text = {"type": "string", "pattern": POSITIVE_DECIMAL_PATTERN}
        number: dict[str, Any] = {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_AMOUNT,
        }
        note = 'a positive decimal string such as "50000.00", or a positive JSON number'
    else:
        text = {"type": "string", "pattern": DECIMAL_PATTERN}
        number = {"type": "number", "minimum": -MAX_AMOUNT, "maximum": MAX_AMOUNT}
        note = 'a decimal string such as "50000.00", or a JSON number'
    return {
        "description": (
            f"Money: {note}; read as an exact decimal. Plain digits (no exponent, "
            "underscores or spaces), at most 10^15, and no more decimals than the "
            "currency has."
        ),
        "anyOf": [text, number],
    }


_TIMESTAMP: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "pattern": TIMESTAMP_PATTERN,
    "description": "RFC 3339 with a UTC offset, e.g. 2026-03-01T09:30:00+08:00.",
}

_DATE: dict[str, Any] = {"type": "string", "format": "date", "pattern": DATE_PATTERN}


def _field_kinds(model: type[msgspec.Struct]) -> dict[str, dict[str, str]]:
    """Per struct title, which fields hold money or timestamps (looked up from the types)."""
    kinds: dict[str, dict[str, str]] = {}
    pending: list[type[msgspec.Struct]] = [model]
    while pending:
        struct = pending.pop()
        info = msgspec.inspect.type_info(struct)
        assert isinstance(info, msgspec.inspect.StructType)
        found: dict[str, str] = {}
        for field in info.fields:
            options = (
                field.type.types
                if isinstance(field.type, msgspec.inspect.UnionType)
                else (field.type,)
            )
            for option in options:
                if isinstance(option, msgspec.inspect.DecimalType):
                    found[field.encode_name] = "money"
                elif isinstance(option, msgspec.inspect.DateTimeType):
                    found[field.encode_name] = "timestamp"
                elif isinstance(option, msgspec.inspect.DateType):
                    found[field.encode_name] = "date"
                elif isinstance(option, msgspec.inspect.StructType):
                    pending.append(option.cls)
        kinds[struct.__name__] = found
    return kinds


def _replace(node: dict[str, Any], replacement: dict[str, Any]) -> dict[str, Any]:
    """``replacement`` in place of a field's schema, keeping ``null`` when it was optional."""
    members = node.get("anyOf")
    if members and {"type": "null"} in members:
        result: dict[str, Any] = {"anyOf": [replacement, {"type": "null"}]}
    else:
        result = dict(replacement)
    if "default" in node:
        result["default"] = node["default"]
    return result


def schema_for(name: str) -> dict[str, Any]:
    """The JSON Schema of contract type ``name`` (a key of :data:`MODELS`)."""
    model = MODELS[name]
    generated = msgspec.json.schema(model)
    definitions: dict[str, Any] = copy.deepcopy(generated["$defs"])
    kinds = _field_kinds(model)
    positive = POSITIVE_MONEY.get(name, frozenset())
    for title, fields in kinds.items():
        properties = definitions[title]["properties"]
        for field_name, kind in fields.items():
            if kind == "money":
                wanted = _money(title == model.__name__ and field_name in positive)
            elif kind == "date":
                wanted = _DATE
            else:
                wanted = _TIMESTAMP
            properties[field_name] = _replace(properties[field_name], wanted)
    root = definitions.pop(model.__name__)
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "$id": f"urn:churnwatch:contract-v1:{name}",
        **root,
    }
    if definitions:
        schema["$defs"] = definitions
    return schema


def render(schema: dict[str, Any]) -> str:
    """The file text of a schema: stable key order, two-space indent, final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(value: object) -> object:
    if isinstance(value, Decimal | dt.date):
        return str(value)
    raise TypeError(f"cannot write {value!r} into a schema")


def generate() -> dict[str, str]:
    """File name -> file text for every contract type."""
    return {f"{name}.schema.json": render(schema_for(name)) for name in MODELS}


def write(directory: Path = OUTPUT_DIR) -> list[Path]:
    """Write every schema file into ``directory``; return the paths that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for file_name, text in generate().items():
        path = directory / file_name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        stale = [
            name
            for name, text in generate().items()
            if not (OUTPUT_DIR / name).exists()
            or (OUTPUT_DIR / name).read_text(encoding="utf-8") != text
        ]
        for name in stale:
            print(f"stale: {OUTPUT_DIR / name} (run python -m churnwatch.schemas.jsonschema)")
        return 1 if stale else 0
    if args:
        print("usage: python -m churnwatch.schemas.jsonschema [--check]", file=sys.stderr)
        return 2
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
