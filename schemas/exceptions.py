"""The errors of the contract and the store: a message that is not an event, a store that
cannot be used."""

from __future__ import annotations

from churnwatch.exceptions import ChurnwatchError

__all__ = ["DecodeFailure", "StoreError"]


class DecodeFailure(ChurnwatchError):
    """A message could not be turned into a contract-v1 event; ``reason`` says why."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class StoreError(ChurnwatchError):
    """The alert store could not be opened or written."""
