"""Errors of the streaming side: configuration, broker and worker failures.

All derive from :class:`~churnwatch.schemas.exceptions.ChurnwatchError`, so the CLI reports them
to the operator as one line instead of a traceback.
"""

from __future__ import annotations

from churnwatch.exceptions import ChurnwatchError

__all__ = ["BrokerError", "ConfigError", "WorkerError"]


class ConfigError(ChurnwatchError):
    """The configuration file or an environment override is not valid.

    ``problems`` lists every problem found; none of them contains a secret value.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class BrokerError(ChurnwatchError):
    """The Kafka broker could not be reached, or refused what we asked of it."""


class WorkerError(ChurnwatchError):
    """The worker cannot run as configured (e.g. topics with different partition counts)."""
