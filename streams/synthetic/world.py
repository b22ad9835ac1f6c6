"""A day of the demo bank's life: card spending, bills, transfers, products, postings.

:class:`World` draws each customer's ordinary day, merges it with the agenda (planted
scripts, maturities, directory updates) in time order and posts every movement to its
account, keeping ``balance_after`` exact. Background life is kept clear of the churn
rules by guards applied while postings are made (no outflow that would drain a payroll,
a matured deposit or half a balance), so any churn alert on the data belongs to a planted
case. The records are contract-v1 events as plain dicts, the directory first on day 0.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, Decimal
from operator import itemgetter
from typing import Literal, TypeAlias
from zoneinfo import ZoneInfo

from churnwatch.streams.synthetic.patterns import (
    BANK_CP,
    BANK_NAME,
    OWN_PRODUCT_CP,
    PREFIX,
    Counterparty,
    Intent,
    Move,
    Post,
    Step,
)
from churnwatch.streams.synthetic.population import (
    CENT,
    DAY,
    HOUR,
    Customer,
    Entry,
    Guard,
    Population,
    credit,
    debit,
    yuan,
)
from churnwatch.streams.synthetic.spec import DatasetSpec, branch_name

__all__ = ["Item", "World"]

MERCHANTS = ("美团外卖", "盒马鲜生", "星巴克", "滴滴出行", "京东商城", "全家便利店", "中国石化")
Item: TypeAlias = tuple[int, int, dict[str, object]]  # second of day, customer (-1 staff), record


class World(Population):
    """The population living day by day: what each day draws and posts, with the counters
    that number the events and the date and offset that stamp them."""

    def __init__(self, spec: DatasetSpec) -> None:
        super().__init__(spec)
        self.n_tx = self.n_pr = self.n_cu = self.base = 0
        self.prefix = self.offset = ""
        self.zone = ZoneInfo(spec.timezone)

    def _plan(self, c: Customer, d: int, date: dt.date, out: list[Entry]) -> None:
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
            add(2 * HOUR + 1800, debit(Decimal("2.00"), "fee", "batch", BANK_CP, "短信服务费"))
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
                    debit(
                        yuan(cents), "card", "pos" if rng.random() < 0.8 else "online", cp, "消费"
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
                debit(yuan(rng.randint(5000, hi)), "transfer", "mobile", cp, "转账", True),
            )
        if rng.random() < 0.05:
            add(
                rng.randint(8 * HOUR, 22 * HOUR),
                credit(yuan(rng.randint(5000, hi)), "transfer", "mobile", self._cp(), "转账收入"),
            )
        if rng.random() < 0.04:
            sec = rng.randint(7 * HOUR, 22 * HOUR)
            add(sec, debit(yuan(rng.randint(1, 30) * 10_000), "cash", "atm", None, "ATM取款", True))
            if rng.random() < 0.3:
                add(sec + 1, debit(Decimal("4.00"), "fee", "atm", BANK_CP, "跨行取款手续费"))
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
            buy = debit(amount, "product", "mobile", OWN_PRODUCT_CP, "理财购买")
            add(sec, Step(f"WM-{pid}", "wealth", "opened", amount=amount, post=buy))
        elif 0.003 <= r < 0.005 and amount >= 10_000:  # a one- or three-month time deposit
            due = d + rng.choice((30, 91))
            buy = debit(amount, "product", "counter", OWN_PRODUCT_CP, "定期存款")
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
            money = yuan(rng.randint(*price)) if price else None
            buy2 = debit(money, "product", "mobile", OWN_PRODUCT_CP, "产品购买") if money else None
            add(sec, Step(f"{PREFIX[kind]}-{pid}", kind, "opened", amount=money, post=buy2))

    def _allowed(self, c: Customer, p: Post, new: Decimal, now: int) -> bool:
        """Would this background debit overdraw, or look like one of the churn rules?"""
        if new < c.floor[p.account]:
            return False
        if p.outflow:
            for g in (c.pay_guard, c.mat_guard):
                if g is not None and now - g.start <= g.window and g.used + p.amount > g.limit:
                    return False
        peak, after = max(c.day_max, max(c.peaks, default=c.day_max)), c.total - p.amount
        return not (after * 10 < peak * 6 and peak - after > 30_000)

    def _post(self, c: Customer, p: Post, sec: int, guarded: bool) -> dict[str, object] | None:
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
            c.pay_guard = Guard(now, p.amount * Decimal("0.4"), 96 * HOUR)
        elif p.kind == "product" and signed > 0:
            c.mat_guard = Guard(now, p.amount * Decimal("0.3"), 8 * DAY)
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

    def _customer(self, c: Customer, sec: int) -> dict[str, object]:
        self.n_cu += 1
        rec: dict[str, object] = {
            "type": "customer", "event_id": f"cu-{self.n_cu:07d}", "occurred_at": self._ts(sec),
            "customer_id": c.cid, "name": c.name, "phone": c.phone, "language": c.language,
            "aum": c.aum, "branch_id": c.branch, "manager_id": c.manager, "sms_opt_in": c.opt_in,
        }  # fmt: skip
        if c.birthday is not None:
            rec["birthday"] = c.birthday.isoformat()
        return rec

    def _product(self, c: Customer, step: Step, sec: int) -> dict[str, object]:
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
