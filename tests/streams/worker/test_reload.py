"""The rule watcher on its own: every hostile pack refused and counted, the rules in force
kept, templates handed over only with a pack that went live."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from hostile_packs import PACKS, add_hostile, remove

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.streams.replay.pack import Pack, load_pack
from churnwatch.streams.worker.health import WorkerObservability
from churnwatch.streams.worker.reload import RuleWatcher


def _refusals(observe: WorkerObservability) -> float:
    value = observe.metrics.registry.get_sample_value(
        "churnwatch_rule_reloads_total", {"outcome": "failure"}
    )
    return value or 0.0


def test_the_watcher_refuses_every_hostile_pack_and_keeps_the_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES, rules)
    engine = Engine(load_pack(rules).ruleset)
    before = engine.ruleset.fingerprint
    observe = WorkerObservability()
    handed: list[Pack] = []
    watcher = RuleWatcher(engine, rules, 0.01, observe, on_reload=handed.append)
    for count, name in enumerate(PACKS, start=1):
        written = add_hostile(rules, name)
        assert asyncio.run(watcher.check()) is False, name
        assert _refusals(observe) == count
        assert engine.ruleset.fingerprint == before
        remove(written)
    (rules / "oops.yaml").mkdir()  # not a file: refused like any other problem
    assert asyncio.run(watcher.check()) is False
    (rules / "oops.yaml").rmdir()
    assert handed == []
    template = rules / "templates" / "_subject.en.j2"
    template.write_text(template.read_text() + " ")
    assert asyncio.run(watcher.check()) is True
    assert engine.ruleset.fingerprint != before
    assert [pack.ruleset.fingerprint for pack in handed] == [engine.ruleset.fingerprint]


def test_a_failing_hand_over_does_not_stop_the_watcher(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES, rules)
    engine = Engine(load_pack(rules).ruleset)

    def broken(_: Pack) -> None:
        raise RuntimeError("the notifications are gone")

    watcher = RuleWatcher(engine, rules, 0.01, WorkerObservability(), on_reload=broken)
    template = rules / "templates" / "_subject.en.j2"
    template.write_text(template.read_text() + " ")
    assert asyncio.run(watcher.check()) is True  # the rules went live; the failure is logged
