"""The churn score: exact decay, order independence, crossings, the stored form, load errors."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from contract_events import NOW, at, event, only_problem, pack_copy, transaction, write_rules
from hypothesis import given, settings
from hypothesis import strategies as st

from churnwatch.rules.codec import FORMAT_VERSION, decode_state, encode_state
from churnwatch.rules.engine import Engine
from churnwatch.rules.exceptions import RuleSetError
from churnwatch.rules.loader import load_rules
from churnwatch.rules.score import (
    _FRACTION_BITS,
    _Q,
    _TABLE,
    MAX_CONTRIBUTIONS,
    ScoreConfig,
    add_contribution,
    decayed,
    prune_contributions,
    score_at,
)
from churnwatch.rules.state import CustomerState
from churnwatch.schemas.models import Alert

DAY = 86400 * 1_000_000
HALF = 30 * DAY

weights = st.integers(0, 10_000_000)
elapsed = st.integers(0, 400 * DAY)


class TestDecay:
    @given(weights, st.integers(0, 40))
    def test_whole_half_lives_halve_exactly(self, weight: int, k: int) -> None:
        """After k half-lives a weight is exactly weight >> k: no float, no drift."""
        assert decayed(weight, k * HALF, HALF) == weight >> k

    @given(weights, elapsed, elapsed)
    def test_decay_never_rises_with_time(self, weight: int, a: int, b: int) -> None:
        """A contribution is worth no more later than earlier."""
        early, late = sorted((a, b))
        assert decayed(weight, late, HALF) <= decayed(weight, early, HALF) <= weight

    @given(weights, elapsed)
    def test_close_to_the_real_value(self, weight: int, spent: int) -> None:
        """The integer decay is the real 2^(-t/h) rounded down, give or take one unit."""
        real = weight * 2 ** (-spent / HALF)
        assert abs(decayed(weight, spent, HALF) - real) <= 1

    @given(weights, elapsed, st.sampled_from([HALF, DAY, 3_600_000_000, 12_345, 1]))
    def test_the_decay_is_its_definition_to_the_unit(
        self, weight: int, spent: int, half: int
    ) -> None:
        """Whole half-lives shift; the rest of a half-life is a 32-bit fraction whose bits,
        from the top, each multiply by the table's factor, rounded down after each product.
        (The code visits only the set bits; the result must not move by one unit.)"""
        whole, rest = divmod(spent, half)
        fraction = (rest << _FRACTION_BITS) // half
        factor = 1 << _Q
        for bit in range(_FRACTION_BITS):
            if fraction & (1 << (_FRACTION_BITS - 1 - bit)):
                factor = (factor * _TABLE[bit]) >> _Q
        expected = 0 if whole >= weight.bit_length() else (weight * factor) >> (_Q + whole)
        assert decayed(weight, spent, half) == expected

    def test_an_hour_of_a_30_day_half_life(self) -> None:
        """30 points (3000 units) an hour on: 30 x 2^(-1/720) = 29.971..., kept as 2997."""
        assert decayed(3000, 3600 * 1_000_000, HALF) == 2997


contribution = st.tuples(st.integers(0, 200 * DAY), st.sampled_from(["a", "b", "c"]), weights)


class TestContributions:
    @given(st.lists(contribution, max_size=MAX_CONTRIBUTIONS), st.randoms())
    def test_the_order_they_arrive_in_does_not_matter(self, items: list[Any], rnd: Any) -> None:
        """Added in any order, the contributions and the score are the same."""
        first: list[Any] = []
        for item in items:
            add_contribution(first, item)
        shuffled = list(items)
        rnd.shuffle(shuffled)
        second: list[Any] = []
        for item in shuffled:
            add_contribution(second, item)
        assert first == second
        assert score_at(first, 300 * DAY, HALF) == score_at(second, 300 * DAY, HALF)

    @given(st.lists(contribution, max_size=MAX_CONTRIBUTIONS), st.integers(0, 600 * DAY))
    def test_pruning_leaves_the_score_as_it_was(self, items: list[Any], when: int) -> None:
        """Only contributions worth nothing (and none ahead of the time) are dropped."""
        kept = sorted(items)
        prune_contributions(kept, when, HALF)
        assert score_at(kept, when, HALF) == score_at(sorted(items), when, HALF)

    def test_bounded(self) -> None:
        """A customer keeps at most MAX_CONTRIBUTIONS, the oldest going first."""
        kept: list[Any] = []
        for n in range(MAX_CONTRIBUTIONS + 5):
            add_contribution(kept, (n, "a", 100))
        assert len(kept) == MAX_CONTRIBUTIONS and kept[0][0] == 5

    def test_bands(self) -> None:
        """A score falls in the band whose lower bound it reaches."""
        config = ScoreConfig(HALF, {}, (2500, 5000), "30d")
        assert [config.band_of(u) for u in (0, 2499, 2500, 7000)] == [
            (0, 2500),
            (0, 2500),
            (2500, 5000),
            (5000, None),
        ]


PACK = {
    "rules.yaml": """
        score:
          half_life: 10d
          weights: {big-out: 30, small-out: 12.5}
          bands: [25, 50]
        rules:
          - id: big-out
            version: 1
            title: Big outflow
            description: One big debit.
            owner: test
            severity: high
            match: event.direction == "debit"
            threshold: {field: amount, at_least: 50000.00}
            audience: [relationship_manager]
          - id: small-out
            version: 1
            title: Small outflow
            description: One smaller debit.
            owner: test
            severity: low
            match: event.direction == "debit" and event.amount < 50000.00
            threshold: {field: amount, at_least: 10000.00}
            audience: [relationship_manager]
          - id: big-out-trial
            version: 1
            mode: shadow
            shadows: big-out
            title: Big outflow (trial)
            description: Trial at 1,000.00.
            owner: test
            severity: high
            match: event.direction == "debit"
            threshold: {field: amount, at_least: 1000.00}
            audience: [relationship_manager]
          - id: score-high
            version: 1
            title: Score high
            description: The score reached 50.
            owner: test
            severity: high
            score: {at_least: 50}
            audience: [relationship_manager]
    """
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine(load_rules(write_rules(tmp_path_factory.mktemp("score") / "pack", PACK)))


def run(engine: Engine, messages: list[dict[str, Any]]) -> dict[str, list[Alert]]:
    """Evaluate in the given order, one state per customer; the alerts per customer."""
    states: dict[str, CustomerState | None] = {}
    alerts: dict[str, list[Alert]] = {}
    for message in messages:
        outcome = engine.evaluate(event(message), states.get(message["customer_id"]), NOW)
        states[message["customer_id"]] = outcome.state
        alerts.setdefault(message["customer_id"], []).extend(outcome.alerts)
    return alerts


def debit(n: int, customer: str, hours: float, amount: str) -> dict[str, Any]:
    return transaction(
        event_id=f"{customer}-{n}", customer_id=customer, occurred_at=at(hours=hours), amount=amount
    )


class TestInTheEngine:
    def test_each_alert_carries_the_score_and_a_crossing_fires_once(self, engine: Engine) -> None:
        """30 + 30 crosses 50 once; the third big outflow adds to the score without alerting."""
        alerts = run(engine, [debit(n, "C1", n, "60000.00") for n in range(3)])["C1"]
        assert [a.rule_id for a in alerts].count("score-high") == 1
        crossing = next(a for a in alerts if a.rule_id == "score-high")
        assert crossing.trigger_event_ids == ["C1-1"]
        assert crossing.facts["score_before"] == "29.91"  # 30 x 2^(-1/240), rounded down
        assert crossing.facts["score"] == "59.91"
        last = alerts[-1].score
        assert last is not None and last.band_from == Decimal("50.00") and last.band_to is None
        assert [c.rule_id for c in last.contributions] == ["big-out"] * 3
        assert last.contributions[0].weight == Decimal("30.00")

    def test_a_shadow_rule_never_moves_the_score(self, engine: Engine) -> None:
        """The shadow trial alerts on every debit here, yet only big-out's 30 points count."""
        alerts = run(engine, [debit(1, "C2", 0, "60000.00")])["C2"]
        assert {a.rule_id for a in alerts} == {"big-out", "big-out-trial"}
        assert all(a.score is not None and a.score.points == Decimal("30.00") for a in alerts)

    def test_a_fractional_weight_is_exact(self, engine: Engine) -> None:
        """12.5 points four times at one instant is exactly 50.00: the bar is reached."""
        alerts = run(engine, [debit(n, "C3", 0, "20000.00") for n in range(4)])["C3"]
        crossing = [a for a in alerts if a.rule_id == "score-high"]
        assert len(crossing) == 1 and crossing[0].facts["score"] == "50.00"

    @settings(max_examples=25, deadline=None)
    @given(
        st.lists(
            st.tuples(st.integers(0, 24 * 40), st.sampled_from(["20000.00", "60000.00"])),
            min_size=1,
            max_size=6,
        ),
        st.lists(
            st.tuples(st.integers(0, 24 * 40), st.sampled_from(["20000.00", "60000.00"])),
            min_size=1,
            max_size=6,
        ),
        st.randoms(),
    )
    def test_independent_customers_in_any_interleaving(
        self, engine: Engine, one: list[Any], two: list[Any], rnd: random.Random
    ) -> None:
        """Two customers' events interleaved any way give each the same scores and alert ids."""
        first = [debit(n, "A", hours, amount) for n, (hours, amount) in enumerate(sorted(one))]
        second = [debit(n, "B", hours, amount) for n, (hours, amount) in enumerate(sorted(two))]
        alone = {**run(engine, first), **run(engine, second)}
        queues = [list(first), list(second)]
        mixed: list[dict[str, Any]] = []
        while any(queues):
            queue = rnd.choice([q for q in queues if q])
            mixed.append(queue.pop(0))
        together = run(engine, mixed)

        def seen(alerts: dict[str, list[Alert]]) -> dict[str, list[tuple[str, Any]]]:
            return {c: [(a.alert_id, a.score) for a in found] for c, found in alerts.items()}

        assert seen(together) == seen(alone)


class TestStoredForm:
    def test_contributions_survive_the_codec(self) -> None:
        """The score's contributions come back exactly, to the microsecond."""
        state = CustomerState(watermark=500 * DAY, score=[(499 * DAY + 7, "big-out", 3000)])
        data = encode_state(state)
        assert data[1] == FORMAT_VERSION and decode_state(data).score == state.score

    def test_a_contribution_costs_about_twenty_bytes(self) -> None:
        """Stored as a time delta, the rule id and the weight: small beside the 1 KiB budget."""
        state = CustomerState(watermark=500 * DAY, score=[(499 * DAY, "big-out", 3000)])
        empty = CustomerState(watermark=500 * DAY)
        assert len(encode_state(state)) - len(encode_state(empty)) <= 20

    def test_a_version_3_state_reads_as_no_contribution(self) -> None:
        """States written before the score load with an empty score."""
        data = bytearray(encode_state(CustomerState(watermark=5)))
        data[1] = 3
        assert decode_state(bytes(data)).score == []


def rule_file(pack: Path, text: str) -> None:
    (pack / "score.yaml").write_text(text, encoding="utf-8")


class TestLoadErrors:
    @pytest.mark.parametrize(
        ("replace", "by", "line", "message"),
        [
            (
                "large-transfer-out: 30",
                "large-transfer-ot: 30",
                8,
                "did you mean 'large-transfer-out'",
            ),
            ("half_life: 30d", "half_life: 0", 6, "a half-life is more than 0"),
            ("bands: [25, 50, 75]", "bands: [25, 75, 50]", 17, "bands go up"),
            ("large-transfer-out: 30", "large-transfer-out: 30.125", 8, "at most two decimals"),
            ("payroll-stopped: 35", "churn-score-high: 35", 12, "cannot weigh in its own score"),
            ("at_least: 60", "at_least: .nan", 36, "finite"),
        ],
    )
    def test_mistakes_name_the_file_and_line(
        self, tmp_path: Path, replace: str, by: str, line: int, message: str
    ) -> None:
        """Each mistake in score.yaml is one problem at its line, naming what is wrong."""
        pack = pack_copy(tmp_path)
        text = (pack / "score.yaml").read_text(encoding="utf-8")
        assert replace in text
        rule_file(pack, text.replace(replace, by, 1))
        problem = only_problem(pack)
        assert (problem.file, problem.line) == ("pack/score.yaml", line)
        assert message in problem.message

    def test_a_score_rule_needs_the_score(self, tmp_path: Path) -> None:
        """A score rule in a pack without ``score:`` is refused at its block."""
        pack = pack_copy(tmp_path)
        text = (pack / "score.yaml").read_text(encoding="utf-8")
        rule_file(pack, text[text.index("rules:") :])
        problem = only_problem(pack)
        assert problem.rule_id == "churn-score-high" and "defines no churn score" in problem.message

    def test_a_score_rule_is_not_on_events(self, tmp_path: Path) -> None:
        """Writing ``on`` in a score rule is a located mistake."""
        pack = pack_copy(tmp_path)
        text = (pack / "score.yaml").read_text(encoding="utf-8")
        rule_file(
            pack,
            text.replace(
                "    score:\n      at_least", "    on: [transaction]\n    score:\n      at_least"
            ),
        )
        problem = only_problem(pack)
        assert problem.field == "on" and "not on events" in problem.message

    def test_defined_once(self, tmp_path: Path) -> None:
        """A second file with ``score:`` is refused, naming the first."""
        pack = pack_copy(tmp_path)
        second = pack / "weights.yaml"
        second.write_text("score: {half_life: 7d, weights: {}}\n", encoding="utf-8")
        problem = only_problem(pack)
        assert problem.file == "pack/weights.yaml" and "pack/score.yaml" in problem.message

    def test_a_shadow_rule_cannot_weigh(self, tmp_path: Path) -> None:
        """Weighing a shadow rule would let a rule told to nobody move the score."""
        pack = write_rules(tmp_path / "pack", PACK)
        text = (pack / "rules.yaml").read_text(encoding="utf-8")
        (pack / "rules.yaml").write_text(
            text.replace("{big-out: 30,", "{big-out-trial: 30,"), encoding="utf-8"
        )
        with pytest.raises(RuleSetError, match="told to nobody"):
            load_rules(pack)
