"""The balance block's state: its window of postings packed as 64-bit integers.

Why packed. A backtest holds every customer's state at once, and a busy customer's
window holds dozens of postings: each was an object with three integer objects of its
own, about 180 bytes. Packed, a posting is six machine integers in one array (48 bytes)
and a pointer to its account's one string: a generated bank's live state went from 9,622
to 8,010 bytes a customer. It costs time, a little: each posting's figures are converted
to machine integers and back (3% more instructions a replay line, within the noise in
CPU time; README, performance).

The numbers of a posting, in order (:data:`STRIDE` of them per posting): its time (µs),
the account's balance before it (:data:`NOT_KEPT` when not kept), the balance after it,
the money it parked, and the running totals before and after it. Money is integer minor
units of the state's ``scale``, as in the stored form, whose msgpack holds 64 bits too.
A figure past 64 bits (a balance of 92 quadrillion in cents: only a ``max_amount`` raised
far, or many decimals, lets one through decode) raises ``OverflowError``: the event is a
``rule_error`` dead letter and the customer's state is as it was (rules/isolation.py),
where a wider window would have passed the problem on to the stored form.

Code on the hot path reads the numbers by offset (``window[row + AFTER]``);
:attr:`BalanceState.observations` gives them as :class:`Observation` objects, for tests
and tools.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from struct import Struct
from typing import TYPE_CHECKING, Any

import msgspec

__all__ = [
    "AFTER",
    "AT",
    "BEFORE",
    "NOT_KEPT",
    "PARKED",
    "STRIDE",
    "TOTAL_AFTER",
    "TOTAL_BEFORE",
    "BalanceState",
    "Observation",
    "Window",
    "insert_rows",
    "new_window",
    "pack_row",
    "rebuild_balance",
    "snapshot_dec_hook",
    "snapshot_enc_hook",
]

#: a posting's numbers in the window, by offset from its first
AT, BEFORE, AFTER, PARKED, TOTAL_BEFORE, TOTAL_AFTER = range(6)
STRIDE = 6
#: ``balance_before`` not kept: the smallest 64-bit integer, refused as a balance before
#: (rules/balance.py raises OverflowError for it, as for a figure past 64 bits)
NOT_KEPT = -(2**63)
#: the array type code of a 64-bit signed integer
_INT64 = "q"
#: a posting's numbers as the array's bytes, refused (``struct.error``) past 64 bits: the
#: array's own ``extend`` converts each item through a format parser, several times slower
pack_row = Struct(f"{STRIDE}{_INT64}").pack

if TYPE_CHECKING:
    Window = array[int]
else:  # msgspec reads the annotation: the array is its custom type (snapshot hooks below)
    Window = array


def new_window() -> Window:
    return array(_INT64)


class Observation(msgspec.Struct, array_like=True, gc=False):
    """One posting of the window as an object (:attr:`BalanceState.observations`).

    ``balance_before`` is only kept when it may be needed: for a posting that may be the
    first seen of its account (an account already known, in order, never needs it).
    """

    at: int
    account_id: str
    balance_before: int | None
    balance_after: int
    parked_delta: int
    total_before: int = 0
    total_after: int = 0


class BalanceState(msgspec.Struct, tag="balance", array_like=True):
    """The customer's balance at the bank, as postings in the window and what came before.

    Money is exact integer minor units: ``scale`` decimal places (2 to start; more when
    a posting brings more, e.g. a 3-decimal currency, and every figure is rescaled).
    ``base_accounts`` maps account -> (time, balance) of the last posting before the
    window and ``base_parked`` is money moved into the bank's own products by then;
    together they let a late posting be placed and the totals recomputed. ``window``
    holds the postings since, packed (the module's docstring), and ``window_accounts``
    the account of each, one string per account. ``accounts`` and ``total`` are the
    balances now, kept up to date as postings arrive in order. ``accounts``, ``total``,
    ``parked`` and the window's totals follow from the rest (:func:`rebuild_balance`), so
    the stored form leaves them out.

    A balance read back for the engine (rules/balance_row.py's ``read_balance``) keeps
    the postings it read as the stored row holds them, in ``unread`` (five values each,
    the account as its index in ``unread_accounts``; ``unread_last`` the time of the
    last), before the postings of the window added since: a posting in order needs only
    the running balances, computed on reading, so the window takes them only when a late
    posting, a new peak search or a rescale reads them (``read_postings``).
    """

    scale: int = 2
    base_accounts: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)
    base_parked: int = 0
    window: Window = msgspec.field(default_factory=new_window)
    window_accounts: list[str] = msgspec.field(default_factory=list)
    accounts: dict[str, int] = msgspec.field(default_factory=dict)
    total: int = 0
    parked: int = 0
    peak: int = 0
    peak_at: int = 0
    unread: list[int | None] | None = None
    unread_accounts: list[str] | None = None
    unread_last: int = 0

    @property
    def observations(self) -> list[Observation]:
        """The window's postings as objects, oldest first (made on each read)."""
        w = self.window
        return [
            Observation(
                w[row + AT],
                account,
                None if w[row + BEFORE] == NOT_KEPT else w[row + BEFORE],
                w[row + AFTER],
                w[row + PARKED],
                w[row + TOTAL_BEFORE],
                w[row + TOTAL_AFTER],
            )
            for row, account in zip(range(0, len(w), STRIDE), self.window_accounts, strict=True)
        ]


def insert_rows(
    state: BalanceState, index: int, numbers: Sequence[int], accounts: Sequence[str]
) -> None:
    """Put postings (``numbers``, :data:`STRIDE` per posting; their ``accounts``) into
    the window before its ``index``-th posting."""
    at = index * STRIDE
    # refused whole past 64 bits (OverflowError): the window is left as it was
    state.window[at:at] = array(_INT64, numbers)
    state.window_accounts[index:index] = accounts


def rebuild_balance(state: BalanceState) -> None:
    """Recompute the running balances and each posting's totals from the base on.

    Money parked in the bank's own products never goes below zero: redeeming a product
    bought before the data began brings money we had not counted, which is new to the
    balance, not a transfer out of ``parked``.
    """
    accounts = {account: balance for account, (_, balance) in state.base_accounts.items()}
    parked = state.base_parked
    total = sum(accounts.values()) + parked
    window = state.window
    for row, account in zip(range(0, len(window), STRIDE), state.window_accounts, strict=True):
        after = window[row + AFTER]
        previous = accounts.get(account)
        if previous is None:  # first sight of the account: its balance before this posting
            previous = window[row + BEFORE]
            assert previous != NOT_KEPT  # kept for every posting that may be a first sight
            total += previous
        window[row + TOTAL_BEFORE] = total
        delta = window[row + PARKED]
        if parked + delta < 0:
            delta = -parked
        total += after - previous + delta
        window[row + TOTAL_AFTER] = total
        accounts[account] = after
        parked += delta
    state.accounts = accounts
    state.total = total
    state.parked = parked


def snapshot_enc_hook(value: Any) -> Any:
    """msgpack of a state (rules/isolation.py's snapshots): a packed window as its bytes."""
    if type(value) is array:
        return value.tobytes()
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def snapshot_dec_hook(kind: type, value: Any) -> Any:
    """The window back from :func:`snapshot_enc_hook`'s bytes."""
    if kind is array and type(value) is bytes:
        window = array(_INT64)
        window.frombytes(value)
        return window
    raise NotImplementedError(f"cannot decode {kind.__name__} from {type(value).__name__}")
