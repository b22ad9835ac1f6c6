"""A deterministic synthetic bank: contract-v1 JSON lines with planted churn cases.

The rule pack, the replay driver, the worker and the benchmarks all need input that looks
like a retail bank's event bus and is byte-for-byte the same on every machine, so a failing
test or a changed alert count means a changed program, never changed data. Everything
comes from ``random.Random`` streams seeded by the spec, never the wall clock.

Background life is kept clear of the churn rules by guards applied while postings are
made (no outflow that would drain a payroll, a matured deposit or half a balance), so any
churn alert on the data belongs to a case listed by :func:`planted_cases`
(see :mod:`churnwatch.streams.synthetic.patterns`). Money is :class:`~decimal.Decimal` throughout.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from operator import itemgetter
from pathlib import Path
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo

import msgspec

from churnwatch.streams.synthetic.patterns import (
    BANK_CP,
    BANK_NAME,
    BRANCH_NAMES,
    EMPLOYERS,
    OTHER_BANKS,
    OWN_PRODUCT_CP,
    PEOPLE,
    PREFIX,
    Counterparty,
    Intent,
    Move,
    PlantedCase,
    Post,
    Step,
    Upsert,
    customer_id,
    maturity_steps,
    plant,
)

__all__ = ["DatasetSpec", "PlantedCase", "generate", "planted_cases", "tier_of", "write_dataset"]

CENT = Decimal("0.01")
TIER_BOUNDS = (Decimal(50000), Decimal(200000), Decimal(500000), Decimal(1000000))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ("芳", "伟", "娜", "敏", "静", "磊", "强", "洋", "艳", "军", "杰", "婷", "建国", "秀英")
ENGLISH = ("Emily Chen", "David Wong", "Sarah Lin", "James Liu", "Grace Zhou", "Kevin Ma")
MERCHANTS = ("美团外卖", "盒马鲜生", "星巴克", "滴滴出行", "京东商城", "全家便利店", "中国石化")
BILLERS = (
    ("国家电网", "电费"),
    ("中国移动", "话费"),
    ("上海燃气", "燃气费"),
    ("物业服务中心", "物业费"),
)
PHONE_PREFIXES = ("138", "139", "135", "136", "150", "151", "186", "187", "188", "159", "177")
SHUFFLE_WINDOW = 900  # seconds: "a few minutes apart"
BOM = b"\xef\xbb\xbf"
HOUR, DAY = 3600, 86400
Entry: TypeAlias = tuple[
    int, int, int, Intent, bool
]  # second of day, seq, customer, intent, guarded
Item: TypeAlias = tuple[int, int, dict[str, object]]  # second of day, customer (-1 staff), record


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate; the same spec always gives the same bytes."""

    customers: int = 3000
    weeks: int = 6
    start: dt.date = dt.date(2026, 9, 7)  # a Monday
    seed: int = 7
    timezone: str = "Asia/Shanghai"
    malformed_share: float = 0.0  # extra bad lines, per transaction line
    shuffle_share: float = 0.0  # share of close same-customer pairs swapped

    def __post_init__(self) -> None:
        # the planted cases need room: 35 customers among many, and three weeks of dates
        if self.customers < 100 or self.weeks < 3:
            raise ValueError("DatasetSpec needs customers >= 100 and weeks >= 3")
        if not (0 <= self.malformed_share <= 1 and 0 <= self.shuffle_share <= 1):
            raise ValueError("malformed_share and shuffle_share must be within [0, 1]")


def branch_name(branch_id: str) -> str:
    """The demo's name for ``BRnn``: what its staff call it."""
    if branch_id == "HQ":
        return "总行"
    number = int(branch_id.removeprefix("BR"))
    return BRANCH_NAMES[number - 1] if number <= len(BRANCH_NAMES) else f"第{number}支行"


def tier_of(aum: Decimal) -> int:
    """0 = mass, 1 = C, 2 = B, 3 = A, 4 = private: the aum tiers the rules use."""
    return sum(1 for bound in TIER_BOUNDS if aum >= bound)


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


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _dr(amount: Decimal, kind: str, channel: str, cp: Counterparty | None, desc: str,
        outflow: bool = False) -> Post:  # fmt: skip
    return Post(0, "debit", amount, kind, channel, cp, desc, outflow)


def _cr(amount: Decimal, kind: str, channel: str, cp: Counterparty | None, desc: str) -> Post:
    return Post(0, "credit", amount, kind, channel, cp, desc)


@dataclass(slots=True)
class _Guard:
    """Outflows since a payroll or a redemption, to keep background below the rules."""

    start: int
    limit: Decimal
    window: int
    used: Decimal = Decimal(0)


@dataclass(slots=True, eq=False)
class _Cust:
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
    pay_guard: _Guard | None = None
    mat_guard: _Guard | None = None

    @property
    def cid(self) -> str:
        return customer_id(self.index)


class _World:
    """The bank's state while generating: balances per account, guards, the agenda."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec, self.days, self.rng = spec, spec.weeks * 7, random.Random(spec.seed)
        self.scripts = plant(spec.customers, self.days, spec.seed)[1]
        self.agenda: dict[int, list[Entry]] = {}
        self.seq = self.n_tx = self.n_pr = self.n_cu = self.base = 0
        self.prefix = self.offset = ""
        self.zone = ZoneInfo(spec.timezone)
        self.customers: list[_Cust] = []
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
            c = _Cust(i, self._name(en), self._phone(), "en" if en else "zh-CN", branch,
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

    def _background_profile(self, c: _Cust) -> None:
        """Wealth, accounts, income, bills, an existing deposit and a directory update."""
        rng, days, r = self.rng, self.days, self.rng.random()
        i = (r >= 0.62) + (r >= 0.85) + (r >= 0.95) + (r >= 0.99)  # skewed: most are mass
        lo, hi = ((5, 49_999), (50_000, 199_999), (200_000, 499_999), (500_000, 999_999),
                  (1_000_000, 5_000_000))[i]  # fmt: skip
        aum_cents = rng.randint(lo * 100, hi * 100)
        c.aum = _money(aum_cents)
        deposits = aum_cents * rng.randint(35, 80) // 100
        n_acc = rng.choices((1, 2, 3), weights=(55, 35, 10))[0]
        primary = deposits * rng.randint(60, 90) // 100 if n_acc > 1 else deposits
        rest = [(deposits - primary) // max(1, n_acc - 1)] * (n_acc - 1)
        c.bal, c.floor = [_money(primary), *map(_money, rest)], [Decimal(0)] * n_acc
        if rng.random() < 0.6:
            monthly = rng.randint(400_000, (1_500_000, 3_000_000, 6_000_000)[min(i, 2)])
            semi = rng.random() < 0.2
            dates = rng.choice(((1, 16), (5, 20))) if semi else (rng.choice((5, 10, 15, 25)),)
            pay = _cr(_money(monthly // len(dates)), "payroll", "batch",
                      self._cp(name=rng.choice(EMPLOYERS)), "代发工资")  # fmt: skip
            c.monthly += [(day, 9, pay) for day in dates]
        else:
            monthly = min(aum_cents * 2 // 100, 2_000_000) + 100_000
            income = (
                _cr(_money(monthly), "other", "batch", None, "养老金")
                if rng.random() < 0.4
                else _cr(_money(monthly), "transfer", "mobile", self._cp(), "转账收入")
            )
            c.monthly.append((rng.randint(1, 28), 10, income))
        c.spend = monthly * rng.randint(30, 60) // 100
        c.card_avg = max(1500, c.spend // 40)
        for biller, what in rng.sample(BILLERS, rng.randint(0, 3)):
            bill = _money(rng.randint(3000, 40000))
            c.monthly.append(
                (
                    rng.randint(1, 28),
                    7,
                    _dr(bill, "auto_debit", "batch", self._cp(name=biller), what, True),
                )
            )
        spare = aum_cents - deposits
        if spare >= 2_000_000 and rng.random() < 0.12:
            amount = _money(spare * rng.randint(30, 90) // 100 // 100_000 * 100_000)
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

    def _plan(self, c: _Cust, d: int, date: dt.date, out: list[Entry]) -> None:
        """Draw one ordinary day of this customer's life."""
        rng, dom = self.rng, date.day

        def add(sec: int, intent: Intent) -> None:
            self.seq += 1
            out.append((sec, self.seq, c.index, intent, True))

        if date.month % 3 == 0 and dom == 21:  # the quarterly interest settlement day
            for n, balance in enumerate(c.bal):
                interest = (balance * Decimal("0.0005")).quantize(CENT, ROUND_DOWN)
                if interest > 0:
                    add(
                        2 * HOUR + n, Post(n, "credit", interest, "interest", "batch", None, "结息")
                    )
        if c.fee and dom == 1:
            add(2 * HOUR + 1800, _dr(Decimal("2.00"), "fee", "batch", BANK_CP, "短信服务费"))
        r = rng.random()
        cards = int(r < 0.4) if c.planted else (r >= 0.3) + (r >= 0.7) + (r >= 0.92)
        for _ in range(cards):
            sec = rng.randint(8 * HOUR, 22 * HOUR)
            for _burst in range(1 + (rng.random() < 0.15)):  # sometimes a second, minutes later
                cents = rng.randint(c.card_avg // 5, c.card_avg * 9 // 5)
                cents *= 5 if rng.random() < 0.02 and not c.planted else 1
                cp: Counterparty = {"name": rng.choice(MERCHANTS), "same_bank": False}
                add(
                    sec,
                    _dr(
                        _money(cents), "card", "pos" if rng.random() < 0.8 else "online", cp, "消费"
                    ),
                )
                sec += rng.randint(120, 900)
        if c.planted:  # planted customers live quietly apart from their script
            return
        for day, hour, post in c.monthly:
            if dom == day:
                add(hour * HOUR + rng.randint(0, 5400), post)
        hi = max(10_000, c.spend // 3)
        if rng.random() < 0.08:
            cp = self._cp(same_bank=rng.random() < 0.3)
            add(
                rng.randint(8 * HOUR, 23 * HOUR),
                _dr(_money(rng.randint(5000, hi)), "transfer", "mobile", cp, "转账", True),
            )
        if rng.random() < 0.05:
            add(
                rng.randint(8 * HOUR, 22 * HOUR),
                _cr(_money(rng.randint(5000, hi)), "transfer", "mobile", self._cp(), "转账收入"),
            )
        if rng.random() < 0.04:
            sec = rng.randint(7 * HOUR, 22 * HOUR)
            add(sec, _dr(_money(rng.randint(1, 30) * 10_000), "cash", "atm", None, "ATM取款", True))
            if rng.random() < 0.3:
                add(sec + 1, _dr(Decimal("4.00"), "fee", "atm", BANK_CP, "跨行取款手续费"))
        if len(c.bal) > 1 and rng.random() < 0.015:
            src, dst = rng.sample(range(len(c.bal)), 2)
            amount = (c.bal[src] * rng.randint(5, 30) / 100 // 100 * 100).quantize(CENT)
            if amount >= 100:
                add(rng.randint(9 * HOUR, 21 * HOUR), Move(src, dst, amount))
        r = rng.random()
        if r >= 0.007:
            return
        sec, pid = rng.randint(9 * HOUR, 17 * HOUR), f"{c.cid}-{d:03d}"
        amount = (c.bal[0] * rng.randint(10, 25) / 100 // 1000 * 1000).quantize(CENT)
        if r < 0.003 and amount >= 1000:  # the bank's own wealth product
            buy = _dr(amount, "product", "mobile", OWN_PRODUCT_CP, "理财购买")
            add(sec, Step(f"WM-{pid}", "wealth", "opened", amount=amount, post=buy))
        elif 0.003 <= r < 0.005 and amount >= 10_000:  # a one- or three-month time deposit
            due = d + rng.choice((30, 91))
            buy = _dr(amount, "product", "counter", OWN_PRODUCT_CP, "定期存款")
            then = tuple(self._lifecycle(f"TD-{pid}", amount, due, d + 1))
            add(
                sec,
                Step(
                    f"TD-{pid}",
                    "time_deposit",
                    "opened",
                    amount=amount,
                    maturity_day=due,
                    post=buy,
                    then=then,
                ),
            )
        elif r >= 0.005:  # a sticky product; background never cancels one
            kind = rng.choice(("fund_plan", "insurance", "auto_debit"))
            price = {"fund_plan": (50_000, 300_000), "insurance": (300_000, 2_000_000)}.get(kind)
            money = _money(rng.randint(*price)) if price else None
            buy2 = _dr(money, "product", "mobile", OWN_PRODUCT_CP, "产品购买") if money else None
            add(sec, Step(f"{PREFIX[kind]}-{pid}", kind, "opened", amount=money, post=buy2))

    def _allowed(self, c: _Cust, p: Post, new: Decimal, now: int) -> bool:
        """Would this background debit overdraw, or look like one of the churn rules?"""
        if new < c.floor[p.account]:
            return False
        if p.outflow:
            for g in (c.pay_guard, c.mat_guard):
                if g is not None and now - g.start <= g.window and g.used + p.amount > g.limit:
                    return False
        peak, after = max(c.day_max, max(c.peaks, default=c.day_max)), c.total - p.amount
        return not (after * 10 < peak * 6 and peak - after > 30_000)

    def _post(self, c: _Cust, p: Post, sec: int, guarded: bool) -> dict[str, object] | None:
        """Post to the account, keeping balance_after exact; None when a guard refuses."""
        now, n = self.base + sec, p.account
        signed = -p.amount if p.direction == "debit" else p.amount
        new = c.bal[n] + signed
        if guarded and signed < 0 and not self._allowed(c, p, new, now):
            return None
        if new < 0:
            raise RuntimeError(f"planted posting overdraws {c.accounts[n]}: fix its script")
        c.bal[n], c.total = new, c.total + signed
        c.day_max = max(c.day_max, c.total)
        if p.outflow:
            for g in (c.pay_guard, c.mat_guard):
                if g is not None and now - g.start <= g.window:
                    g.used += p.amount
        elif p.kind == "payroll":
            c.pay_guard = _Guard(now, p.amount * Decimal("0.4"), 96 * HOUR)
        elif p.kind == "product" and signed > 0:
            c.mat_guard = _Guard(now, p.amount * Decimal("0.3"), 8 * DAY)
        self.n_tx += 1
        rec: dict[str, object] = {
            "type": "transaction", "event_id": f"tx-{self.n_tx:07d}", "occurred_at": self._ts(sec),
            "account_id": c.accounts[n], "customer_id": c.cid, "direction": p.direction,
            "amount": p.amount, "balance_after": new, "kind": p.kind, "channel": p.channel,
            "currency": "CNY",
        }  # fmt: skip
        if p.counterparty is not None:
            rec["counterparty"] = p.counterparty
        if p.description is not None:
            rec["description"] = p.description
        return rec

    def _ts(self, sec: int) -> str:
        hour, rest = divmod(sec, HOUR)
        return f"{self.prefix}{hour:02d}:{rest // 60:02d}:{rest % 60:02d}{self.offset}"

    def _customer(self, c: _Cust, sec: int) -> dict[str, object]:
        self.n_cu += 1
        rec: dict[str, object] = {
            "type": "customer", "event_id": f"cu-{self.n_cu:07d}", "occurred_at": self._ts(sec),
            "customer_id": c.cid, "name": c.name, "phone": c.phone, "language": c.language,
            "aum": c.aum, "branch_id": c.branch, "manager_id": c.manager, "sms_opt_in": c.opt_in,
        }  # fmt: skip
        if c.birthday is not None:
            rec["birthday"] = c.birthday.isoformat()
        return rec

    def _product(self, c: _Cust, step: Step, sec: int) -> dict[str, object]:
        self.n_pr += 1
        rec: dict[str, object] = {
            "type": "product", "event_id": f"pr-{self.n_pr:07d}", "occurred_at": self._ts(sec),
            "customer_id": c.cid, "account_id": c.accounts[step.account],
            "product_id": step.product_id, "product_kind": step.product_kind,
            "action": step.action, "currency": "CNY",
        }  # fmt: skip
        if step.amount is not None:
            rec["amount"] = step.amount
        if step.maturity_day is not None:
            rec["maturity_date"] = (self.spec.start + dt.timedelta(step.maturity_day)).isoformat()
        return rec

    def _apply(self, entry: Entry, out: list[Item]) -> None:
        sec, _, index, intent, guarded = entry
        c = self.customers[index]
        if isinstance(intent, Post):
            rec = self._post(c, intent, sec, guarded)
            out += [] if rec is None else [(sec, index, rec)]
        elif isinstance(intent, Move):  # debit leg then credit leg, same second
            if guarded and c.bal[intent.src] < intent.amount:
                return
            legs: tuple[tuple[int, Literal["debit", "credit"], int], ...] = (
                (intent.src, "debit", intent.dst), (intent.dst, "credit", intent.src))  # fmt: skip
            for n, direction, other in legs:
                cp: Counterparty = {"name": c.name, "account": c.accounts[other], "bank": BANK_NAME}
                cp.update(same_bank=True, same_customer=True)
                leg = Post(
                    n, direction, intent.amount, "transfer", intent.channel, cp, "本人账户互转"
                )
                out.append((sec, index, self._post(c, leg, sec, False) or {}))
        elif isinstance(intent, Step):
            posted = None if intent.post is None else self._post(c, intent.post, sec, guarded)
            if intent.post is not None and posted is None:
                return
            out.append((sec, index, self._product(c, intent, sec)))
            out += [] if posted is None else [(sec, index, posted)]
            for day, when, step in intent.then:
                self._schedule(day, when, index, step, True)
        else:
            c.aum = intent.aum
            out.append((sec, index, self._customer(c, sec)))

    def day(self, d: int) -> list[Item]:
        """All events of day ``d`` in time order (the directory first on day 0)."""
        date = self.spec.start + dt.timedelta(days=d)
        offset = dt.datetime.combine(date, dt.time(12), self.zone).strftime("%z")
        self.prefix, self.offset = f"{date.isoformat()}T", f"{offset[:3]}:{offset[3:]}"
        self.base = d * DAY
        out: list[Item] = self._directory() if d == 0 else []
        entries = self.agenda.pop(d, [])
        for c in self.customers:
            c.peaks.append(c.day_max)
            c.day_max = c.total
            self._plan(c, d, date, entries)
        entries.sort(key=itemgetter(0, 1))
        for entry in entries:
            self._apply(entry, out)
        return out

    def _directory(self) -> list[Item]:
        """Staff then customers, spread over the first hour of the first day."""
        total = len(self.staff) + len(self.customers)
        out: list[Item] = []
        for k, (sid, name, phone, role, branch, active) in enumerate(self.staff):
            sec = k * HOUR // total
            out.append((sec, -1, {
                "type": "staff", "event_id": f"st-{k + 1:07d}", "occurred_at": self._ts(sec),
                "staff_id": sid, "name": name, "phone": phone, "role": role,
                "branch_id": branch, "active": active, "branch_name": branch_name(branch),
                "im_user_id": sid.lower(),
                **({"language": "en"} if name.isascii() else {})}))  # fmt: skip
        for k, c in enumerate(self.customers, start=len(self.staff)):
            out.append((k * HOUR // total, c.index, self._customer(c, k * HOUR // total)))
        return out


def _shuffle(items: list[Item], share: float, rng: random.Random) -> list[Item]:
    """Swap some same-customer pairs at most a few minutes apart, as a real bus does."""
    order = list(range(len(items)))
    last: dict[int, int] = {}
    for pos, (sec, index, _) in enumerate(items):
        prev, last[index] = last.get(index), pos
        close = index >= 0 and prev is not None and sec - items[prev][0] <= SHUFFLE_WINDOW
        if close and prev is not None and rng.random() < share:
            order[prev], order[pos] = pos, prev
            del last[index]  # no chains: each event moves at most once
    return [items[i] for i in order]


def _hostile(bad: dict[str, object], rng: random.Random) -> bytes:
    """A line that parses and types, with a value no bank sends (decode must refuse it)."""
    raw = msgspec.json.encode(bad)
    amount = str(bad["amount"])
    kind = rng.randrange(9)
    if kind == 0:
        bad["amount"] = rng.choice(("1e999999999", "5E3", "1.5e2"))
    elif kind == 1:
        bad["amount"] = "1234567890123456789012345678"  # 28 digits
    elif kind == 2:
        bad["amount"] = amount.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    elif kind == 3:
        bad["amount"] = amount[:1] + "_" + amount[1:]
    elif kind == 4:
        bad["amount"] = f" {amount} "
    elif kind == 5:
        bad["amount"] = amount + "7"  # one decimal more than the currency has
    elif kind == 6:
        bad["occurred_at"] = "9999" + str(bad["occurred_at"])[4:]
    elif kind == 7:  # nested a thousand deep in an extra field
        return raw[:-1] + b',"note":' + b"[" * 1000 + b"]" * 1000 + b"}"
    else:  # the amount written twice
        return raw[:-1] + b',"amount":"1.00"}'
    return msgspec.json.encode(bad)


def _corrupt(rec: dict[str, object], rng: random.Random, n: int) -> bytes:
    """One bad line derived from a good transaction, of a kind the decoder must catch."""
    bad = {**rec, "event_id": f"bad-{n:07d}"}
    kind = rng.randrange(8)
    if kind == 0:  # truncated JSON, cut on an ASCII byte so it stays valid UTF-8
        raw = msgspec.json.encode(bad)
        cut = len(raw) // 2
        while raw[cut] >= 0x80:
            cut -= 1
        return raw[:cut]
    if kind == 1:
        del bad[rng.choice(("customer_id", "account_id", "amount", "direction"))]
    elif kind == 2:
        bad["amount"] = f"-{rec['amount']}"
    elif kind == 3:  # no UTC offset, or not ISO 8601 at all
        stamp = str(rec["occurred_at"])
        bad["occurred_at"] = stamp[:19] if n % 2 else stamp[:10].replace("-", "/") + stamp[10:16]
    elif kind == 4:
        return BOM + msgspec.json.encode(bad)
    elif kind == 5:
        bad["type"] = "transfer_request"
    else:
        return _hostile(bad, rng)
    return msgspec.json.encode(bad)


def generate(spec: DatasetSpec) -> Iterator[bytes]:
    """Yield the data set one JSON line at a time (no newline), day by day in time order.

    Shuffling and malformed lines draw from their own random streams, so the valid lines
    are the same bytes whatever ``shuffle_share`` and ``malformed_share`` are.
    """
    world = _World(spec)
    shuffle_rng = random.Random(f"churnwatch-shuffle:{spec.seed}")
    bad_rng = random.Random(f"churnwatch-malformed:{spec.seed}")
    encode, bad = msgspec.json.encode, 0
    for d in range(world.days):
        items = world.day(d)
        if spec.shuffle_share > 0:
            items = _shuffle(items, spec.shuffle_share, shuffle_rng)
        for _, _, rec in items:
            yield encode(rec)
            is_tx = spec.malformed_share > 0 and rec["type"] == "transaction"
            if is_tx and bad_rng.random() < spec.malformed_share:
                bad += 1
                yield _corrupt(rec, bad_rng, bad)
