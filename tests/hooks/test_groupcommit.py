"""The group commit's mechanics: coalescing, latency when idle, failed flushes, the async edge.

Both engines. Callers are queued in a known order behind a gate (see
``tests/hooks/arrivals.py``) where a test needs them in one flush.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bitcache.asynchooks import AsyncHooks
from bitcache.core.pricing import PriceRule
from bitcache.errors import InsufficientFunds, InvalidPolicy, StoreError, UnknownFile
from bitcache.hooks import DownloadReceipt, DownloadRequest, FlushPolicy, Hooks
from bitcache.services import groupcommit
from bitcache.store import files as files_rows
from tests.hooks.arrivals import Gate, in_threads, wait_queued
from tests.hooks.conftest import FILE, FILE2, SIZE, make_hooks
from tests.ledger.conftest import Clock

PRICE = 1_000


@pytest.fixture
def shop(db_url: str) -> Iterator[Hooks]:
    hooks = make_hooks(db_url, Clock())
    hooks.register_file(FILE, "carol", PriceRule.fixed(PRICE), size=SIZE)
    for i in range(8):
        hooks.credit_deposit(f"d{i}", 10 * PRICE, f"fund-{i}")
    yield hooks
    hooks.close()


def _downloads(hooks: Hooks, n: int, tag: str = "k") -> list[Callable[[], object]]:
    return [(lambda i=i: hooks.download(FILE, f"d{i % 8}", f"{tag}{i}")) for i in range(n)]


def _charged(hooks: Hooks) -> int:
    return sum(10 * PRICE - hooks.prepaid_balance(f"d{i}") for i in range(8))


def test_queued_callers_share_one_flush_in_arrival_order(shop: Hooks) -> None:
    before = shop.group.stats()
    answers = in_threads(shop, _downloads(shop, 12))
    after = shop.group.stats()
    assert after.flushes - before.flushes == 2  # the gate's own flush, then all twelve
    assert after.largest == 12
    ids = [a.entry_id for a in answers if isinstance(a, DownloadReceipt)]
    assert len(ids) == 12 and ids == sorted(ids)  # charged in the order they queued
    assert _charged(shop) == 12 * PRICE


def test_a_flush_takes_at_most_max_batch_calls(db_url: str) -> None:
    hooks = make_hooks(db_url, Clock(), flush=FlushPolicy(max_batch=5))
    try:
        hooks.register_file(FILE, "carol", PriceRule.fixed(PRICE), size=SIZE)
        for i in range(8):
            hooks.credit_deposit(f"d{i}", 10 * PRICE, f"fund-{i}")
        answers = in_threads(hooks, _downloads(hooks, 12))
        assert all(isinstance(a, DownloadReceipt) for a in answers)
        stats = hooks.group.stats()
        assert stats.largest == 5
        assert _charged(hooks) == 12 * PRICE
    finally:
        hooks.close()


def test_an_idle_caller_does_not_wait_for_others(db_url: str) -> None:
    """Even with a long gathering wait, a caller that finds nothing in flight flushes at once."""
    hooks = make_hooks(db_url, Clock(), flush=FlushPolicy(max_wait_us=1_000_000))
    try:
        hooks.register_file(FILE, "carol", PriceRule.fixed(PRICE), size=SIZE)
        hooks.credit_deposit("d0", 10 * PRICE, "fund")
        in_threads(hooks, [(lambda i=i: hooks.download(FILE, "d0", f"b{i}")) for i in range(3)])
        time.sleep(1.1)  # idle for longer than the gathering wait
        for i in range(3):
            begin = time.monotonic()
            hooks.download(FILE, "d0", f"k{i}")
            assert time.monotonic() - begin < 0.8, "an idle call waited to gather others"
    finally:
        hooks.close()


def test_a_refused_call_in_a_flush_rolls_back_only_its_own_writes(shop: Hooks) -> None:
    """A transfer refused for funds took the file's counter inside its savepoint: undone."""
    shop.credit_deposit("poor", PRICE // 2, "fund-poor")
    answers = in_threads(shop, [
        lambda: shop.download(FILE, "d0", "a"),
        lambda: shop.begin_transfer(FILE, "poor", "t"),
        lambda: shop.tip(FILE2, "d1", 10, "tip"),
        lambda: shop.download(FILE, "d1", "b"),
    ])
    assert isinstance(answers[0], DownloadReceipt) and isinstance(answers[3], DownloadReceipt)
    assert isinstance(answers[1], InsufficientFunds)
    assert isinstance(answers[2], UnknownFile)
    assert shop.file(FILE).downloads == 2
    assert shop.prepaid_balance("poor") == PRICE // 2
    assert shop.ledger.verify().ok and shop.ledger.trial_balance() == 0


def test_a_flush_that_fails_runs_each_member_alone_and_charges_once(
    shop: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = files_rows.add_downloads
    failures = [1]

    def failing_once(conn: object, counts: dict[bytes, int]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise StoreError("the disk went away")
        real(conn, counts)  # type: ignore[arg-type]

    monkeypatch.setattr(files_rows, "add_downloads", failing_once)
    answers = in_threads(shop, _downloads(shop, 6))
    assert all(isinstance(a, DownloadReceipt) and not a.replayed for a in answers)
    assert shop.group.stats().fallbacks == 1
    assert _charged(shop) == 6 * PRICE
    assert shop.file(FILE).downloads == 6


def test_a_commit_whose_answer_was_lost_is_replayed_not_charged_again(
    shop: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flush committed, then failed before answering: the members' retries replay."""
    real = groupcommit.run_flush
    lost = [1]

    def commit_then_fail(*args: object, **kwargs: object) -> list[object]:
        answers = real(*args, **kwargs)  # type: ignore[arg-type]
        if lost[0] and len(answers) > 1:
            lost[0] -= 1
            raise StoreError("connection lost after COMMIT was sent")
        return answers

    monkeypatch.setattr(groupcommit, "run_flush", commit_then_fail)
    answers = in_threads(shop, _downloads(shop, 6))
    assert all(isinstance(a, DownloadReceipt) and a.replayed for a in answers)
    assert _charged(shop) == 6 * PRICE
    assert shop.file(FILE).downloads == 6


class _Interrupt(BaseException):
    """Stands for a KeyboardInterrupt raised in the leader's thread."""


def test_callers_are_answered_when_the_leader_is_interrupted(shop: Hooks) -> None:
    def interrupt() -> None:
        raise _Interrupt

    calls: list[Callable[[], object]] = [*_downloads(shop, 2), lambda: shop.group.run(interrupt),
                                        *_downloads(shop, 2, "z")]
    answers: list[object] = [None] * len(calls)

    def caller(i: int) -> None:
        try:
            answers[i] = calls[i]()
        except BaseException as exc:  # the interrupt is what this test looks for
            answers[i] = exc

    gate = Gate(shop)
    gate.start()
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(calls))]
    for i, thread in enumerate(threads):
        thread.start()
        wait_queued(shop, i + 1)
    gate.open()
    for thread in threads:
        thread.join(30)
    assert not any(t.is_alive() for t in threads), "a caller was never answered"
    assert sum(isinstance(a, _Interrupt) for a in answers) == 1  # raised in the leader
    others = [a for a in answers if not isinstance(a, _Interrupt)]
    assert all(isinstance(a, StoreError | DownloadReceipt) for a in others)
    assert isinstance(shop.download(FILE, "d7", "after"), DownloadReceipt)  # a new leader


def test_flush_policy_refuses_nonsense() -> None:
    for bad in ({"max_batch": 0}, {"max_batch": -1}, {"max_wait_us": -5},
                {"max_wait_us": 10**7}, {"max_batch": True}, {"max_batch": 2.5}):
        with pytest.raises(InvalidPolicy):
            FlushPolicy(**bad)  # type: ignore[arg-type]


# -- asyncio -----------------------------------------------------------------


def test_async_charges_never_block_the_event_loop(shop: Hooks) -> None:
    """While the writer lock is held elsewhere, the loop keeps running other tasks."""
    aio = AsyncHooks(shop)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with shop.ledger.write():
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(30)

    async def main() -> tuple[int, DownloadReceipt]:
        ticks = 0
        charge = asyncio.create_task(aio.download(FILE, "d0", "async-1"))
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1
        assert not charge.done()
        release.set()
        return ticks, await asyncio.wait_for(charge, 30)

    ticks, receipt = asyncio.run(main())
    holder.join(30)
    assert ticks == 20 and receipt.price_msat == PRICE
    assert shop.prepaid_balance("d0") == 9 * PRICE


def test_async_tasks_coalesce_into_shared_flushes(shop: Hooks) -> None:
    aio = AsyncHooks(shop)

    async def main() -> list[DownloadReceipt]:
        return list(await asyncio.gather(*(aio.download(FILE, f"d{i % 8}", f"a{i}")
                                           for i in range(40))))

    before = shop.group.stats()
    receipts = asyncio.run(main())
    after = shop.group.stats()
    assert len({r.entry_id for r in receipts}) == 40
    assert after.flushes - before.flushes < 40  # they were gathered
    assert _charged(shop) == 40 * PRICE


def test_a_cancelled_task_does_not_withdraw_its_queued_charge(shop: Hooks) -> None:
    aio = AsyncHooks(shop)

    async def main() -> DownloadReceipt:
        gate = Gate(shop)
        gate.start()
        task = asyncio.create_task(aio.download(FILE, "d0", "cancelled"))
        while shop.group.waiting() < 1:
            await asyncio.sleep(0.001)
        task.cancel()
        await asyncio.to_thread(gate.open)
        while shop.group.waiting():
            await asyncio.sleep(0.01)
        return await aio.download(FILE, "d0", "cancelled")  # the retry learns the outcome

    retry = asyncio.run(main())
    assert retry.replayed
    assert shop.prepaid_balance("d0") == 9 * PRICE


def test_async_hooks_answer_queries_and_refusals(db_url: str) -> None:
    async def main() -> None:
        aio = await AsyncHooks.open(db_url, clock=Clock())
        try:
            await aio.register_file(FILE, "carol", PriceRule.fixed(PRICE), size=SIZE)
            await aio.promo_credit("bob", 3 * PRICE, "promo")
            receipt = await aio.download(FILE, "bob", "one")
            assert receipt.balance_after_msat == -2 * PRICE or receipt.balance_after_msat
            xfer = await aio.begin_transfer(FILE, "bob", "two")
            done = await aio.complete_transfer(xfer, SIZE // 2)
            assert done.price_msat == PRICE // 2
            with pytest.raises(UnknownFile):
                await aio.download(FILE2, "bob", "three")
            assert await aio.prepaid_balance("bob") == 3 * PRICE - PRICE - PRICE // 2
            assert (await aio.file(FILE)).downloads == 2
        finally:
            await aio.close()

    asyncio.run(main())


# -- durability outside the writer lock -----------------------------------------


def test_callers_are_answered_only_after_the_sync_and_the_lock_is_free_meanwhile(
    shop: Hooks, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, syncing, release = shop.ledger.sync, threading.Event(), threading.Event()
    first = [True]

    def slow_sync() -> None:
        if first[0]:
            first[0] = False
            syncing.set()
            assert release.wait(30)
        real()

    monkeypatch.setattr(shop.ledger, "sync", slow_sync)
    answers: list[object] = []
    flush = threading.Thread(target=lambda: answers.extend(in_threads(shop, _downloads(shop, 3))))
    flush.start()
    assert syncing.wait(30)
    later: list[object] = []  # a thread of the same process: queued behind the sync
    queued = threading.Thread(target=lambda: later.append(
        shop.download(FILE, "d6", "queued-meanwhile")))
    queued.start()
    wait_queued(shop, 1)
    time.sleep(0.2)
    assert not answers, "callers were answered before their commit was made durable"
    assert not later, "a thread's flush ran while the process's flush of threads synced"
    other_process = make_hooks(db_url, Clock())  # its own group commit, as in another process
    try:  # the writer lock is free: the other's flush runs
        assert isinstance(other_process.download(FILE, "d7", "meanwhile"), DownloadReceipt)
    finally:
        other_process.close()
    release.set()
    flush.join(30)
    queued.join(30)
    assert len(answers) == 3 and all(isinstance(a, DownloadReceipt) for a in answers)
    assert len(later) == 1 and isinstance(later[0], DownloadReceipt)
    assert _charged(shop) == 5 * PRICE


def test_a_caller_interrupted_while_waiting_does_not_stall_the_others(
    shop: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answered threads are woken by a relay, each by the one before; a thread that
    stopped waiting (KeyboardInterrupt…) is skipped or passes the relay on, and its
    charge goes ahead (its retry replays it)."""
    real_slot = groupcommit._Slot

    class Interrupted:
        def acquire(self) -> bool:
            raise KeyboardInterrupt

        def release(self) -> None:
            pass

    def slot(op: groupcommit._Op, loop: object = None) -> groupcommit._Slot:
        made = real_slot(op, loop)  # type: ignore[arg-type]
        if op.event is not None and op.event.key.endswith(":k2"):
            made.waiter = Interrupted()  # type: ignore[assignment]
        return made

    def interrupted(call: Callable[[], object]) -> object:
        try:
            return call()
        except KeyboardInterrupt as exc:
            return exc

    monkeypatch.setattr(groupcommit, "_Slot", slot)
    answers = in_threads(shop, [lambda c=c: interrupted(c) for c in _downloads(shop, 6)])
    assert isinstance(answers[2], KeyboardInterrupt)
    assert all(isinstance(a, DownloadReceipt) for i, a in enumerate(answers) if i != 2)
    monkeypatch.undo()
    retry = shop.download(FILE, "d2", "k2")
    assert retry.replayed
    assert _charged(shop) == 6 * PRICE


def test_a_sync_that_fails_answers_an_error_and_the_retries_replay(
    shop: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_sync() -> None:
        raise StoreError("fsync: input/output error")

    monkeypatch.setattr(shop.ledger, "sync", failing_sync)
    answers = in_threads(shop, _downloads(shop, 4))
    assert all(isinstance(a, StoreError) for a in answers)
    monkeypatch.undo()
    retries = in_threads(shop, _downloads(shop, 4))
    assert all(isinstance(a, DownloadReceipt) and a.replayed for a in retries)
    assert _charged(shop) == 4 * PRICE


def test_sqlite_sync_flushes_the_write_ahead_log(
    make_sqlite_url: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = make_hooks(make_sqlite_url(), Clock())
    try:
        hooks.register_file(FILE, "carol", PriceRule.fixed(PRICE), size=SIZE)
        hooks.credit_deposit("d0", 10 * PRICE, "fund")
        synced: list[str] = []
        real = os.fsync

        def recording_fsync(fd: int) -> None:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)

        monkeypatch.setattr(os, "fsync", recording_fsync)
        with hooks.ledger.write(defer_sync=True) as conn:
            mode = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        assert mode == 1  # NORMAL: this commit did not wait for the disk
        with hooks.ledger.write() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL again
        hooks.download(FILE, "d0", "one")
        database = hooks.ledger.engine.url.database
        assert database is not None
        assert synced == [os.path.abspath(database) + "-wal"]
    finally:
        hooks.close()


def test_a_replay_is_answered_only_after_a_sync(
    shop: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay may answer from another process's flush, committed and not yet synced."""
    shop.download(FILE, "d0", "first")
    synced = [0]
    real = shop.ledger.sync

    def counting_sync() -> None:
        synced[0] += 1
        real()

    monkeypatch.setattr(shop.ledger, "sync", counting_sync)
    fresh = shop.download_batch([DownloadRequest(FILE, "d1", "second")])
    assert synced[0] == 0 and not fresh[0].replayed  # type: ignore[union-attr]
    again = shop.download_batch([DownloadRequest(FILE, "d0", "first")])
    assert synced[0] == 1 and again[0].replayed  # type: ignore[union-attr]
    alone = make_hooks(str(shop.ledger.engine.url.render_as_string(hide_password=False)),
                       Clock(), flush=FlushPolicy(max_batch=1))
    try:
        monkeypatch.setattr(alone.ledger, "sync", counting_sync)
        assert alone.download(FILE, "d0", "first").replayed
        assert synced[0] == 2
    finally:
        alone.close()
