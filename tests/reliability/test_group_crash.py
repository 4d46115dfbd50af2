"""SIGKILL a process while its threads charge through the group commit: nothing acknowledged lost.

A child process runs eight threads, each charging its share of the orders
with single ``Hooks.download`` calls (which the group commit gathers into
shared flushes) and appending each acknowledged key to an ack file after
the call returned. It is killed at a random point: inside a flush's
transaction after its rows were written (``in-flush``), after a flush
committed but before its callers were answered (``after-commit``), or after
a random delay. Then, on both engines: the journal verifies and balances,
every acknowledged charge is in the ledger once, retrying every order
replays the acknowledged ones and charges the rest exactly once, and the
balances and download counters equal the model.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bitcache.errors import BitcacheError
from bitcache.hooks import Hooks
from bitcache.services.groupcommit import GroupCommit
from bitcache.store import files as files_rows
from tests.reliability import scenario
from tests.reliability.checks import check_books, check_charges, check_present
from tests.reliability.conftest import scale
from tests.reliability.workers import Order, die, finish, kill_after, read_acks, start

DOWNLOADERS = {f"d{i}": 10**12 for i in range(4)}
THREADS = 8
KILL_POINTS = ("in-flush", "after-commit", "delay")


def _arm(point: str, at: int) -> None:
    """Kill this process the ``at``-th time it reaches ``point`` (0-based)."""
    seen = [0]

    def reached() -> None:
        if seen[0] == at:
            die()
        seen[0] += 1

    if point == "in-flush":
        original = files_rows.add_downloads

        def add_downloads(conn: Any, counts: Any) -> None:
            original(conn, counts)  # the flush's rows are written, not committed
            reached()

        files_rows.add_downloads = add_downloads
    elif point == "after-commit":
        settle = GroupCommit._settle

        def settled(self: GroupCommit, batch: Any, answers: Any) -> None:
            reached()  # committed; no caller has its answer yet
            settle(self, batch, answers)

        GroupCommit._settle = settled  # type: ignore[method-assign]


def group_charger(url: str, orders: tuple[Order, ...], ack_path: str, point: str,
                  at: int) -> None:
    """Charge ``orders`` from THREADS threads through one Hooks; ack each answer."""
    hooks = Hooks.open(url)
    _arm(point, at)
    fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def caller(mine: tuple[Order, ...]) -> None:
        for o in mine:
            try:
                hooks.download(o.file, o.downloader, o.key)
                line = "+" + o.key
            except BitcacheError:
                line = "-" + o.key
            os.write(fd, (line + "\n").encode())

    threads = [threading.Thread(target=caller, args=(orders[t::THREADS],))
               for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os.close(fd)
    hooks.close()


def _trial(
    rng: random.Random, url: str, tag: str, acks: Path, point: str
) -> tuple[Order, ...]:
    orders = scenario.orders(rng, tag, rng.randint(40, 240), list(DOWNLOADERS))
    # a flush holds at most THREADS calls, so a run makes at least len(orders) // THREADS
    # flushes: killing at one of those is sure to cut the run short, however fast it is
    proc = start(group_charger, url, orders, str(acks), point,
                 rng.randrange(len(orders) // THREADS))
    if point == "delay":
        kill_after(proc, rng.uniform(0.01, 0.3))  # a run takes a few tenths of a second
    else:
        assert finish(proc) in (0, -9)
    return orders


def test_killed_during_group_flushes_loses_and_doubles_nothing(
    make_db_url: Callable[[], str], tmp_path: Path
) -> None:
    url = make_db_url()
    hooks = Hooks.open(url)
    scenario.register(hooks)
    scenario.fund(hooks, DOWNLOADERS)
    hooks.close()
    model = scenario.Model(dict(DOWNLOADERS))
    rng = random.Random(12)
    cut_short = 0
    trials = scale(6, 100)
    for trial in range(trials):
        acks = tmp_path / f"acks{trial}"
        # each kill point in turn: two thirds of the trials are sure to be cut short
        orders = _trial(rng, url, f"t{trial}", acks, KILL_POINTS[trial % len(KILL_POINTS)])
        charged, refused = read_acks(acks)
        assert not refused, f"refusals with ample funds: {refused[:3]}"
        cut_short += len(charged) < len(orders)
        hooks = Hooks.open(url)
        try:
            check_books(hooks.ledger)
            check_present(hooks.ledger, charged)
            scenario.retry(hooks, orders, charged)  # acked ones replay; the rest charge once
            for order in orders:
                model.add(order)
            downloads = {f: hooks.file(f).downloads for f in scenario.FILES}
            check_charges(hooks.ledger, scenario.CATALOG, model.funded, model.charges.values(),
                          downloads)
        finally:
            hooks.close()
    assert cut_short >= trials // 2, "too few trials were cut short by a kill"
