"""Errors of the rule language. Each carries where it happened so compliance can fix it."""

from __future__ import annotations

from dataclasses import dataclass

from churnwatch.exceptions import ChurnwatchError

__all__ = ["ExpressionError", "Problem", "RuleError", "RuleFailure", "RuleSetError"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a rule file, located as precisely as we can."""

    file: str
    line: int
    column: int
    message: str
    rule_id: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        parts = [where]
        if self.rule_id:
            parts.append(f"rule {self.rule_id!r}")
        if self.field:
            parts.append(f"field {self.field!r}")
        return ": ".join(parts) + f": {self.message}"


class ExpressionError(ChurnwatchError):
    """An expression is not valid; ``offset`` is the character where it goes wrong."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class RuleError(ChurnwatchError):
    """A rule is valid but cannot be used as asked (raised at run time, never for bad input)."""


class RuleFailure(ChurnwatchError):
    """Evaluating one event (or one timer) raised: which rule, and the exception's type.

    The message names no customer, amount or value, so it can go into a dead letter's
    reason and a log line as it is; the original exception is the ``__cause__``.
    """

    def __init__(self, rule_id: str | None, error: BaseException) -> None:
        self.rule_id = rule_id
        self.error_type = type(error).__name__
        where = f"rule {rule_id}" if rule_id else "the rule engine"
        super().__init__(f"{where} failed with {self.error_type}")


class RuleSetError(ChurnwatchError):
    """A rule directory has problems; nothing from it is used."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the rule files:\n{lines}")
