"""A Hypothesis state machine interleaves blocks, deposit payments, deposit scans, earnings
and settlement cycles on the embedded regtest chain.

After every step:

* every deposit with N confirmations at the tip of the last scan is credited, exactly
  once, to the downloader it paid, for its value (spent or not by then);
* nothing else is credited, and no deposit the books do not hold is a settlement input;
* reconcile passes every check, the wallet against the chain included.

It runs on both engines. Settlement runs with the documented defaults
(inputs need 1 confirmation) and deposits are credited at N = 3, the setup
in which a deposit could be spent before its credit.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import OPERATOR_EQUITY, default_spec, payable, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.utxo import OutPoint
from bitcache.network import Network
from bitcache.reconciliation.checks import reconcile
from bitcache.services.deposits import DepositService
from bitcache.services.settlement import SettlementService
from bitcache.settlement.model import SettlementConfig
from bitcache.settlement.payouts import PayoutPolicy
from bitcache.settlement.states import SettlementState
from bitcache.store.ledger import LedgerStore
from bitcache.wallet import HDWallet
from bitcache.wallet.addresses import address_for_script
from tests.deposits.conftest import ABANDON, COIN, Faucet, N

DOWNLOADERS = ("alice", "bob", "erin")
UPLOADERS = ("carol", "dave")
FUNDING_SAT = 100_000


@dataclass(frozen=True)
class Paid:
    """A deposit the machine sent: who it pays and how much."""

    account: str
    value_sat: int


def _payout_address(name: str) -> str:
    script = b"\x00\x14" + hashlib.sha256(name.encode()).digest()[:20]
    return address_for_script(script, Network.REGTEST)


class DepositsAndSettlement(RuleBasedStateMachine):
    def __init__(self, folder: Path, make_url: Callable[[], str]) -> None:
        super().__init__()
        self.chain = RegtestChain.open(folder / "chain")
        self.chain.mine(130)  # thirty mature coins for the faucet
        self.ledger = LedgerStore.open(make_url())
        self.wallet = HDWallet.from_mnemonic(ABANDON, Network.REGTEST)
        self.faucet = Faucet(self.chain)
        self.deposits = DepositService(self.ledger, self.wallet, self.chain, confirmations=N)
        config = SettlementConfig(confirmations=N, payout=PayoutPolicy(min_payout_sat=1_000))
        self.settlement = SettlementService(self.ledger, self.chain, self.wallet, config)
        self.scripts = {prepaid(name): self._script(prepaid(name)) for name in DOWNLOADERS}
        self.scripts[OPERATOR_EQUITY] = self._script(OPERATOR_EQUITY)
        for name in UPLOADERS:
            self.settlement.register_payout_address(name, _payout_address(name))
        self.paid: dict[OutPoint, Paid] = {}
        self.earned = itertools.count()
        # A small credited funding coin, and an uploader owed: the next cycle has a batch
        # to send and books that cover it, so any larger coin would be its first choice.
        self.pay(OPERATOR_EQUITY, FUNDING_SAT)
        self.chain.mine(N)
        self.deposits.scan()
        self.earn(UPLOADERS[0], 30_000_000)

    def _script(self, account: str) -> bytes:
        if account == OPERATOR_EQUITY:
            address = self.deposits.funding_address()
        else:
            address = self.deposits.deposit_address(account.rsplit(":", 1)[1])
        return next(a.script_pubkey for a in self.deposits.addresses() if a.address == address)

    def teardown(self) -> None:
        self.chain.close()
        self.ledger.close()

    # --- rules ------------------------------------------------------------------------

    @rule(
        who=st.sampled_from([*(prepaid(d) for d in DOWNLOADERS), OPERATOR_EQUITY]),
        amount=st.integers(2 * FUNDING_SAT, COIN // 5),
    )
    def pay(self, who: str, amount: int) -> None:
        """A downloader (or the operator, funding the wallet) pays their address."""
        txid, _ = self.faucet.pay(self.scripts[who], amount)
        self.paid[OutPoint(txid, 0)] = Paid(who, amount)

    @rule(blocks=st.integers(1, 3))
    def mine(self, blocks: int) -> None:
        self.chain.mine(blocks)

    @rule()
    def scan(self) -> None:
        if self.deposits.scan().credited:
            event("a scan credited deposits")

    @rule(uploader=st.sampled_from(UPLOADERS), msat=st.integers(2_000_000, 40_000_000))
    def earn(self, uploader: str, msat: int) -> None:
        """An uploader earns (from the operator's equity; the wallet is not touched)."""
        self.ledger.record_many(
            [EntryRequest(f"earn:{next(self.earned)}",
                          (Posting(payable(uploader), -msat), Posting(OPERATOR_EQUITY, msat)))],
            atomic=True, open_accounts=[default_spec(payable(uploader)),
                                        default_spec(OPERATOR_EQUITY)],
        )

    @rule()
    def settle(self) -> None:
        report = self.settlement.run_cycle()
        if any(state is SettlementState.FINAL for _, state in report.advanced):
            event("a settlement went final")

    # --- invariants -----------------------------------------------------------------

    @invariant()
    def deposits_at_depth_are_credited_once(self) -> None:
        state = self.deposits.scan_state()
        scanned = -1 if state is None else state.tip.height
        credited = {d.outpoint: d for d in self.deposits.deposits()}
        assert set(credited) <= set(self.paid), "a credit for an output nobody paid"
        for outpoint, paid in self.paid.items():
            status = self.chain.tx_status(outpoint.txid)
            deep = status.confirmed and scanned - (status.block_height or 0) + 1 >= N
            if deep:
                assert outpoint in credited, f"deposit {outpoint} at depth N is not credited"
            if outpoint in credited:
                record = credited[outpoint]
                assert (record.account, record.value_sat) == (paid.account, paid.value_sat)
                entry = self.ledger.entry_by_key(
                    f"{'funding' if paid.account == OPERATOR_EQUITY else 'deposit'}:{outpoint}"
                )
                assert entry is not None and entry.id == record.entry_id

    @invariant()
    def only_credited_coins_are_spent(self) -> None:
        credited = {d.outpoint for d in self.deposits.deposits()}
        states = list(SettlementState)
        for s in self.settlement.settlements(states):
            spent = {c.outpoint for c in s.inputs if not c.is_own_change}
            assert spent <= credited, f"settlement {s.id} spends uncredited {spent - credited}"

    @invariant()
    def reconcile_passes(self) -> None:
        report = reconcile(self.ledger, chain=self.chain, wallet=self.wallet, confirmations=N)
        assert report.ok, report.discrepancies


def test_deposits_and_settlement_interleaved(
    tmp_path_factory: pytest.TempPathFactory, make_db_url: Callable[[], str], engine_name: str
) -> None:
    """On SQLite and PostgreSQL (each example a fresh database; fewer on PostgreSQL, where
    each costs about twice as much: the runs differ in the engine, not in the steps)."""
    run_state_machine_as_test(
        lambda: DepositsAndSettlement(tmp_path_factory.mktemp("machine"), make_db_url),
        settings=settings(
            max_examples=12 if engine_name == "sqlite" else 6,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
