"""SIGKILL at random points: chargers (single and batched) and the settlement job.

After every kill: the journal verifies and balances, every acknowledged charge
is in the ledger once, retrying the same keys replays them (never a second
charge), balances equal the model, no settlement reservation is lost and no
payee is paid twice on chain. The CI run does a few trials; with
BITCACHE_RELIABILITY=long each test runs 200.
"""

from __future__ import annotations

import random
from pathlib import Path

from bitcache.chain.regtest import RegtestChain
from bitcache.hooks import Hooks
from bitcache.settlement.states import SettlementState
from bitcache.store.database import sqlite_url
from bitcache.store.ledger import LedgerStore
from tests.reliability import scenario
from tests.reliability.checks import (
    check_books,
    check_charges,
    check_paid_once,
    check_present,
    check_reservations,
    check_wallet,
    settlements,
)
from tests.reliability.conftest import scale
from tests.reliability.workers import (
    ChargerPlan,
    charger,
    finish,
    kill_after,
    read_acks,
    settlement_once,
    start,
)
from tests.settlement import support

DOWNLOADERS = {f"d{i}": 10**12 for i in range(4)}
KILL_MODES = ("delay", "in-transaction", "after-commit")
JOB_POINTS = ("planned", "signed", "sent", "broadcast", "bumped", "bump-sent",
              "confirmed", "unconfirmed", "final", "void")


def _plan(rng: random.Random, tag: str) -> tuple[ChargerPlan, str]:
    mode = rng.choice(KILL_MODES)
    batched = rng.random() < 0.6
    orders = scenario.orders(rng, tag, rng.randint(20, 200), list(DOWNLOADERS))
    calls = len(orders) if not batched else max(1, len(orders) // 30)
    plan = ChargerPlan(
        orders, batched, None if mode == "delay" else mode, rng.randrange(calls),
        rng.randrange(10**9),
    )
    return plan, mode


def _run_charger(rng: random.Random, plan: ChargerPlan, mode: str, url: str, acks: Path) -> None:
    proc = start(charger, url, plan, str(acks))
    if mode == "delay":
        kill_after(proc, rng.uniform(0.0, 0.8))
    else:
        assert finish(proc) in (0, -9)


def _after_crash(hooks: Hooks, model: scenario.Model, plan: ChargerPlan, acks: Path) -> int:
    """Check the acknowledged charges, then retry every order of the plan; acked count."""
    charged, refused = read_acks(acks)
    assert not refused, f"refusals with ample funds: {refused[:3]}"
    check_books(hooks.ledger)
    check_present(hooks.ledger, charged)
    scenario.retry(hooks, plan.orders, charged)
    for order in plan.orders:
        model.add(order)
    return len(charged)


def test_chargers_killed_at_random_points_lose_and_double_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "db.sqlite")
    hooks = Hooks.open(url)
    scenario.register(hooks)
    scenario.fund(hooks, DOWNLOADERS)
    hooks.close()
    model = scenario.Model(dict(DOWNLOADERS))
    rng = random.Random(5)
    kills = 0
    for trial in range(scale(12, 200)):
        plan, mode = _plan(rng, f"t{trial}")
        acks = tmp_path / f"acks{trial}"
        _run_charger(rng, plan, mode, url, acks)
        hooks = Hooks.open(url)
        try:
            _after_crash(hooks, model, plan, acks)
            downloads = {f: hooks.file(f).downloads for f in scenario.FILES}
            check_charges(hooks.ledger, scenario.CATALOG, model.funded,
                          model.charges.values(), downloads)
            kills += len(read_acks(acks)[0]) < len(plan.orders)
        finally:
            hooks.close()
    assert kills >= scale(12, 200) // 2, "too few trials were cut short by a kill"


def _setup_shop(tmp_path: Path) -> tuple[str, Path, dict[str, bytes]]:
    url, folder = sqlite_url(tmp_path / "db.sqlite"), tmp_path / "regtest"
    hooks = Hooks.open(url)
    scenario.register(hooks)
    scenario.fund(hooks, DOWNLOADERS)
    with RegtestChain.open(folder) as chain:
        support.fund_wallet(chain, hooks.ledger)
        scripts = support.register(support.service(hooks.ledger, chain), list(scenario.UPLOADERS))
    hooks.close()
    return url, folder, scripts


def _job(rng: random.Random, url: str, folder: Path) -> None:
    """One settlement cycle in a child, killed at a random hook point or after a random delay."""
    cfg = support.config(confirmations=2)
    if rng.random() < 0.7:
        proc = start(settlement_once, url, str(folder), rng.choice(JOB_POINTS),
                     rng.randrange(2), cfg)
        assert finish(proc) in (0, -9)
    else:
        proc = start(settlement_once, url, str(folder), None, 0, cfg)
        kill_after(proc, rng.uniform(0.0, 1.5))


def _mine(rng: random.Random, folder: Path) -> None:
    with RegtestChain.open(folder) as chain:
        roll = rng.random()
        if roll < 0.6:
            chain.mine(1)
        elif roll < 0.8:
            chain.mine_transaction_directly()  # an empty block: the payout waits, then is bumped


def _drain(url: str, folder: Path) -> None:
    """Restart the job in this process and run until nothing is in flight."""
    ledger = LedgerStore.open(url)
    with RegtestChain.open(folder) as chain:
        svc = support.service(ledger, chain, support.config(confirmations=2))
        for _ in range(12):
            svc.run_cycle()
            if not svc.settlements():
                break
            chain.mine(1)
        assert not svc.settlements(), "settlements still in flight after draining"
        check_wallet(ledger, chain)
    ledger.close()


def _check_all(url: str, folder: Path, scripts: dict[str, bytes], model: scenario.Model) -> None:
    ledger = LedgerStore.open(url)
    try:
        check_reservations(ledger)
        with RegtestChain.open(folder) as chain:
            check_books(ledger)
            check_paid_once(ledger, chain, scripts)
        check_charges(ledger, scenario.CATALOG, model.funded, model.charges.values())
    finally:
        ledger.close()


def test_chargers_and_the_settlement_job_killed_together(tmp_path: Path) -> None:
    url, folder, scripts = _setup_shop(tmp_path)
    model = scenario.Model(dict(DOWNLOADERS))
    rng = random.Random(7)
    for trial in range(scale(8, 200)):
        plan, mode = _plan(rng, f"t{trial}")
        acks = tmp_path / f"acks{trial}"
        proc = start(charger, url, plan, str(acks))
        _job(rng, url, folder)
        if mode == "delay":
            kill_after(proc, rng.uniform(0.0, 0.5))
        else:
            assert finish(proc) in (0, -9)
        _mine(rng, folder)
        hooks = Hooks.open(url)
        try:
            _after_crash(hooks, model, plan, acks)
        finally:
            hooks.close()
        _check_all(url, folder, scripts, model)
    _drain(url, folder)
    _check_all(url, folder, scripts, model)
    ledger = LedgerStore.open(url)
    try:
        finals = [s for s in settlements(ledger) if s.state is SettlementState.FINAL]
        assert finals, "no settlement reached final"
    finally:
        ledger.close()
