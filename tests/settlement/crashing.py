"""Run one settlement cycle in a child process that SIGKILLs itself at a named point.

The child opens the database and the regtest chain itself (the parent must
have closed its chain), runs ``run_cycle()`` with a hook that kills the
process right after the given commit or side effect the first time it is
reached (a marker file records that it happened), and exits 0 otherwise.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

from bitcache.chain.regtest import RegtestChain
from bitcache.store.ledger import LedgerStore
from tests.settlement import support


def _child(db_url: str, chain_folder: str, point: str, marker: str) -> None:
    def hook(reached: str) -> None:
        if reached == point and not os.path.exists(marker):
            Path(marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)

    ledger = LedgerStore.open(db_url)
    chain = RegtestChain.open(chain_folder)
    try:
        support.service(ledger, chain, support.config(confirmations=2), hook=hook).run_cycle()
    finally:
        chain.close()
        ledger.close()


def cycle_in_child(db_url: str, chain_folder: Path, point: str, marker: Path) -> int:
    """Run one cycle in a forked child; return its exit code (-9 when it killed itself)."""
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_child, args=(db_url, str(chain_folder), point, str(marker)))
    proc.start()
    proc.join(timeout=60)
    if proc.is_alive():
        proc.kill()
        raise AssertionError("the settlement child did not finish within 60 s")
    assert proc.exitcode is not None
    return proc.exitcode
