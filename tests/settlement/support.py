"""Shared helpers of the settlement tests: a funded regtest wallet, uploaders, book checks."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from bitcache.bitcoin.hashes import hash160
from bitcache.bitcoin.script import p2wpkh_script
from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import OPERATOR_EQUITY, SETTLING, WALLET, default_spec, payable
from bitcache.core.entries import EntryKind, EntryRequest, Posting
from bitcache.core.utxo import COINBASE_MATURITY, Utxo
from bitcache.network import Network
from bitcache.services.deposits import DepositService
from bitcache.services.settlement import SettlementService
from bitcache.settlement.model import SettlementConfig
from bitcache.settlement.payouts import PayoutPolicy
from bitcache.store.ledger import LedgerStore
from bitcache.wallet.addresses import address_for_script, parse_address
from bitcache.wallet.keys import HDWallet

SEED = hashlib.sha256(b"bitcache settlement test wallet").digest()
COINBASE_SAT = 50 * 100_000_000
RECEIVE_SCAN = 5


def wallet() -> HDWallet:
    return HDWallet.from_seed(SEED, Network.REGTEST)


def config(**overrides: object) -> SettlementConfig:
    """Fast test settings: 3 confirmations, bump after 2 blocks, 1,000-sat minimum payout."""
    payout = overrides.pop("payout", PayoutPolicy(min_payout_sat=1_000))
    values: dict[str, object] = {
        "confirmations": 3,
        "bump_after_blocks": 2,
        "payout": payout,
    }
    values.update(overrides)
    return SettlementConfig(**values)  # type: ignore[arg-type]


def service(
    ledger: LedgerStore, chain: RegtestChain, cfg: SettlementConfig | None = None, **kw: object
) -> SettlementService:
    return SettlementService(ledger, chain, wallet(), cfg or config(), **kw)  # type: ignore[arg-type]


def fund_wallet(chain: RegtestChain, ledger: LedgerStore, coins: int = 2) -> int:
    """Mine ``coins`` coinbases to the operator's funding address, mature them, and let the
    deposit scan credit them as operator funding (so the books hold them); their total."""
    deposits = DepositService(ledger, wallet(), chain, confirmations=1)
    script = address_script(deposits.funding_address())
    for _ in range(coins):
        chain.mine(1, to_script=script)
    chain.mine(COINBASE_MATURITY)
    return deposits.scan().credited_sat


def earn(ledger: LedgerStore, earnings: dict[str, int], tag: str = "1") -> None:
    """Credit uploaders' payable accounts (msat) from the operator's equity."""
    requests = [
        EntryRequest(
            f"earn:{tag}:{u}", (Posting(payable(u), -amount), Posting(OPERATOR_EQUITY, amount))
        )
        for u, amount in earnings.items()
    ]
    specs = [default_spec(payable(u)) for u in earnings] + [default_spec(OPERATOR_EQUITY)]
    ledger.record_many(requests, atomic=True, open_accounts=specs)


def address_script(address: str) -> bytes:
    return parse_address(address, Network.REGTEST).script_pubkey


def payee_address(name: str, kind: str = "p2wpkh") -> tuple[str, bytes]:
    """A deterministic payout address (and script) of an uploader, of the given type."""
    h = hashlib.sha256(name.encode()).digest()
    script = {
        "p2wpkh": p2wpkh_script(hash160(h)),
        "p2tr": b"\x51\x20" + h,
        "p2wsh": b"\x00\x20" + h,
        "p2pkh": b"\x76\xa9\x14" + h[:20] + b"\x88\xac",
        "p2sh": b"\xa9\x14" + h[:20] + b"\x87",
    }[kind]
    return address_for_script(script, Network.REGTEST), script


def wallet_scripts(ledger: LedgerStore | None = None, change: int = 50) -> list[bytes]:
    w = wallet()
    scripts = [w.receive_key(i).script_pubkey for i in range(RECEIVE_SCAN)]
    return scripts + [w.change_key(i).script_pubkey for i in range(change)]


def wallet_utxos(chain: RegtestChain) -> list[Utxo]:
    return chain.utxos(wallet_scripts())


def wallet_utxo_value(chain: RegtestChain, *, confirmed_only: bool = True) -> int:
    return sum(
        u.value_sat for u in wallet_utxos(chain) if u.height is not None or not confirmed_only
    )


def received(chain: RegtestChain, script: bytes) -> int:
    """Sats the chain's best branch (confirmed) paid to ``script``, over all outputs ever."""
    return sum(u.value_sat for u in chain.utxos([script]) if u.height is not None)


def payout_entries(ledger: LedgerStore, uploader: str) -> list[tuple[str, int]]:
    """(memo, msat) of entries debiting the uploader's payable account with a ``payout`` memo."""
    found = []
    for entry in ledger.entries():
        if entry.kind is not EntryKind.POST_PENDING or not entry.memo.startswith("payout "):
            continue
        for p in entry.postings:
            if p.account == payable(uploader) and p.amount > 0:
                found.append((entry.memo, p.amount))
    return found


def check_books(ledger: LedgerStore, chain: RegtestChain) -> None:
    """asset:wallet equals the wallet's UTXO value; nothing left settling; books balance."""
    wallet_msat = ledger.balance(WALLET).posted
    assert wallet_msat == wallet_utxo_value(chain, confirmed_only=False) * 1000
    assert ledger.balance(SETTLING).posted == 0
    assert ledger.trial_balance() == 0


def register(
    svc: SettlementService, names: Sequence[str], kind: str = "p2wpkh"
) -> dict[str, bytes]:
    scripts = {}
    for name in names:
        address, script = payee_address(name, kind)
        svc.register_payout_address(name, address)
        scripts[name] = script
    return scripts


def chain_dir(tmp: Path) -> Path:
    return tmp / "regtest"
