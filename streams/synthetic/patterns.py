"""Planted churn patterns and their lookalikes for the synthetic data set.

The rule pack is judged on this data: every planted case names the rule that must alert
for its customer, and every lookalike is a near miss that must stay silent. The cases are
written out by hand, with fixed amounts and opening balances, so that a reader can check
the arithmetic against the rule thresholds without running anything. Customers chosen for
a case get only quiet background activity (small card spending, fees, interest) from the
generator, so nothing else pushes them over or under a threshold.

Thresholds assumed (those of ``rules/pack``): an *outflow* is a debit of kind transfer,
cash or product that does not stay in the bank (own account here, or the bank's own
product); large-transfer-out is one transfer or cash outflow of at least 50,000.00;
balance-sharp-fall is a balance at or below 50% of its 7-day peak and at least 50,000.00
below it; payroll-moved-out is outflows within 72 h of a payroll credit reaching 70% of it;
maturity-funds-moved-out is outflows within 7 days of a ``matured`` reaching 50% of its
amount; sticky-product-cancelled is a fund_plan, insurance or auto_debit ``cancelled``;
tier-downgrade is an aum fall across a tier boundary.

Matured deposits of the maturity cases and lookalikes were scheduled before the period,
so they carry no ``maturity_scheduled`` (which would rightly make maturity-reminder alert);
the one deposit opened in the period does, and its case lists both rules.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, TypeAlias

__all__ = [
    "BANK_CP",
    "BANK_NAME",
    "EMPLOYERS",
    "OTHER_BANKS",
    "OWN_PRODUCT_CP",
    "PEOPLE",
    "PREFIX",
    "Counterparty",
    "Intent",
    "Move",
    "PlantedCase",
    "Post",
    "Script",
    "Step",
    "Upsert",
    "customer_id",
    "maturity_steps",
    "plant",
]

BANK_NAME = "示例银行"
BRANCH_NAMES = (
    "陆家嘴支行", "徐家汇支行", "静安寺支行", "五角场支行", "张江支行", "虹桥支行", "南京西路支行",
    "世纪公园支行", "古北支行", "中山公园支行", "七宝支行", "莘庄支行", "金桥支行", "外滩支行",
    "人民广场支行", "打浦桥支行", "曹家渡支行", "大宁支行", "川沙支行", "松江支行",
)  # fmt: skip
OTHER_BANKS = ("中国工商银行", "中国建设银行", "招商银行", "中国农业银行", "中国银行", "平安银行")
PEOPLE = ("李娜", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "Michael Lee")
EMPLOYERS = (
    "华润置地有限公司",
    "上海联影医疗科技",
    "深圳迈瑞生物医疗",
    "京东世纪贸易",
    "ACME Asia Ltd",
)

PREFIX = {"fund_plan": "FP", "insurance": "INS", "auto_debit": "AD", "time_deposit": "TD"}

Counterparty: TypeAlias = dict[str, str | bool]
BANK_CP: Counterparty = {"name": BANK_NAME, "bank": BANK_NAME, "same_bank": True}
OWN_PRODUCT_CP: Counterparty = {**BANK_CP, "same_customer": True}

LTO = "large-transfer-out"
BSF = "balance-sharp-fall"
PMO = "payroll-moved-out"
SPC = "sticky-product-cancelled"
MFM = "maturity-funds-moved-out"
REMINDER = "maturity-reminder"
TIER = "tier-downgrade"


@dataclass(frozen=True, slots=True)
class PlantedCase:
    """A customer whose events were written to make one rule alert (or, lookalike, none)."""

    customer_id: str
    pattern: str
    expect_rule: str | None


@dataclass(frozen=True, slots=True)
class Post:
    """One posting on one of the customer's accounts (index into its account list)."""

    account: int
    direction: Literal["debit", "credit"]
    amount: Decimal
    kind: str
    channel: str
    counterparty: Counterparty | None = None
    description: str | None = None
    outflow: bool = False


@dataclass(frozen=True, slots=True)
class Move:
    """Money moved between two accounts of the same customer at this bank (two postings)."""

    src: int
    dst: int
    amount: Decimal
    channel: str = "mobile"


@dataclass(frozen=True, slots=True)
class Step:
    """A product lifecycle event, with the posting it causes and the steps it schedules."""

    product_id: str
    product_kind: str
    action: str
    account: int = 0
    amount: Decimal | None = None
    maturity_day: int | None = None
    post: Post | None = None
    then: tuple[tuple[int, int, Intent], ...] = ()


@dataclass(frozen=True, slots=True)
class Upsert:
    """A customer directory update carrying a new aum."""

    aum: Decimal


Intent: TypeAlias = Post | Move | Step | Upsert


@dataclass(slots=True)
class Script:
    """Opening balances, aum and the dated intents of one planted customer."""

    balances: tuple[Decimal, ...]
    aum: Decimal
    steps: list[tuple[int, int, Intent]] = field(default_factory=list)


def customer_id(index: int) -> str:
    """The id of the customer at ``index``: shared so cases and events agree."""
    return f"C{index:06d}"


def _m(text: str) -> Decimal:
    return Decimal(text).quantize(Decimal("0.01"))


class _Kit:
    """Builds the intents of the cases from one random stream, so cases stay deterministic."""

    def __init__(self, rng: random.Random, days: int) -> None:
        self.rng = rng
        self.days = days

    def day(self, lo: int, margin: int) -> int:
        return self.rng.randint(lo, self.days - margin)

    def at(self, hour: int, minute: int = 0) -> int:
        return hour * 3600 + minute * 60 + self.rng.randint(0, 59)

    def cp(self, *, own: bool = False, name: str | None = None) -> Counterparty:
        account = "62" + "".join(self.rng.choice("0123456789") for _ in range(17))
        return {
            "name": name or ("本人" if own else self.rng.choice(PEOPLE)),
            "account": account,
            "bank": self.rng.choice(OTHER_BANKS),
            "same_bank": False,
            "same_customer": own,
        }

    def out(self, account: int, amount: str, *, own: bool = False, channel: str = "mobile") -> Post:
        desc = "转账至本人他行账户" if own else "跨行转账"
        return Post(account, "debit", _m(amount), "transfer", channel, self.cp(own=own), desc, True)

    def cash(self, account: int, amount: str) -> Post:
        return Post(account, "debit", _m(amount), "cash", "counter", None, "柜台取现", True)

    def payroll(self, amount: str) -> Post:
        employer = self.cp(name=self.rng.choice(EMPLOYERS))
        return Post(0, "credit", _m(amount), "payroll", "batch", employer, "代发工资")

    def own_product(self, account: int, amount: str) -> Post:
        return Post(account, "debit", _m(amount), "product", "mobile", OWN_PRODUCT_CP, "产品购买")

    def maturity(self, pid: str, day: int, amount: str, renew: bool = False) -> list[Steps]:
        return maturity_steps(pid, _m(amount), day, renew)


def maturity_steps(pid: str, amount: Decimal, day: int, renew: bool) -> list[Steps]:
    """``matured`` then ``renewed``, or ``redeemed`` with the credit and its interest."""
    steps: list[Steps] = [(day, 6 * 3600, Step(pid, "time_deposit", "matured", amount=amount))]
    if renew:
        again = Step(pid, "time_deposit", "renewed", amount=amount, maturity_day=day + 91)
        return [*steps, (day, 6 * 3600 + 1, again)]
    credit = Post(0, "credit", amount, "product", "batch", OWN_PRODUCT_CP, "定期到期兑付")
    redeemed = Step(pid, "time_deposit", "redeemed", amount=amount, post=credit)
    interest = (amount * Decimal("0.0125")).quantize(Decimal("0.01"))
    paid = Post(0, "credit", interest, "interest", "batch", None, "定期利息")
    return [*steps, (day, 6 * 3600 + 1, redeemed), (day, 6 * 3600 + 2, paid)]


Steps: TypeAlias = tuple[int, int, Intent]
Case: TypeAlias = tuple[str, tuple[str | None, ...], Script]


def _script(balances: tuple[str, ...], steps: list[Steps], aum: str | None = None) -> Script:
    opening = tuple(_m(b) for b in balances)
    total = aum or str(sum(opening, Decimal(0)) * Decimal("1.10"))
    return Script(opening, _m(total), steps)


def _churn_cases(k: _Kit) -> list[Case]:
    d = k.day(3, 2)
    cases: list[Case] = [
        (f"{LTO}:exact-50000.00", (LTO,), _script(("320000",), [
            (d, k.at(14, 5), k.out(0, "50000"))])),
        (f"{LTO}:own-account-other-bank", (LTO,), _script(("400000", "30000"), [
            (k.day(3, 2), k.at(10, 30), k.out(0, "120000", own=True, channel="online"))])),
        (f"{LTO}:cash-at-counter", (LTO,), _script(("520000",), [
            (k.day(3, 2), k.at(11), k.cash(0, "80000"))])),
        (f"{LTO}:private-client", (LTO,), _script(("1250000", "200000"), [
            (k.day(3, 2), k.at(16, 20), k.out(0, "260000", channel="online"))])),
    ]  # fmt: skip
    s = k.day(8, 4)
    drains = [
        ("two-accounts", ("150000", "60000"),
         [(0, 0, "35000"), (0, 1, "30000"), (1, 0, "40000"), (2, 1, "25000")]),
        ("one-account", ("120000",), [(0, 0, "45000"), (1, 0, "30000"), (2, 0, "20000")]),
        ("six-transfers-two-accounts", ("300000", "100000"),
         [(0, 0, "49000"), (0, 0, "48000"), (1, 1, "45000"), (1, 0, "40000"), (2, 1, "30000"),
          (3, 0, "20000")]),
        ("three-accounts", ("90000", "40000", "20000"),
         [(0, 0, "30000"), (1, 1, "25000"), (1, 2, "15000"), (2, 0, "25000")]),
    ]  # fmt: skip
    for name, balances, outs in drains:
        steps: list[Steps] = [
            (s + off, k.at(9 + 2 * i), k.out(acct, amount, own=i % 2 == 0))
            for i, (off, acct, amount) in enumerate(outs)
        ]
        cases.append((f"{BSF}:{name}", (BSF,), _script(balances, steps)))
    p = k.day(14, 4)
    payrolls = [
        ("single-account", ("150000",), "25000", [(0, 15, 0, "18000"), (1, 10, 0, "2500")]),
        ("second-account", ("8000", "200000"), "20000",
         [(0, 11, 0, "9000"), (1, 10, 0, "6000"), (2, 8, 1, "2000")]),
        ("exactly-70pct-second-account", ("60000", "100000"), "12000",
         [(0, 12, 0, "5000"), (1, 20, 1, "3400")]),
        ("own-account-other-bank", ("500000",), "45000", [(1, 10, 0, "40000")]),
    ]  # fmt: skip
    for name, balances, pay, moves in payrolls:
        steps = [(p - 14, k.at(9), k.payroll(pay)), (p, k.at(9), k.payroll(pay))]
        steps += [
            (p + o, k.at(h), k.out(a, amt, own=name.startswith("own"))) for o, h, a, amt in moves
        ]
        cases.append((f"{PMO}:{name}", (PMO,), _script(balances, steps)))
    c = k.day(7, 1)
    fund = Step("FP-PLANT-0", "fund_plan", "opened", amount=_m("1000"),
                post=k.own_product(0, "1000"))  # fmt: skip
    sticky = [
        ("fund_plan", "opened-in-period", "30000", "1000", [(1, k.at(10), fund)]),
        ("insurance", "policy", "80000", "12000", []),
        ("auto_debit", "agreement", "15000", None, []),
        ("fund_plan", "pre-existing", "45000", "2000", []),
    ]
    for n, (kind, name, balance, amount, extra) in enumerate(sticky):
        pid = f"{PREFIX[kind]}-PLANT-{n}"
        cancel = Step(pid, kind, "cancelled", amount=_m(amount) if amount else None)
        cases.append(
            (f"{SPC}:{kind}-{name}", (SPC,), _script((balance,), [*extra, (c, k.at(15), cancel)]))
        )
    m = k.day(k.days // 2, 7)
    opened = Step("TD-PLANT-B", "time_deposit", "opened", amount=_m("60000"), maturity_day=m,
                  post=k.own_product(0, "60000"))  # fmt: skip
    scheduled = Step("TD-PLANT-B", "time_deposit", "maturity_scheduled", amount=_m("60000"),
                     maturity_day=m)  # fmt: skip
    mats: list[tuple[str, tuple[str | None, ...], str, str, list[Steps]]] = [
        ("pre-existing-td", (MFM,), "40000", "100000",
         [(m + 1, k.at(10), k.out(0, "30000", own=True)), (m + 3, k.at(14), k.out(0, "25000"))]),
        ("td-opened-in-period", (MFM, REMINDER), "200000", "60000",
         [(1, k.at(10), opened), (max(1, m - 7), k.at(11), scheduled),
          (m + 1, k.at(9), k.out(0, "20000")), (m + 2, k.at(9), k.out(0, "15000"))]),
        ("large-amount-also-large-transfer", (MFM, LTO), "500000", "300000",
         [(m + 2, k.at(10), k.out(0, "200000", own=True, channel="online"))]),
        ("cash-and-transfer", (MFM,), "20000", "50000",
         [(m + 1, k.at(10), k.cash(0, "10000")), (m + 2, k.at(16), k.out(0, "16000"))]),
    ]  # fmt: skip
    for n, (name, rules, balance, td, steps) in enumerate(mats):
        pid = "TD-PLANT-B" if n == 1 else f"TD-PLANT-{n}"
        steps = [*steps, *k.maturity(pid, m, td)]
        aum = str(_m(balance) + (Decimal(0) if n == 1 else _m(td)))
        cases.append((f"{MFM}:{name}", rules, _script((balance,), steps, aum)))
    return cases


def _quiet_cases(k: _Kit) -> list[Case]:
    d, p, q, m, m2 = k.day(3, 2), k.day(1, 3), k.day(1, 6), k.day(3, 7), k.day(3, 10)
    card_cp: Counterparty = {"name": "恒隆广场某奢侈品店", "same_bank": False}
    product = Step("WM-PLANT-L", "wealth", "opened", amount=_m("150000"),
                   post=k.own_product(0, "150000"))  # fmt: skip
    look: list[tuple[str, tuple[str, ...], list[Steps], str | None]] = [
        ("transfer-49999.99", ("400000",), [(d, k.at(13), k.out(0, "49999.99"))], None),
        ("own-account-same-bank", ("500000", "100000"),
         [(d, k.at(10), Move(0, 1, _m("200000")))], None),
        ("own-wealth-product-150000", ("450000",), [(d, k.at(10), product)], None),
        ("payroll-60pct-within-72h", ("100000",), [(p, k.at(9), k.payroll("20000")),
         (p, k.at(14), k.out(0, "7000")), (p + 1, k.at(11), k.out(0, "5000"))], None),
        ("payroll-80pct-after-4-days", ("100000",), [(q, k.at(9), k.payroll("20000")),
         (q + 4, k.at(14), k.out(0, "10000")), (q + 5, k.at(11), k.out(0, "6000"))], None),
        ("big-card-spending", ("300000",), [(d, k.at(15), Post(
            0, "debit", _m("68000"), "card", "pos", card_cp, "刷卡消费"))], None),
        ("balance-drop-60pct-only-30000", ("50000",), [(d - 1, k.at(10), k.out(0, "12000")),
         (d - 1, k.at(15), k.out(0, "10000")), (d, k.at(10), k.out(0, "8000"))], None),
        ("maturity-outflow-40pct", ("60000",), [*k.maturity("TD-LOOK-1", m, "100000"),
         (m + 1, k.at(10), k.out(0, "25000")), (m + 3, k.at(10), k.out(0, "15000"))], "160000"),
        ("maturity-outflow-after-8-days", ("100000",), [*k.maturity("TD-LOOK-2", m2, "80000"),
         (m2 + 8, k.at(10), k.out(0, "45000")), (m2 + 9, k.at(10), k.out(0, "10000"))],
         "180000"),
        ("maturity-renewed", ("50000",), k.maturity("TD-LOOK-3", m, "100000", renew=True),
         "150000"),
        ("aum-fall-within-tier", ("40000",), [(d, 3 * 3600, Upsert(_m("60000")))], "190000"),
    ]  # fmt: skip
    cases: list[Case] = [
        (f"lookalike:{name}", (None,), _script(balances, steps, aum))
        for name, balances, steps, aum in look
    ]
    for name, before, after, balance in (
        ("B-to-C", "230000", "180000", "150000"),
        ("C-to-mass", "62000", "45000", "40000"),
        ("private-to-A", "1200000", "950000", "800000"),
        ("A-to-B", "520000", "480000", "300000"),
    ):
        fall: list[Steps] = [(k.day(2, 1), 3 * 3600, Upsert(_m(after)))]
        cases.append((f"{TIER}:{name}", (TIER,), _script((balance,), fall, before)))
    return cases


def plant(customers: int, days: int, seed: int) -> tuple[list[PlantedCase], dict[int, Script]]:
    """Choose the planted customers and write their scripts; cheap, no events generated.

    A separate random stream keeps the choice independent of the background data, so
    :func:`planted_cases` can answer without generating a single event.
    """
    kit = _Kit(random.Random(f"churnwatch-planted:{seed}"), days)
    cases = _churn_cases(kit) + _quiet_cases(kit)
    chosen = kit.rng.sample(range(customers), len(cases))
    rows: list[PlantedCase] = []
    scripts: dict[int, Script] = {}
    for index, (pattern, rules, script) in zip(chosen, cases, strict=True):
        # a small credit on every account first, so a rule engine knows each opening balance
        warm = [
            (0, kit.at(7, 5 + n), Post(n, "credit", _m("100"), "transfer", "mobile", kit.cp()))
            for n in range(len(script.balances))
        ]
        script.steps[:0] = warm
        script.balances = tuple(b - Decimal(100) for b in script.balances)
        scripts[index] = script
        rows += [PlantedCase(customer_id(index), pattern, rule) for rule in rules]
    return rows, scripts
