"""Customer states stored in format version 1, read and upgraded to the current model.

Version 1 was :mod:`churnwatch.rules.state`'s structs written by msgspec as they were:
msgpack maps with field names, the customer record as a map, and the balance window as
Decimals (each posting with its event id and running totals). Changelogs and local
stores written before version 2 hold such states; :func:`decode_v1` reads one and turns
it into today's :class:`~churnwatch.rules.state.CustomerState`, exactly: every amount
becomes integer minor units at a scale that holds its digits. The next write stores it
as version 2. Nothing writes version 1 any more; this module only reads it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, Union, get_args

import msgspec

from churnwatch.rules.state import (
    ActivityState,
    BalanceState,
    BlockState,
    CustomerProfile,
    CustomerState,
    Observation,
    rebuild_balance,
)
from churnwatch.rules.stored_rows import ActivityDays, in_memory

__all__ = ["BalanceStateV1", "CustomerStateV1", "ObservationV1", "decode_v1", "upgrade"]


class CustomerProfileV1(msgspec.Struct, frozen=True, omit_defaults=True):
    customer_id: str
    name: str
    phone: str
    language: str
    aum: Decimal
    tier: str
    branch_id: str
    manager_id: str
    sms_opt_in: bool
    birthday: dt.date | None = None
    tier_overridden: bool = False
    known: bool = True


class ObservationV1(msgspec.Struct, array_like=True):
    at: int
    account_id: str
    balance_before: Decimal
    balance_after: Decimal
    parked_delta: Decimal
    event_id: str
    total_before: Decimal = Decimal(0)
    total_after: Decimal = Decimal(0)


class BalanceStateV1(msgspec.Struct, tag="balance", array_like=True):
    base_accounts: dict[str, tuple[int, Decimal]] = msgspec.field(default_factory=dict)
    base_parked: Decimal = Decimal(0)
    observations: list[ObservationV1] = msgspec.field(default_factory=list)
    accounts: dict[str, Decimal] = msgspec.field(default_factory=dict)
    total: Decimal = Decimal(0)
    parked: Decimal = Decimal(0)
    peak: Decimal = Decimal(0)
    peak_at: int = 0


if TYPE_CHECKING:
    BlockStateV1: TypeAlias = BlockState | BalanceStateV1
else:  # the other blocks' stored form did not change in version 2 (the activity counts
    # are today's ActivityState in the form formats 1 to 5 stored it)
    _V1: dict[Any, Any] = {BalanceState: BalanceStateV1, ActivityState: ActivityDays}
    BlockStateV1 = Union[  # noqa: UP007 (built from a tuple, so a block added later is in)
        tuple(_V1.get(t, t) for t in get_args(BlockState))
    ]


class CustomerStateV1(msgspec.Struct):
    customer: CustomerProfileV1 | None = None
    customer_at: int = 0
    watermark: int = 0
    seen: dict[str, int] = msgspec.field(default_factory=dict)
    blocks: dict[str, BlockStateV1] = msgspec.field(default_factory=dict)
    last_alert_at: dict[str, int] = msgspec.field(default_factory=dict)
    pruned_at: int = 0


_decoder = msgspec.msgpack.Decoder(CustomerStateV1)


def decode_v1(data: bytes) -> CustomerState:
    """A version-1 state (msgpack bytes) as the current model."""
    return upgrade(_decoder.decode(data))


def upgrade(old: CustomerStateV1) -> CustomerState:
    """The same customer's state in today's model; money exact, nothing dropped but derivables."""
    customer = None
    if old.customer is not None:
        customer = CustomerProfile(**msgspec.structs.asdict(old.customer))
    return CustomerState(
        customer=customer,
        customer_at=old.customer_at,
        watermark=old.watermark,
        seen=old.seen,
        blocks={
            rule_id: _balance(block) if type(block) is BalanceStateV1 else in_memory(block)  # type: ignore[arg-type]
            for rule_id, block in old.blocks.items()
        },
        last_alert_at=old.last_alert_at,
        pruned_at=old.pruned_at,
    )


def _balance(old: BalanceStateV1) -> BalanceState:
    """Decimals to integer minor units at a scale that holds every digit (at least cents)."""
    values: list[Decimal] = [old.base_parked, old.peak]
    values += (balance for _, balance in old.base_accounts.values())
    for obs in old.observations:
        values += (obs.balance_before, obs.balance_after, obs.parked_delta)
    scale = max([2, *(-_exponent(v) for v in values)])

    def units(value: Decimal) -> int:
        return int(value.scaleb(scale))

    state = BalanceState(
        scale=scale,
        base_accounts={
            account: (at, units(balance)) for account, (at, balance) in old.base_accounts.items()
        },
        base_parked=units(old.base_parked),
        observations=[
            Observation(
                obs.at,
                obs.account_id,
                units(obs.balance_before),
                units(obs.balance_after),
                units(obs.parked_delta),
            )
            for obs in old.observations
        ],
        peak=units(old.peak),
        peak_at=old.peak_at,
    )
    rebuild_balance(state)
    return state


def _exponent(value: Decimal) -> int:
    exponent: Any = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0
