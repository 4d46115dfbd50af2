"""Reconcile benchmark: the ledger checks over a journal of download-shaped entries.

Builds a fresh SQLite ledger (WAL, durable) of N download entries (three
postings tagged with a file hash: downloader -> uploader + platform), then
times :func:`bitcache.reconciliation.checks.reconcile` on it (ledger checks:
one streamed pass verifying the hash chain, every entry's balance and every
account's cached balance, plus the SQL aggregates). Baselines measured in
the same run: ``LedgerStore.verify()`` (the hash chain alone, through
``Entry`` objects) and a plain ``sqlite3`` read of the same rows (the floor
of any pass over the journal).

    python benchmarks/reconcile.py [--quick] [--entries N]

``--quick`` uses 100,000 entries (under a minute); the default measures
1,000,000. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bitcache.core.entries import EntryRequest, Posting
from bitcache.reconciliation.checks import reconcile
from bitcache.store.database import sqlite_url
from bitcache.store.ledger import LedgerStore

BATCH = 5_000
DOWNLOADERS = 1_000
UPLOADERS = 200
PLATFORM = "revenue:platform"
OPERATOR = "equity:operator"
TARGET_PER_S = 35_000


def _downloads(start: int, n: int) -> list[EntryRequest]:
    out = []
    for i in range(start, start + n):
        fh = hashlib.sha256(f"file-{i % 5000}".encode()).digest()
        legs = (
            Posting(f"liability:prepaid:d{i % DOWNLOADERS}", 1_000, fh),  # type: ignore[arg-type]
            Posting(f"liability:payable:u{i % UPLOADERS}", -850, fh),  # type: ignore[arg-type]
            Posting(PLATFORM, -150, fh),  # type: ignore[arg-type]
        )
        out.append(EntryRequest(f"dl:{i}", legs, memo="download"))
    return out


def build(path: Path, n: int) -> LedgerStore:
    """A ledger with funded downloaders and ``n`` download entries."""
    store = LedgerStore.open(sqlite_url(path))
    names = [OPERATOR, PLATFORM]
    names += [f"liability:prepaid:d{i}" for i in range(DOWNLOADERS)]
    names += [f"liability:payable:u{i}" for i in range(UPLOADERS)]
    for name in names:
        store.open_account(name)
    funding = [
        EntryRequest(f"fund:{i}", (Posting(OPERATOR, 10**12),
                                   Posting(f"liability:prepaid:d{i}", -(10**12))))
        for i in range(DOWNLOADERS)
    ]
    store.record_many(funding, atomic=True)
    for start in range(0, n, BATCH):
        store.record_many(_downloads(start, min(BATCH, n - start)), atomic=True)
    return store


def raw_read_s(path: Path) -> float:
    """Seconds to read every entry and posting row with plain sqlite3 (no checks)."""
    conn = sqlite3.connect(path)
    start = time.perf_counter()
    for _ in conn.execute("SELECT * FROM entries ORDER BY id"):
        pass
    for _ in conn.execute("SELECT * FROM postings ORDER BY entry_id, n"):
        pass
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 entries")
    parser.add_argument("--entries", type=int, default=None)
    args = parser.parse_args()
    n = args.entries or (100_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.sqlite"
        t0 = time.perf_counter()
        store = build(path, n)
        build_s = time.perf_counter() - t0
        entries = store.head()[0]
        t0 = time.perf_counter()
        report = reconcile(store)
        reconcile_s = time.perf_counter() - t0
        assert report.ok, report.discrepancies
        t0 = time.perf_counter()
        verified = store.verify()
        verify_s = time.perf_counter() - t0
        assert verified.ok
        store.close()
        raw_s = raw_read_s(path)
    figures = {
        "benchmark": "reconcile",
        "entries": entries,
        "build_s": round(build_s, 2),
        "reconcile_s": round(reconcile_s, 2),
        "entries_per_s": round(entries / reconcile_s),
        "target_entries_per_s": TARGET_PER_S,
        "baseline_verify_chain_s": round(verify_s, 2),
        "baseline_raw_read_s": round(raw_s, 2),
    }
    print(f"ledger of {entries:,} entries built in {build_s:.1f} s")
    print(f"reconcile (ledger checks): {reconcile_s:.2f} s, "
          f"{figures['entries_per_s']:,} entries/s (target {TARGET_PER_S:,})")
    print(f"baseline LedgerStore.verify(): {verify_s:.2f} s; plain sqlite3 read: {raw_s:.2f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
