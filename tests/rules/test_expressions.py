"""The condition language: what compiles, what is refused and where, and how it evaluates."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from contract_events import customer, event, transaction
from hypothesis import given
from hypothesis import strategies as st

from churnwatch.rules.exceptions import ExpressionError
from churnwatch.rules.expressions import compile_condition
from churnwatch.rules.loader import field_catalog
from churnwatch.rules.state import CustomerProfile
from churnwatch.schemas.models import EVENT_TYPES, CustomerEvent

CATALOG = field_catalog(["transaction"])
PREDICATES = {
    "internal": "event.counterparty.same_customer and event.counterparty.same_bank",
    "outflow": 'event.direction == "debit" and not internal',
}
TX = event(transaction(amount="60000.00", description="rent"))


def profile(**overrides: Any) -> CustomerProfile:
    decoded = event(customer(**overrides))
    assert isinstance(decoded, CustomerEvent)
    return CustomerProfile.from_event(decoded, "B")


def check(text: str, tx: Any = TX, who: Any = None, **predicates: str) -> Any:
    condition = compile_condition(text, CATALOG, {**PREDICATES, **predicates})
    return condition(tx, who)


def refused(text: str, **predicates: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_condition(text, CATALOG, {**PREDICATES, **predicates})
    return caught.value


class TestSafety:
    @pytest.mark.parametrize(
        "text", ["len(event.kind) > 1", "__import__('os')", "event.kind.upper()", "print(1)"]
    )
    def test_calls_are_refused(self, text: str) -> None:
        """No function or method can be called from a condition."""
        error = refused(text)
        assert "not allowed" in error.message or "unknown" in error.message

    def test_call_message(self) -> None:
        """A call is refused with a message saying calls are not allowed."""
        assert refused("len(event.kind) > 1").message == "function calls are not allowed"

    def test_subscripts_are_refused(self) -> None:
        """Indexing with ``[]`` is refused."""
        assert "indexing" in refused('event.kind[0] == "t"').message

    @pytest.mark.parametrize(
        "text",
        ["event.__class__", "event.amount.__class__ == 1", "event._private", "customer.__dict__"],
    )
    def test_dunder_and_private_access_is_refused(self, text: str) -> None:
        """Names starting with ``_`` cannot be read: no way to the object model."""
        assert "'_'" in refused(text).message

    @pytest.mark.parametrize(
        "text",
        [
            "lambda: 1",
            "[x for x in [1]]",
            "event.kind if true else 1",
            "(yield)",
            'f"{event.kind}"',
            "event.amount ** 2",
            "~event.amount",
            "event.amount @ 1",
        ],
    )
    def test_other_python_is_refused(self, text: str) -> None:
        """Lambdas, comprehensions, conditionals, f-strings and other operators do not compile."""
        refused(text)

    def test_is_is_refused(self) -> None:
        """``is`` is refused with a hint to use ``==``."""
        assert refused("event.description is None").message == "'is' is not allowed; use == or !="

    def test_unknown_name_suggests_a_predicate(self) -> None:
        """A misspelt predicate names the one that was probably meant."""
        assert refused("outflw").message == "unknown name 'outflw' (did you mean 'outflow'?)"

    def test_unknown_root_is_refused(self) -> None:
        """Only ``event`` and ``customer`` have fields."""
        assert "unknown name 'os'" in refused("os.environ").message

    def test_unknown_event_field_suggests_the_right_one(self) -> None:
        """A misspelt event field names the field that was probably meant."""
        assert refused("event.amout > 1").message == (
            "unknown field 'event.amout' (did you mean 'event.amount'?)"
        )

    def test_unknown_customer_field_suggests_the_right_one(self) -> None:
        """A misspelt customer field names the field that was probably meant."""
        assert "did you mean 'customer.tier'?" in refused('customer.teir == "A"').message

    def test_fields_of_fields_are_refused(self) -> None:
        """Attributes of a value (``.real``, ``.upper``) are not fields."""
        assert "unknown field" in refused("customer.aum.real > 1").message

    def test_a_bare_root_needs_a_field(self) -> None:
        """``event`` alone is refused with an example of a field."""
        assert "needs a field" in refused("event").message

    def test_lists_hold_only_literals(self) -> None:
        """A list may not contain fields or expressions."""
        assert "literal" in refused("event.kind in [event.channel]").message

    def test_bytes_and_complex_literals_are_refused(self) -> None:
        """Only text, numbers, booleans and null are literals."""
        refused('event.kind == b"transfer"')
        refused("event.amount == 1j")

    def test_text_cannot_be_ordered(self) -> None:
        """``event.amount > "abc"`` is refused at load, not a crash at run time."""
        assert "compares numbers" in refused('event.amount > "abc"').message

    def test_text_arithmetic_is_refused(self) -> None:
        """``+`` with text is refused at load."""
        assert "numbers" in refused('event.kind + "x" == "y"').message

    @pytest.mark.parametrize(
        "text", ['-"x" == event.kind', "-None == event.kind", 'event.kind in [-"a"]']
    )
    def test_minus_goes_only_before_numbers(self, text: str) -> None:
        """Negating text or null is a load error, not a TypeError."""
        assert refused(text).message == "'-' goes only before a number"

    @pytest.mark.parametrize(
        ("text", "word"),
        [("event.amount >= 5万", "万"), ("outflow 和 event.amount > 1", "和")],
    )
    def test_a_chinese_word_outside_quotes_is_named_where_it_stands(
        self, text: str, word: str
    ) -> None:
        """Python calls ``5万`` only "invalid syntax"; the word is named, at its column."""
        error = refused(text)
        assert error.offset == text.index(word)
        assert error.message.startswith(f"syntax error: {word!r} is not a word of conditions")

    def test_chinese_inside_quotes_is_text(self) -> None:
        """A quoted text may be Chinese; a syntax error elsewhere keeps Python's words."""
        assert check('"房租" == event.description') is False
        assert refused('"房租" == event.description and').message == "syntax error: invalid syntax"

    def test_syntax_error(self) -> None:
        """Broken syntax is an ExpressionError, not a SyntaxError."""
        assert refused("event.amount >").message.startswith("syntax error")


class TestColumnOffsets:
    def test_unknown_field_points_at_the_field(self) -> None:
        """The offset of an unknown field is where the field starts."""
        text = 'event.kind == "transfer" and event.amout > 1'
        assert refused(text).offset == text.index("event.amout")

    def test_call_points_at_the_call(self) -> None:
        """The offset of a refused call is where the call starts."""
        text = "event.amount > 1 and len(event.kind) > 2"
        assert refused(text).offset == text.index("len")

    def test_list_element_points_at_the_element(self) -> None:
        """A non-literal list element is located at the element itself."""
        text = 'event.kind in ["cash", event.channel]'
        assert refused(text).offset == text.index("event.channel")

    def test_leading_whitespace_does_not_shift_offsets(self) -> None:
        """Offsets count from the first non-blank character, as YAML values are located."""
        assert refused("   event.amout > 1").offset == 0

    def test_error_inside_a_predicate_points_at_its_use(self) -> None:
        """An error inside a predicate is reported where the predicate is used."""
        text = "event.amount > 1 and broken"
        error = refused(text, broken="event.nope")
        assert error.offset == text.index("broken")
        assert error.message.startswith("in predicate 'broken': unknown field 'event.nope'")


class TestLiterals:
    def test_numbers_are_exact_decimals(self) -> None:
        """``0.1 + 0.2 == 0.3`` holds: literals are Decimals, not floats."""
        assert check("0.1 + 0.2 == 0.3") is True

    def test_literals_keep_every_written_digit(self) -> None:
        """A literal with more digits than a float holds is read exactly as written."""
        big = event(transaction(amount="999999999999999.98"))  # a float reads both as 1e15
        assert check("event.amount >= 999999999999999.98", big) is True
        assert check("event.amount >= 999999999999999.99", big) is False

    def test_a_threshold_at_the_cent(self) -> None:
        """``>= 50000.00`` holds for 50,000.00 and not for 49,999.99."""
        assert check("event.amount >= 50000.00", event(transaction(amount="50000.00")))
        assert not check("event.amount >= 50000.00", event(transaction(amount="49999.99")))

    def test_underscores_in_numbers(self) -> None:
        """``50_000.00`` is fifty thousand."""
        assert check("event.amount >= 50_000.00", event(transaction(amount="50000")))

    def test_negative_numbers_in_lists(self) -> None:
        """A list may hold negative numbers, compared exactly."""
        overdrawn = event(transaction(balance_after="-1.5"))
        assert check("event.balance_after in [-1.5, -2]", overdrawn) is True

    @pytest.mark.parametrize(
        ("text", "expected"), [("true", True), ("False", False), ("null == null", True)]
    )
    def test_yaml_and_python_spellings_of_constants(self, text: str, expected: bool) -> None:
        """``true``/``True``, ``false``/``False`` and ``null``/``None`` are constants."""
        assert check(text) is expected


class TestUnknownValues:
    def test_ordering_with_none_is_false(self) -> None:
        """``customer.aum >= 1`` is false, not an error, when the customer is unknown."""
        assert check("customer.aum >= 1") is False
        assert check("customer.aum < 1") is False

    def test_arithmetic_with_none_is_unknown(self) -> None:
        """Arithmetic with an unknown value gives unknown, so the comparison is false."""
        assert check("customer.aum - event.amount < 5") is False
        assert check("-customer.aum < 1") is False

    def test_division_by_zero_is_unknown(self) -> None:
        """Dividing by a zero balance does not raise; the comparison is false."""
        empty = event(transaction(balance_after="0"))
        assert check("event.amount / event.balance_after > 1", empty) is False

    def test_in_an_unknown_field_is_false(self) -> None:
        """``"x" in event.description`` is false when there is no description."""
        assert check('"ren" in event.description') is True
        assert check('"ren" in event.description', event(transaction())) is False
        assert check('"ren" not in event.description', event(transaction())) is False

    def test_equality_with_none(self) -> None:
        """``== null`` holds for an absent optional field."""
        assert check("event.description == null", event(transaction())) is True

    def test_customer_fields_read_from_the_profile(self) -> None:
        """With a known customer, customer fields read the profile's values."""
        who = profile(aum="300000.00")
        assert check('customer.tier == "B" and customer.aum >= 300000', who=who) is True


class TestTextsAFieldNeverHolds:
    """A field the contract closes (``event.kind``, ``event.channel`` …) compared with a
    text it never holds is a load error: the rule would otherwise never fire, silently."""

    def test_a_misspelt_kind_names_the_one_meant_and_every_kind(self) -> None:
        text = 'outflow and event.kind == "transfers"'
        error = refused(text)
        assert error.offset == text.index('"transfers"')
        assert error.message == (
            "event.kind is never 'transfers' (did you mean 'transfer'?); it is one of: "
            "auto_debit, card, cash, fee, interest, loan, other, payroll, product, transfer"
        )

    def test_each_text_of_a_list_is_checked_where_it_is_written(self) -> None:
        text = 'event.kind in ["transfer", "Cash"]'
        error = refused(text)
        assert error.offset == text.index('"Cash"')
        assert "(did you mean 'cash'?)" in error.message

    @pytest.mark.parametrize(
        "text",
        [
            '"ATM" == event.channel',
            'event.direction != "out"',
            'event.channel not in ["app"]',
            'customer.language == "zh"',
            'event.type == "transactions"',
        ],
    )
    def test_either_side_and_every_comparison(self, text: str) -> None:
        """The text may stand left or right, with ==, != or a list after in / not in."""
        assert " is never " in refused(text).message

    @pytest.mark.parametrize(
        "text",
        [
            'event.description == "rent"',
            'customer.tier == "VIP"',
            'event.counterparty.bank == "ICBC"',
            '"ren" in event.description',
            '"tran" in event.kind',
            'event.kind in "transfer or cash"',
        ],
    )
    def test_fields_holding_any_text_take_any_text(self, text: str) -> None:
        """Open fields take any text; ``in`` with a text (a part of it) is not a value."""
        compile_condition(text, CATALOG, PREDICATES)

    def test_a_predicate_is_checked_where_it_is_used(self) -> None:
        text = "event.amount > 1 and payroll"
        error = refused(text, payroll='event.kind == "salary"')
        assert error.offset == text.index("payroll")
        assert error.message.startswith("in predicate 'payroll': event.kind is never 'salary'")

    def test_a_rule_on_several_types_takes_the_texts_of_each(self) -> None:
        catalog = field_catalog(["transaction", "product"])
        compile_condition('event.action == "matured" or event.kind == "cash"', catalog, {})
        with pytest.raises(ExpressionError, match=r"event\.action is never 'maturing'"):
            compile_condition('event.action == "maturing"', catalog, {})

    @given(data=st.data())
    def test_a_closed_field_takes_exactly_its_texts(self, data: st.DataObject) -> None:
        """For every closed field, its own texts compile and no other text does."""
        catalog = field_catalog(list(EVENT_TYPES))
        field = data.draw(st.sampled_from(sorted(catalog.values)))
        allowed = catalog.values[field]
        own = data.draw(st.sampled_from(sorted(allowed)))
        compile_condition(f"{field} == {own!r}", catalog, {})
        other = data.draw(st.text(max_size=12).filter(lambda t: t not in allowed))
        with pytest.raises(ExpressionError, match=" is never "):
            compile_condition(f"{field} == {other!r}", catalog, {})


class TestPredicates:
    def test_predicates_expand(self) -> None:
        """A predicate name stands for its condition, nested predicates included."""
        own = event(transaction(counterparty={"same_bank": True, "same_customer": True}))
        assert check("outflow", TX) is True
        assert check("outflow", own) is False

    def test_self_reference_is_refused(self) -> None:
        """A predicate that uses itself is refused with the chain."""
        error = refused("loop", loop="loop or true")
        assert "refers to itself: loop -> loop" in error.message

    def test_indirect_self_reference_is_refused(self) -> None:
        """A cycle through two predicates is refused and names both."""
        error = refused("a", a="b", b="a and true")
        assert "a -> b -> a" in error.message

    def test_a_predicate_may_be_used_twice(self) -> None:
        """Using the same predicate twice is not a cycle."""
        assert check("internal or internal") is False


class TestMultiTypeRules:
    def test_fields_of_other_types_read_as_none(self) -> None:
        """On a rule for transactions and products, ``event.action`` is None on a transaction."""
        catalog = field_catalog(["transaction", "product"])
        condition = compile_condition('event.action == "matured"', catalog, {})
        assert condition(TX, None) is False

    def test_type_reads_the_contract_type(self) -> None:
        """``event.type`` is the contract type name."""
        assert check('event.type == "transaction"') is True


def test_compiled_conditions_return_plain_values() -> None:
    """A condition's value is a plain bool or Decimal, never an AST node or a lambda."""
    assert isinstance(check("event.amount + 1"), Decimal)
