"""Overlap benchmark: can a second thread hide the ledger's Python work behind SQLite's?

The ledger's batch path is Python work (validation, content hashes, rules,
row building) followed by SQLite work (``executemany`` of the rows, the
commit). ``sqlite3`` releases the GIL while SQLite steps a statement, so a
pipeline that writes batch *n* in a second thread while the first prepares
batch *n+1* could, in principle, take max(Python, SQL) instead of their sum.
This measures it on the same work, in the same run:

* ``sql_us``: the raw baseline's inserts (``benchmarks/ingest.py``) alone;
* ``python_us``: validating and content-hashing the same number of
  download-shaped requests alone;
* ``threaded_us``: both at once, the inserts in a second thread;
* ``overlap``: ``(sql + python - threaded) / min(sql, python)``: 1.0 means
  the shorter one was hidden completely, 0 means no gain at all;
* ``threaded_short_switch_us``: both at once again, with the interpreter's
  switch interval cut from 5 ms to 10 µs.

All figures are µs per event. ``--quick`` runs 20,000 events (under 60 s);
the last line printed is one JSON object.

    python benchmarks/overlap.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest import _RAW_SCHEMA, BATCH, _events, _raw_rows
from bitcache.core.entries import EntryRequest, content_hash, validate_request

Rows = list[tuple[object, ...]]
SHORT_SWITCH_S = 1e-5  # the GIL handed over every 10 µs instead of every 5 ms


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    for statement in _RAW_SCHEMA:
        conn.execute(statement)
    return conn


def _sql_work(conn: sqlite3.Connection, batches: list[tuple[Rows, Rows]]) -> None:
    for entries, postings in batches:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", entries)
        conn.executemany("INSERT INTO postings VALUES (?,?,?,?,?,?)", postings)
        conn.execute("COMMIT")


def _python_work(events: list[EntryRequest]) -> None:
    for request in events:
        content_hash(validate_request(request))


def _timed(f: object) -> float:
    start = time.perf_counter()
    f()  # type: ignore[operator]
    return time.perf_counter() - start


def measure(n: int, tmp: Path) -> dict[str, float]:
    """Best of three of each: the inserts alone, the Python alone, both at once."""
    events = _events(n)
    batches = [_raw_rows(BATCH, i) for i in range(0, n, BATCH)]
    conns = [_connect(tmp / f"overlap{i}.sqlite") for i in range(9)]

    def both(conn: sqlite3.Connection) -> None:
        writer = threading.Thread(target=_sql_work, args=(conn, batches))
        writer.start()
        _python_work(events)
        writer.join()

    sql, python, threaded, short = [], [], [], []
    default_switch = sys.getswitchinterval()
    for i in range(3):  # interleaved, so drift on the shared machine hits all of them
        sql.append(_timed(lambda: _sql_work(conns[3 * i], batches)))  # noqa: B023
        python.append(_timed(lambda: _python_work(events)))
        threaded.append(_timed(lambda: both(conns[3 * i + 1])))  # noqa: B023
        sys.setswitchinterval(SHORT_SWITCH_S)
        try:
            short.append(_timed(lambda: both(conns[3 * i + 2])))  # noqa: B023
        finally:
            sys.setswitchinterval(default_switch)
    for conn in conns:
        conn.close()
    sql_s, python_s, threaded_s = min(sql), min(python), min(threaded)
    us = 1e6 / n
    return {
        "events": n,
        "sql_us": round(sql_s * us, 2),
        "python_us": round(python_s * us, 2),
        "serial_us": round((sql_s + python_s) * us, 2),
        "threaded_us": round(threaded_s * us, 2),
        "overlap": round((sql_s + python_s - threaded_s) / min(sql_s, python_s), 3),
        "threaded_short_switch_us": round(min(short) * us, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 events, under 60 s")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        figures = measure(n, Path(tmp))
    for key, value in figures.items():
        print(f"{key:>12}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
