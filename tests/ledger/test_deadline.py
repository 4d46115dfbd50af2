"""Per-call deadlines on PostgreSQL: a frozen server never holds a call past its deadline.

The server is reached through :class:`tests.ledger.pgproxy.FreezableProxy`,
which can stop answering while keeping every socket open (a primary stopped
by SIGSTOP), or swallow the answer to a COMMIT.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from bitcache.core.entries import EntryRequest, posting
from bitcache.errors import DeadlineExceeded, OutcomeUnknown
from bitcache.store import deadline
from bitcache.store.ledger import LedgerStore
from tests.conftest import PG_URL
from tests.ledger.conftest import ALICE, OPERATOR
from tests.ledger.pgproxy import FreezableProxy, proxy_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="needs BITCACHE_TEST_PG_URL"),
]
DEADLINE_S = 1.0
SLACK_S = 0.5  # the watchdog's wake-up and the driver's return


@pytest.fixture
def proxied(make_pg_url: Callable[[], str]) -> Iterator[tuple[FreezableProxy, LedgerStore]]:
    url = make_pg_url()
    with proxy_for(url) as proxy:
        store = LedgerStore.open(proxy.url(url), deadline_s=DEADLINE_S)
        store.open_account(ALICE)
        store.open_account(OPERATOR)
        yield proxy, store
        proxy.thaw()
        store.close()


def request(key: str, amount: int = 100) -> EntryRequest:
    return EntryRequest(key, (posting(OPERATOR, amount), posting(ALICE, -amount)))


def timed(fn: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        fn()
    except Exception as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_pooled_connection_to_a_frozen_server_is_abandoned_at_the_deadline(
    proxied: tuple[FreezableProxy, LedgerStore],
) -> None:
    proxy, store = proxied
    store.record_many([request("warm")])  # a connection now waits in the pool
    proxy.freeze()
    error, took = timed(lambda: store.record_many([request("frozen")]))
    assert isinstance(error, DeadlineExceeded), error
    assert took < DEADLINE_S + SLACK_S
    proxy.thaw()
    assert store.record_many([request("frozen")]).written == 1  # a new connection serves it


def test_a_statement_stuck_mid_transaction_is_abandoned_at_the_deadline(
    proxied: tuple[FreezableProxy, LedgerStore],
) -> None:
    proxy, store = proxied

    def stuck() -> None:
        with store.write() as conn:
            proxy.freeze()
            conn.exec_driver_sql("SELECT 1")

    error, took = timed(stuck)
    assert isinstance(error, DeadlineExceeded), error
    assert took < DEADLINE_S + SLACK_S


def test_connecting_to_a_frozen_server_gives_up_at_the_deadline(
    make_pg_url: Callable[[], str],
) -> None:
    url = make_pg_url()
    with proxy_for(url) as proxy:
        store = LedgerStore.open(proxy.url(url), migrate=False)
        proxy.freeze()  # TCP connects, the server never answers the startup message
        with deadline.deadline(DEADLINE_S):
            error, took = timed(lambda: store.balances())
        assert isinstance(error, DeadlineExceeded), error
        assert took < DEADLINE_S + SLACK_S
        proxy.thaw()
        store.close()


@pytest.mark.parametrize("forwarded", [True, False], ids=["committed", "not-committed"])
def test_a_commit_whose_answer_never_comes_is_outcome_unknown_and_a_retry_is_exactly_once(
    proxied: tuple[FreezableProxy, LedgerStore], forwarded: bool
) -> None:
    proxy, store = proxied
    store.record_many([request("warm")])
    proxy.freeze_at_commit(forward=forwarded)
    error, took = timed(lambda: store.record_many([request("charge:1")]))
    assert isinstance(error, OutcomeUnknown) and "same key" in str(error), error
    assert took < DEADLINE_S + SLACK_S
    proxy.thaw()
    retried = store.record_many([request("charge:1")])
    assert (retried.replayed, retried.written) == ((1, 0) if forwarded else (0, 1))
    assert store.balance(ALICE).posted == -200  # "warm" and "charge:1", once


def test_the_watchdog_leaves_a_call_that_finished_alone() -> None:
    with deadline.deadline(0.05) as call:
        assert call is not None
    time.sleep(0.15)
    assert not call.expired


def test_an_inner_scope_keeps_the_outer_deadline() -> None:
    with deadline.deadline(5.0) as outer, deadline.deadline(0.01) as inner:
        assert inner is outer
    with deadline.deadline(None) as none:
        assert none is None


def test_the_watchdog_learns_of_a_call_only_when_it_takes_a_connection(
    store: LedgerStore,
) -> None:
    """A scope that never touches the database (a group commit's follower) is not armed;
    one that does is, and its connection is abandoned when the deadline passes."""
    with deadline.deadline(5.0) as idle:
        assert idle is not None
    assert not idle.armed
    with deadline.deadline(5.0) as busy:
        store.balances()
        assert busy is not None and busy.armed


def test_a_connection_attached_after_the_deadline_is_abandoned_at_once() -> None:
    abandoned: list[object] = []

    class Conn:
        def interrupt(self) -> None:
            abandoned.append(self)

    with deadline.deadline(0.01) as call:
        assert call is not None
        time.sleep(0.03)
        conn = Conn()
        original = deadline.abandon
        deadline.abandon = lambda c: abandoned.append(c)  # type: ignore[assignment]
        try:
            call.attach(conn)
        finally:
            deadline.abandon = original
    assert abandoned == [conn] and call.expired and not call.armed
