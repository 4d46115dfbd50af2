"""A small node on the embedded regtest chain for deep-reorg tests: deposits credited by
the scanner, operator funding through the funding address, a settlement service whose
coins are the credited ones, and reconcile over all of it."""

from __future__ import annotations

from dataclasses import dataclass

from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import OPERATOR_EQUITY, prepaid
from bitcache.core.utxo import OutPoint
from bitcache.reconciliation.checks import reconcile
from bitcache.reconciliation.report import ReconcileReport
from bitcache.services.deposits import DepositService
from bitcache.services.settlement import SettlementService
from bitcache.store.ledger import LedgerStore
from tests.deposits.conftest import Faucet
from tests.settlement.support import config, wallet

N = 3  # deposits and payouts


@dataclass
class Node:
    """A ledger, a regtest chain with a faucet, the deposit scanner and the settlement job."""

    ledger: LedgerStore
    chain: RegtestChain
    faucet: Faucet
    deposits: DepositService
    settlement: SettlementService

    @classmethod
    def open(cls, ledger: LedgerStore, chain: RegtestChain, **cfg: object) -> Node:
        chain.mine(110)  # ten mature anyone-can-spend coinbases for the faucet
        deposits = DepositService(ledger, wallet(), chain, confirmations=N)
        settings = config(confirmations=N, min_input_confirmations=N, **cfg)
        svc = SettlementService(
            ledger,
            chain,
            wallet(),
            settings,
        )
        return cls(ledger, chain, Faucet(chain), deposits, svc)

    def script(self, account: str) -> bytes:
        """The deposit script of ``account`` (a prepaid account or ``equity:operator``)."""
        if account == OPERATOR_EQUITY:
            self.deposits.funding_address()
        else:
            self.deposits.deposit_address(account.removeprefix("liability:prepaid:"))
        return next(a.script_pubkey for a in self.deposits.addresses() if a.account == account)

    def deposit(self, downloader: str, sat: int) -> tuple[str, tuple[OutPoint, int]]:
        """A downloader's deposit, broadcast (not mined): its txid and the faucet coin spent."""
        return self.faucet.pay(self.script(prepaid(downloader)), sat)

    def fund(self, sat: int) -> str:
        """Operator funding, mined N deep and credited by a scan."""
        txid, _ = self.faucet.pay(self.script(OPERATOR_EQUITY), sat)
        self.chain.mine(N)
        self.deposits.scan()
        return txid

    def reconcile(self) -> ReconcileReport:
        return reconcile(self.ledger, chain=self.chain, wallet=wallet(), confirmations=N)
