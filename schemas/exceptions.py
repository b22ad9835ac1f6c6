"""The root of every error churnwatch raises on purpose.

Catching :class:`ChurnwatchError` catches everything the project means to report to a
person; anything else escaping is a bug.
"""

from __future__ import annotations

__all__ = ["ChurnwatchError", "DecodeFailure", "StoreError"]


class ChurnwatchError(Exception):
    """Base class of churnwatch's own errors."""


class DecodeFailure(ChurnwatchError):
    """A message could not be turned into a contract-v1 event; ``reason`` says why."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class StoreError(ChurnwatchError):
    """The alert store could not be opened or written."""
