"""Reconcile fixtures: a small finished demo day (deposits, downloads, final settlements),
built once per session and copied for each test, reopened as ledger, chain and wallet."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bitcache.chain.regtest import RegtestChain
from bitcache.demo import HOT_WALLET_SEED, DemoConfig, DemoResult, run_demo
from bitcache.network import Network
from bitcache.reconciliation.checks import reconcile
from bitcache.reconciliation.report import ReconcileReport
from bitcache.store.database import sqlite_url
from bitcache.store.ledger import LedgerStore
from bitcache.wallet.keys import HDWallet

N = 3


@dataclass
class World:
    """A reopened demo day: its ledger, chain and hot wallet."""

    folder: Path
    ledger: LedgerStore
    chain: RegtestChain
    wallet: HDWallet
    result: DemoResult

    def reconcile(self) -> ReconcileReport:
        return reconcile(self.ledger, chain=self.chain, wallet=self.wallet, confirmations=N)


@pytest.fixture(scope="session")
def demo_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult]:
    folder = tmp_path_factory.mktemp("reconcile") / "day"
    cfg = DemoConfig(folder=folder, downloads=4_000, downloaders=12, uploaders=4, files=20,
                     batch=1_000, confirmations=N)
    return folder, run_demo(cfg)


@pytest.fixture
def world(demo_day: tuple[Path, DemoResult], tmp_path: Path) -> Iterator[World]:
    source, result = demo_day
    folder = tmp_path / "day"
    shutil.copytree(source, folder)
    ledger = LedgerStore.open(sqlite_url(folder / "ledger.sqlite"))
    chain = RegtestChain.open(folder / "chain")
    try:
        yield World(folder, ledger, chain, HDWallet.from_seed(HOT_WALLET_SEED, Network.REGTEST),
                    result)
    finally:
        chain.close()
        ledger.close()
