"""Block states stored as rows read back as the very states that were written."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.state import (
    CustomerState,
    FollowUpState,
    HistoryState,
    OverdueState,
    Trigger,
)
from churnwatch.rules.stored_rows import (
    FollowUpRow,
    OverdueRow,
    ScaledHistoryRow,
    from_scale,
    in_memory,
    stored_block,
    to_scale,
)

DAY = 86_400_000_000
START = 1_790_000_000_000_000


def payrolls() -> OverdueState:
    return OverdueState(
        seen=[
            (START, "tx-1", "AC-001", Decimal("16618.40")),
            (START + 30 * DAY, "tx-2", "AC-001", Decimal("16618.40")),
            (START + 61 * DAY + 123, "tx-3", None, None),
            (START + 91 * DAY, "tx-4", "AC-002", Decimal("0.10")),
        ],
        next_check=START + 122 * DAY,
        fired_for="tx-3",
    )


def test_an_overdue_block_is_stored_as_a_row_and_read_back_equal() -> None:
    state = payrolls()
    row = stored_block(state)
    assert isinstance(row, OverdueRow)
    assert row.accounts == ["AC-001", "AC-002"]  # each account written once
    assert in_memory(row) == state


def test_the_row_is_smaller_than_the_state_it_stands_for() -> None:
    state = payrolls()
    assert len(msgspec.msgpack.encode(stored_block(state))) < len(msgspec.msgpack.encode(state))


def test_a_customer_state_with_an_overdue_block_round_trips() -> None:
    state = CustomerState(watermark=START + 92 * DAY, blocks={"payroll-stopped": payrolls()})
    assert decode_state(encode_state(state)) == state


def test_an_empty_overdue_block_round_trips() -> None:
    assert in_memory(stored_block(OverdueState())) == OverdueState()


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.decimals(
                allow_nan=False, allow_infinity=False, min_value=-(10**15), max_value=10**15
            ),
        ),
        max_size=8,
    )
)
def test_amounts_as_integers_come_back_as_the_same_decimals(values: list[Decimal | None]) -> None:
    """Exactly, trailing zeros and all; values of mixed precision are left as they are."""
    scaled = to_scale(values)
    if scaled is None:
        exponents = {v.as_tuple().exponent for v in values if v is not None}
        negative_zero = any(v is not None and v == 0 and v.is_signed() for v in values)
        assert len(exponents) > 1 or negative_zero or any(e > 0 for e in exponents)  # type: ignore[operator]
        return
    back = from_scale(*scaled)
    assert [None if v is None else v.as_tuple() for v in back] == [
        None if v is None else v.as_tuple() for v in values
    ]


def test_a_follow_up_block_is_stored_with_integer_amounts_and_read_back_equal() -> None:
    state = FollowUpState(
        triggers=[Trigger(START, Decimal("50000.00"), "pr-1", "AC-001")],
        entries=[
            (START + DAY, Decimal("72.89"), "tx-1"),
            (START + 2 * DAY + 7, Decimal("1100.00"), "tx-2"),
        ],
    )
    row = stored_block(state)
    assert isinstance(row, FollowUpRow)
    assert row.entries[1::3] == [7289, 110000]
    assert in_memory(row) == state
    assert len(msgspec.msgpack.encode(row)) < len(msgspec.msgpack.encode(state))


def test_a_follow_up_block_of_mixed_precisions_is_stored_as_it_is() -> None:
    state = FollowUpState(entries=[(START, Decimal("1.5"), "a"), (START, Decimal("2.25"), "b")])
    assert stored_block(state) is state


def test_a_history_of_one_precision_is_stored_as_integers() -> None:
    state = HistoryState(
        [(START, (Decimal("1237.12"), None)), (START + DAY, (Decimal("0.10"), None))]
    )
    row = stored_block(state)
    assert isinstance(row, ScaledHistoryRow)
    assert row.values == [123712, None, 10, None]
    assert in_memory(row) == state
    assert decode_state(encode_state(CustomerState(blocks={"h": state}))) == CustomerState(
        blocks={"h": state}
    )
