"""Timers around each step of a group-commit flush, for ``concurrent.py --breakdown``.

Installed by wrapping the functions a flush calls (nothing in bitcache is
changed for it): the planning before the lock; the outermost
``LedgerStore.write`` (the wait for the writer lock, how long it is held,
the commit at its end); and inside it the reads, admission, chaining,
inserts and download counters. Totals are in seconds; ``writes`` counts the
write transactions (flushes, and calls run alone).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bitcache.services import charging, groupcommit
from bitcache.store import files, writer
from bitcache.store.ledger import LedgerStore

#: (owner, attribute, label) of each wrapped step.
STEPS: tuple[tuple[Any, str, str], ...] = (
    (groupcommit.GroupCommit, "_download_op", "plan (each caller, queueing)"),
    (groupcommit._Planner, "plan", "plan (before the lock)"),
    (files, "charge_state", "read (files, keys, balances)"),
    (charging._Batch, "admit_all", "admit (caps, funds)"),
    (writer.BatchWriter, "run", "chain (rules, balances, hashes)"),
    (writer.BatchWriter, "flush", "insert"),
    (files, "add_downloads", "download counters"),
    (charging._Batch, "_answers", "receipts"),
    (LedgerStore, "sync", "sync (after the lock)"),
    (groupcommit.GroupCommit, "_settle", "answer callers"),
)
ORDER = ("plan (each caller, queueing)", "plan (before the lock)", "lock wait", "lock held",
         "read (files, keys, balances)",
         "admit (caps, funds)", "chain (rules, balances, hashes)", "insert",
         "download counters", "receipts", "commit", "sync (after the lock)", "answer callers")


class LockProbe:
    """Accumulated seconds per step (only one flush runs at a time in a process)."""

    def __init__(self) -> None:
        self.spent: Counter[str] = Counter()
        self.writes = 0
        self._saved: list[tuple[Any, str, Any]] = []
        self._local = threading.local()

    @classmethod
    def install(cls) -> LockProbe:
        probe = cls()
        for owner, name, label in STEPS:
            probe._wrap(owner, name, label)
        original = LedgerStore.write
        probe._saved.append((LedgerStore, "write", original))
        LedgerStore.write = probe._timed_write(original)  # type: ignore[method-assign]
        return probe

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def _wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        self._saved.append((owner, name, original))
        spent, clock = self.spent, time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            begin = clock()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += clock() - begin

        setattr(owner, name, timed)

    def _timed_write(self, original: Callable[..., Any]) -> Callable[..., Any]:
        probe, clock = self, time.perf_counter

        @contextmanager
        def write(store: LedgerStore, **options: Any) -> Iterator[Any]:
            if getattr(probe._local, "depth", 0):  # a savepoint inside a flush
                with original(store, **options) as conn:
                    yield conn
                return
            probe._local.depth = 1
            try:
                asked = clock()
                with original(store, **options) as conn:
                    locked = clock()
                    yield conn
                    body = clock()
                done = clock()
                probe.spent["lock wait"] += locked - asked
                probe.spent["lock held"] += done - locked
                probe.spent["commit"] += done - body
                probe.writes += 1
            finally:
                probe._local.depth = 0

        return write

    def totals(self) -> dict[str, Any]:
        return {"writes": self.writes, "spent": dict(self.spent)}

    @staticmethod
    def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
        spent: Counter[str] = Counter()
        for part in parts:
            spent.update(part["spent"])
        return {"writes": sum(p["writes"] for p in parts), "spent": dict(spent)}

    @staticmethod
    def print_table(totals: dict[str, Any]) -> None:
        """µs per flush and per call of each step."""
        writes, calls = max(totals["writes"], 1), max(totals["calls"], 1)
        print(f"  {'step':34} {'us/flush':>10} {'us/call':>9}")
        for label in ORDER:
            seconds = totals["spent"].get(label, 0.0)
            print(f"  {label:34} {seconds / writes * 1e6:10.1f} {seconds / calls * 1e6:9.1f}")
