"""Post-crash checks: the books, the reservations, payouts on chain, and charges against a model.

Each check raises AssertionError naming what is wrong. They read the ledger
and the settlement tables directly (reconcile is checked separately by its
own tests); together they state the promise: no msat lost, nothing paid twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import text

from bitcache.chain.protocol import ChainBackend
from bitcache.core.accounts import PLATFORM_REVENUE, SETTLING, WALLET, payable, prepaid
from bitcache.core.pricing import SplitPolicy, split_price
from bitcache.reconciliation.checks import reconcile
from bitcache.settlement.model import Settlement
from bitcache.settlement.states import SettlementState
from bitcache.store import settlement as settlement_rows
from bitcache.store.ledger import LedgerStore
from tests.settlement import support

ALL_STATES = tuple(SettlementState)


def check_books(ledger: LedgerStore) -> None:
    """The hash chain verifies, the trial balance is zero and reconcile's ledger checks pass.

    (Reconcile's wallet check is not run: the settlement tests' funding
    helper books the coinbases as one entry, not one credit per outpoint;
    :func:`check_wallet` compares the wallet with the chain instead.)
    """
    report = ledger.verify()
    assert report.ok, f"journal broken at entry {report.first_broken}: {report.reason}"
    assert ledger.trial_balance() == 0, "the trial balance is not zero"
    found = reconcile(ledger)
    assert found.ok, f"reconcile failed: {found.to_json()}"


def check_wallet(ledger: LedgerStore, chain: ChainBackend) -> None:
    """The books' ``asset:wallet`` equals the test wallet's coins (every change index
    handed out is scanned), and nothing is left settling."""
    with ledger.read() as conn:
        change = settlement_rows.next_change_index(conn)
    scripts = support.wallet_scripts(change=max(change, 1))
    coins = sum(u.value_sat for u in chain.utxos(scripts))
    assert ledger.balance(WALLET).posted == coins * 1000, "the books' wallet differs from the chain"
    settling = ledger.balances(SETTLING).get(SETTLING)
    assert settling is None or settling.posted == 0


def settlements(ledger: LedgerStore) -> list[Settlement]:
    with ledger.read() as conn:
        return settlement_rows.settlements_in(conn, ALL_STATES)


def check_reservations(ledger: LedgerStore) -> None:
    """Every open settlement reservation belongs to a settlement in flight, and back.

    A final settlement's reservations are posted, a void one's voided; no
    payee is in two settlements in flight; ``liability:settling`` holds
    exactly what the settlements in flight reserved.
    """
    found = settlements(ledger)
    open_ids = set(ledger.open_pending())
    flying: dict[int, Settlement] = {}
    for s in found:
        for p in s.payouts:
            if s.state.in_flight:
                flying[p.pending_entry_id] = s
                assert p.pending_entry_id in open_ids, (
                    f"settlement {s.id} ({s.state.value}) lost the reservation of {p.uploader}"
                )
            else:
                assert p.pending_entry_id not in open_ids, (
                    f"settlement {s.id} is {s.state.value} but {p.uploader}'s reservation is open"
                )
                verb = "post" if s.state is SettlementState.FINAL else "void"
                assert ledger.entry_by_key(f"settlement:{s.id}:{verb}:{p.uploader}") is not None
    for pid in open_ids:
        entry = ledger.entry(pid)
        if entry.key.startswith("settlement:"):
            assert pid in flying, f"reservation {entry.key} has no settlement in flight"
    payees = Counter(p.uploader for s in found if s.state.in_flight for p in s.payouts)
    assert all(n == 1 for n in payees.values()), f"payees in two settlements: {payees}"
    reserved = sum(p.reserved_msat for s in found if s.state.in_flight for p in s.payouts)
    settling = ledger.balances(SETTLING).get(SETTLING)
    if settling is None:
        assert reserved == 0, "reservations without a settling account"
    else:
        assert settling.posted == 0 and settling.pending_credits == reserved


def confirmed_version(chain: ChainBackend, s: Settlement) -> str | None:
    """The txid of the version of ``s`` the chain has confirmed (at most one can be)."""
    confirmed = [v.txid for v in s.versions if chain.tx_status(v.txid).confirmed]
    assert len(confirmed) <= 1, f"settlement {s.id}: two versions confirmed: {confirmed}"
    return confirmed[0] if confirmed else None


def received(chain: ChainBackend, script: bytes) -> int:
    """Sats the best chain ever paid to ``script`` (confirmed outputs, spent or not)."""
    return sum(u.value_sat for u in chain.utxos([script]) if u.height is not None)


def check_paid_once(
    ledger: LedgerStore, chain: ChainBackend, scripts: Mapping[str, bytes]
) -> dict[str, int]:
    """What each payee got on chain equals the payouts of the settlements confirmed there.

    A void settlement has no confirmed version; a final one has. Each
    payout is booked by exactly one ``payout`` entry per final settlement.
    Returns the sats each payee received.
    """
    expected: Counter[str] = Counter()
    for s in settlements(ledger):
        txid = confirmed_version(chain, s)
        if s.state is SettlementState.VOID:
            assert txid is None, f"void settlement {s.id} has a confirmed version {txid}"
        if s.state is SettlementState.FINAL:
            assert txid == s.confirmed_txid, f"final settlement {s.id} is not on the chain"
        if txid is not None:
            for p in s.payouts:
                expected[p.uploader] += p.payout_sat
    got = {name: received(chain, script) for name, script in scripts.items()}
    for name in scripts:
        assert got[name] == expected[name], (
            f"{name} received {got[name]} sat on chain, settlements pay {expected[name]}"
        )
    finals = Counter(p.uploader for s in settlements(ledger)
                     if s.state is SettlementState.FINAL for p in s.payouts)
    for name in scripts:
        assert payout_count(ledger, name) == finals[name], f"{name}: payout entries != finals"
    return got


def payout_count(ledger: LedgerStore, uploader: str) -> int:
    """Entries that post a settlement reservation of ``uploader`` (one per payout)."""
    with ledger.read() as conn:
        keys = conn.execute(
            text("SELECT key FROM entries WHERE kind = 'post_pending' AND key LIKE :k"),
            {"k": "settlement:%:post:" + uploader},
        ).scalars()
        return sum(1 for k in keys if k.rsplit(":", 1)[1] == uploader)


def paid_out_msat(ledger: LedgerStore) -> Counter[str]:
    """msat each uploader's payable account gave to final settlements."""
    out: Counter[str] = Counter()
    for s in settlements(ledger):
        if s.state is SettlementState.FINAL:
            for p in s.payouts:
                out[p.uploader] += p.reserved_msat
    return out


@dataclass(frozen=True, slots=True)
class Charge:
    """One acknowledged download: who paid, for which file, at what price."""

    key: str
    downloader: str
    file: str
    price: int


@dataclass(frozen=True, slots=True)
class Catalog:
    """The model's files: price, uploader and whether a referrer shares in it."""

    prices: Mapping[str, int]
    uploaders: Mapping[str, str]
    referrers: Mapping[str, str | None]
    splits: SplitPolicy


def check_charges(
    ledger: LedgerStore,
    catalog: Catalog,
    funded: Mapping[str, int],
    charges: Iterable[Charge],
    downloads: Mapping[str, int] | None = None,
) -> None:
    """Balances equal the model: every charge exactly once, nothing else.

    ``funded``: what each downloader was credited. Payable accounts are
    compared with what settlements paid out added back.
    """
    charges = list(charges)
    keys = Counter(c.key for c in charges)
    assert all(n == 1 for n in keys.values()), "the model has a key twice"
    spent: Counter[str] = Counter()
    earned: Counter[str] = Counter()
    platform = 0
    for c in charges:
        spent[c.downloader] += c.price
        referrer = catalog.referrers[c.file]
        split = split_price(c.price, catalog.splits, has_referrer=referrer is not None)
        earned[catalog.uploaders[c.file]] += split.uploader
        if referrer is not None:
            earned[referrer] += split.referrer
        platform += split.platform
    for d, amount in funded.items():
        balance = ledger.balance(prepaid(d))
        assert balance.posted <= 0, f"{d} is overdrawn: {balance}"
        assert -balance.posted == amount - spent[d], f"{d}: balance differs from the model"
    paid = paid_out_msat(ledger)
    for u in set(catalog.uploaders.values()) | {r for r in catalog.referrers.values() if r}:
        have = -ledger.balance(payable(u)).posted + paid[u]
        assert have == earned[u], f"{u}: earned {have} msat, the model says {earned[u]}"
    assert -ledger.balance(PLATFORM_REVENUE).posted == platform
    if downloads is not None:
        counted = Counter(c.file for c in charges)
        for f, n in downloads.items():
            assert n == counted[f], f"file {f[:8]}: counter {n}, {counted[f]} charges"


def check_present(ledger: LedgerStore, keys: Iterable[str]) -> None:
    """Every acknowledged key has its download entry."""
    for key in keys:
        assert ledger.entry_by_key("dl:" + key) is not None, f"acknowledged {key} is missing"


def dl_entry_count(ledger: LedgerStore, keys: Sequence[str]) -> int:
    """How many of ``keys`` have a download entry."""
    return sum(1 for k in keys if ledger.entry_by_key("dl:" + k) is not None)
