"""A failover trial: charging workers under load while the primary is lost or frozen.

Two forked workers charge downloads through ``Hooks`` on the cluster's
multi-host URL, one single download per call and one batch of 100 per call,
with the opt-in retry (:class:`~bitcache.retry.RetryPolicy`) and a per-call
deadline. Each appends every acknowledged key to its ack file *after* the
call returned, and logs each call's start, end and outcome.

A trial injects faults one after the other, waiting after each until the
cluster serves again with its standby:

* ``kill``: node loss — the leader's Patroni and PostgreSQL SIGKILLed together,
  restarted (as a reboot would) once another member leads;
* ``freeze``: the leader stopped (SIGSTOP) with its sockets open, continued
  once another member leads (Patroni then demotes and rewinds it);
* ``lag-kill``: the standby's WAL receiver stopped for ``lag_s`` while the
  leader keeps committing, then the leader killed — the loss an
  asynchronous standby allows (in synchronous mode the commits wait instead).

Then every order is charged again with its key: an acknowledged key that
comes back not ``replayed`` was lost; the file's download counter and the
downloaders' balances must count every order exactly once; the journal
must verify and the trial balance be 0.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path

from sqlalchemy import text

from bitcache.core.pricing import PriceRule
from bitcache.errors import BitcacheError, StoreUnavailable
from bitcache.hooks import DownloadRequest, Hooks, RetryPolicy
from bitcache.store.ledger import LedgerStore
from tests.reliability.patroni import HACluster

FORK = multiprocessing.get_context("fork")
FILE = "ab" * 32
PRICE_MSAT = 1_000
BATCH = 100
ATTEMPT_S = 3.0  # each attempt's deadline (a frozen primary costs this much, once)
CALL_S = 25.0  # the whole call's deadline, retries included
SLACK_S = 1.0  # a call is hung when it outlives its deadline by more than this
RESUME_TARGET_S = 15.0
FUNDING_MSAT = 10**14
DOWNLOADERS = ("d0", "d1", "d2", "d3")


@dataclass
class FaultReport:
    """One injected fault: what, when (monotonic), and how long until charging resumed."""

    kind: str
    at: float
    resume_s: float | None = None


@dataclass
class TrialResult:
    """What a trial measured; ``ok`` when every promise held."""

    sync: bool
    faults: list[FaultReport] = field(default_factory=list)
    acked: int = 0
    orders: int = 0
    lost_acked: int = 0
    duplicated: int = 0
    hung_calls: int = 0
    calls: int = 0
    failed_calls: int = 0
    journal_ok: bool = False
    trial_balance: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def resume_s_max(self) -> float | None:
        times = [f.resume_s for f in self.faults]
        return None if any(t is None for t in times) else max((t or 0.0) for t in times)

    @property
    def ok(self) -> bool:
        resumed = self.resume_s_max is not None and self.resume_s_max <= RESUME_TARGET_S
        return (
            self.lost_acked == 0 and self.duplicated == 0 and self.hung_calls == 0
            and self.journal_ok and self.trial_balance == 0 and resumed
        )

    def summary(self) -> str:
        data = asdict(self)
        data["resume_s_max"] = self.resume_s_max
        return json.dumps(data, default=str)


# --- workers -------------------------------------------------------------------


def hooks_for(url: str) -> Hooks:
    return Hooks.open(
        url, deadline_s=ATTEMPT_S, retry=RetryPolicy(deadline_s=CALL_S, attempt_s=ATTEMPT_S)
    )


def _charge(hooks: Hooks, kind: str, n: int) -> list[str]:
    """One call; the keys it acknowledged."""
    who = DOWNLOADERS[n % len(DOWNLOADERS)]
    if kind == "single":
        key = f"s:{n}"
        hooks.download(FILE, who, key=key)
        return [key]
    requests = [DownloadRequest(FILE, who, f"b:{n}:{i}") for i in range(BATCH)]
    results = hooks.download_batch(requests)
    return [
        req.key for req, res in zip(requests, results, strict=True)
        if not isinstance(res, BitcacheError)
    ]


def charger(url: str, kind: str, folder: str, stop: object) -> None:
    """Charge until ``stop`` is set; ack and call logs in ``folder``."""
    hooks = hooks_for(url)
    acks = os.open(Path(folder) / f"{kind}.acks", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    calls = os.open(Path(folder) / f"{kind}.calls", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    n = 0
    while not stop.is_set():  # type: ignore[attr-defined]
        started = time.monotonic()
        try:
            keys, outcome = _charge(hooks, kind, n), "ok"
        except StoreUnavailable as exc:
            keys, outcome = [], type(exc).__name__
        ended = time.monotonic()
        os.write(calls, f"{started:.4f} {ended:.4f} {outcome}\n".encode())
        if keys:
            os.write(acks, ("\n".join(keys) + "\n").encode())
        n += 1
    os.write(calls, f"orders {n}\n".encode())


@dataclass(frozen=True)
class Call:
    started: float
    ended: float
    outcome: str


def read_calls(folder: Path, kind: str) -> tuple[list[Call], int]:
    calls, orders = [], 0
    for line in (folder / f"{kind}.calls").read_text().splitlines():
        parts = line.split()
        if parts[0] == "orders":
            orders = int(parts[1])
        else:
            calls.append(Call(float(parts[0]), float(parts[1]), parts[2]))
    return calls, orders


def read_acks(folder: Path, kind: str) -> list[str]:
    path = folder / f"{kind}.acks"
    return path.read_text().split() if path.exists() else []


# --- the trial ------------------------------------------------------------------


def _log(message: str) -> None:
    """Progress on stderr (pytest shows it for a failed trial)."""
    print(f"[failover {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare(url: str) -> None:
    """The shop: one file, funded downloaders."""
    hooks = Hooks.open(url)
    hooks.register_file(FILE, "carol", PriceRule.fixed(PRICE_MSAT))
    for who in DOWNLOADERS:
        hooks.credit_deposit(who, FUNDING_MSAT, f"deposit:{who}")
    hooks.close()


def inject(cluster: HACluster, kind: str, lag_s: float) -> FaultReport:
    """Inject one fault on the leader and bring the member back once another leads."""
    leader = cluster.leader()
    assert leader is not None, "no leader before the fault"
    if kind == "lag-kill":
        standby = next(m for m in cluster.members if m is not leader)
        receiver = cluster.walreceiver(standby)
        stopped = [receiver] if receiver is not None else []
        cluster.stop_pids(stopped)
        time.sleep(lag_s)
        report = FaultReport(kind, time.monotonic())
        cluster.kill(leader)
        cluster.thaw(stopped)
    elif kind == "kill":
        report = FaultReport(kind, time.monotonic())
        cluster.kill(leader)
    else:
        report = FaultReport(kind, time.monotonic())
        tree = cluster.freeze(leader)
    cluster.wait_for_leader(60, other_than=leader)
    if kind == "freeze":
        cluster.thaw(tree)
    else:
        cluster.start_member(leader)
    return report


def resume_after(
    calls: Sequence[Call], at: float, until: float = float("inf")
) -> float | None:
    """Seconds from ``at`` to the end of the outage it caused: the longest pause between
    successful calls' ends that began around ``at`` and ended before ``until`` (the next
    fault), or None while charging has not resumed."""
    ends = sorted(c.ended for c in calls if c.outcome == "ok")
    best: tuple[float, float] | None = None  # (gap, end of the gap)
    for before, after in itertools.pairwise(ends):
        if after <= at or before < at - 1.0 or after >= until:
            continue
        if best is None or after - before > best[0]:
            best = (after - before, after)
    return None if best is None else best[1] - at


def run_trial(
    cluster: HACluster, folder: Path, faults: Sequence[str], *,
    warmup_s: float = 2.0, settle_s: float = 2.0, lag_s: float = 1.5,
) -> TrialResult:
    """Charge under ``faults`` on a started cluster; check every promise afterwards."""
    url = cluster.url()
    prepare(url)
    stop = FORK.Event()
    workers: list[BaseProcess] = [
        FORK.Process(target=charger, args=(url, kind, str(folder), stop), daemon=True)
        for kind in ("single", "batch")
    ]
    for w in workers:
        w.start()
    result = TrialResult(cluster.sync)
    try:
        time.sleep(warmup_s)
        for kind in faults:
            result.faults.append(inject(cluster, kind, lag_s))
            _log(f"{kind}: another member leads: {cluster.roles()}")
            cluster.wait_ready(90)
            _log(f"{kind}: ready again: {cluster.roles()}")
            _wait_resumed(folder, result.faults[-1])
            _log(f"{kind}: charging resumed after {result.faults[-1].resume_s} s")
        time.sleep(settle_s)
    finally:
        stop.set()
        for w in workers:
            w.join(CALL_S + 10)
            if w.is_alive():
                w.kill()
                result.notes.append("a worker did not stop")
    _log(f"workers stopped; checking: {cluster.roles()}")
    check(url, folder, result)
    calls = [c for kind in ("single", "batch") for c in read_calls(folder, kind)[0]]
    nexts = [f.at for f in result.faults[1:]] + [float("inf")]
    for fault, until in zip(result.faults, nexts, strict=True):
        fault.resume_s = resume_after(calls, fault.at, until)
    return result


def _wait_resumed(folder: Path, fault: FaultReport, timeout: float = 60) -> None:
    """Wait until a call that started now has succeeded (charging is back)."""
    now = time.monotonic()
    ends = now + timeout
    while time.monotonic() < ends:
        calls = [c for kind in ("single", "batch") for c in _calls_so_far(folder, kind)]
        if any(c.started >= now and c.outcome == "ok" for c in calls):
            fault.resume_s = resume_after(calls, fault.at)
            return
        time.sleep(0.2)


def _calls_so_far(folder: Path, kind: str) -> list[Call]:
    path = folder / f"{kind}.calls"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append(Call(float(parts[0]), float(parts[1]), parts[2]))
    return out


def check(url: str, folder: Path, result: TrialResult) -> None:
    """Count lost acknowledged charges, duplicates and hung calls; verify the books."""
    acked: set[str] = set()
    orders = 0
    for kind in ("single", "batch"):
        calls, n = read_calls(folder, kind)
        result.calls += len(calls)
        result.failed_calls += sum(c.outcome != "ok" for c in calls)
        result.hung_calls += sum(c.ended - c.started > CALL_S + SLACK_S for c in calls)
        acked.update(read_acks(folder, kind))
        orders += n if kind == "single" else n * BATCH
    result.acked, result.orders = len(acked), orders
    ledger = LedgerStore.open(url, migrate=False, deadline_s=120)
    with ledger.read() as conn:
        keys = [k for (k,) in conn.execute(text("SELECT key FROM entries WHERE key LIKE 'dl:%'"))]
    charged = {k.split(":", 1)[1] for k in keys}
    result.lost_acked = len(acked - charged)
    hooks = Hooks(ledger, deadline_s=120)
    downloads = hooks.file(FILE).downloads
    spent = sum(FUNDING_MSAT - hooks.prepaid_balance(who) for who in DOWNLOADERS)
    result.duplicated = (len(keys) - len(charged)) + max(
        downloads - len(charged), spent // PRICE_MSAT - len(charged), 0
    )
    if downloads != len(charged) or spent != len(charged) * PRICE_MSAT:
        result.notes.append(f"counter {downloads}, spent {spent} msat, {len(charged)} charged")
    result.journal_ok = ledger.verify().ok
    result.trial_balance = ledger.trial_balance()
    ledger.close()
