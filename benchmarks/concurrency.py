"""Concurrent charging: many callers each issuing single ``download`` calls (group commit).

Every caller charges its own downloader, one ``download`` call at a time,
over a shared set of 5,000 files, for a fixed time. Scenarios, each with
throughput and p50/p99 latency of one call:

* (a) ``threads``: 64 threads in one process, sharing one ``Hooks``;
* (b) ``asyncio``: 64 asyncio tasks on one event loop, through ``AsyncHooks``;
* (c) ``procs_sqlite``: 8 processes × 8 threads, each process with its own
  ``Hooks`` (and group commit), on one SQLite file;
* (d) ``procs_pg``: the same on PostgreSQL, when ``BITCACHE_BENCH_PG_URL``
  or ``BITCACHE_TEST_PG_URL`` is set.

Reference in the same run: ``download_batch`` of 1,000 downloads per call in
one process (``batched_per_s``, SQLite); ``threads_ratio`` and
``asyncio_ratio`` are the in-process rates over it. Every scenario starts
from a fresh database (SQLite: WAL, synchronous=FULL).

``--breakdown`` runs the thread and process scenarios again with every step
of a flush timed (the timers cost a little, so its rates are not the
benchmark's): per flush, the planning before the lock, the wait for the
writer lock, how long the lock is held, and within that the reads (files,
keys, balances), admission, chaining (rules, balances, hashes), inserting,
the download counters and the commit.

    python benchmarks/concurrent.py [--quick] [--breakdown] [--seconds S]

(``benchmarks/concurrent.py`` is the entry point; this module holds the
benchmark, since a module named ``concurrent`` cannot import anything that
needs the standard library's ``concurrent.futures``.)

The last line printed is one JSON object with exactly the keys
``threads_per_s``, ``threads_p99_ms``, ``asyncio_per_s``, ``asyncio_p99_ms``,
``procs_sqlite_per_s``, ``procs_sqlite_p99_ms``, ``procs_pg_per_s``,
``procs_pg_p99_ms`` (null without PostgreSQL), ``batched_per_s``,
``threads_ratio`` and ``asyncio_ratio``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest import _drop_pg, _fresh_pg
from benchmarks.lockprobe import LockProbe
from bitcache.asynchooks import AsyncHooks
from bitcache.core.accounts import WALLET, default_spec, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.files import CatalogRow
from bitcache.hooks import DownloadRequest, Hooks

FILES = 5_000
CALLERS = 64
PROCS = 8
BATCH = 1_000
FUNDS = 10**13
FORK = multiprocessing.get_context("fork")


def _file(i: int) -> str:
    return hashlib.sha256(f"concurrent-file-{i % FILES}".encode()).hexdigest()


def setup(url: str, downloaders: int = CALLERS) -> None:
    """Register the files from a catalog and fund every downloader, in one batch each."""
    hooks = Hooks.open(url)
    hooks.import_catalog(
        [CatalogRow(_file(i), f"up{i % 200}", 1_000 + i % 7, 10_000) for i in range(FILES)])
    deposits = [EntryRequest(f"deposit:bench-{d}", (Posting(WALLET, FUNDS),
                                                     Posting(prepaid(f"d{d}"), -FUNDS)))
                for d in range(downloaders)]
    specs = [default_spec(WALLET)] + [default_spec(prepaid(f"d{d}")) for d in range(downloaders)]
    hooks.ledger.record_many(deposits, atomic=True, open_accounts=specs)
    hooks.close()


@dataclass
class Run:
    """Calls completed in a scenario's window, and each call's latency in ms."""

    seconds: float
    latencies: list[float]

    @property
    def per_s(self) -> float:
        return len(self.latencies) / self.seconds

    def p(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[q - 1]

    def summary(self) -> dict[str, float]:
        return {"per_s": round(self.per_s, 1), "p50_ms": round(self.p(50), 2),
                "p99_ms": round(self.p(99), 2)}


# -- where the CPU went ------------------------------------------------------------


@dataclass(frozen=True)
class CpuUse:
    """Clock ticks from ``/proc``: the machine busy and in all, and PostgreSQL's processes
    (every ``postgres`` process: the backends, the WAL writer…, whoever they serve)."""

    busy: int
    total: int
    postgres: int

    @classmethod
    def now(cls) -> CpuUse:
        try:
            with open("/proc/stat") as f:
                ticks = [int(x) for x in f.readline().split()[1:]]
        except OSError:
            return cls(0, 0, 0)
        idle = ticks[3] + ticks[4]  # idle, iowait
        return cls(sum(ticks) - idle, sum(ticks), _postgres_ticks())

    def since(self, before: CpuUse) -> CpuUse:
        return CpuUse(self.busy - before.busy, self.total - before.total,
                      self.postgres - before.postgres)

    def describe(self, client_cpu_s: float, calls: int, pg: bool = False) -> dict[str, float]:
        """Machine busy share, and CPU µs per call of the clients (and of PostgreSQL: all
        its processes, so other databases' work on the same server counts too)."""
        calls = max(calls, 1)
        out = {"machine_busy": round(self.busy / max(self.total, 1), 3),
               "client_us_per_call": round(client_cpu_s / calls * 1e6, 1)}
        if pg:
            hz = os.sysconf("SC_CLK_TCK")
            out["postgres_us_per_call"] = round(self.postgres / hz / calls * 1e6, 1)
        return out


def _postgres_ticks() -> int:
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if name == "postgres":
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


# -- callers -----------------------------------------------------------------


def _caller(hooks: Hooks, caller: int, tag: str, until: float, out: list[float]) -> None:
    """Single downloads by downloader ``caller`` until ``until``; latencies appended to out."""
    i = 0
    clock = time.perf_counter
    while True:
        begin = clock()
        if begin >= until:
            return
        hooks.download(_file(caller * 7_919 + i), f"d{caller}", f"{tag}-{caller}-{i}")
        out.append((clock() - begin) * 1_000)
        i += 1


def threads_run(hooks: Hooks, callers: int, first: int, seconds: float, tag: str) -> Run:
    """``callers`` threads (downloaders ``first`` …) for ``seconds``."""
    until = time.perf_counter() + seconds
    lists: list[list[float]] = [[] for _ in range(callers)]
    threads = [threading.Thread(target=_caller, args=(hooks, first + c, tag, until, lists[c]))
               for c in range(callers)]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Run(time.perf_counter() - begin, [x for lst in lists for x in lst])


def tasks_run(hooks: Hooks, callers: int, seconds: float, tag: str) -> Run:
    """``callers`` asyncio tasks on one loop for ``seconds``, through AsyncHooks."""
    aio = AsyncHooks(hooks)

    async def caller(c: int, until: float, out: list[float]) -> None:
        i = 0
        while (begin := time.perf_counter()) < until:
            await aio.download(_file(c * 7_919 + i), f"d{c}", f"{tag}-{c}-{i}")
            out.append((time.perf_counter() - begin) * 1_000)
            i += 1

    async def main() -> Run:
        until = time.perf_counter() + seconds
        lists: list[list[float]] = [[] for _ in range(callers)]
        begin = time.perf_counter()
        await asyncio.gather(*(caller(c, until, lists[c]) for c in range(callers)))
        return Run(time.perf_counter() - begin, [x for lst in lists for x in lst])

    return asyncio.run(main())


def _proc(url: str, index: int, callers: int, seconds: float, barrier: Any, out: Any,
          breakdown: bool) -> None:
    """One process of scenario (c)/(d): its own Hooks, ``callers`` threads."""
    probe = LockProbe.install() if breakdown else None
    hooks = Hooks.open(url)
    barrier.wait()
    cpu = time.process_time()
    run = threads_run(hooks, callers, index * callers, seconds, f"p{index}")
    cpu = time.process_time() - cpu
    stats = hooks.group.stats()
    hooks.close()
    out.put((run.seconds, run.latencies, stats.flushes, stats.calls, stats.fallbacks,
             None if probe is None else probe.totals(), cpu))


def procs_run(url: str, seconds: float, breakdown: bool = False) -> tuple[Run, dict[str, Any]]:
    """PROCS processes × CALLERS/PROCS threads; the probe totals of all, when asked."""
    per = CALLERS // PROCS
    barrier, out = FORK.Barrier(PROCS + 1), FORK.Queue()
    procs = [FORK.Process(target=_proc, args=(url, p, per, seconds, barrier, out, breakdown))
             for p in range(PROCS)]
    for proc in procs:
        proc.start()
    barrier.wait()
    before = CpuUse.now()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    used = CpuUse.now().since(before)
    for proc in procs:
        proc.join(30)
    window = max(r[0] for r in results)
    latencies = [x for r in results for x in r[1]]
    totals: dict[str, Any] = {"flushes": sum(r[2] for r in results),
                              "calls": sum(r[3] for r in results),
                              "fallbacks": sum(r[4] for r in results),
                              "cpu": used.describe(sum(r[6] for r in results), len(latencies),
                                                   pg=url.startswith("postgresql"))}
    if breakdown:
        totals.update(LockProbe.merge([r[5] for r in results]))
    return Run(window, latencies), totals


def batched_per_s(url: str, n: int) -> float:
    """Reference: ``download_batch`` of BATCH downloads per call."""
    hooks = Hooks.open(url)
    batches = [[DownloadRequest(_file(i), f"d{i % CALLERS}", f"b-{i}")
                for i in range(s, min(s + BATCH, n))] for s in range(0, n, BATCH)]
    begin, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        hooks.download_batch(batch)
    rate = n / (time.perf_counter() - begin)
    cpu = time.process_time() - cpu
    hooks.close()
    print(f"  batched: client cpu {cpu / n * 1e6:.1f} us per download")
    return rate


# -- the run -------------------------------------------------------------------


def _fresh_sqlite(folder: str, name: str) -> str:
    url = f"sqlite:///{folder}/{name}.sqlite"
    setup(url)
    return url


def _in_process(url: str, seconds: float, scenario: str) -> tuple[Run, dict[str, Any]]:
    hooks = Hooks.open(url)
    try:
        before, cpu = CpuUse.now(), time.process_time()
        if scenario == "threads":
            run = threads_run(hooks, CALLERS, 0, seconds, "t")
        else:
            run = tasks_run(hooks, CALLERS, seconds, "a")
        cpu, used = time.process_time() - cpu, CpuUse.now().since(before)
        stats = hooks.group.stats()
        assert hooks.ledger.trial_balance() == 0
    finally:
        hooks.close()
    return run, {"flushes": stats.flushes, "calls": stats.calls, "fallbacks": stats.fallbacks,
                 "cpu": used.describe(cpu, len(run.latencies))}


def _report(name: str, run: Run, totals: dict[str, Any]) -> None:
    mean = totals["calls"] / max(totals["flushes"], 1)
    s = run.summary()
    print(f"{name}: {s['per_s']}/s, p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms "
          f"({totals['flushes']} flushes, {mean:.1f} calls each, "
          f"{totals['fallbacks']} failed and ran alone)")
    if "cpu" in totals:
        print(f"  cpu: {json.dumps(totals['cpu'])}")
    spent = totals.get("spent", {})
    if "lock held" in spent:  # the journal-head lock's busy share over the window
        print(f"  head lock held {spent['lock held'] / run.seconds:.0%} of the window")


def _pg_url() -> str:
    return os.environ.get("BITCACHE_BENCH_PG_URL") or os.environ.get("BITCACHE_TEST_PG_URL", "")


def _on_pg(pg: str, work: Callable[[str], Any]) -> Any:
    url, handle = _fresh_pg(pg)
    try:
        setup(url)
        return work(url)
    finally:
        _drop_pg(handle)


def measure(seconds: float, batched_n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in ("threads", "asyncio"):
            run, totals = _in_process(_fresh_sqlite(tmp, scenario), seconds, scenario)
            _report(f"(a/b) {scenario}, 64 callers, SQLite", run, totals)
            out[scenario] = run
        run, totals = procs_run(_fresh_sqlite(tmp, "procs"), seconds)
        _report("(c) 8 processes x 8 threads, SQLite", run, totals)
        out["procs_sqlite"] = run
        out["batched"] = batched_per_s(_fresh_sqlite(tmp, "batched"), batched_n)
        print(f"reference: download_batch of {BATCH}: {out['batched']:.1f}/s")
    pg = _pg_url()
    if pg:
        run, totals = _on_pg(pg, lambda url: procs_run(url, seconds))
        _report("(d) 8 processes x 8 threads, PostgreSQL", run, totals)
        out["procs_pg"] = run
    return out


def breakdown(seconds: float) -> None:
    """Every step of a flush timed: in one process, and across processes on each engine."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = LockProbe.install()
        run, totals = _in_process(_fresh_sqlite(tmp, "bd-threads"), seconds, "threads")
        probe.uninstall()
        totals.update(probe.totals())
        _report("breakdown (a) threads, SQLite", run, totals)
        LockProbe.print_table(totals)
        run, totals = procs_run(_fresh_sqlite(tmp, "bd-procs"), seconds, breakdown=True)
        _report("breakdown (c) processes, SQLite", run, totals)
        LockProbe.print_table(totals)
    pg = _pg_url()
    if pg:
        run, totals = _on_pg(pg, lambda url: procs_run(url, seconds, breakdown=True))
        _report("breakdown (d) processes, PostgreSQL", run, totals)
        LockProbe.print_table(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run, under 90 s")
    parser.add_argument("--breakdown", action="store_true", help="time each step of a flush")
    parser.add_argument("--seconds", type=float, default=0, help="length of each scenario")
    parser.add_argument("--switch-interval-us", type=int, default=0,
                        help="set sys.setswitchinterval in every process (an experiment: how "
                             "much of the thread scenarios is the GIL's hand-over; default: "
                             "Python's 5,000 us)")
    args = parser.parse_args()
    if args.seconds and not 0.5 <= args.seconds <= 3600:  # NaN too
        parser.error(f"--seconds is 0.5 to 3600 (0: the default), got {args.seconds}")
    if args.switch_interval_us < 0:
        parser.error(f"--switch-interval-us must be positive, got {args.switch_interval_us}")
    if args.switch_interval_us:
        sys.setswitchinterval(args.switch_interval_us / 1e6)  # forked processes inherit it
    seconds = args.seconds or (4.0 if args.quick else 20.0)
    if args.breakdown:
        breakdown(seconds)
    got = measure(seconds, 10_000 if args.quick else 50_000)
    batched = got["batched"]
    result: dict[str, Any] = {
        "threads_per_s": round(got["threads"].per_s, 1),
        "threads_p99_ms": round(got["threads"].p(99), 2),
        "asyncio_per_s": round(got["asyncio"].per_s, 1),
        "asyncio_p99_ms": round(got["asyncio"].p(99), 2),
        "procs_sqlite_per_s": round(got["procs_sqlite"].per_s, 1),
        "procs_sqlite_p99_ms": round(got["procs_sqlite"].p(99), 2),
        "procs_pg_per_s": round(got["procs_pg"].per_s, 1) if "procs_pg" in got else None,
        "procs_pg_p99_ms": round(got["procs_pg"].p(99), 2) if "procs_pg" in got else None,
        "batched_per_s": round(batched, 1),
        "threads_ratio": round(got["threads"].per_s / batched, 3),
        "asyncio_ratio": round(got["asyncio"].per_s / batched, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
