"""Many processes posting at once never lose an update nor overdraw (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing as mp

from bitcache.core.entries import EntryRequest, posting
from bitcache.errors import InsufficientFunds
from bitcache.store.ledger import LedgerStore

SPENDER = "liability:prepaid:shared"
PLATFORM = "revenue:platform"
OPERATOR = "equity:operator"
PROCESSES = 4
ATTEMPTS = 60
PRICE = 1_000
AFFORDABLE = 150  # of the 240 attempts


def _uploader(worker: int) -> str:
    return f"liability:payable:u{worker % 2}"


def _worker(url: str, worker: int, batch: bool, out: mp.Queue) -> None:  # type: ignore[type-arg]
    store = LedgerStore.open(url, migrate=False)
    ok = refused = 0
    requests = [
        EntryRequest(
            f"w{worker}:{i}",
            (posting(SPENDER, PRICE), posting(_uploader(worker), -900), posting(PLATFORM, -100)),
        )
        for i in range(ATTEMPTS)
    ]
    if batch:
        for i in range(0, ATTEMPTS, 7):
            result = store.record_many(requests[i : i + 7])
            ok += result.written
            refused += result.refused
    else:
        for request in requests:
            try:
                store.record(request)
                ok += 1
            except InsufficientFunds:
                refused += 1
    store.close()
    out.put((ok, refused))


def _run(url: str, batch: bool) -> None:
    store = LedgerStore.open(url)
    for name in (SPENDER, PLATFORM, OPERATOR, _uploader(0), _uploader(1)):
        store.open_account(name)
    store.post(
        "fund", [posting(OPERATOR, AFFORDABLE * PRICE), posting(SPENDER, -AFFORDABLE * PRICE)]
    )
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_worker, args=(url, w, batch, out)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    results = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    ok = sum(r[0] for r in results)
    assert ok == AFFORDABLE
    assert sum(r[1] for r in results) == PROCESSES * ATTEMPTS - AFFORDABLE
    assert store.balance(SPENDER).posted == 0
    assert store.balance(PLATFORM).posted == -100 * AFFORDABLE
    uploaders = store.balance(_uploader(0)).posted + store.balance(_uploader(1)).posted
    assert uploaders == -900 * AFFORDABLE
    assert store.trial_balance() == 0
    report = store.verify()
    assert report.ok and report.entries == AFFORDABLE + 1
    store.close()


def test_processes_posting_one_by_one(db_url: str) -> None:
    _run(db_url, batch=False)


def test_processes_posting_batches(db_url: str) -> None:
    _run(db_url, batch=True)
