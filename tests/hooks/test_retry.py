"""Opt-in retry of the money-moving hooks: backoff, a deadline, exactly once with the same key."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitcache.asynchooks import AsyncHooks
from bitcache.errors import (
    DeadlineExceeded,
    InsufficientFunds,
    InvalidInput,
    InvalidPolicy,
    OutcomeUnknown,
    StoreError,
    StoreUnavailable,
)
from bitcache.hooks import DownloadReceipt, DownloadRequest, Hooks, RetryPolicy
from bitcache.retry import call_with_retry, call_with_retry_async
from bitcache.store.database import sqlite_url
from tests.conftest import PG_URL
from tests.hooks.conftest import FILE, make_hooks, setup_file
from tests.ledger.conftest import Clock
from tests.ledger.pgproxy import proxy_for


class FakeTime:
    """A clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def failing(errors: list[BaseException], then: object = "ok") -> Callable[[float], object]:
    def attempt(seconds: float) -> object:
        if errors:
            raise errors.pop(0)
        return then

    return attempt


def run(policy: RetryPolicy, attempt: Callable[[float], object], fake: FakeTime) -> object:
    return call_with_retry(policy, attempt, sleep=fake.sleep, clock=fake.clock, draw=lambda: 0.5)


def test_unavailable_is_retried_until_it_succeeds() -> None:
    fake = FakeTime()
    errors: list[BaseException] = [StoreUnavailable("down"), DeadlineExceeded("frozen")]
    assert run(RetryPolicy(), failing(errors), fake) == "ok"
    assert fake.waits == [0.025, 0.05]  # half (the draw) of 0.05 s, then of 0.1 s


@pytest.mark.parametrize("error", [InsufficientFunds("no"), StoreError("schema"), ValueError()])
def test_refusals_and_permanent_errors_are_not_retried(error: Exception) -> None:
    fake = FakeTime()
    with pytest.raises(type(error)):
        run(RetryPolicy(), failing([error]), fake)
    assert fake.waits == []


def test_it_gives_up_at_the_deadline_with_the_last_error() -> None:
    fake = FakeTime()
    policy = RetryPolicy(deadline_s=3.0, max_delay_s=1.0)
    with pytest.raises(StoreUnavailable, match="still down"):
        run(policy, failing([StoreUnavailable("still down")] * 1000), fake)
    assert fake.now <= 3.0 and len(fake.waits) > 3


def test_an_unknown_outcome_is_not_forgotten_by_a_later_failure() -> None:
    """An attempt that may have committed: giving up must say the outcome is unknown."""
    fake = FakeTime()
    errors: list[BaseException] = [OutcomeUnknown("commit lost")] + [StoreUnavailable("down")] * 999
    with pytest.raises(OutcomeUnknown, match="same key"):
        run(RetryPolicy(deadline_s=2.0), failing(errors), fake)


def test_each_attempt_gets_its_own_deadline_within_the_whole() -> None:
    fake = FakeTime()
    given_s: list[float] = []

    def attempt(seconds: float) -> object:
        given_s.append(seconds)
        fake.now += seconds
        raise DeadlineExceeded("frozen")

    with pytest.raises(DeadlineExceeded):
        run(RetryPolicy(deadline_s=12.0, attempt_s=5.0), attempt, fake)
    assert given_s[0] == 5.0 and all(s <= 5.0 for s in given_s)
    assert fake.now <= 12.0 + 0.001


@settings(max_examples=200, deadline=None)
@given(
    deadline_s=st.floats(0.1, 60), attempt_s=st.floats(0.01, 10),
    first=st.floats(0.001, 1), cap=st.floats(1, 5), draws=st.lists(st.floats(0, 0.999), min_size=1),
)
def test_waits_stay_under_the_cap_and_the_call_ends_by_its_deadline(
    deadline_s: float, attempt_s: float, first: float, cap: float, draws: list[float]
) -> None:
    fake = FakeTime()
    policy = RetryPolicy(deadline_s, attempt_s, first, cap)
    pick = iter(draws * 10_000)

    def attempt(seconds: float) -> object:
        fake.now += seconds
        raise StoreUnavailable("down")

    with pytest.raises(StoreUnavailable):
        call_with_retry(policy, attempt, sleep=fake.sleep, clock=fake.clock,
                        draw=lambda: next(pick))
    assert all(0 <= w <= cap for w in fake.waits)
    assert fake.now <= deadline_s + 0.001


@pytest.mark.parametrize("bad", [
    {"deadline_s": 0}, {"attempt_s": -1}, {"max_delay_s": float("nan")},
    {"first_delay_s": 2.0, "max_delay_s": 1.0}, {"deadline_s": True},
])
def test_nonsense_policies_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidPolicy):
        RetryPolicy(**bad)  # type: ignore[arg-type]


def fund(hooks: Hooks, who: str = "bob", amount: int = 1_000_000) -> None:
    hooks.credit_deposit(who, amount, f"deposit:{who}")


def test_a_download_waits_out_a_busy_writer_with_retry(tmp_path: Path, clock: Clock) -> None:
    """SQLite: another process holds the writer lock for 1 s; each attempt gives up at 0.3 s."""
    url = sqlite_url(tmp_path / "ledger.sqlite")
    hooks = make_hooks(url, clock, deadline_s=0.3, retry=RetryPolicy(deadline_s=10, attempt_s=0.3))
    setup_file(hooks)
    fund(hooks)
    holder = sqlite3.connect(
        tmp_path / "ledger.sqlite", isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(1.0, lambda: holder.execute("ROLLBACK")).start()
    started = time.monotonic()
    receipt = hooks.download(FILE, "bob", key="dl:1")
    assert 0.9 < time.monotonic() - started < 5 and not receipt.replayed
    assert hooks.prepaid_balance("bob") == 1_000_000 - 10_000
    hooks.close()
    holder.close()


def test_without_retry_the_outage_is_raised(tmp_path: Path, clock: Clock) -> None:
    url = sqlite_url(tmp_path / "ledger.sqlite")
    hooks = make_hooks(url, clock, deadline_s=0.3)
    setup_file(hooks)
    fund(hooks)
    holder = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreUnavailable):
        hooks.download(FILE, "bob", key="dl:1")
    holder.execute("ROLLBACK")
    holder.close()
    assert hooks.download(FILE, "bob", key="dl:1").replayed is False
    hooks.close()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs BITCACHE_TEST_PG_URL")
@pytest.mark.parametrize("forwarded", [True, False], ids=["committed", "not-committed"])
def test_a_download_whose_commit_answer_is_lost_is_charged_exactly_once_by_the_retry(
    make_pg_url: Callable[[], str], clock: Clock, forwarded: bool
) -> None:
    url = make_pg_url()
    with proxy_for(url) as proxy:
        policy = RetryPolicy(deadline_s=15, attempt_s=1.0)
        hooks = make_hooks(proxy.url(url), clock, deadline_s=1.0, retry=policy)
        setup_file(hooks)
        fund(hooks)
        proxy.freeze_at_commit(forward=forwarded)
        threading.Timer(1.5, proxy.thaw).start()  # the "failover" ends after 1.5 s
        receipt = hooks.download(FILE, "bob", key="dl:1")
        assert proxy.commits_seen == 1
        assert hooks.prepaid_balance("bob") == 1_000_000 - 10_000
        assert hooks.file(FILE).downloads == 1
        hooks.close()
        assert receipt.replayed is forwarded  # the first attempt committed: replayed


# -- the asyncio API -----------------------------------------------------------


class FakeAsyncTime(FakeTime):
    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def async_failing(errors: list[BaseException]) -> Callable[[float], Awaitable[object]]:
    sync = failing(errors)

    async def attempt(seconds: float) -> object:
        return sync(seconds)

    return attempt


@pytest.mark.parametrize("errors", [
    [StoreUnavailable("down"), DeadlineExceeded("frozen")],
    [OutcomeUnknown("commit lost")] + [StoreUnavailable("down")] * 999,
    [StoreUnavailable("still down")] * 1000,
    [InsufficientFunds("no")],
], ids=["recovers", "unknown-remembered", "gives-up", "refusal"])
def test_the_async_loop_waits_and_answers_as_the_sync_loop(errors: list[BaseException]) -> None:
    """Same policy, same failures: the same waits, and the same answer or error."""
    policy = RetryPolicy(deadline_s=3.0)
    sync_time, async_time = FakeTime(), FakeAsyncTime()
    outcomes = []
    try:
        outcomes.append(run(policy, failing(list(errors)), sync_time))
    except Exception as exc:
        outcomes.append((type(exc), str(exc)))
    try:
        outcomes.append(asyncio.run(call_with_retry_async(
            policy, async_failing(list(errors)), sleep=async_time.asleep,
            clock=async_time.clock, draw=lambda: 0.5)))
    except Exception as exc:
        outcomes.append((type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]
    assert sync_time.waits == async_time.waits and async_time.now <= 3.0


def test_async_hooks_take_a_retry_policy_or_the_hooks_one(tmp_path: Path, clock: Clock) -> None:
    hooks = make_hooks(sqlite_url(tmp_path / "ledger.sqlite"), clock, retry=RetryPolicy())
    own = RetryPolicy(deadline_s=5)
    assert AsyncHooks(hooks).retry is hooks.retry
    assert AsyncHooks(hooks, retry=own).retry is own
    with pytest.raises(InvalidInput):
        AsyncHooks(hooks, retry=5.0)  # type: ignore[arg-type]
    hooks.close()


def _busy_writer(path: Path, seconds: float) -> sqlite3.Connection:
    """Another connection holding SQLite's write lock for ``seconds``."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(seconds, lambda: holder.execute("ROLLBACK")).start()
    return holder


def test_an_async_download_waits_out_a_busy_writer_without_blocking_the_loop(
    tmp_path: Path, clock: Clock
) -> None:
    """Each attempt gives up at 0.3 s while the writer is busy for 1 s; meanwhile the event
    loop keeps serving another task. An attempt that gave up may have left its request
    queued, so the answer may be a replay of it: the charge is made exactly once."""
    path = tmp_path / "ledger.sqlite"
    hooks = make_hooks(sqlite_url(path), clock, deadline_s=0.3)
    setup_file(hooks)
    fund(hooks)
    aio = AsyncHooks(hooks, retry=RetryPolicy(deadline_s=10, attempt_s=0.3))
    holder = _busy_writer(path, 1.0)

    async def main() -> tuple[int, DownloadReceipt, float]:
        ticks = 0
        started = time.monotonic()
        charge = asyncio.create_task(aio.download(FILE, "bob", key="dl:1"))
        while not charge.done():
            await asyncio.sleep(0.01)
            ticks += 1
        return ticks, await charge, time.monotonic() - started

    ticks, receipt, took = asyncio.run(main())
    assert 0.9 < took < 5 and receipt.price_msat == 10_000
    assert ticks > 0.9 / 0.01 / 3  # the loop ran its ticker all along (loosely: a busy host)
    assert hooks.prepaid_balance("bob") == 1_000_000 - 10_000
    assert hooks.file(FILE).downloads == 1
    hooks.close()
    holder.close()


def test_without_retry_the_async_outage_is_raised(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "ledger.sqlite"
    hooks = make_hooks(sqlite_url(path), clock, deadline_s=0.3)
    setup_file(hooks)
    fund(hooks)
    aio = AsyncHooks(hooks)
    holder = _busy_writer(path, 1.0)
    with pytest.raises(StoreUnavailable):
        asyncio.run(aio.download(FILE, "bob", key="dl:1"))
    time.sleep(1.0)
    assert asyncio.run(aio.download(FILE, "bob", key="dl:1")).replayed is False
    hooks.close()
    holder.close()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs BITCACHE_TEST_PG_URL")
@pytest.mark.parametrize("forwarded", [True, False], ids=["committed", "not-committed"])
def test_an_async_download_whose_commit_answer_is_lost_is_charged_exactly_once(
    make_pg_url: Callable[[], str], clock: Clock, forwarded: bool
) -> None:
    url = make_pg_url()
    with proxy_for(url) as proxy:
        hooks = make_hooks(proxy.url(url), clock, deadline_s=1.0)
        setup_file(hooks)
        fund(hooks)
        aio = AsyncHooks(hooks, retry=RetryPolicy(deadline_s=15, attempt_s=1.0))
        proxy.freeze_at_commit(forward=forwarded)
        threading.Timer(1.5, proxy.thaw).start()  # the "failover" ends after 1.5 s
        receipt = asyncio.run(aio.download(FILE, "bob", key="dl:1"))
        assert proxy.commits_seen == 1
        assert receipt.replayed is forwarded  # the first attempt committed: a replay
        assert hooks.prepaid_balance("bob") == 1_000_000 - 10_000
        assert hooks.file(FILE).downloads == 1
        hooks.close()


def test_an_async_batch_is_retried_by_the_async_policy(tmp_path: Path, clock: Clock) -> None:
    """The wrapped Hooks has no policy; AsyncHooks' own retries the batch through a busy
    writer, and the batch is charged once."""
    path = tmp_path / "ledger.sqlite"
    hooks = make_hooks(sqlite_url(path), clock, deadline_s=0.3)
    setup_file(hooks)
    fund(hooks)
    aio = AsyncHooks(hooks, retry=RetryPolicy(deadline_s=10, attempt_s=0.3))
    holder = _busy_writer(path, 1.0)
    batch = [DownloadRequest(FILE, "bob", f"b{i}") for i in range(3)]
    answers = asyncio.run(aio.download_batch(batch))
    assert all(isinstance(a, DownloadReceipt) for a in answers)
    assert hooks.prepaid_balance("bob") == 1_000_000 - 3 * 10_000
    assert hooks.file(FILE).downloads == 3
    holder2 = _busy_writer(path, 1.0)
    with pytest.raises(StoreUnavailable):  # the same outage without a policy is raised
        asyncio.run(AsyncHooks(hooks).download_batch(
            [*batch[:1], DownloadRequest(FILE, "bob", "b-new")]))
    time.sleep(1.0)
    assert hooks.file(FILE).downloads == 3  # nothing of the refused batch was written
    hooks.close()
    holder.close()
    holder2.close()
