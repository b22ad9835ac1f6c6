"""The cached access token: fetched once, renewed before expiry, forgotten when refused."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from churnwatch.notifiers.access_token import CachedToken


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def counting(expires_in: float = 7200) -> tuple[list[str], CachedToken, Clock]:
    issued: list[str] = []
    clock = Clock()

    def fetch() -> tuple[str, float]:
        issued.append(f"t{len(issued) + 1}")
        return issued[-1], expires_in

    return issued, CachedToken(fetch, now=clock, margin=300), clock


def test_reused_until_the_margin_before_expiry() -> None:
    """The token serves until 300 s before it expires, then a new one is fetched."""
    issued, token, clock = counting()
    assert token.get() == token.get() == "t1"
    clock.t += 7200 - 301
    assert token.get() == "t1"
    clock.t += 2
    assert token.get() == "t2" and issued == ["t1", "t2"]


def test_forget_drops_only_the_refused_token() -> None:
    """Forgetting an old token another sender already replaced keeps the new one."""
    _, token, _ = counting()
    first = token.get()
    token.forget(first)
    second = token.get()
    token.forget(first)
    assert token.get() == second != first


def test_concurrent_senders_share_one_fetch() -> None:
    """Eight threads asking at once cause one gettoken."""
    issued, token, _ = counting()
    threads = [threading.Thread(target=token.get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert issued == ["t1"]


@given(st.floats(min_value=1, max_value=10_000), st.floats(min_value=0, max_value=20_000))
def test_never_serves_an_expired_token(expires_in: float, later: float) -> None:
    """Whatever the token's lifetime, what get() returns has not expired yet."""
    issued, token, clock = counting(expires_in)
    start = clock.t
    token.get()
    clock.t = start + later
    current = token.get()
    fetched_at = start if current == "t1" else start + later
    assert clock.t < fetched_at + expires_in
    assert len(issued) in (1, 2)
