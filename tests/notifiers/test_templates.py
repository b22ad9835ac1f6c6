"""Templates: fallback by language and rule, checks at load, masking, the sandbox."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import Rig, alert, customer

from churnwatch.notifiers.directory import InMemoryDirectory
from churnwatch.notifiers.exceptions import TemplateError
from churnwatch.notifiers.templates import TemplateBook
from churnwatch.rules import SHIPPED_RULES
from churnwatch.rules.texts import load_words


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(SHIPPED_RULES / "templates", target)
    return target


class TestLoad:
    def test_shipped_templates_load(self) -> None:
        """The shipped templates pass every load check with SMS limited to 2 segments."""
        book = TemplateBook(SHIPPED_RULES / "templates", max_segments=2)
        assert "large-transfer-out/what.zh-CN.j2" in book.names

    def test_too_long_customer_text_is_refused_at_load(self, pack: Path) -> None:
        """A customer template that would need 3 segments is refused, naming the file."""
        (pack / "payroll-moved-out" / "customer.zh-CN.j2").write_text(
            "【本行】{{ customer.name }}" + "您好" * 60
        )
        with pytest.raises(TemplateError, match=r"customer.zh-CN.j2: needs 3 SMS segments"):
            TemplateBook(pack, max_segments=2)

    def test_english_text_is_checked_with_a_chinese_name(self, pack: Path) -> None:
        """An English template that fits GSM-7 but not UCS-2 is refused: names can be Chinese."""
        (pack / "_default" / "customer.en.j2").write_text("Dear {{ customer.name }}, " + "a" * 140)
        with pytest.raises(TemplateError, match="欧阳娜娜"):
            TemplateBook(pack, max_segments=2)

    def test_undefined_variable_is_refused_at_load(self, pack: Path) -> None:
        """A template naming a variable that does not exist fails at load (strict undefined)."""
        (pack / "_default" / "executive.en.j2").write_text("{{ customr.name }}")
        with pytest.raises(TemplateError, match="customr"):
            TemplateBook(pack)

    def test_sandbox_blocks_python_internals(self, pack: Path) -> None:
        """The sandbox refuses attribute access to Python internals."""
        (pack / "_default" / "executive.en.j2").write_text("{{ facts.__class__.__mro__ }}")
        with pytest.raises(TemplateError):
            TemplateBook(pack)

    def test_missing_default_is_refused(self, pack: Path) -> None:
        """Every audience needs a default template in both languages."""
        (pack / "_default" / "branch_head.en.j2").unlink()
        with pytest.raises(TemplateError, match=r"branch_head\.en\.j2"):
            TemplateBook(pack)


class TestChoose:
    def test_language_falls_back_to_chinese(self) -> None:
        """A language without a template falls back to zh-CN."""
        book = TemplateBook(SHIPPED_RULES / "templates")
        assert book.choose("maturity-reminder-7d", "customer", ["fr"]) == (
            "maturity-reminder-7d/customer.zh-CN.j2",
            "zh-CN",
        )

    def test_branch_head_gets_the_managers_rule_text(self, pack: Path) -> None:
        """A branch head without a rule text of their own gets the relationship manager's."""
        (pack / "large-transfer-out" / "relationship_manager.en.j2").write_text("{{ what }}")
        book = TemplateBook(pack, words=load_words(SHIPPED_RULES))
        assert book.choose("large-transfer-out", "branch_head", ["en"])[0] == (
            "large-transfer-out/relationship_manager.en.j2"
        )

    def test_unknown_rule_uses_the_default(self) -> None:
        """A rule without templates uses _default for the audience."""
        book = TemplateBook(SHIPPED_RULES / "templates")
        assert book.choose("new-rule", "customer", ["en"])[0] == "_default/customer.en.j2"


class TestRendered:
    def test_manager_text_has_name_tier_amount_and_masked_account(
        self, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """The manager's text names the customer, tier and amount; the account shows 4 digits."""
        rig.deliver([alert()], directory)
        rig.clock.advance(minutes=2)
        rig.dispatcher.run_until_idle()
        [message] = rig.recorders["wecom_app"].sent
        assert "王芳" in message.body and "C级" in message.body and "80,000.00" in message.body
        assert "****5678" in message.body and "6222020000005678" not in message.body

    def test_customer_language_is_used(self, rig: Rig, directory: InMemoryDirectory) -> None:
        """An English-speaking customer gets the English text."""
        directory.put_customer(customer(language="en", name="Li Wei"))
        rig.deliver(
            [alert(rule_id="payroll-moved-out", audience=("customer",), facts={})], directory
        )
        [text] = rig.sms()
        assert text.startswith("[Bank] Dear Li Wei")

    def test_customer_text_with_full_account_is_refused(
        self, pack: Path, rig: Rig, directory: InMemoryDirectory
    ) -> None:
        """A customer text that would show a full account number is never sent."""
        (pack / "payroll-moved-out" / "customer.en.j2").write_text("{{ facts.account }}")
        rig.pipeline.templates = TemplateBook(pack)
        directory.put_customer(customer(language="en"))
        rig.deliver(
            [
                alert(
                    rule_id="payroll-moved-out",
                    audience=("customer",),
                    facts={"account": "6222020000005678"},
                )
            ],
            directory,
        )
        assert rig.sms() == []
        [row] = rig.outbox.list(status="failed")
        assert "full account number" in (row.last_error or "")
