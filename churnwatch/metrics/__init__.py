"""Every churnwatch metric, defined once, with one-line calls for the drivers.

Operations must see at a glance that churnwatch keeps up, so everything is counted
(DESIGN.md, principle 5). :mod:`~churnwatch.metrics.families` defines each series (name,
help, labels, buckets), :mod:`~churnwatch.metrics.labels` bounds what a label may say,
and :mod:`~churnwatch.metrics.recorder` is :class:`Metrics`, the calls the drivers make.
A Faust worker is one process, so prometheus-client's multiprocess mode is not needed.
"""

from churnwatch.metrics.families import (
    ALERT_TO_DELIVERY_BUCKETS_S,
    ALERT_TO_DELIVERY_OBJECTIVE_S,
    EVENT_TO_ALERT_BUCKETS_S,
    EVENT_TO_ALERT_OBJECTIVE_S,
    exposed_names,
)
from churnwatch.metrics.labels import (
    DEAD_LETTER_REASONS,
    DELIVERY_FAILURE_REASONS,
    DELIVERY_OUTCOMES,
    EVENT_TYPES,
    FOLLOWUP_ACTIONS,
    FOLLOWUP_REFUSALS,
    OTHER,
    SEVERITIES,
)
from churnwatch.metrics.recorder import Metrics, RunSummary

__all__ = [
    "ALERT_TO_DELIVERY_BUCKETS_S",
    "ALERT_TO_DELIVERY_OBJECTIVE_S",
    "DEAD_LETTER_REASONS",
    "DELIVERY_FAILURE_REASONS",
    "DELIVERY_OUTCOMES",
    "EVENT_TO_ALERT_BUCKETS_S",
    "EVENT_TO_ALERT_OBJECTIVE_S",
    "EVENT_TYPES",
    "FOLLOWUP_ACTIONS",
    "FOLLOWUP_REFUSALS",
    "OTHER",
    "SEVERITIES",
    "Metrics",
    "RunSummary",
    "exposed_names",
]
