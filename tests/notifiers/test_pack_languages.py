"""What zh-CN staff read is Chinese: every word comes from the rule pack, none from Python."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churnwatch.cli.app import app
from churnwatch.cli.replay import run_replay
from churnwatch.notifiers.outbox import Outbox
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.texts import RuleTexts, Words, load_words
from churnwatch.schemas.store import AlertStore
from churnwatch.streams.synthetic.bank import DatasetSpec, write_dataset

runner = CliRunner()
_URL = re.compile(r"https?://\S+")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def english_words(text: str, names: set[str]) -> list[str]:
    """Latin words left in ``text`` once links and people's names are taken out."""
    text = _URL.sub("", text)
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, "")
    return _LATIN_WORD.findall(text)


def names_in(events: Path) -> set[str]:
    """Customers' and staff members' names: proper names, whatever script they are in."""
    names = set()
    for line in events.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("type") in ("customer", "staff"):
            names.add(str(record.get("name")))
    return names


def staff_texts(db: str) -> list[tuple[str, str]]:
    """(language, subject and body) of every staff message the replay wrote."""
    store = AlertStore(db)
    try:
        rows = Outbox(store.engine).list(limit=100_000)
    finally:
        store.close()
    return [
        (str(row.payload["language"]), f"{row.payload['subject']}\n{row.payload['body']}")
        for row in rows
        if row.audience != "customer" and "body" in row.payload
    ]


NEW_RULE = """\
rules:
  - id: counter-cash-out
    version: 1
    title: {zh-CN: 柜台大额取现}
    description: {zh-CN: 客户在柜台一次取现两万元以上。}
    owner: retention-compliance
    severity: medium
    match: event.kind == "cash" and event.direction == "debit" and event.channel == "counter"
    threshold: {field: amount, at_least: 20000.00}
    audience: [relationship_manager]
    suggested_actions:
      zh-CN: [致电客户，了解取现用途。]
"""

NEW_WHAT = (
    "客户在柜台{{ facts.kind|transaction }} {{ facts.amount|money }} 元"
    "（阈值 {{ facts.threshold|money }} 元），{{ alert.occurred_at|local_time }}。"
)


def _line(record: dict[str, object]) -> str:
    return json.dumps(record, ensure_ascii=False)


def test_a_rule_added_in_yaml_only_reads_fully_chinese(tmp_path: Path) -> None:
    """A new rule with zh-CN texts and a what-template renders Chinese messages, no code."""
    pack = tmp_path / "pack"
    shutil.copytree(SHIPPED_RULES, pack)
    (pack / "cash.yaml").write_text(NEW_RULE, encoding="utf-8")
    (pack / "templates" / "counter-cash-out").mkdir()
    (pack / "templates" / "counter-cash-out" / "what.zh-CN.j2").write_text(NEW_WHAT, "utf-8")
    at = "2026-09-07T10:00:00+08:00"
    events = tmp_path / "events.jsonl"
    staff = {
        "type": "staff", "event_id": "s1", "occurred_at": at, "staff_id": "S1", "name": "周敏",
        "phone": "+8613800000001", "role": "relationship_manager", "branch_id": "B1",
        "active": True,
    }  # fmt: skip
    customer = {
        "type": "customer", "event_id": "c1", "occurred_at": at, "customer_id": "C1",
        "name": "Kevin Ma", "phone": "+8613800000002", "language": "en", "aum": "80000.00",
        "branch_id": "B1", "manager_id": "S1", "sms_opt_in": True,
    }  # fmt: skip
    cash = {
        "type": "transaction", "event_id": "t1", "occurred_at": "2026-09-07T11:00:00+08:00",
        "account_id": "AC1", "customer_id": "C1", "direction": "debit", "amount": "30000.00",
        "balance_after": "1000.00", "kind": "cash", "channel": "counter", "currency": "CNY",
    }  # fmt: skip
    events.write_text("".join(_line(r) + "\n" for r in (staff, customer, cash)), "utf-8")
    db = f"sqlite:///{tmp_path / 'alerts.db'}"
    run_replay(str(events), pack, db, None, None, [], False, notify="console")
    texts = staff_texts(db)
    ours = [text for _, text in texts if "柜台大额取现" in text]
    assert ours, texts
    [text] = ours
    assert "取现 30,000.00 元" in text and "致电客户，了解取现用途。" in text
    assert english_words(text, {"Kevin Ma"}) == [], text


@pytest.fixture(scope="module")
def generated_bank(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    directory = tmp_path_factory.mktemp("bank")
    events = directory / "events.jsonl"
    write_dataset(DatasetSpec(customers=400, weeks=3), events)
    db = f"sqlite:///{directory / 'alerts.db'}"
    until = dt.datetime(2026, 10, 31, tzinfo=dt.UTC)
    run_replay(str(events), SHIPPED_RULES, db, None, None, [], False, notify="console", until=until)
    return events, db


def test_zh_cn_staff_messages_of_a_generated_bank_have_no_english(
    generated_bank: tuple[Path, str],
) -> None:
    """Every zh-CN staff message of a replayed synthetic bank is free of English words."""
    events, db = generated_bank
    texts = staff_texts(db)
    chinese = [text for language, text in texts if language == "zh-CN"]
    assert len(chinese) > 20
    names = names_in(events)
    leftovers = {word for text in chinese for word in english_words(text, names)}
    assert leftovers == set(), [t for t in chinese if english_words(t, names)][:3]


def test_staff_read_their_own_language_not_the_customers(
    generated_bank: tuple[Path, str],
) -> None:
    """Staff messages follow the staff member, so English ones go only to English staff."""
    events, db = generated_bank
    english_staff = set()
    for line in events.read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if record.get("type") == "staff" and record.get("language") == "en":
            english_staff.add(record["staff_id"])
    store = AlertStore(db)
    try:
        rows = Outbox(store.engine).list(limit=100_000)
    finally:
        store.close()
    staff_rows = [r for r in rows if r.audience != "customer" and "language" in r.payload]
    assert staff_rows
    for row in staff_rows:
        expected = "en" if row.recipient_id in english_staff else "zh-CN"
        assert row.payload["language"] == expected, row


class TestShippedPack:
    def test_every_rule_text_and_word_is_given_in_both_languages(self) -> None:
        """The shipped pack is complete in zh-CN and en."""
        from churnwatch.rules.loader import load_rules

        for rule in load_rules(SHIPPED_RULES).rules:
            assert rule.spec.texts.missing(["zh-CN", "en"]) == [], rule.id
        assert load_words(SHIPPED_RULES).missing(["zh-CN", "en"]) == []

    def test_rules_check_warns_about_a_missing_language(self, tmp_path: Path) -> None:
        """`rules check` names a rule whose title lacks a language routing sends staff in."""
        pack = tmp_path / "pack"
        shutil.copytree(SHIPPED_RULES, pack)
        (pack / "cash.yaml").write_text(NEW_RULE, encoding="utf-8")
        routing = pack / "routing.yaml"
        routing.write_text(
            routing.read_text(encoding="utf-8").replace(
                "staff_language: zh-CN", "staff_language: en"
            ),
            encoding="utf-8",
        )
        result = runner.invoke(app, ["rules", "check", str(pack)])
        assert result.exit_code == 0, result.output
        assert "rule 'counter-cash-out': no title: en text" in result.output


class TestWords:
    def test_a_text_written_once_serves_every_language(self) -> None:
        """A plain string title is never reported missing and reads the same everywhere."""
        texts = RuleTexts("Large outflow", "d", ["a"])
        assert texts.missing(["zh-CN", "en"]) == []
        assert texts.title_in("zh-CN") == texts.title_in("en") == "Large outflow"

    def test_a_missing_language_falls_back_to_chinese(self) -> None:
        """A language the pack lacks reads the zh-CN text, then the first given."""
        texts = RuleTexts({"zh-CN": "大额资金流出", "en": "Large outflow"})
        assert texts.title_in("fr") == "大额资金流出"
        assert RuleTexts({"en": "Only English"}).title_in("zh-CN") == "Only English"

    def test_an_unknown_word_is_shown_as_its_key(self) -> None:
        """A product kind the pack does not name is shown as written, never dropped."""
        words = Words({"products": {"fund_plan": {"zh-CN": "基金定投"}}})
        assert words.word("products", "fund_plan", "en") == "基金定投"
        assert words.word("products", "gold", "zh-CN") == "gold"


class TestTruthfulFacts:
    def _what(self, facts: dict[str, object], language: str = "zh-CN") -> str:
        from churnwatch.notifiers.rendering import RenderContext
        from churnwatch.notifiers.templates import TemplateBook

        book = TemplateBook(SHIPPED_RULES / "templates")
        context = RenderContext(
            template="large-transfer-out",
            rule_id="large-transfer-out",
            audience="relationship_manager",
            languages=(language,),
            alert={"occurred_at": dt.datetime(2026, 9, 14, 10, 5)},
            facts={"amount": "80000.00", "threshold": "50000.00", **facts},
            customer={},
            recipient={},
            account="****1234",
        )
        return book.what(context, language)

    def test_a_cash_withdrawal_is_not_called_a_transfer(self) -> None:
        """Cash taken at the counter reads as a withdrawal, with no bank it went to."""
        text = self._what({"kind": "cash"})
        assert "取现 80,000.00 元" in text and "转" not in text and "他行" not in text

    def test_a_transfer_names_the_bank_and_whose_account(self) -> None:
        """A transfer names the other bank and says own account or a third party's."""
        assert "招商银行的本人账户" in self._what(
            {"kind": "transfer", "counterparty_bank": "招商银行", "own_account": True}
        )
        assert "招商银行的他人账户" in self._what(
            {"kind": "transfer", "counterparty_bank": "招商银行", "own_account": False}
        )
        english = self._what(
            {"kind": "transfer", "counterparty_bank": "CMB", "own_account": True}, "en"
        )
        assert "their own account at CMB" in english

    def test_threshold_facts_carry_the_kind_and_the_bank(self) -> None:
        """The rule engine records the posting's kind, the other bank and whose account."""
        from churnwatch.rules.blocks import transaction_facts
        from churnwatch.schemas.models import Counterparty, TransactionEvent

        event = TransactionEvent(
            event_id="t1",
            occurred_at=dt.datetime(2026, 9, 14, 10, 5, tzinfo=dt.UTC),
            account_id="AC1",
            customer_id="C1",
            direction="debit",
            amount=Decimal("80000.00"),
            balance_after=Decimal("1.00"),
            kind="transfer",
            channel="mobile",
            currency="CNY",
            counterparty=Counterparty(bank="招商银行", same_bank=False, same_customer=True),
        )
        assert transaction_facts(event) == {
            "kind": "transfer",
            "counterparty_bank": "招商银行",
            "own_account": True,
        }
