"""The demo bank's people: staff, customers, their wealth, income, bills and products.

Everyone is drawn once, at the start, from the spec's seeded random stream: names and
phones, branches and managers, balances and habits (payroll or pension, bills, an
existing time deposit), and the planted customers' scripts put on the agenda. Background
customers are drawn clear of the churn rules (see :mod:`churnwatch.streams.synthetic.world`
for the guards that keep their days so). Money is :class:`~decimal.Decimal` throughout.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeAlias

from churnwatch.streams.synthetic.patterns import (
    BANK_NAME,
    EMPLOYERS,
    OTHER_BANKS,
    PEOPLE,
    Counterparty,
    Intent,
    Post,
    Step,
    Upsert,
    customer_id,
    maturity_steps,
    plant,
)
from churnwatch.streams.synthetic.spec import DatasetSpec, tier_of

__all__ = [
    "CENT",
    "DAY",
    "HOUR",
    "Customer",
    "Entry",
    "Guard",
    "Population",
    "credit",
    "debit",
    "yuan",
]

CENT = Decimal("0.01")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ("芳", "伟", "娜", "敏", "静", "磊", "强", "洋", "艳", "军", "杰", "婷", "建国", "秀英")
ENGLISH = ("Emily Chen", "David Wong", "Sarah Lin", "James Liu", "Grace Zhou", "Kevin Ma")
BILLERS = (
    ("国家电网", "电费"),
    ("中国移动", "话费"),
    ("上海燃气", "燃气费"),
    ("物业服务中心", "物业费"),
)
PHONE_PREFIXES = ("138", "139", "135", "136", "150", "151", "186", "187", "188", "159", "177")
HOUR, DAY = 3600, 86400
Entry: TypeAlias = tuple[
    int, int, int, Intent, bool
]  # second of day, seq, customer, intent, guarded


def yuan(cents: int) -> Decimal:
    """An amount in cents as yuan, exactly."""
    return Decimal(cents).scaleb(-2)


def debit(amount: Decimal, kind: str, channel: str, cp: Counterparty | None, desc: str,
        outflow: bool = False) -> Post:  # fmt: skip
    return Post(0, "debit", amount, kind, channel, cp, desc, outflow)


def credit(amount: Decimal, kind: str, channel: str, cp: Counterparty | None, desc: str) -> Post:
    return Post(0, "credit", amount, kind, channel, cp, desc)


@dataclass(slots=True)
class Guard:
    """Outflows since a payroll or a redemption, to keep background below the rules."""

    start: int
    limit: Decimal
    window: int
    used: Decimal = Decimal(0)


@dataclass(slots=True, eq=False)
class Customer:
    """One customer's directory fields, balances and habits while generating."""

    index: int
    name: str
    phone: str
    language: str
    branch: str
    manager: str
    opt_in: bool
    fee: bool
    birthday: dt.date | None
    aum: Decimal = Decimal(0)
    bal: list[Decimal] = field(default_factory=list)
    floor: list[Decimal] = field(default_factory=list)  # background debits stop here
    accounts: list[str] = field(default_factory=list)
    total: Decimal = Decimal(0)
    day_max: Decimal = Decimal(0)
    peaks: deque[Decimal] = field(default_factory=lambda: deque(maxlen=6))
    planted: bool = False
    monthly: list[tuple[int, int, Post]] = field(default_factory=list)  # day, hour, posting
    spend: int = 0  # monthly spending, in cents
    card_avg: int = 8000
    pay_guard: Guard | None = None
    mat_guard: Guard | None = None

    @property
    def cid(self) -> str:
        return customer_id(self.index)


class Population:
    """The bank's staff and customers as drawn at the start, with the agenda of their steps.

    :class:`~churnwatch.streams.synthetic.world.World` lives their days on top of this; both
    draw from one ``random.Random``, in the order the data set's bytes depend on.
    """

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec, self.days, self.rng = spec, spec.weeks * 7, random.Random(spec.seed)
        self.scripts = plant(spec.customers, self.days, spec.seed)[1]
        self.agenda: dict[int, list[Entry]] = {}
        self.seq = 0
        self.customers: list[Customer] = []
        self.staff: list[tuple[str, str, str, str, str, bool]] = []
        self._population()

    def _schedule(self, day: int, sec: int, cust: int, intent: Intent, guarded: bool) -> None:
        self.seq += 1
        self.agenda.setdefault(day, []).append((sec, self.seq, cust, intent, guarded))

    def _cp(self, *, same_bank: bool = False, name: str | None = None) -> Counterparty:
        bank = BANK_NAME if same_bank else self.rng.choice(OTHER_BANKS)
        account = f"62{self.rng.randrange(10**17):017d}"
        name = name or self.rng.choice(PEOPLE)
        return {"name": name, "account": account, "bank": bank, "same_bank": same_bank}

    def _name(self, english: bool = False) -> str:
        if english and self.rng.random() < 0.6:
            return self.rng.choice(ENGLISH)
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def _phone(self) -> str:
        return f"+86{self.rng.choice(PHONE_PREFIXES)}{self.rng.randrange(10**8):08d}"

    def _add_staff(self, role: str, branch: str, active: bool = True) -> str:
        sid = f"S{len(self.staff) + 1:04d}"
        english = self.rng.random() < 0.1
        self.staff.append((sid, self._name(english), self._phone(), role, branch, active))
        return sid

    def _population(self) -> None:
        """Staff (~1 branch per 150 customers, ~1 manager per 60), then the customers."""
        rng, spec = self.rng, self.spec
        n_branch = max(1, round(spec.customers / 150))
        n_rm = max(n_branch, round(spec.customers / 60))
        branches = [f"BR{i + 1:02d}" for i in range(n_branch)]
        self._add_staff("executive", "HQ"), self._add_staff("executive", "HQ")
        for branch in branches:
            self._add_staff("branch_head", branch)
        inactive = rng.sample(range(n_rm), 2)  # their customers still point at them
        managers: dict[str, list[str]] = {b: [] for b in branches}
        for i in range(n_rm):
            branch = branches[i % n_branch]
            managers[branch].append(
                self._add_staff("relationship_manager", branch, i not in inactive)
            )
        for i in range(spec.customers):
            en = rng.random() < 0.15
            branch = rng.choice(branches)
            born = dt.date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28))
            c = Customer(i, self._name(en), self._phone(), "en" if en else "zh-CN", branch,
                      rng.choice(managers[branch]), rng.random() >= 0.1, rng.random() < 0.4,
                      born if rng.random() < 0.7 else None)  # fmt: skip
            script = self.scripts.get(i)
            if script is None:
                self._background_profile(c)
            else:
                c.planted, c.bal, c.aum = True, list(script.balances), script.aum
                c.floor = [b * Decimal("0.9") for b in c.bal]
                for day, sec, intent in script.steps:
                    self._schedule(day, sec, i, intent, False)
            c.accounts = [f"AC6222{i:08d}{n + 1:02d}" for n in range(len(c.bal))]
            c.total = c.day_max = sum(c.bal, Decimal(0))
            self.customers.append(c)

    def _background_profile(self, c: Customer) -> None:
        """Wealth, accounts, income, bills, an existing deposit and a directory update."""
        rng, days, r = self.rng, self.days, self.rng.random()
        i = (r >= 0.62) + (r >= 0.85) + (r >= 0.95) + (r >= 0.99)  # skewed: most are mass
        lo, hi = ((5, 49_999), (50_000, 199_999), (200_000, 499_999), (500_000, 999_999),
                  (1_000_000, 5_000_000))[i]  # fmt: skip
        aum_cents = rng.randint(lo * 100, hi * 100)
        c.aum = yuan(aum_cents)
        deposits = aum_cents * rng.randint(35, 80) // 100
        n_acc = rng.choices((1, 2, 3), weights=(55, 35, 10))[0]
        primary = deposits * rng.randint(60, 90) // 100 if n_acc > 1 else deposits
        rest = [(deposits - primary) // max(1, n_acc - 1)] * (n_acc - 1)
        c.bal, c.floor = [yuan(primary), *map(yuan, rest)], [Decimal(0)] * n_acc
        if rng.random() < 0.6:
            monthly = rng.randint(400_000, (1_500_000, 3_000_000, 6_000_000)[min(i, 2)])
            semi = rng.random() < 0.2
            dates = rng.choice(((1, 16), (5, 20))) if semi else (rng.choice((5, 10, 15, 25)),)
            pay = credit(yuan(monthly // len(dates)), "payroll", "batch",
                      self._cp(name=rng.choice(EMPLOYERS)), "代发工资")  # fmt: skip
            c.monthly += [(day, 9, pay) for day in dates]
        else:
            monthly = min(aum_cents * 2 // 100, 2_000_000) + 100_000
            income = (
                credit(yuan(monthly), "other", "batch", None, "养老金")
                if rng.random() < 0.4
                else credit(yuan(monthly), "transfer", "mobile", self._cp(), "转账收入")
            )
            c.monthly.append((rng.randint(1, 28), 10, income))
        c.spend = monthly * rng.randint(30, 60) // 100
        c.card_avg = max(1500, c.spend // 40)
        for biller, what in rng.sample(BILLERS, rng.randint(0, 3)):
            bill = yuan(rng.randint(3000, 40000))
            c.monthly.append(
                (
                    rng.randint(1, 28),
                    7,
                    debit(bill, "auto_debit", "batch", self._cp(name=biller), what, True),
                )
            )
        spare = aum_cents - deposits
        if spare >= 2_000_000 and rng.random() < 0.12:
            amount = yuan(spare * rng.randint(30, 90) // 100 // 100_000 * 100_000)
            for day, sec, step in self._lifecycle(
                f"TD-{c.cid}-0", amount, rng.randint(1, days + 14), 0
            ):
                self._schedule(day, sec, c.index, step, True)
        if rng.random() < 0.04:  # aum moves within its tier or up, never down a tier
            new = (c.aum * rng.randint(90, 125) / 100).quantize(CENT)
            new = (
                new if tier_of(new) >= tier_of(c.aum) else (c.aum * Decimal("1.05")).quantize(CENT)
            )
            self._schedule(
                rng.randint(1, days - 1),
                3 * HOUR + rng.randint(0, 1800),
                c.index,
                Upsert(new),
                True,
            )

    def _lifecycle(
        self, pid: str, amount: Decimal, due: int, first: int
    ) -> list[tuple[int, int, Intent]]:
        """maturity_scheduled a week ahead, then matured and renewed or redeemed."""
        steps: list[tuple[int, int, Intent]] = []
        if due - 7 < self.days:
            sched = Step(pid, "time_deposit", "maturity_scheduled", amount=amount, maturity_day=due)
            steps.append((max(first, due - 7), 8 * HOUR, sched))
        renew = self.rng.random() < 0.5
        return steps + (maturity_steps(pid, amount, due, renew) if due < self.days else [])
