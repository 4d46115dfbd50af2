"""Child processes of the reliability tests: download chargers and the settlement job.

A charger charges its keys through ``Hooks.download`` or ``download_batch``
and appends each acknowledged key to its ack file *after* the call returned
(``os.write`` on an O_APPEND descriptor: the line is in the kernel's page
cache before the next call, so a SIGKILL cannot lose it). The parent counts a
charge as acknowledged only when its line is in the file. A charger can also
kill itself at a named point:

* ``in-transaction``: inside the charge's write transaction, after the
  ledger entries were written and before the commit;
* ``after-commit``: after the call returned, before the ack was written.

Children are forked: the parent must hold no open database connection or
regtest chain when it starts them.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from bitcache.chain.regtest import RegtestChain
from bitcache.errors import BitcacheError
from bitcache.hooks import DownloadRequest, Hooks
from bitcache.store import files as files_rows
from bitcache.store.ledger import LedgerStore
from tests.settlement import support

SPLITS_KW: dict[str, Any] = {}
FORK = multiprocessing.get_context("fork")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class Order:
    """One download to charge: event id, downloader, file hash."""

    key: str
    downloader: str
    file: str


@dataclass(frozen=True, slots=True)
class ChargerPlan:
    """What a charger does: its orders, single or batched calls, where it may kill itself."""

    orders: tuple[Order, ...]
    batched: bool
    kill_point: str | None = None  # "in-transaction" | "after-commit" | None
    kill_at_call: int = 0
    seed: int = 0
    throttle_s: float = 0.0


def _arm_in_transaction(calls: int) -> None:
    """Kill the process inside the write transaction of call number ``calls`` (0-based)."""
    original = files_rows.add_downloads
    seen = [0]

    def add_downloads(conn: Any, counts: Any) -> None:
        original(conn, counts)
        if seen[0] == calls:
            die()
        seen[0] += 1

    files_rows.add_downloads = add_downloads


def _chunks(plan: ChargerPlan) -> list[Sequence[Order]]:
    rng = random.Random(plan.seed)
    if not plan.batched:
        return [[o] for o in plan.orders]
    out: list[Sequence[Order]] = []
    i = 0
    while i < len(plan.orders):
        n = rng.randint(1, 60)
        out.append(plan.orders[i : i + n])
        i += n
    return out


def _charge(hooks: Hooks, chunk: Sequence[Order], batched: bool) -> list[tuple[str, bool]]:
    """(key, charged) per order of the chunk; a refusal is (key, False)."""
    if not batched:
        (o,) = chunk
        try:
            hooks.download(o.file, o.downloader, o.key)
        except BitcacheError:
            return [(o.key, False)]
        return [(o.key, True)]
    answers = hooks.download_batch([DownloadRequest(o.file, o.downloader, o.key) for o in chunk])
    return [(o.key, not isinstance(a, BitcacheError)) for o, a in zip(chunk, answers, strict=True)]


def charger(url: str, plan: ChargerPlan, ack_path: str) -> None:
    """Charge ``plan``'s orders; write ``+key`` (charged) or ``-key`` (refused) lines."""
    hooks = Hooks.open(url, **SPLITS_KW)
    if plan.kill_point == "in-transaction":
        _arm_in_transaction(plan.kill_at_call)
    fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    for n, chunk in enumerate(_chunks(plan)):
        results = _charge(hooks, chunk, plan.batched)
        if plan.kill_point == "after-commit" and n == plan.kill_at_call:
            die()
        os.write(fd, "".join(("+" if ok else "-") + k + "\n" for k, ok in results).encode())
        if plan.throttle_s:
            time.sleep(plan.throttle_s)
    os.close(fd)
    hooks.close()


def read_acks(path: Path) -> tuple[list[str], list[str]]:
    """(charged keys, refused keys) a charger acknowledged; a torn last line is ignored."""
    if not path.exists():
        return [], []
    lines = path.read_text().split("\n")[:-1]
    return [x[1:] for x in lines if x[:1] == "+"], [x[1:] for x in lines if x[:1] == "-"]


def start(target: Callable[..., None], *args: object) -> BaseProcess:
    proc = FORK.Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def kill_after(proc: BaseProcess, delay: float) -> None:
    """SIGKILL ``proc`` after ``delay`` seconds unless it ended first; then reap it."""
    proc.join(delay)
    if proc.is_alive() and proc.pid is not None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    assert not proc.is_alive(), "a child survived SIGKILL"


def finish(proc: BaseProcess, timeout: float = 120) -> int:
    """Wait for ``proc``; its exit code (-9 when killed)."""
    proc.join(timeout)
    if proc.is_alive() and proc.pid is not None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        raise AssertionError(f"child {proc.pid} did not finish within {timeout} s")
    assert proc.exitcode is not None
    return proc.exitcode


# --- the settlement job ---------------------------------------------------------------


def settlement_once(url: str, folder: str, point: str | None, skip: int, cfg: Any) -> None:
    """Run one cycle; SIGKILL at the ``skip``-th time the job reaches ``point`` (0-based)."""
    faulthandler.dump_traceback_later(60, exit=True)  # a stuck job shows where, then exits 1
    seen = [0]

    def hook(reached: str) -> None:
        if reached == point:
            if seen[0] == skip:
                die()
            seen[0] += 1

    ledger = LedgerStore.open(url)
    chain = RegtestChain.open(folder)
    support.service(ledger, chain, cfg, hook=hook).run_cycle()
    ledger.close()
    leave()


def leave() -> None:
    """Exit at once, without closing the regtest chain.

    libbitcoinkernel's shutdown can deadlock in a process forked from one
    that had the kernel open (a lock held by a thread that does not exist
    in the child). Blocks and the mempool file are already on disk (the
    job never mines), so exiting is no different from the kills it must
    survive anyway.
    """
    os._exit(0)


def settlement_loop(url: str, folder: str, stop_file: str, cfg: Any, log: str) -> None:
    """Cycle and mine a block until ``stop_file`` exists (the job is the chain's only user)."""
    ledger = LedgerStore.open(url)
    chain = RegtestChain.open(folder)
    cycles = 0
    try:
        svc = support.service(ledger, chain, cfg)
        while not os.path.exists(stop_file):
            svc.run_cycle()
            chain.mine(1)
            cycles += 1
    finally:
        Path(log).write_text(str(cycles))
        ledger.close()
    leave()
