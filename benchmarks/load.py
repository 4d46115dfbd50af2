"""Load test: a sustained run of ``Hooks.download_batch`` on SQLite, with memory and latency.

The storage server's hot path, flat out, for a fixed duration: batches of
1,000 downloads (one transaction and one durable commit each) spread over
5,000 files, 200 uploaders and 1,000 downloaders, on a fresh SQLite file.
Reported:

* ``downloads_per_s``: downloads charged over the whole run, and the worst
  and best one-minute window (``min_window_per_s``, ``max_window_per_s``;
  windows of the run's tenth in quick mode), so a slowdown as the database
  grows shows up;
* ``rss_start_mb`` / ``rss_end_mb`` / ``rss_peak_mb``: resident memory after
  setup, at the end, and the highest of the samples taken at each window's
  end (flat memory: the end within a few MB of the start);
* ``batch_p50_ms`` / ``batch_p99_ms`` / ``batch_max_ms``: latency of one
  ``download_batch`` call;
* ``trial_balance`` (must be 0) and ``verify_ok`` / ``verify_s`` (the hash
  chain verified end to end after the run);
* ``target_met``: ``downloads_per_s`` ≥ 10,000.

    python benchmarks/load.py --quick          # 30 s of load, under 60 s in all
    python benchmarks/load.py                  # 10 minutes
    python benchmarks/load.py --seconds 120    # any duration
    python benchmarks/load.py --gc-freeze      # gc.freeze() after setup

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bitcache.core.accounts import WALLET, default_spec, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.files import CatalogRow
from bitcache.hooks import DownloadRequest, Hooks

BATCH = 1_000
FILES = 5_000
UPLOADERS = 200
DOWNLOADERS = 1_000
FUNDS_MSAT = 10**13
TARGET_PER_S = 10_000


def _file(i: int) -> str:
    return hashlib.sha256(f"load-file-{i % FILES}".encode()).hexdigest()


def rss_mb() -> float:
    """Current resident set size in MB (from /proc; the peak where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(url: str) -> Hooks:
    """Register the files from a catalog and fund every downloader in one batch."""
    hooks = Hooks.open(url)
    hooks.import_catalog(
        [CatalogRow(_file(i), f"up{i % UPLOADERS}", 1_000 + i % 7, 10_000) for i in range(FILES)]
    )
    deposits = [
        EntryRequest(
            f"deposit:load-{d}",
            (Posting(WALLET, FUNDS_MSAT), Posting(prepaid(f"d{d}"), -FUNDS_MSAT)),
        )
        for d in range(DOWNLOADERS)
    ]
    specs = [default_spec(WALLET)] + [default_spec(prepaid(f"d{d}")) for d in range(DOWNLOADERS)]
    hooks.ledger.record_many(deposits, atomic=True, open_accounts=specs)
    return hooks


def batch_of(start: int) -> list[DownloadRequest]:
    """Downloads ``start`` .. ``start + BATCH - 1``: each its own event id."""
    return [
        DownloadRequest(_file(i * 7), f"d{i % DOWNLOADERS}", f"load-{i}")
        for i in range(start, start + BATCH)
    ]


@dataclass
class Run:
    """What the load loop saw: batch latencies and the downloads/s of each time window."""

    window_s: float
    latencies_ms: list[float] = field(default_factory=list)
    windows: list[float] = field(default_factory=list)
    rss_samples_mb: list[float] = field(default_factory=list)
    downloads: int = 0
    elapsed_s: float = 0.0


def load(hooks: Hooks, seconds: float, window_s: float) -> Run:
    """Charge batches back to back for ``seconds``; every answer must be a receipt."""
    run = Run(window_s)
    begin = time.perf_counter()
    window_start, in_window = begin, 0
    while True:
        started = time.perf_counter()
        if started - begin >= seconds:
            break
        answers = hooks.download_batch(batch_of(run.downloads))
        done = time.perf_counter()
        refused = [a for a in answers if isinstance(a, Exception)]
        if refused:
            raise SystemExit(f"load: {len(refused)} downloads refused, e.g. {refused[0]!r}")
        run.latencies_ms.append((done - started) * 1_000)
        run.downloads += BATCH
        in_window += BATCH
        if done - window_start >= window_s:
            run.windows.append(in_window / (done - window_start))
            run.rss_samples_mb.append(rss_mb())
            window_start, in_window = done, 0
    run.elapsed_s = time.perf_counter() - begin
    return run


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def measure(url: str, seconds: float, *, gc_freeze: bool = False) -> dict[str, object]:
    """Set up, load for ``seconds``, then check the books and the hash chain."""
    hooks = setup(url)
    if gc_freeze:  # what a server can do once after start-up (see docs/operations.md)
        gc.freeze()
    try:
        rss_start = rss_mb()
        run = load(hooks, seconds, window_s=60.0 if seconds >= 300 else seconds / 10)
        rss_end = rss_mb()
        trial = hooks.ledger.trial_balance()
        begin = time.perf_counter()
        report = hooks.ledger.verify()
        verify_s = time.perf_counter() - begin
    finally:
        hooks.close()
    rate = run.downloads / run.elapsed_s
    windows = run.windows or [rate]
    return {
        "seconds": round(run.elapsed_s, 1),
        "downloads": run.downloads,
        "downloads_per_s": round(rate, 1),
        "window_s": run.window_s,
        "min_window_per_s": round(min(windows), 1),
        "max_window_per_s": round(max(windows), 1),
        "batch_p50_ms": round(statistics.median(run.latencies_ms), 2),
        "batch_p99_ms": round(_p99(run.latencies_ms), 2),
        "batch_max_ms": round(max(run.latencies_ms), 2),
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_peak_mb": round(max([rss_start, rss_end, *run.rss_samples_mb]), 1),
        "trial_balance": trial,
        "verify_ok": report.ok,
        "verify_s": round(verify_s, 1),
        "target_met": rate >= TARGET_PER_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s of load (under 60 s in all)")
    parser.add_argument("--seconds", type=float, help="duration of the load (default 600)")
    parser.add_argument("--db", help="SQLite file to use (default: a temporary one)")
    parser.add_argument(
        "--gc-freeze", action="store_true",
        help="call gc.freeze() after setup, as a long-running server may",
    )
    args = parser.parse_args()
    seconds = args.seconds or (30.0 if args.quick else 600.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "load.sqlite"
        result: dict[str, object] = {"engine": "sqlite", "batch": BATCH}
        result["gc_freeze"] = args.gc_freeze
        result.update(measure(f"sqlite:///{path}", seconds, gc_freeze=args.gc_freeze))
        result["db_mb"] = round(path.stat().st_size / 2**20, 1)
    print(
        f"load: {result['downloads']} downloads in {result['seconds']} s = "
        f"{result['downloads_per_s']}/s (windows {result['min_window_per_s']}.."
        f"{result['max_window_per_s']}/s), batch p99 {result['batch_p99_ms']} ms, "
        f"RSS {result['rss_start_mb']} -> {result['rss_end_mb']} MB, "
        f"verify {result['verify_ok']} in {result['verify_s']} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
