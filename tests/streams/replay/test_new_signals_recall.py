"""The history-based signals on a generated bank: planted customers caught, no one else.

``large-transfer-out-relative`` and ``payroll-stopped`` judge a customer against months of
their own history, longer than the generated bank's weeks, and planting them inside the
generator would renumber its events (and so move every pinned alert id). So the planted
customers here are written by hand, their history dated before the bank's first day, and
merged into the generated bank in time order: each must raise exactly its rule, the lookalikes
nothing, and none of the bank's own customers either rule.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

import msgspec

from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.engine import Engine
from churnwatch.rules.loader import load_rules
from churnwatch.streams.replay.driver import ReplayDriver
from churnwatch.streams.synthetic.bank import DatasetSpec, generate

SPEC = DatasetSpec(customers=400, weeks=6, seed=5)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
NEW_RULES = {"large-transfer-out-relative", "payroll-stopped"}
OTHER_BANK = {"name": "Zhou Min", "account": "6217000000001111", "bank": "中国银行",
              "same_bank": False, "same_customer": False}  # fmt: skip
OWN_HERE = {"name": "本人", "account": "6222000000002222", "bank": "示例银行",
            "same_bank": True, "same_customer": True}  # fmt: skip
OWN_ELSEWHERE = {**OTHER_BANK, "same_customer": True}


class _Writer:
    """Contract-v1 messages for one hand-planted customer, in time order."""

    def __init__(self, out: list[dict[str, Any]], customer_id: str) -> None:
        self.out, self.cid, self.n = out, customer_id, 0
        out.append({
            "type": "customer", "event_id": f"{customer_id}-cu", "customer_id": customer_id,
            "occurred_at": "2026-05-01T08:00:00+08:00", "name": "王芳", "phone": "+8613800000000",
            "language": "zh-CN", "aum": "600000.00", "branch_id": "BR01", "manager_id": "S0004",
            "sms_opt_in": True,
        })  # fmt: skip

    def post(self, when: str, amount: str, **fields: Any) -> None:
        self.n += 1
        self.out.append({
            "type": "transaction", "event_id": f"{self.cid}-{self.n}", "customer_id": self.cid,
            "account_id": fields.pop("account_id", f"AC{self.cid}1"), "occurred_at": when,
            "direction": "debit", "amount": amount, "balance_after": "500000.00",
            "kind": "transfer", "channel": "mobile", "counterparty": OTHER_BANK, **fields,
        })  # fmt: skip

    def outflows(self, amounts: list[str], start: dt.date) -> None:
        for k, amount in enumerate(amounts):
            when = dt.datetime.combine(start + dt.timedelta(days=7 * k), dt.time(10), SHANGHAI)
            self.post(when.isoformat(), amount)

    def payrolls(self, days: list[str], **fields: Any) -> None:
        for day in days:
            self.post(f"{day}T08:00:00+08:00", "21000.00", direction="credit", kind="payroll",
                      channel="batch", **fields)  # fmt: skip


def planted() -> tuple[list[bytes], dict[str, set[str]]]:
    """Hand-planted customers (ids C9xxxxx) and the new rules each must raise."""
    out: list[dict[str, Any]] = []
    expect: dict[str, set[str]] = {}
    usual = ["8000.00", "9500.00", "12000.00", "6000.00", "20000.00"]
    cases = [
        ("C900001", usual, ("2026-08-20T11:00:00+08:00", "30000.00", {}), True),
        ("C900002", ["5000.00"] * 5, ("2026-08-20T11:00:00+08:00", "20000.00", {}), True),
        ("C900003", usual, ("2026-08-20T11:00:00+08:00", "45000.00",
                            {"kind": "cash", "channel": "counter", "counterparty": None}), True),
        ("C900004", usual, ("2026-08-20T11:00:00+08:00", "40000.00",
                            {"counterparty": OWN_ELSEWHERE}), True),
        ("C900005", usual, ("2026-08-20T11:00:00+08:00", "29999.99", {}), False),
        ("C900006", usual[:4], ("2026-08-20T11:00:00+08:00", "40000.00", {}), False),
        ("C900007", ["5000.00"] * 5, ("2026-08-20T11:00:00+08:00", "19999.99", {}), False),
    ]  # fmt: skip
    for cid, history, (when, amount, extra), fires in cases:
        writer = _Writer(out, cid)
        writer.outflows(history, dt.date(2026, 7, 1))
        writer.post(when, amount, **{k: v for k, v in extra.items() if v is not None})
        if extra.get("counterparty", 0) is None:
            del writer.out[-1]["counterparty"]
        expect[cid] = {"large-transfer-out-relative"} if fires else set()
    # internal transfers make no history: four real outflows and three to the own account here
    writer = _Writer(out, "C900008")
    writer.outflows(usual[:4], dt.date(2026, 7, 1))
    for day in ("2026-07-02", "2026-07-09", "2026-07-16"):
        writer.post(f"{day}T10:00:00+08:00", "90000.00", counterparty=OWN_HERE)
    writer.post("2026-08-20T11:00:00+08:00", "40000.00")
    expect["C900008"] = set()
    # payroll on 5 June, July and August at 08:00: gaps of 30 and 31 days, median 30.5, so
    # due 4 September 20:00, the grace runs out 11 September 20:00, the check fires the 12th
    _Writer(out, "C900011").payrolls(["2026-06-05", "2026-07-05", "2026-08-05"])
    expect["C900011"] = {"payroll-stopped"}
    moved = _Writer(out, "C900012")  # the September payroll lands on another account here
    moved.payrolls(["2026-06-05", "2026-07-05", "2026-08-05"])
    moved.payrolls(["2026-09-04", "2026-10-04"], account_id="ACC9000122")
    expect["C900012"] = set()
    _Writer(out, "C900013").payrolls(["2026-07-05", "2026-08-05"])  # too little history
    expect["C900013"] = set()
    late = _Writer(out, "C900014")  # late, but inside the grace
    late.payrolls(["2026-06-05", "2026-07-05", "2026-08-05", "2026-09-06", "2026-10-06"])
    expect["C900014"] = set()
    out.sort(key=lambda m: dt.datetime.fromisoformat(str(m["occurred_at"])))
    lines = [msgspec.json.encode(m) for m in out]
    return lines, expect


def _time(line: bytes) -> dt.datetime:
    return dt.datetime.fromisoformat(json.loads(line)["occurred_at"])


def test_new_signals_catch_the_planted_customers_and_nobody_else() -> None:
    """Every planted customer raises exactly its new rule; no generated customer raises one."""
    lines, expect = planted()
    driver = ReplayDriver(Engine(load_rules(SHIPPED_RULES)), None, clock=lambda: NOW)
    bank = ((_time(line), line) for line in generate(SPEC))
    merged = heapq.merge(((_time(line), line) for line in lines), bank, key=lambda item: item[0])
    summary = driver.run(line for _, line in merged)
    driver.advance_to(UNTIL)
    assert sum(summary.dead_letters.values()) == 0
    got: dict[str, set[str]] = defaultdict(set)
    for alert in driver.stored:
        if alert.rule_id in NEW_RULES:
            got[alert.customer_id].add(alert.rule_id)
    assert {cid: got.get(cid, set()) for cid in expect} == expect
    assert set(got) <= set(expect), "a generated customer raised a new signal"
    stopped = [a for a in driver.stored if a.rule_id == "payroll-stopped"]
    assert len(stopped) == 1
    assert stopped[0].occurred_at == dt.datetime(2026, 9, 12, 9, tzinfo=SHANGHAI)
    assert stopped[0].facts["expected_on"] == "2026-09-04"
    relative = {a.customer_id: a.facts for a in driver.stored if a.rule_id in NEW_RULES}
    assert relative["C900001"]["history_largest"] == "20000.00"
    assert Decimal(str(relative["C900002"]["amount"])) == Decimal("20000.00")
