"""The replay driver: bad lines become dead letters, replays are idempotent, ids are stable."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from contract_events import NOW, at, customer, encode, engine_for, staff, transaction

from churnwatch.schemas.store import AlertStore
from churnwatch.streams.replay.driver import JsonLinesAlertSink, ReplayDriver, ReplaySummary


def story() -> list[bytes]:
    """Three customers: a large transfer, payroll moved out, and nothing of note."""
    messages: list[dict[str, Any]] = [
        staff(),
        customer(customer_id="C1"),
        transaction(event_id="c1-1", customer_id="C1", amount="80000.00"),
        transaction(
            event_id="c2-pay",
            customer_id="C2",
            occurred_at=at(hours=1),
            direction="credit",
            kind="payroll",
            amount="20000.00",
        ),
        transaction(
            event_id="c2-out", customer_id="C2", occurred_at=at(hours=5), amount="15000.00"
        ),
        transaction(
            event_id="c3-1", customer_id="C3", occurred_at=at(hours=2), amount="30.00", kind="card"
        ),
    ]
    return [encode(m) + b"\n" for m in messages]


BAD_LINES = [b"{not json\n", b"[1,2]\n", b'{"type": "loan"}\n', b"\xef\xbb\xbf{}\n", b"\xff\n"]


def replay(
    lines: list[bytes], store: AlertStore | None = None, **kwargs: Any
) -> tuple[ReplayDriver, ReplaySummary]:
    driver = ReplayDriver(engine_for(), store, clock=lambda: NOW, **kwargs)
    return driver, driver.run(lines, source="events.jsonl")


class TestBadLines:
    def test_one_dead_letter_per_bad_line_with_file_and_line(self) -> None:
        """Each malformed line gives one dead letter naming the file and its line number."""
        good = story()
        mixed = [good[0], BAD_LINES[0], *good[1:3], *BAD_LINES[1:], *good[3:]]
        letters = io.BytesIO()
        _, summary = replay(mixed, dead_letters=letters)
        written = [json.loads(line) for line in letters.getvalue().splitlines()]
        assert len(written) == len(BAD_LINES)
        bad_numbers = [n for n, line in enumerate(mixed, start=1) if line in BAD_LINES]
        assert [w["source"] for w in written] == [
            {"file": "events.jsonl", "line": n} for n in bad_numbers
        ]
        assert sum(summary.dead_letters.values()) == len(BAD_LINES)
        assert [w["code"] for w in written] == [
            "bad_json",
            "not_an_object",
            "unknown_type",
            "bom",
            "not_utf8",
        ]

    def test_bad_lines_do_not_change_the_alerts(self) -> None:
        """A file with malformed lines gives the same alerts as the file without them."""
        good = story()
        mixed = [BAD_LINES[0], *good[:3], *BAD_LINES[1:], *good[3:], BAD_LINES[0]]
        clean = replay(good)[0].stored
        assert clean
        assert replay(mixed)[0].stored == clean

    def test_blank_lines_are_skipped_silently(self) -> None:
        """An empty line is not a message and not a dead letter."""
        _, summary = replay([b"\n", *story(), b"\r\n"])
        assert sum(summary.dead_letters.values()) == 0

    def test_too_late_events_are_dead_lettered_with_a_reason(self) -> None:
        """An event far older than the customer's newest is refused with ``too_late``."""
        lines = [
            encode(transaction(event_id="new", occurred_at=at(days=5), amount="1.00")) + b"\n",
            encode(transaction(event_id="old", amount="90000.00")) + b"\n",
        ]
        letters = io.BytesIO()
        driver, _ = replay(lines, dead_letters=letters)
        (letter,) = [json.loads(line) for line in letters.getvalue().splitlines()]
        assert letter["code"] == "too_late"
        assert letter["source"]["line"] == 2
        assert "lateness" in letter["reason"]
        assert driver.stored == []


class TestIdempotence:
    def test_two_fresh_replays_give_identical_alert_ids(self, tmp_path: Path) -> None:
        """Replaying one file into two fresh stores stores the same alert ids."""
        ids = []
        for name in ("a", "b"):
            with AlertStore(f"sqlite:///{tmp_path / name}.db") as store:
                replay(story(), store)
                ids.append(store.alert_ids())
        assert ids[0] == ids[1]
        assert len(ids[0]) == 2

    def test_replaying_into_the_same_store_stores_nothing_new(
        self, sqlite_store: AlertStore
    ) -> None:
        """The second replay of a file into the same store adds no alert."""
        _, first_summary = replay(story(), sqlite_store)
        second, second_summary = replay(story(), sqlite_store)
        assert first_summary.new_alerts == 2
        assert second_summary.new_alerts == 0
        assert second.stored == []
        assert sqlite_store.count() == 2

    def test_a_replay_that_keeps_nothing_stores_and_sinks_everything(
        self, sqlite_store: AlertStore
    ) -> None:
        """``keep=False`` (``churnwatch replay``): the store and the sinks get every alert,
        the driver holds none of them, so memory does not grow with the stream."""
        sunk: list[str] = []
        driver, summary = replay(
            story(),
            sqlite_store,
            keep=False,
            sinks=[lambda alerts, _directory: sunk.extend(a.alert_id for a in alerts)],
        )
        assert summary.new_alerts == 2
        assert driver.stored == [] and driver.derived == []
        assert sorted(sunk) == sorted(sqlite_store.alert_ids())

    def test_duplicate_lines_are_counted_not_alerted(self) -> None:
        """The same event twice in a file alerts once and counts one duplicate."""
        lines = story()
        driver, summary = replay([*lines, lines[2]])
        assert summary.duplicates == 1
        assert len(driver.stored) == 2


class TestSinks:
    def test_json_lines_sink_writes_contract_fields(self) -> None:
        """Each new alert is one JSON line with the fields CONTRACT.md lists."""
        out = io.BytesIO()
        replay(story(), sinks=[JsonLinesAlertSink(out)])
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert {line["rule_id"] for line in lines} == {"large-transfer-out", "payroll-moved-out"}
        for line in lines:
            assert {
                "alert_id",
                "rule_id",
                "rule_version",
                "severity",
                "customer_id",
                "account_id",
                "occurred_at",
                "detected_at",
                "facts",
                "trigger_event_ids",
                "recipients",
            } <= set(line)

    def test_summary_counts_events_by_type_and_alerts_by_rule(self) -> None:
        """The summary counts lines, events per type and alerts per rule."""
        _, summary = replay(story())
        assert summary.lines == 6
        assert summary.events_by_type == {"staff": 1, "customer": 1, "transaction": 4}
        assert summary.alerts_by_rule == {"large-transfer-out": 1, "payroll-moved-out": 1}
