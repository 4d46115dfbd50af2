"""Deposit addresses: one per downloader, deterministic, assigned once, within the gap limit."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from bitcache.chain.regtest import RegtestChain
from bitcache.errors import (
    ChainMismatch,
    GapLimitExceeded,
    InvalidAccountName,
    InvalidInput,
    InvalidPolicy,
    StoreError,
    WalletMismatch,
)
from bitcache.network import Network
from bitcache.services.deposits import OPERATOR_INDEX, DepositService
from bitcache.store import deposits as deposits_rows
from bitcache.store.deposits import DepositAddress
from bitcache.store.ledger import LedgerStore
from bitcache.wallet import HDWallet
from tests.deposits.conftest import ABANDON


def test_addresses_are_deterministic_and_assigned_once(
    service: DepositService, make_service: Callable[..., DepositService], wallet: HDWallet
) -> None:
    alice = service.deposit_address("alice")
    bob = service.deposit_address("bob")
    assert alice == wallet.receive_key(1).address and alice.startswith("bcrt1q")
    assert bob == wallet.receive_key(2).address
    assert service.deposit_address("alice") == alice
    assert make_service().deposit_address("alice") == alice  # a new process, same books
    assert service.funding_address() == wallet.receive_key(OPERATOR_INDEX).address
    assert [(a.index, a.account) for a in service.addresses()] == [
        (0, "equity:operator"),
        (1, "liability:prepaid:alice"),
        (2, "liability:prepaid:bob"),
    ]


def test_gap_limit_refuses_too_many_unfunded_addresses(
    make_service: Callable[..., DepositService],
) -> None:
    service = make_service(gap_limit=3)
    assert service.deposit_address("d1") != service.deposit_address("d2")  # indices 1, 2
    with pytest.raises(GapLimitExceeded, match="gap limit 3"):
        service.deposit_address("d3")
    assert [a.index for a in service.addresses()] == [0, 1, 2]
    assert service.deposit_address("d1")  # already assigned: still answered


SQLITE_ONLY = pytest.mark.parametrize("engine_name", ["sqlite"])  # validation, before any SQL


@SQLITE_ONLY
@pytest.mark.parametrize("name", ["", "a b", "x" * 200, "tab\t", "ünï", 5, None, b"alice"])
def test_bad_downloader_names_are_refused(service: DepositService, name: object) -> None:
    with pytest.raises(InvalidAccountName):
        service.deposit_address(name)  # type: ignore[arg-type]
    assert service.addresses() == []


@SQLITE_ONLY
@pytest.mark.parametrize(
    "option", [{"confirmations": 0}, {"confirmations": True}, {"confirmations": "3"},
               {"gap_limit": 0}, {"watch_depth": -1}, {"gap_limit": 2.5}],
)
def test_nonsensical_settings_are_refused(
    make_service: Callable[..., DepositService], option: dict[str, object]
) -> None:
    with pytest.raises(InvalidPolicy):
        make_service(**option)


@SQLITE_ONLY
def test_wrong_parts_are_refused(
    ledger: LedgerStore, wallet: HDWallet, chain: RegtestChain
) -> None:
    testnet = HDWallet.from_mnemonic(ABANDON, Network.TESTNET4)
    with pytest.raises(ChainMismatch, match="regtest"):
        DepositService(ledger, testnet, chain)
    with pytest.raises(InvalidInput):
        DepositService(ledger, wallet, object())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        DepositService(ledger, "xpub", chain)  # type: ignore[arg-type]


def test_watch_only_wallet_derives_the_same_addresses(
    make_service: Callable[..., DepositService], wallet: HDWallet
) -> None:
    watch = HDWallet.watch_only(wallet.account_xpub(), Network.REGTEST)
    assert watch.is_watch_only
    assert make_service(wallet=watch).deposit_address("alice") == wallet.receive_key(1).address
    assert make_service(wallet=wallet).deposit_address("alice") == wallet.receive_key(1).address


def test_another_wallet_on_the_same_books_is_refused(
    make_service: Callable[..., DepositService], other_wallet: HDWallet
) -> None:
    make_service().deposit_address("alice")
    stranger = make_service(wallet=other_wallet)
    with pytest.raises(WalletMismatch):
        stranger.deposit_address("alice")
    with pytest.raises(WalletMismatch):
        stranger.scan()


def test_assignments_are_unique_both_ways_in_the_database(
    service: DepositService, ledger: LedgerStore, wallet: HDWallet
) -> None:
    service.deposit_address("alice")  # index 1
    key = wallet.receive_key(5)
    for clash in (
        DepositAddress(5, "liability:prepaid:alice", key.script_pubkey, key.address),
        DepositAddress(1, "liability:prepaid:zed", key.script_pubkey, key.address),
    ):
        with pytest.raises(StoreError), ledger.write() as conn:
            deposits_rows.insert_address(conn, clash, 0)
    assert len(service.addresses()) == 2


def test_concurrent_assignments_get_distinct_indices(
    make_service: Callable[..., DepositService],
) -> None:
    services = [make_service() for _ in range(4)]
    names = [f"d{i}" for i in range(12)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda n: services[hash(n) % 4].deposit_address(n), names))
    assert len(set(got)) == len(names)
    assert sorted(a.index for a in services[0].addresses()) == list(range(13))
