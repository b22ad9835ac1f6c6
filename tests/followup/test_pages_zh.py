"""What staff open on their phones, over a replayed synthetic bank: Chinese, and fits 390 px.

One alert per rule is opened through its relationship manager's own link, and the
branch head's report through theirs; in zh-CN neither shows an English word (the
language switch aside), and in Chromium at 390×844 neither scrolls sideways.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from churnwatch.cli.replay import run_replay
from churnwatch.followup.i18n import LOCALE_DIR
from churnwatch.followup.store import FollowUpStore
from churnwatch.followup.tokens import SECRET_ENV, LinkSigner, manager_link, report_link
from churnwatch.followup.web import WebSettings, create_app
from churnwatch.notifiers.setup import load_templates, routing_for
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.loader import load_rules
from churnwatch.schemas.store import AlertStore
from churnwatch.schemas.tables import directory_staff, followup_assignees
from churnwatch.streams.synthetic.bank import DatasetSpec, write_dataset

from .server import serve
from .test_web import CHROMIUM, CHROMIUM_ARGS

SECRET = "pages-secret-0123456789abcdef0123"
_LATIN_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])")


@dataclass
class Bank:
    base: str
    names: set[str]
    #: rule id -> a Chinese-reading relationship manager's link to one of its alerts (an
    #: English-speaking manager's own page is English: tests/followup/test_person_language.py)
    manager_links: dict[str, str]
    branch_head_report: str
    executive_report: str
    manager_report: str


def visible_text(page: str) -> str:
    """The words a reader sees: no style, no markup, the language switch left out."""
    page = re.sub(r"(?s)<style>.*?</style>|<title>.*?</title>", "", page)
    page = re.sub(r'(?s)<span class="lang">.*?</span>', "", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def english_words(text: str, names: set[str]) -> list[str]:
    """Latin words once people's names are taken out; identifiers with digits are not words."""
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, "")
    return _LATIN_WORD.findall(text)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    directory = tmp_path_factory.mktemp("pages")
    events = directory / "events.jsonl"
    write_dataset(DatasetSpec(customers=400, weeks=3), events)
    db = f"sqlite:///{directory / 'alerts.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_ENV, SECRET)
        run_replay(
            str(events),
            SHIPPED_RULES,
            db,
            None,
            None,
            [],
            False,
            notify="console",
            until=dt.datetime(2026, 10, 31, tzinfo=dt.UTC),
            public_url="http://placeholder",
        )
    names = set()
    for line in events.read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if record.get("type") in ("customer", "staff"):
            names.add(str(record["name"]))
    store = AlertStore(db)
    now = dt.datetime.now(dt.UTC)
    secret = SECRET.encode()
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT a.rule_id, a.alert_id, f.staff_id FROM alerts a JOIN followup_assignees f"
                " ON f.alert_id = a.alert_id JOIN directory_staff s ON s.staff_id = f.staff_id"
                " WHERE f.audience = 'relationship_manager'"
                " AND coalesce(s.language, 'zh-CN') = 'zh-CN'"  # staff who read Chinese
                " ORDER BY a.id"
            )
        ).all()
        heads = conn.execute(
            sa.select(directory_staff.c.staff_id, directory_staff.c.role).where(
                directory_staff.c.role.in_(["branch_head", "executive"])
            )
        ).all()
        assert conn.execute(sa.select(sa.func.count()).select_from(followup_assignees)).scalar()
    first: dict[str, tuple[str, str]] = {}
    for rule_id, alert_id, staff_id in rows:
        first.setdefault(rule_id, (alert_id, staff_id))
    head = next(s for s, role in heads if role == "branch_head")
    executive = next(s for s, role in heads if role == "executive")
    rm = rows[0][2]
    app = create_app(
        WebSettings(
            store=FollowUpStore(store.engine),
            signer=LinkSigner(secret),
            ruleset=load_rules(SHIPPED_RULES),
            templates=load_templates(SHIPPED_RULES, routing_for(SHIPPED_RULES)),
        )
    )
    with serve(app) as base:
        yield Bank(
            base,
            names,
            {
                rule: manager_link(base, alert_id, staff, secret=secret, now=now)
                for rule, (alert_id, staff) in first.items()
            },
            report_link(base, head, secret=secret, now=now),
            report_link(base, executive, secret=secret, now=now),
            report_link(base, rm, secret=secret, now=now),
        )
    store.close()


def _get(url: str, language: str = "zh-CN") -> httpx.Response:
    return httpx.get(url, headers={"Accept-Language": language}, timeout=10)


class TestNoEnglishForChineseStaff:
    def test_every_rules_alert_page_is_chinese(self, bank: Bank) -> None:
        """One alert per rule, through the manager's link: no English word on the page."""
        assert len(bank.manager_links) >= 5, bank.manager_links.keys()
        for rule_id, link in bank.manager_links.items():
            response = _get(link)
            assert response.status_code == 200, rule_id
            text = visible_text(response.text)
            assert english_words(text, bank.names) == [], (rule_id, text)

    def test_the_branch_heads_report_is_chinese_with_names(self, bank: Bank) -> None:
        """The branch head's report: their branch by name, managers by name, no English."""
        response = _get(bank.branch_head_report)
        assert response.status_code == 200
        text = visible_text(response.text)
        assert english_words(text, bank.names) == [], text
        assert "支行" in text and "按客户经理" in text
        assert not re.search(r"\bS\d{4}\b", text)  # managers by name, not staff id
        assert not re.search(r"\bBR\d{2}\b", text)  # branches by name, not id

    def test_report_scope_follows_the_role(self, bank: Bank) -> None:
        """A branch head sees one branch, an executive every branch; a manager is refused."""
        head = visible_text(_get(bank.branch_head_report).text)
        whole = visible_text(_get(bank.executive_report).text)
        branches = re.compile(r"\S+支行")
        assert len(set(branches.findall(whole))) > len(set(branches.findall(head))) >= 1
        assert _get(bank.manager_report).status_code == 403

    def test_the_english_page_is_english(self, bank: Bank) -> None:
        """The same page asked for in English reads in English (words from the catalogs)."""
        link = next(iter(bank.manager_links.values()))
        text = visible_text(_get(link + "?lang=en").text)
        assert "What happened" in text and "发生了什么" not in text


class TestCatalog:
    def test_every_page_word_has_a_chinese_translation(self) -> None:
        """Each word marked in the page templates is translated in the zh_CN catalog."""
        templates = Path(LOCALE_DIR).parent
        marked = {
            found[2]
            for found in extract_from_dir(
                templates,
                method_map=[("**/templates/**.j2", "jinja2")],
                options_map={"**/templates/**.j2": {"extensions": "jinja2.ext.i18n"}},
            )
        }
        with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as po:
            catalog = read_po(po)
        translated = {m.id for m in catalog if m.id and m.string}
        assert marked and marked <= translated, marked - translated


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: run scripts/ensure-chromium.sh as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_pages_fit_a_390px_phone(
    bank: Bank, browser: object, language: str, tmp_path: Path
) -> None:
    """At 390×844 neither the alert page (with the customer on it: products, maturities,
    payroll, and the phone number once revealed) nor the report page scrolls sideways."""
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 390, "height": 844}, locale=language, device_scale_factor=1
    )
    page = context.new_page()
    links = {**{f"alert-{r}": u for r, u in bank.manager_links.items()}}
    links["report"] = bank.branch_head_report
    for name, url in links.items():
        assert page.goto(url).status == 200
        width = page.evaluate("document.documentElement.scrollWidth")
        shot = tmp_path / f"{name}-{language}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
        assert width <= 390, (name, language, width, shot)
        if name.startswith("alert-"):
            assert page.locator("#customer #products").count() == 1, name
            assert page.locator("#customer #payroll").count() == 1, name
    first = next(iter(bank.manager_links.values()))
    page.goto(first)
    if page.locator("#call").count() == 0:  # revealed for a while: shown on the next run
        page.click("#reveal-phone")
    page.wait_for_selector("#call")
    assert page.get_attribute("#call", "href").startswith("tel:+")
    shot = tmp_path / f"alert-revealed-{language}.png"
    page.screenshot(path=str(shot), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, ("revealed", language, width, shot)
    context.close()
