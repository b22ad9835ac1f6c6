"""Block states stored as rows read back as the very states that were written."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from churnwatch.rules.codec import decode_state, encode_state
from churnwatch.rules.state import CustomerState, OverdueState
from churnwatch.rules.stored_rows import OverdueRow, in_memory, stored_block

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
