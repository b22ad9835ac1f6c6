"""A deterministic synthetic bank: contract-v1 JSON lines with planted churn cases.

The rule pack, the replay driver, the worker and the benchmarks all need input that looks
like a retail bank's event bus and is byte-for-byte the same on every machine, so a failing
test or a changed alert count means a changed program, never changed data. Everything
comes from ``random.Random`` streams seeded by the spec, never the wall clock.

The bank's people are :mod:`~churnwatch.streams.synthetic.population`, their days
:mod:`~churnwatch.streams.synthetic.world`, and the disorder and bad lines a real bus adds
:mod:`~churnwatch.streams.synthetic.faults`. Any churn alert on the data belongs to a case
listed by :func:`planted_cases` (see :mod:`churnwatch.streams.synthetic.patterns`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import msgspec

from churnwatch.streams.synthetic.faults import corrupt, shuffle
from churnwatch.streams.synthetic.patterns import PlantedCase, plant
from churnwatch.streams.synthetic.spec import DatasetSpec, tier_of
from churnwatch.streams.synthetic.world import World

__all__ = ["DatasetSpec", "PlantedCase", "generate", "planted_cases", "tier_of", "write_dataset"]


def planted_cases(spec: DatasetSpec) -> list[PlantedCase]:
    """The planted customers and the rule each must trip (None: must not alert)."""
    return plant(spec.customers, spec.weeks * 7, spec.seed)[0]


def write_dataset(spec: DatasetSpec, path: Path) -> int:
    """Write the data set as newline-terminated lines; returns the number of lines."""
    count = 0
    with path.open("wb") as out:
        for line in generate(spec):
            out.write(line + b"\n")
            count += 1
    return count


def generate(spec: DatasetSpec) -> Iterator[bytes]:
    """Yield the data set one JSON line at a time (no newline), day by day in time order.

    Shuffling and malformed lines draw from their own random streams, so the valid lines
    are the same bytes whatever ``shuffle_share`` and ``malformed_share`` are.
    """
    world = World(spec)
    shuffle_rng = random.Random(f"churnwatch-shuffle:{spec.seed}")
    bad_rng = random.Random(f"churnwatch-malformed:{spec.seed}")
    encode, bad = msgspec.json.encode, 0
    for d in range(world.days):
        items = world.day(d)
        if spec.shuffle_share > 0:
            items = shuffle(items, spec.shuffle_share, shuffle_rng)
        for _, _, rec in items:
            yield encode(rec)
            is_tx = spec.malformed_share > 0 and rec["type"] == "transaction"
            if is_tx and bad_rng.random() < spec.malformed_share:
                bad += 1
                yield corrupt(rec, bad_rng, bad)
