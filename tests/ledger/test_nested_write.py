"""A write inside a write on the same thread joins it as a savepoint; the writer lock queues.

The group commit runs each caller's service call inside its flush's
transaction: the call's own ``write()`` must become a savepoint, whose
failure rolls back that call's rows and nothing else (both engines). On
SQLite, writers queue on a kernel lock beside the database, across threads
and processes.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from bitcache.core.entries import EntryRequest, posting
from bitcache.errors import InsufficientFunds
from bitcache.store.database import sqlite_url
from bitcache.store.ledger import LedgerStore
from bitcache.store.writerlock import LOCK_SUFFIX, WriterLock
from tests.ledger.conftest import ALICE, BOB, OPERATOR, fund


def _post(store: LedgerStore, key: str, who: str, amount: int) -> None:
    store.post(key, [posting(who, amount), posting(OPERATOR, -amount)])


def test_a_refused_inner_write_rolls_back_only_its_own_rows(store: LedgerStore) -> None:
    fund(store, ALICE, 500)
    with store.write() as conn:
        store.record_many_in(conn, [EntryRequest("outer-1", (posting(ALICE, 100),
                                                             posting(OPERATOR, -100)))])
        with pytest.raises(InsufficientFunds), store.write() as inner:
            assert inner is conn
            store.open_accounts_in(inner, [store.account(BOB)])  # a write that must vanish
            store.open_account("liability:prepaid:dave")  # nested again, same thread
            _post(store, "inner", ALICE, 10_000)  # more than alice has: refused
        store.record_many_in(conn, [EntryRequest("outer-2", (posting(ALICE, 50),
                                                             posting(OPERATOR, -50)))])
    assert store.entry_by_key("outer-1") is not None
    assert store.entry_by_key("outer-2") is not None
    assert store.entry_by_key("inner") is None
    assert "liability:prepaid:dave" not in store.balances("liability:prepaid:")
    assert -store.balance(ALICE).posted == 350
    assert store.verify().ok and store.trial_balance() == 0


def test_an_inner_write_that_succeeds_commits_with_the_outer_one(store: LedgerStore) -> None:
    fund(store, ALICE, 500)
    with store.write():
        _post(store, "inner-ok", ALICE, 100)  # record() opens its own write: joined
    assert store.entry_by_key("inner-ok") is not None
    assert store.verify().ok


def test_an_outer_failure_rolls_back_the_inner_writes_too(store: LedgerStore) -> None:
    fund(store, ALICE, 500)
    with pytest.raises(RuntimeError), store.write():
        _post(store, "inner-lost", ALICE, 100)
        raise RuntimeError("the outer transaction fails")
    assert store.entry_by_key("inner-lost") is None
    assert -store.balance(ALICE).posted == 500
    _post(store, "after", ALICE, 100)  # caches were dropped: the chain continues correctly
    assert store.verify().ok


def test_another_thread_does_not_join_the_transaction(store: LedgerStore) -> None:
    fund(store, ALICE, 500)
    order: list[str] = []
    with store.write():
        worker = threading.Thread(target=lambda: (_post(store, "other", ALICE, 1),
                                                  order.append("other")))
        worker.start()
        time.sleep(0.2)
        order.append("outer")
    worker.join(30)
    assert order == ["outer", "other"]  # it waited for the lock instead of joining


def _hold_writer(url: str, ready: str, release: str) -> None:
    store = LedgerStore.open(url, migrate=False)
    with store.write():
        Path(ready).touch()
        for _ in range(600):
            if os.path.exists(release):
                break
            time.sleep(0.01)
    store.close()


def test_sqlite_writers_of_other_processes_queue_on_the_lock_file(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "db.sqlite")
    LedgerStore.open(url).close()
    ready, release = tmp_path / "ready", tmp_path / "release"
    child = multiprocessing.get_context("fork").Process(
        target=_hold_writer, args=(url, str(ready), str(release)))
    child.start()
    try:
        for _ in range(1000):
            if ready.exists():
                break
            time.sleep(0.01)
        fd = os.open(str(tmp_path / "db.sqlite") + LOCK_SUFFIX, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the child's write holds it
        release.touch()
        child.join(30)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the transaction
        os.close(fd)
    finally:
        release.touch()
        child.join(30)
    assert child.exitcode == 0


def test_a_forked_child_does_not_share_the_parents_lock(tmp_path: Path) -> None:
    """A descriptor inherited across fork shares its flock: the child must open its own."""
    lock = WriterLock(str(tmp_path / "db.sqlite"))
    with lock.held():
        pass  # the parent has opened the lock file
    got = tmp_path / "got"

    def child() -> None:
        with lock.held():
            got.touch()

    proc = multiprocessing.get_context("fork").Process(target=child)
    with lock.held():
        proc.start()
        time.sleep(0.5)
        assert not got.exists(), "the child took the lock while the parent held it"
    proc.join(30)
    assert proc.exitcode == 0 and got.exists()
    lock.close()
