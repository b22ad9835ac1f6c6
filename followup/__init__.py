"""Managers' follow-up: the signed link and page, SMS replies, escalation and the report.

An alert is the start of work, not the end. This package records who acknowledged an
alert, who contacted the customer and what came of it, escalates when nobody moves, and
measures what retention work achieves (issue 7).

Which outcomes staff can record is named here, apart from the store, so that the
command's help can list them without loading the database layer.
"""

from __future__ import annotations

from typing import Final

__all__ = ["OUTCOMES"]

#: the outcomes staff record for an alert, in the report's order
OUTCOMES: Final[tuple[str, ...]] = ("retained", "partly_retained", "left", "false_alarm")
