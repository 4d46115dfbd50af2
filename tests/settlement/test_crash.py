"""Kill the job (SIGKILL, in a child process) at every state transition: each payee is paid once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitcache.chain.regtest import RegtestChain
from bitcache.settlement.states import SettlementState
from bitcache.store.database import sqlite_url
from bitcache.store.ledger import LedgerStore
from tests.settlement.crashing import cycle_in_child
from tests.settlement.support import (
    check_books,
    config,
    earn,
    fund_wallet,
    payout_entries,
    received,
    register,
    service,
)
from tests.settlement.test_cycle import expected_payout

EARNINGS = {"alice": 10_000_000, "bob": 20_000_000}


def setup(tmp_path: Path) -> tuple[str, Path, dict[str, bytes]]:
    url, folder = sqlite_url(tmp_path / "db.sqlite"), tmp_path / "regtest"
    ledger = LedgerStore.open(url)
    with RegtestChain.open(folder) as chain:
        fund_wallet(chain, ledger)
        scripts = register(service(ledger, chain), list(EARNINGS))
    earn(ledger, EARNINGS)
    ledger.close()
    return url, folder, scripts


def crash_once(url: str, folder: Path, point: str, marker: Path, *, empty_blocks: bool) -> None:
    """Run cycles in a child until it has killed itself at ``point``, mining between cycles."""
    for _ in range(6):
        code = cycle_in_child(url, folder, point, marker)
        assert code in (0, -9), f"the child failed with exit code {code}"
        if marker.exists():
            assert code == -9
            return
        with RegtestChain.open(folder) as chain:
            chain.mine_transaction_directly() if empty_blocks else chain.mine(1)
    raise AssertionError(f"the job never reached {point}")


def finish_and_check(url: str, folder: Path, scripts: dict[str, bytes]) -> None:
    """Restart in this process, run to final, and check every payee was paid exactly once."""
    ledger = LedgerStore.open(url)
    with RegtestChain.open(folder) as chain:
        svc = service(ledger, chain, config(confirmations=2))
        for _ in range(6):
            svc.run_cycle()
            if not svc.settlements():
                break
            chain.mine(1)
        done = svc.settlements([SettlementState.FINAL, SettlementState.VOID])
        assert [s.state for s in done] == [SettlementState.FINAL]
        for name, balance in EARNINGS.items():
            assert received(chain, scripts[name]) == expected_payout(balance)
            assert len(payout_entries(ledger, name)) == 1
        check_books(ledger, chain)
    ledger.close()


@pytest.mark.parametrize("point", ["planned", "signed", "sent", "broadcast", "confirmed", "final"])
def test_a_crash_at_any_transition_pays_each_payee_once(tmp_path: Path, point: str) -> None:
    url, folder, scripts = setup(tmp_path)
    crash_once(url, folder, point, tmp_path / "crashed", empty_blocks=False)
    finish_and_check(url, folder, scripts)


@pytest.mark.parametrize("point", ["bumped", "bump-sent"])
def test_a_crash_during_a_fee_bump_pays_each_payee_once(tmp_path: Path, point: str) -> None:
    url, folder, scripts = setup(tmp_path)
    crash_once(url, folder, point, tmp_path / "crashed", empty_blocks=True)
    ledger = LedgerStore.open(url)
    with RegtestChain.open(folder) as chain:
        (s,) = service(ledger, chain).settlements()
        assert len(s.versions) == 2  # the replacement was committed before the crash
    ledger.close()
    finish_and_check(url, folder, scripts)


def test_a_crash_right_after_a_void_pays_the_payee_once_later(tmp_path: Path) -> None:
    """The void (proven conflict) is committed, the job dies before re-planning; after a
    restart the returned credit is paid once in a new batch."""
    from tests.settlement.test_chain_events import steal_input

    url, folder, scripts = setup(tmp_path)
    ledger = LedgerStore.open(url)
    with RegtestChain.open(folder) as chain:
        svc = service(ledger, chain, config(confirmations=2))
        (sid,) = svc.run_cycle().created
        steal_input(svc, chain, sid, ledger)
        chain.mine(2)  # the outside spend is now N deep: a proven conflict
    ledger.close()
    code = cycle_in_child(url, folder, "void", tmp_path / "crashed")
    assert code == -9 and (tmp_path / "crashed").exists()
    ledger = LedgerStore.open(url)
    with RegtestChain.open(folder) as chain:
        svc = service(ledger, chain, config(confirmations=2))
        (voided,) = svc.settlements([SettlementState.VOID])
        assert voided.id == sid
        for _ in range(8):
            svc.run_cycle()
            if not svc.settlements():
                break
            chain.mine(1)
        finals = svc.settlements([SettlementState.FINAL])
        assert len(finals) == 1
        for name, balance in EARNINGS.items():
            assert received(chain, scripts[name]) == expected_payout(balance)
            assert len(payout_entries(ledger, name)) == 1
        check_books(ledger, chain)
    ledger.close()
