"""Hooks benchmark: authorize-and-charge downloads through ``bitcache.hooks``.

Measured in the same run, on a fresh SQLite file with durable commits (WAL,
synchronous=FULL):

* ``batched_calls_per_s``: ``Hooks.download_batch`` with 1,000 downloads per
  call (one transaction and one commit per call) — file lookup, cap and
  balance checks, price and split, the ledger entry, the download counters;
* ``single_calls_per_s`` and ``single_p99_ms``: ``Hooks.download``, one
  durable transaction per download;
* ``raw_events_per_s``: the ingest benchmark's baseline, plain ``sqlite3``
  ``executemany`` of equivalent entry and posting rows, no checks;
* ``batched_ratio``: batched / raw.

With ``BITCACHE_BENCH_PG_URL`` (or ``BITCACHE_TEST_PG_URL``) set, the batched
and single figures are measured on PostgreSQL too (``pg_*`` keys).

Each timed part starts after a full garbage collection: otherwise whether
the collection that the setup's objects make due falls inside the 10
batches of ``--quick`` (a full collection costs ~30 ms there, 6 % of the
window) depends on how many objects the setup and the imports left, not on
the charging path, and two versions of the code compare by that.

    python benchmarks/hooks.py [--quick]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest import _drop_pg, _fresh_pg, raw_sqlite_events_per_s
from bitcache.core.accounts import default_spec, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.files import CatalogRow
from bitcache.hooks import DownloadRequest, Hooks

BATCH = 1_000
FILES = 5_000
DOWNLOADERS = 1_000


def _file(i: int) -> str:
    return hashlib.sha256(f"bench-file-{i % FILES}".encode()).hexdigest()


def _setup(url: str) -> Hooks:
    """Files registered from a catalog; downloaders funded in one batch."""
    hooks = Hooks.open(url)
    hooks.import_catalog(
        [CatalogRow(_file(i), f"up{i % 200}", 1_000 + i % 7, 10_000) for i in range(FILES)])
    deposits = [
        EntryRequest(f"deposit:bench-{d}", (Posting("asset:wallet", 10**12),
                                            Posting(prepaid(f"d{d}"), -(10**12))))
        for d in range(DOWNLOADERS)
    ]
    specs = [default_spec("asset:wallet")] + [default_spec(prepaid(f"d{d}"))
                                               for d in range(DOWNLOADERS)]
    hooks.ledger.record_many(deposits, atomic=True, open_accounts=specs)
    return hooks


def batched_calls_per_s(hooks: Hooks, n: int, tag: str) -> float:
    batches = [
        [DownloadRequest(_file(i), f"d{i % DOWNLOADERS}", f"{tag}-{i}")
         for i in range(start, min(start + BATCH, n))]
        for start in range(0, n, BATCH)
    ]
    begin = time.perf_counter()
    for batch in batches:
        answers = hooks.download_batch(batch)
        assert all(not isinstance(a, Exception) for a in answers), answers[:3]
    return n / (time.perf_counter() - begin)


def single_latencies_ms(hooks: Hooks, n: int, tag: str) -> list[float]:
    out = []
    for i in range(n):
        begin = time.perf_counter()
        hooks.download(_file(i * 7), f"d{i % DOWNLOADERS}", f"{tag}-{i}")
        out.append((time.perf_counter() - begin) * 1_000)
    return out


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def _measure(url: str, n: int, singles: int) -> dict[str, float]:
    hooks = _setup(url)
    try:
        gc.collect()  # the setup's garbage is not the charging path's (see the docstring)
        batched = batched_calls_per_s(hooks, n, "b")
        gc.collect()
        lat = single_latencies_ms(hooks, singles, "s")
        assert hooks.ledger.trial_balance() == 0
    finally:
        hooks.close()
    return {
        "batched_calls_per_s": round(batched, 1),
        "single_calls_per_s": round(1_000 / statistics.mean(lat), 1),
        "single_p50_ms": round(statistics.median(lat), 3),
        "single_p99_ms": round(_p99(lat), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run, under 60 s")
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    singles = 300 if args.quick else 2_000
    result: dict[str, object] = {"events": n, "singles": singles, "engine": "sqlite"}
    with tempfile.TemporaryDirectory() as tmp:
        result.update(_measure(f"sqlite:///{tmp}/hooks.sqlite", n, singles))
        raw = raw_sqlite_events_per_s(Path(tmp) / "raw.sqlite", n)
    result["raw_events_per_s"] = round(raw, 1)
    result["batched_ratio"] = round(float(result["batched_calls_per_s"]) / raw, 3)  # type: ignore[arg-type]
    pg_url = os.environ.get("BITCACHE_BENCH_PG_URL") or os.environ.get("BITCACHE_TEST_PG_URL")
    if pg_url:
        url, handle = _fresh_pg(pg_url)
        try:
            pg = _measure(url, min(n, 10_000), min(singles, 300))
        finally:
            _drop_pg(handle)
        result.update({f"pg_{k}": v for k, v in pg.items()})
    print(f"hooks: batched {result['batched_calls_per_s']}/s, single "
          f"{result['single_calls_per_s']}/s (p99 {result['single_p99_ms']} ms), raw sqlite3 "
          f"{result['raw_events_per_s']}/s, ratio {result['batched_ratio']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
