"""8 processes charge shared downloaders and uploaders while the settlement job pays them out.

On SQLite and on PostgreSQL: no prepaid account is ever overdrawn, every
acknowledged charge is in the ledger once and nothing else is, every refusal
was right (the downloader could not afford that file even at the end), the
download counters match, and balances (payouts added back) equal the model.
The job runs in this process between the chargers' calls and mines a block
after each cycle; the payouts it makes are checked against the chain.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path

from sqlalchemy import text

from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import prepaid
from bitcache.hooks import Hooks
from bitcache.services.settlement import SettlementService
from bitcache.settlement.states import SettlementState
from bitcache.store.ledger import LedgerStore
from tests.reliability import scenario
from tests.reliability.checks import (
    check_books,
    check_charges,
    check_paid_once,
    check_reservations,
    check_wallet,
    settlements,
)
from tests.reliability.conftest import scale
from tests.reliability.workers import ChargerPlan, Order, charger, finish, read_acks, start
from tests.settlement import support

PROCESSES = 8
DOWNLOADERS = {f"d{i}": scale(15, 150) * 1_000_000 + 100_000 * i for i in range(6)}


def _plans(rng: random.Random) -> list[ChargerPlan]:
    n = scale(120, 1_200)
    return [
        ChargerPlan(scenario.orders(rng, f"p{w}", n, list(DOWNLOADERS)), batched=w % 2 == 0,
                    seed=w, throttle_s=0.002)
        for w in range(PROCESSES)
    ]


def _settle_while(svc: SettlementService, chain: RegtestChain,
                  procs: Sequence[BaseProcess]) -> int:
    """Cycle and mine while any charger runs, then until nothing is in flight; cycles run."""
    cycles, deadline = 0, time.monotonic() + 600
    while any(p.is_alive() for p in procs) or svc.settlements():
        svc.run_cycle()
        chain.mine(1)
        cycles += 1
        time.sleep(0.02)  # a block every ~50 ms or so, not as fast as the loop can spin
        assert time.monotonic() < deadline, "settlement did not drain within 10 minutes"
    svc.run_cycle()
    return cycles


def _check_refusals(ledger: LedgerStore, refused: list[Order]) -> None:
    """A refused download wrote nothing, and its downloader cannot afford that file now."""
    for order in refused:
        assert ledger.entry_by_key("dl:" + order.key) is None, f"refused {order.key} was charged"
        available = ledger.balance(prepaid(order.downloader)).available(False)
        assert available < scenario.CATALOG.prices[order.file], (
            f"{order.key} was refused but {order.downloader} still has {available} msat"
        )


def test_eight_processes_and_the_settlement_job(db_url: str, tmp_path: Path) -> None:
    hooks = Hooks.open(db_url)
    scenario.register(hooks)
    scenario.fund(hooks, DOWNLOADERS)
    chain = RegtestChain.open(tmp_path / "regtest")
    try:
        support.fund_wallet(chain, hooks.ledger)
        svc = support.service(hooks.ledger, chain, support.config(confirmations=2))
        scripts = support.register(svc, list(scenario.UPLOADERS))
        hooks.ledger.engine.dispose()  # no connection crosses the fork
        plans = _plans(random.Random(11))
        procs = [start(charger, db_url, p, str(tmp_path / f"acks{i}"))
                 for i, p in enumerate(plans)]
        cycles = _settle_while(svc, chain, procs)
        assert [finish(p) for p in procs] == [0] * PROCESSES
        model = scenario.Model(dict(DOWNLOADERS))
        refused: list[Order] = []
        for i, plan in enumerate(plans):
            charged, no = read_acks(tmp_path / f"acks{i}")
            by_key = {o.key: o for o in plan.orders}
            assert sorted(charged + no) == sorted(by_key), "a call was neither acked nor refused"
            for key in charged:
                model.add(by_key[key])
            refused += [by_key[k] for k in no]
        ledger = hooks.ledger
        check_books(ledger)
        check_reservations(ledger)
        downloads = {f: hooks.file(f).downloads for f in scenario.FILES}
        check_charges(ledger, scenario.CATALOG, model.funded, model.charges.values(), downloads)
        with ledger.read() as conn:
            written = conn.execute(text("SELECT count(*) FROM entries WHERE key LIKE 'dl:%'"))
            assert written.scalar_one() == len(model.charges), "charges nobody acknowledged"
        _check_refusals(ledger, refused)
        assert refused, "the downloaders never ran out: the overdraft path was not exercised"
        check_paid_once(ledger, chain, scripts)
        finals = [s for s in settlements(ledger) if s.state is SettlementState.FINAL]
        assert finals and cycles > 1, "the job paid nobody while the chargers ran"
        check_wallet(ledger, chain)
    finally:
        chain.close()
        hooks.close()
