"""The root of every error churnwatch raises on purpose.

Catching :class:`ChurnwatchError` catches everything the project means to report to a
person; anything else escaping is a bug. Each layer derives its own errors from it, so
the root sits below them all.
"""

from __future__ import annotations

__all__ = ["ChurnwatchError"]


class ChurnwatchError(Exception):
    """Base class of churnwatch's own errors."""
