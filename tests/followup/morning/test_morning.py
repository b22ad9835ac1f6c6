"""The relationship manager's morning list, over a hand-made bank replayed with the shipped
pack: what it holds on a Monday (the weekend's 7-3-1 steps too), sent once through the
WeCom application to the manager's own user id, nothing on a day with nothing to do,
the list page in both languages, and large inflows listed rather than alerted."""

from __future__ import annotations

import datetime as dt
import functools
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.cli.replay import run_replay
from churnwatch.followup.exceptions import FollowUpError
from churnwatch.followup.morning.config import due_day, load_config
from churnwatch.followup.morning.lists import build_lists
from churnwatch.followup.morning.send import MorningSender
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.testing import FixedClock
from churnwatch.followup.tokens import LinkSigner, morning_link
from churnwatch.followup.web import WebSettings, create_app
from churnwatch.followup.wiring import morning_links_for
from churnwatch.metrics import Metrics
from churnwatch.notifiers.channels.wecom_app import CHANNEL
from churnwatch.notifiers.setup import load_templates, routing_for
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.exceptions import RuleSetError
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.store import AlertStore
from churnwatch.schemas.tables import alerts, deliveries, followups, morning_lists

from ..server import serve
from ..test_pages_zh import CHROMIUM, browser, english_words, visible_text

__all__ = ["browser"]  # the 390 px check below shares the page tests' Chromium

SH = dt.timezone(dt.timedelta(hours=8))
MONDAY = dt.date(2026, 11, 23)
TUESDAY = dt.date(2026, 11, 24)
SECRET = b"morning-list-secret-0123456789ab"
WECOM_SECRET = "wecom-morning-secret-1"
PUBLIC = "https://cw.bank.example"


def _at(day: int, hour: int, minute: int = 0) -> str:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SH).isoformat()


def _events() -> list[dict[str, Any]]:
    """C1 and C2 are 王伟's (S-RM1), C3 Lily Zhao's (S-RM2, reads English)."""
    staff = [
        ("S-RM1", "王伟", "relationship_manager", None, "rm1"),
        ("S-RM2", "Lily Zhao", "relationship_manager", "en", "rm2"),
        ("S-BH1", "黄芳", "branch_head", None, "bh1"),
    ]
    out: list[dict[str, Any]] = [
        {"type": "staff", "event_id": f"st-{sid}", "occurred_at": _at(1, 9), "staff_id": sid,
         "name": name, "phone": f"+86138000000{n}", "role": role, "branch_id": "BR01",
         "active": True, "im_user_id": im, **({"language": lang} if lang else {})}
        for n, (sid, name, role, lang, im) in enumerate(staff, 10)
    ]  # fmt: skip
    for cid, name, manager in (
        ("C1", "李娜", "S-RM1"),
        ("C2", "张伟", "S-RM1"),
        ("C3", "陈静", "S-RM2"),
    ):
        out.append(
            {"type": "customer", "event_id": f"cu-{cid}", "occurred_at": _at(1, 9),
             "customer_id": cid, "name": name, "phone": "+8613900001234", "language": "zh-CN",
             "aum": "300000", "branch_id": "BR01", "manager_id": manager, "sms_opt_in": True}
        )  # fmt: skip

    def product(pid: str, cid: str, kind: str, action: str, day: int, **more: Any) -> None:
        out.append(
            {"type": "product", "event_id": f"pr-{pid}-{action}", "occurred_at": _at(day, 10),
             "customer_id": cid, "account_id": f"AC-{cid}", "product_id": pid,
             "product_kind": kind, "action": action, **more}
        )  # fmt: skip

    product(
        "P1",
        "C1",
        "time_deposit",
        "maturity_scheduled",
        10,
        amount="100000.00",
        maturity_date="2026-11-26",
    )  # T-3 on Monday
    product(
        "P2",
        "C2",
        "wealth",
        "maturity_scheduled",
        10,
        amount="50000.00",
        maturity_date="2026-11-23",
    )  # T-1 on Sunday
    product(
        "P3",
        "C1",
        "time_deposit",
        "maturity_scheduled",
        10,
        amount="30000.00",
        maturity_date="2026-11-30",
    )  # T-7 on Monday
    product("P4", "C1", "time_deposit", "maturity_scheduled", 10, maturity_date="2026-11-26")
    product("P4", "C1", "time_deposit", "redeemed", 12)  # redeemed: no step left
    product("P5", "C2", "time_deposit", "maturity_scheduled", 10, maturity_date="2026-11-26")
    product("P5", "C2", "time_deposit", "renewed", 12)  # renewed: its steps are cancelled

    def transfer(eid: str, cid: str, at: str, amount: str, direction: str, balance: str) -> None:
        out.append(
            {"type": "transaction", "event_id": eid, "occurred_at": at, "customer_id": cid,
             "account_id": f"AC-{cid}", "direction": direction, "amount": amount,
             "balance_after": balance, "kind": "transfer", "channel": "mobile",
             "counterparty": {"name": "李伟", "bank": "招商银行", "same_bank": False}}
        )  # fmt: skip

    transfer("t-c2-out", "C2", _at(12, 15), "70000.00", "debit", "400000.00")  # acknowledged
    transfer("t-c1-in", "C1", _at(21, 10), "120000.00", "credit", "620000.00")  # inflow, Sat
    transfer("t-c1-out", "C1", _at(21, 11), "80000.00", "debit", "540000.00")  # unacknowledged
    transfer("t-c3-in", "C3", _at(23, 8, 40), "60000.00", "credit", "360000.00")  # after 08:30
    return sorted(out, key=lambda e: e["occurred_at"])


@dataclass
class Bank:
    db: str
    store: FollowUpStore
    pack: Path


def _replay(directory: Path, db: str) -> None:
    """The events through the shipped pack into ``db``, notified; one alert acknowledged."""
    events = directory / "events.jsonl"
    events.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in _events()) + "\n")
    run_replay(str(events), SHIPPED_RULES, db, None, None, [], False, notify="console")
    with AlertStore(db) as store:
        followups_ = FollowUpStore(store.engine)
        acked = next(a for a in _alerts(followups_) if "t-c2-out" in a["trigger_event_ids"])
        when = dt.datetime(2026, 11, 13, 9, tzinfo=SH)
        followups_.record(acked["alert_id"], "acknowledge", "S-RM1", "web", when)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bank replayed once into SQLite; each test works on its own copy."""
    directory = tmp_path_factory.mktemp("morning")
    _replay(directory, f"sqlite:///{directory / 'alerts.db'}")
    return directory / "alerts.db"


@pytest.fixture
def bank(replayed: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Bank]:
    """A copy of the replayed SQLite store, or the bank replayed into PostgreSQL when a
    test asks (indirect "postgres")."""
    if getattr(request, "param", "sqlite") == "postgres":
        db = request.getfixturevalue("postgres_url")
        _replay(tmp_path, db)
    else:
        shutil.copyfile(replayed, tmp_path / "alerts.db")
        db = f"sqlite:///{tmp_path / 'alerts.db'}"
    with AlertStore(db) as store:
        yield Bank(db, FollowUpStore(store.engine), SHIPPED_RULES)


def _alerts(store: FollowUpStore) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(alerts))]


@functools.cache
def _pack(directory: Path) -> tuple[Any, Any, Any]:
    """The pack's rules, routing and templates, loaded once for the module."""
    routing = routing_for(directory, check_installed=False)
    return load_rules(directory), routing, load_templates(directory, routing)


def _sender(bank: Bank, clock: FixedClock, notifiers: dict[str, Any]) -> MorningSender:
    ruleset, routing, templates = _pack(bank.pack)
    return MorningSender(
        bank.store.engine,
        ruleset,
        load_config(bank.pack / "routing.yaml"),
        routing,
        templates,
        notifiers,
        link=morning_links_for(PUBLIC, SECRET, clock),
        clock=clock,
    )


class TestWhatTheListHolds:
    def test_mondays_list_of_a_manager(self, bank: Bank) -> None:
        """The weekend's and today's 7-3-1 steps of held products (not the redeemed or
        renewed ones), the unacknowledged alert, the follow-up whose outcome is due, and
        the Saturday inflow; the manager with only an inflow after 08:30 has nothing."""
        config = load_config(bank.pack / "routing.yaml")
        rm1, rm2 = build_lists(bank.store.engine, _pack(bank.pack)[0], config, MONDAY)
        assert [(s["customer_id"], s["product_id"], s["step"], s["on"]) for s in rm1.steps] == [
            ("C2", "P2", "1d", "2026-11-22"),
            ("C1", "P1", "3d", "2026-11-23"),
            ("C1", "P3", "7d", "2026-11-23"),
        ]
        # the Sunday T-1 step's own alert is on the list as its step, not twice
        assert [(a["rule_id"], a["customer_id"]) for a in rm1.unacknowledged] == [
            ("large-transfer-out", "C1")
        ]
        assert [(a["rule_id"], a["customer_id"]) for a in rm1.due] == [("large-transfer-out", "C2")]
        assert [(i["customer_id"], i["amount"], i["counterparty_bank"]) for i in rm1.inflows] == [
            ("C1", "120000.00", "招商银行")
        ]
        assert rm2.staff.staff_id == "S-RM2" and rm2.empty

    def test_inflows_are_listed_not_alerted(self, bank: Bank) -> None:
        """A large-inflow hit is stored (marked by its rule) but nobody is messaged about it
        and no follow-up opens; a large transfer out is delivered and followed up."""
        with bank.store.engine.connect() as conn:
            inflows = (
                conn.execute(select(alerts.c.alert_id).where(alerts.c.rule_id == "large-inflow"))
                .scalars()
                .all()
            )
            assert len(inflows) == 2
            told = conn.execute(select(deliveries.c.alert_id)).scalars().all()
            opened = conn.execute(select(followups.c.alert_id)).scalars().all()
        assert not set(inflows) & set(told) and not set(inflows) & set(opened)
        outs = [a["alert_id"] for a in _alerts(bank.store) if a["rule_id"] == "large-transfer-out"]
        assert outs and set(outs) <= set(told) and set(outs) <= set(opened)


@pytest.fixture
def wecom() -> Iterator[Any]:
    """The local WeCom API server the channel tests use (tests/notifiers/im_peers.py)."""
    sys.path.insert(0, str(Path(__file__).parents[2] / "notifiers"))
    from im_peers import WecomAppPeer

    peer = WecomAppPeer("ww-bank", WECOM_SECRET, {"rm1", "rm2"})
    yield peer
    peer.close()


def _wecom_notifier(url: str) -> Any:
    return CHANNEL.build(
        CHANNEL.configure(
            {"corp_id": "ww-bank", "agent_id": 1000002, "base_url": url},
            {"CHURNWATCH_WECOM_SECRET": WECOM_SECRET},
        )
    )


class TestSending:
    @pytest.mark.parametrize("bank", ["sqlite", "postgres"], indirect=True)
    def test_sent_once_privately_and_never_on_a_day_off(self, bank: Bank, wecom: Any) -> None:
        """At 08:30 on Monday one WeCom message reaches 王伟's own user id, in Chinese, with
        the list link and no SMS reply codes; Lily, with nothing to do, gets none; a
        restart at 08:31 sends nothing again; Saturday and 08:29 send nothing."""
        clock = FixedClock(dt.datetime(2026, 11, 23, 8, 29, tzinfo=SH))
        sender = _sender(bank, clock, {"wecom_app": _wecom_notifier(wecom.url)})
        sender.metrics = metrics = Metrics()
        assert sender.run_due() == 0 and not wecom.sent  # 08:29: not yet
        clock.now = dt.datetime(2026, 11, 23, 8, 30, tzinfo=SH)
        assert sender.run_due() == 1
        [sent] = wecom.sent
        assert sent["touser"] == "rm1"
        text = sent["text"]["content"]
        assert text.startswith("【晨间清单】11月23日 共 6 项")
        for words in ("T-1 确认预约（11月22日）", "T-3 电话联系", "T-7 给客户发到期提醒短信",
                      "大额资金流出", "待登记结果 1 条", "收到招商银行转入 120,000.00 元",
                      f"查看清单：{PUBLIC}/m/"):  # fmt: skip
            assert words in text, words
        assert "回复" not in text and "1 " + "al-" not in text  # no SMS reply codes
        assert sender.counts(MONDAY) == {"sent": 1, "empty": 1}
        sent_total = metrics.registry.get_sample_value(
            "churnwatch_deliveries_total", {"channel": "wecom_app", "outcome": "sent"}
        )
        assert sent_total == 1
        restarted = _sender(bank, FixedClock(dt.datetime(2026, 11, 23, 8, 31, tzinfo=SH)), {
            "wecom_app": _wecom_notifier(wecom.url)})  # fmt: skip
        assert restarted.run_due() == 0 and len(wecom.sent) == 1
        saturday = _sender(bank, FixedClock(dt.datetime(2026, 11, 28, 8, 30, tzinfo=SH)), {})
        assert due_day(saturday.config, saturday.clock()) is None

    def test_tuesday_lists_only_what_is_new(self, bank: Bank) -> None:
        """Tuesday's list does not repeat Monday's inflow; the inflow that came after
        Monday's list reaches its manager, in English, on Tuesday."""
        clock = FixedClock(dt.datetime(2026, 11, 23, 8, 30, tzinfo=SH))
        sender = _sender(bank, clock, {})
        sender.record(MONDAY)
        rm1, rm2 = (p for p in sender.prepare(TUESDAY))
        assert rm1.morning.inflows == []
        assert [i["customer_id"] for i in rm2.morning.inflows] == ["C3"]
        assert rm2.rendered is not None
        assert "Large inflows from other banks: 1" in rm2.rendered.body
        assert "CNY 60,000.00 from 招商银行" in rm2.rendered.body

    def test_a_group_robot_is_refused(self, bank: Bank) -> None:
        """A list names customers and amounts: by a group robot it is recorded as failed,
        saying why, and never sent."""
        clock = FixedClock(dt.datetime(2026, 11, 23, 8, 30, tzinfo=SH))
        sender = _sender(bank, clock, {})
        sender.config = replace(sender.config, channel="webhook")
        sender.channel = "webhook"
        sender.record(MONDAY, ["S-RM1"])
        with bank.store.engine.connect() as conn:
            row = conn.execute(select(morning_lists)).one()
        assert row.status == "failed" and "whole group" in row.last_error

    def test_preview_prints_and_records_nothing(self, bank: Bank) -> None:
        """``churnwatch morning send --preview`` prints each manager's list; nothing is stored."""
        result = CliRunner().invoke(
            app,
            ["morning", "send", "--date", "2026-11-23", "--preview", "--db", bank.db,
             "--channel", "console"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "【晨间清单】11月23日 共 6 项" in result.output
        assert "S-RM2 Lily Zhao: nothing to do, nothing sent" in result.output
        with bank.store.engine.connect() as conn:
            assert conn.execute(select(morning_lists)).all() == []


class TestPage:
    def test_the_list_page_in_both_languages(self, bank: Bank) -> None:
        """The signed link opens the recorded list with every item, each alert linked to
        its page; in Chinese no English word shows; another person's token is refused."""
        import httpx

        clock = FixedClock(dt.datetime(2026, 11, 23, 8, 30, tzinfo=SH))
        _sender(bank, clock, {}).record(MONDAY)
        ruleset, _, templates = _pack(bank.pack)
        settings = WebSettings(
            store=bank.store,
            signer=LinkSigner(SECRET),
            ruleset=ruleset,
            templates=templates,
            clock=clock,
        )
        with serve(create_app(settings)) as base:
            url = morning_link(base, "S-RM1", MONDAY, secret=SECRET, now=clock())
            page = httpx.get(url)
            assert page.status_code == 200
            text = visible_text(page.text)
            for words in (
                "晨间清单",
                "2026年11月23日",
                "李娜",
                "T-3 电话联系",
                "120,000.00",
                "招商银行",
            ):
                assert words in text, words
            assert english_words(text, {"Lily Zhao"}) == []
            assert 'href="/a/' in page.text
            english = visible_text(httpx.get(url + "?lang=en").text)
            assert "Morning list" in english and "Large inflows from other banks" in english
            forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
            assert httpx.get(forged).status_code == 403

    def test_the_page_fits_a_390px_phone(self, bank: Bank, browser: Any, tmp_path: Path) -> None:
        """At 390×844 the list page does not scroll sideways, in either language."""
        clock = FixedClock(dt.datetime(2026, 11, 23, 8, 30, tzinfo=SH))
        _sender(bank, clock, {}).record(MONDAY)
        settings = WebSettings(store=bank.store, signer=LinkSigner(SECRET), clock=clock)
        with serve(create_app(settings)) as base:
            url = morning_link(base, "S-RM1", MONDAY, secret=SECRET, now=clock())
            for language in ("zh-CN", "en"):
                context = browser.new_context(
                    viewport={"width": 390, "height": 844}, locale=language, device_scale_factor=1
                )
                page = context.new_page()
                assert page.goto(f"{url}?lang={language}").status == 200
                shot = tmp_path / f"morning-{language}.png"
                page.screenshot(path=str(shot), full_page=True)
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, (language, width, shot)
                context.close()


assert CHROMIUM  # imported with the browser fixture


class TestCalendarAndConfig:
    def test_business_days_follow_the_banks_calendar(self, tmp_path: Path) -> None:
        """A holiday Monday has no list, a worked Saturday (调休) has one, and the list is
        due from 08:30 until `latest` only, in the bank's time zone."""
        routing = tmp_path / "routing.yaml"
        routing.write_text(
            "morning_list: {at: '08:30', latest: '11:00'}\n"
            "escalation:\n  business_hours: {timezone: Asia/Shanghai, "
            "holidays: [2026-11-23], workdays: [2026-11-28]}\n"
        )
        config = load_config(routing)

        def due(day: int, hour: int, minute: int = 0) -> dt.date | None:
            return due_day(config, dt.datetime(2026, 11, day, hour, minute, tzinfo=SH))

        assert due(23, 8, 30) is None  # holiday
        assert due(28, 8, 30) == dt.date(2026, 11, 28)  # worked Saturday
        assert due(29, 8, 30) is None  # Sunday
        assert due(24, 8, 29) is None and due(24, 11, 0) is None
        assert due(24, 10, 59) == TUESDAY
        # Tuesday's steps start the day after the holiday's previous business day
        assert config.calendar.previous_business_day(TUESDAY) == dt.date(2026, 11, 20)

    def test_a_mistake_in_the_section_names_the_file(self, tmp_path: Path) -> None:
        """An unknown setting is refused, naming the file and the settings known."""
        routing = tmp_path / "routing.yaml"
        routing.write_text("morning_list: {at: '08:30', send_at: '09:00'}\n")
        with pytest.raises(
            FollowUpError, match=r"routing\.yaml: bad morning_list section.*send_at"
        ):
            load_config(routing)

    def test_a_listed_rule_is_for_the_relationship_manager(self, tmp_path: Path) -> None:
        """`delivery: morning_list` with another audience is refused at load, at the rule."""
        pack = tmp_path / "pack"
        shutil.copytree(SHIPPED_RULES, pack)
        text = (pack / "inflows.yaml").read_text(encoding="utf-8")
        (pack / "inflows.yaml").write_text(
            text.replace("audience: [relationship_manager]", "audience: [branch_head]"),
            encoding="utf-8",
        )
        with pytest.raises(RuleSetError, match="morning list"):
            load_rules(pack)
