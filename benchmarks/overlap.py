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
  the shorter one was hidden completely, 0 means no gain at all.

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


def _sql_work(path: Path, n: int) -> None:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    for statement in _RAW_SCHEMA:
        conn.execute(statement)
    batches = [_raw_rows(BATCH, i) for i in range(0, n, BATCH)]
    for entries, postings in batches:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", entries)
        conn.executemany("INSERT INTO postings VALUES (?,?,?,?,?,?)", postings)
        conn.execute("COMMIT")
    conn.close()


def _python_work(events: list[EntryRequest]) -> None:
    for request in events:
        content_hash(validate_request(request))


def _timed(f: object) -> float:
    start = time.perf_counter()
    f()  # type: ignore[operator]
    return time.perf_counter() - start


def measure(n: int, tmp: Path) -> dict[str, float]:
    events = _events(n)
    counter = iter(range(100))

    def fresh() -> Path:
        return tmp / f"overlap{next(counter)}.sqlite"

    sql = min(_timed(lambda: _sql_work(fresh(), n)) for _ in range(2))
    python = min(_timed(lambda: _python_work(events)) for _ in range(2))

    def both() -> None:
        writer = threading.Thread(target=_sql_work, args=(fresh(), n))
        writer.start()
        _python_work(events)
        writer.join()

    threaded = min(_timed(both) for _ in range(2))
    us = 1e6 / n
    return {
        "events": n,
        "sql_us": round(sql * us, 2),
        "python_us": round(python * us, 2),
        "serial_us": round((sql + python) * us, 2),
        "threaded_us": round(threaded * us, 2),
        "overlap": round((sql + python - threaded) / min(sql, python), 3),
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
