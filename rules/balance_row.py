"""The balance block as stored, and the ways back: whole, or with its postings as stored.

Why its own module. The balance is the one block whose stored row the engine reads two
ways (rules/stored_rows.py's ``in_memory`` and ``read_back``): a state decoded whole
rebuilds every observation (:func:`balance_state`), while the worker's cold read keeps
the postings as the row holds them and computes only the running balances
(:func:`read_balance`), making the observations when a late posting, a new peak search
or a rescale needs them (:func:`read_postings`); a prune folds them as they are
(:func:`fold_unread`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from churnwatch.rules.state import BalanceState, Observation
from churnwatch.rules.time_codes import from_time_code, time_code

__all__ = [
    "BalanceRow",
    "balance_row",
    "balance_state",
    "fold_unread",
    "read_balance",
    "read_postings",
]


class BalanceRow(msgspec.Struct, tag="b", array_like=True):
    """A :class:`BalanceState` as stored: what the running figures are rebuilt from.

    ``base`` holds, per account before the window, its index in ``accounts``, the time
    and the balance; ``postings`` holds, per observation, five values: the time (as a
    :func:`time_code` delta from the previous posting), the account's index, the
    balance after, the money parked, and the balance before (None when not kept).
    """

    scale: int
    accounts: list[str]
    base: list[int]
    base_parked: int
    postings: list[int | None]
    peak: int
    peak_at: int


def balance_row(state: BalanceState) -> BalanceRow:
    index: dict[str, int] = {}
    base: list[int] = []
    for account, (at, balance) in state.base_accounts.items():
        base += (index.setdefault(account, len(index)), at, balance)
    postings: list[int | None] = []
    previous = 0
    unread: list[Any] | None = state.unread
    if unread:  # read back and not made into observations: as they were stored
        names = state.unread_accounts
        assert names is not None
        for i in range(0, len(unread), 5):
            name = names[unread[i + 1]]
            number = index.get(name)
            if number is None:
                number = index[name] = len(index)
            postings += (unread[i], number, unread[i + 2], unread[i + 3], unread[i + 4])
        previous = state.unread_last
    for obs in state.observations:  # time_code inlined: this runs for every posting kept
        at = obs.at
        delta = at - previous
        previous = at
        number = index.get(obs.account_id)
        if number is None:
            number = index[obs.account_id] = len(index)
        postings += (
            delta // 500_000 if delta % 1_000_000 == 0 else delta * 2 + 1,
            number,
            obs.balance_after,
            obs.parked_delta,
            obs.balance_before,
        )
    return BalanceRow(
        state.scale, list(index), base, state.base_parked, postings, state.peak, state.peak_at
    )


def read_balance(row: BalanceRow) -> BalanceState:
    """The balance as the engine reads it back: the running balances computed, the
    postings left as the row holds them until something reads them (:func:`read_postings`).

    Each account's balance now is its last posting's (or the base's), and the total is
    their sum plus the money parked: the figures a rebuild ends with, without one.
    """
    names = row.accounts
    base = row.base
    accounts = {names[base[i]]: base[i + 2] for i in range(0, len(base), 3)}
    state = BalanceState(
        row.scale,
        {names[base[i]]: (base[i + 1], base[i + 2]) for i in range(0, len(base), 3)},
        row.base_parked,
        peak=row.peak,
        peak_at=row.peak_at,
    )
    p: list[Any] = row.postings
    parked = row.base_parked
    if p:
        accounts.update(zip(map(names.__getitem__, p[1::5]), p[2::5], strict=True))
        for moved in p[3::5]:
            if moved:  # parked money never goes below zero (post_balance)
                parked = parked + moved if parked + moved >= 0 else 0
        state.unread = p
        state.unread_accounts = names
        # the last posting's time: the time codes summed (from_time_code per code,
        # without a call per code: whole seconds are even codes, µs odd ones)
        codes = p[0::5]
        odd = [code for code in codes if code & 1]
        state.unread_last = (sum(codes) - sum(odd)) * 500_000 + (sum(odd) - len(odd)) // 2
    state.accounts = accounts
    state.parked = parked
    state.total = sum(accounts.values()) + parked
    return state


def read_postings(state: BalanceState) -> None:
    """Make the postings still held as stored into observations, ahead of those added
    since, their running totals rebuilt from the base (post_balance inlined)."""
    p: list[Any] | None = state.unread
    if not p:
        return
    names = state.unread_accounts
    assert names is not None
    accounts = {account: balance for account, (_, balance) in state.base_accounts.items()}
    parked = state.base_parked
    total = sum(accounts.values()) + parked
    at = 0
    made: list[Observation] = []
    for code, index, after, moved, before in zip(
        p[0::5], p[1::5], p[2::5], p[3::5], p[4::5], strict=True
    ):
        at += (code - 1) // 2 if code & 1 else code * 500_000
        account = names[index]
        previous = accounts.get(account)
        if previous is None:
            previous = before
            total += previous
        total_before = total
        delta = -parked if parked + moved < 0 else moved
        total += after - previous + delta
        parked += delta
        accounts[account] = after
        made.append(Observation(at, account, before, after, moved, total_before, total))
    state.observations[:0] = made
    state.unread = state.unread_accounts = None
    state.unread_last = 0


def fold_unread(state: BalanceState, start: int) -> None:
    """Fold the postings still held as stored that are older than ``start`` into the
    base, as BalanceFallBlock.prune folds observations; the rest stay as they are."""
    p: list[Any] | None = state.unread
    names = state.unread_accounts
    assert p and names is not None
    base = state.base_accounts
    parked = state.base_parked
    at = 0
    folded = 0
    for i in range(0, len(p), 5):
        code = p[i]
        posted = at + ((code - 1) // 2 if code & 1 else code * 500_000)
        if posted >= start:
            break
        at = posted
        base[names[p[i + 1]]] = (at, p[i + 2])
        moved = p[i + 3]
        if moved:
            parked = max(0, parked + moved)
        folded += 1
    if not folded:
        return
    state.base_parked = parked
    rest = p[folded * 5 :]
    if rest:  # the first one left: its time from zero, as the first of a row is
        rest[0] = time_code(at + from_time_code(rest[0]))
        state.unread = rest
    else:
        state.unread = state.unread_accounts = None
        state.unread_last = 0


def balance_state(row: BalanceRow) -> BalanceState:
    state = read_balance(row)
    read_postings(state)
    return state
