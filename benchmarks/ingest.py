"""Ingest benchmark: download-shaped entries into the ledger vs plain inserts.

Each event is one entry of three postings (downloader -> uploader + platform,
tagged with a file hash, unique idempotency key), posted in batches of 1,000
to a fresh SQLite file with durable commits (WAL, synchronous=FULL). The
baseline, measured in the same run, is plain ``sqlite3`` ``executemany``
inserting the equivalent rows (entries and postings, no checks, no
balances). Also in the same run, the SQL floor: the rows the ledger wrote,
replayed into a fresh ledger schema (its indexes, triggers, balance updates
and journal head) with plain ``sqlite3`` and no Python rules; its ratio to
the raw baseline bounds what the ledger can reach. With
``BITCACHE_BENCH_PG_URL`` (or ``BITCACHE_TEST_PG_URL``) set, the same is
measured on PostgreSQL against plain psycopg inserts. Single-event latency
is one entry per commit on SQLite.

    python benchmarks/ingest.py [--quick] [--events N] [--breakdown]

``--breakdown`` adds the µs per event of each phase of ``record_many``
(``phase_*_us``) and what each trigger and index adds to the SQL floor
(``floor_*_us``).

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bitcache.core.entries import EntryRequest, Posting, content_hash, validate_request
from bitcache.store.ledger import LedgerStore

BATCH = 1_000
PLATFORM = "revenue:platform"
OPERATOR = "equity:operator"


def _file(i: int) -> bytes:
    return hashlib.sha256(f"file-{i % 5000}".encode()).digest()


def _events(n: int, downloaders: int = 1_000, uploaders: int = 200) -> list[EntryRequest]:
    out = []
    for i in range(n):
        d = f"liability:prepaid:d{i % downloaders}"
        u = f"liability:payable:u{i % uploaders}"
        fh = _file(i)
        legs = (Posting(d, 1_000, fh), Posting(u, -850, fh), Posting(PLATFORM, -150, fh))
        out.append(EntryRequest(f"dl:{uuid.UUID(int=i)}", legs))
    return out


def _open(url: str, n: int) -> LedgerStore:
    store = LedgerStore.open(url)
    names = {p.account for r in _events(2_000) for p in r.postings} | {OPERATOR}
    for name in sorted(names):
        store.open_account(name)
    funding = [
        EntryRequest(f"fund:{name}", (Posting(OPERATOR, 10**12), Posting(name, -(10**12))))
        for name in sorted(names)
        if name.startswith("liability:prepaid:")
    ]
    store.record_many(funding, atomic=True)
    return store


def ledger_events_per_s(url: str, n: int) -> float:
    """Events per second through LedgerStore.record_many in batches of 1,000."""
    store = _open(url, n)
    events = _events(n)
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        store.record_many(events[i : i + BATCH])
    elapsed = time.perf_counter() - start
    assert store.trial_balance() == 0
    store.close()
    return n / elapsed


def single_latencies_ms(url: str, n: int) -> list[float]:
    """Milliseconds per event with one durable commit per event."""
    store = _open(url, n)
    out = []
    for request in _events(n):
        start = time.perf_counter()
        store.record(request)
        out.append((time.perf_counter() - start) * 1000)
    store.close()
    return out


def _raw_rows(n: int, start: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    digest = bytes(32)
    entries = [
        (
            i,
            f"dl:{uuid.UUID(int=i)}",
            "posted",
            None,
            None,
            None,
            None,
            "",
            0,
            digest,
            digest,
            digest,
        )
        for i in range(start, start + n)
    ]
    postings = [
        (i, k, 1 + (i + k) % 1200, amount, _file(i), 0)
        for i in range(start, start + n)
        for k, amount in enumerate((1_000, -850, -150))
    ]
    return entries, postings


_RAW_SCHEMA = [
    "CREATE TABLE entries (id INTEGER PRIMARY KEY, key TEXT NOT NULL, kind TEXT, ref INTEGER, "
    "resolves INTEGER, reverses INTEGER, expires_at INTEGER, memo TEXT, recorded_at INTEGER, "
    "content_hash BLOB, prev_hash BLOB, entry_hash BLOB)",
    "CREATE TABLE postings (entry_id INTEGER, n INTEGER, account_id INTEGER, amount INTEGER, "
    "file_hash BLOB, balance_after INTEGER, PRIMARY KEY (entry_id, n))",
]


def raw_sqlite_events_per_s(path: str | Path, n: int) -> float:
    """Baseline: plain sqlite3 executemany of the same rows, same durability, no checks."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    for statement in _RAW_SCHEMA:
        conn.execute(statement)
    batches = [_raw_rows(BATCH, i) for i in range(0, n, BATCH)]
    start = time.perf_counter()
    for entries, postings in batches:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", entries)
        conn.executemany("INSERT INTO postings VALUES (?,?,?,?,?,?)", postings)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


_ENTRY_COLUMNS = (
    "id, key, kind, ref, resolves, reverses, expires_at, memo, recorded_at, "
    "content_hash, prev_hash, entry_hash"
)
_POSTING_COLUMNS = "entry_id, n, account_id, amount, file_hash, balance_after"


def schema_replay_events_per_s(
    ledger_db: Path, target_db: Path, n: int, without: tuple[str, ...] = ()
) -> float:
    """The SQL floor: the ledger's own rows for the timed events, replayed with plain sqlite3.

    Reads back what ``ledger_events_per_s`` wrote to ``ledger_db`` and inserts
    it into a fresh ledger (same schema, indexes, triggers, accounts and
    funding) in the same batches, with each batch's balance updates and
    journal-head move, same durability, and no Python rules at all. What the
    ledger's schema costs by itself, so ``sqlite_schema_ratio`` bounds the
    ratio any Python on top of it could reach. ``without`` names triggers or
    indexes to drop first (to price each part of the schema).
    """
    src = sqlite3.connect(str(ledger_db))
    (first,) = src.execute("SELECT min(id) FROM entries WHERE key LIKE 'dl:%'").fetchone()
    entries = src.execute(
        f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE id >= ? ORDER BY id", (first,)
    ).fetchall()
    postings = src.execute(
        f"SELECT {_POSTING_COLUMNS} FROM postings WHERE entry_id >= ? ORDER BY entry_id, n",
        (first,),
    ).fetchall()
    src.close()
    _open(f"sqlite:///{target_db}", n).close()
    conn = sqlite3.connect(str(target_db), isolation_level=None)
    for name in without:
        (kind,) = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        conn.execute(f"DROP {kind.upper()} {name}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    by_entry: dict[int, list[tuple[object, ...]]] = {}
    for p in postings:
        by_entry.setdefault(p[0], []).append(p)
    prepared = []
    for i in range(0, len(entries), BATCH):
        part = entries[i : i + BATCH]
        legs = [p for e in part for p in by_entry[e[0]]]
        final = {p[2]: p[5] for p in legs}  # each touched account's posted balance after it
        prepared.append((part, legs, sorted(final.items()), (part[-1][0], part[-1][-1])))
    start = time.perf_counter()
    for part, legs, moved, head in prepared:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT last_id, last_hash FROM journal_head WHERE id = 1").fetchone()
        conn.executemany("UPDATE accounts SET posted = ? WHERE id = ?", [(b, a) for a, b in moved])
        conn.executemany(f"INSERT INTO postings ({_POSTING_COLUMNS}) VALUES (?,?,?,?,?,?)", legs)
        conn.executemany(
            f"INSERT INTO entries ({_ENTRY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", part
        )
        conn.execute("UPDATE journal_head SET last_id = ?, last_hash = ? WHERE id = 1", head)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(entries) / elapsed


#: The parts of the schema ``--floor-parts`` prices one at a time.
SCHEMA_PARTS = (
    "trg_postings_early",
    "trg_entries_balanced",
    "trg_entries_after_head",
    "ix_postings_account_entry",
    "ux_entries_resolves",
    "ux_entries_reverses",
    "ix_entries_open_pending",
)


def floor_parts_us(ledger_db: Path, fresh: Callable[[], str], n: int) -> dict[str, float]:
    """µs per event each schema part adds to the SQL floor (best of two, same rows)."""

    def us(without: tuple[str, ...]) -> float:
        best = max(schema_replay_events_per_s(ledger_db, Path(fresh()), n, without)
                   for _ in range(2))
        return 1e6 / best

    whole = us(())
    return {f"floor_{part}_us": round(whole - us((part,)), 2) for part in SCHEMA_PARTS}


def phases_us(url: str, n: int) -> dict[str, float]:
    """µs per event in each phase of ``record_many`` (the same steps, timed one by one)."""
    store = _open(url, n)
    events = _events(n)
    spent = dict.fromkeys(("validate", "hash", "rules_and_rows", "flush", "commit"), 0.0)
    for i in range(0, n, BATCH):
        t0 = time.perf_counter()
        checked = [validate_request(r) for r in events[i : i + BATCH]]
        t1 = time.perf_counter()
        hashes = [content_hash(r) for r in checked]
        t2 = time.perf_counter()
        with store.write() as conn:
            t3 = time.perf_counter()
            writer = store.batch_writer(conn)
            writer.run(checked, hashes, atomic=False)
            t4 = time.perf_counter()
            writer.flush()
            t5 = time.perf_counter()
        t6 = time.perf_counter()
        for name, took in zip(spent, (t1 - t0, t2 - t1, t4 - t3, t5 - t4, t6 - t5), strict=True):
            spent[name] += took
    store.close()
    return {f"phase_{name}_us": round(took * 1e6 / n, 2) for name, took in spent.items()}


def raw_pg_events_per_s(url: str, n: int) -> float:
    """Baseline: plain psycopg executemany of the same rows into a scratch schema."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    schema = f"raw_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(f"SET search_path TO {schema}")
            for statement in _RAW_SCHEMA:
                conn.execute(statement.replace("BLOB", "BYTEA").replace("INTEGER", "BIGINT"))
            batches = [_raw_rows(BATCH, i) for i in range(0, n, BATCH)]
            start = time.perf_counter()
            for entries, postings in batches:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO entries VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", entries
                    )
                    cur.executemany("INSERT INTO postings VALUES (%s,%s,%s,%s,%s,%s)", postings)
            elapsed = time.perf_counter() - start
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return n / elapsed


def _fresh_pg(url: str) -> tuple[str, object]:
    import sqlalchemy as sa

    name = f"bitcache_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False), (admin, name)


def _drop_pg(handle: object) -> None:
    admin, name = handle  # type: ignore[misc]
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _best(f: object, rounds: int) -> float:
    return max(f() for _ in range(rounds))  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run, under 60 s")
    parser.add_argument("--events", type=int, default=0, help="events per measurement")
    parser.add_argument(
        "--breakdown", action="store_true",
        help="also time each phase of record_many and price each part of the schema",
    )
    args = parser.parse_args()
    n = args.events or (20_000 if args.quick else 200_000)
    singles = 300 if args.quick else 2_000
    rounds = 2 if args.quick else 3
    figures: dict[str, float | int] = {"events": n}
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1000))

        def fresh() -> str:
            return str(Path(tmp) / f"bench{next(counter)}.sqlite")

        # interleave baseline and ledger runs so drift hits both alike; keep the best of each
        raw, ours, floor = [], [], []
        for _ in range(rounds):
            raw.append(raw_sqlite_events_per_s(fresh(), n))
            db = fresh()
            ours.append(ledger_events_per_s(f"sqlite:///{db}", n))
            floor.append(schema_replay_events_per_s(Path(db), Path(fresh()), n))
        figures["sqlite_raw_events_per_s"] = round(max(raw))
        figures["sqlite_events_per_s"] = round(max(ours))
        figures["sqlite_ratio"] = round(max(ours) / max(raw), 3)
        figures["sqlite_schema_events_per_s"] = round(max(floor))
        figures["sqlite_schema_ratio"] = round(max(floor) / max(raw), 3)
        if args.breakdown:
            figures["raw_us"] = round(1e6 / max(raw), 2)
            figures.update(phases_us(f"sqlite:///{fresh()}", n))
            figures.update(floor_parts_us(Path(db), fresh, n))
        lat = single_latencies_ms(f"sqlite:///{fresh()}", singles)
        figures["single_p50_ms"] = round(statistics.median(lat), 3)
        figures["single_p99_ms"] = round(statistics.quantiles(lat, n=100)[98], 3)
    pg = os.environ.get("BITCACHE_BENCH_PG_URL") or os.environ.get("BITCACHE_TEST_PG_URL")
    if pg:
        pg_n = min(n, 20_000) if args.quick else n
        raw_pg, ours_pg = [], []
        for _ in range(rounds):
            raw_pg.append(raw_pg_events_per_s(pg, pg_n))
            url, handle = _fresh_pg(pg)
            try:
                ours_pg.append(ledger_events_per_s(url, pg_n))
            finally:
                _drop_pg(handle)
        figures["pg_raw_events_per_s"] = round(max(raw_pg))
        figures["pg_events_per_s"] = round(max(ours_pg))
        figures["pg_ratio"] = round(max(ours_pg) / max(raw_pg), 3)
    for key, value in figures.items():
        print(f"{key:>24}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
