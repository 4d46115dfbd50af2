"""Which coins settlement may spend: only those the books hold, mature, and the fee floor."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bitcache.chain.mempool import RelayPolicy
from bitcache.chain.regtest import RegtestChain
from bitcache.core.utxo import COINBASE_MATURITY, OutPoint, Utxo
from bitcache.settlement.coins import Holdings, KeyPath, wallet_coins
from bitcache.settlement.payouts import PayoutPolicy
from bitcache.settlement.states import SettlementState
from bitcache.store.deposits import deposits as deposit_rows
from bitcache.store.holdings import holdings
from bitcache.store.ledger import LedgerStore
from bitcache.wallet.keys import Chain
from tests.settlement.support import config, earn, fund_wallet, register, service
from tests.settlement.test_cycle import run_to_final

TIP = 500
TXIDS = [hashlib.sha256(bytes([i])).hexdigest() for i in range(4)]


def script_of(path: KeyPath) -> bytes:
    chain, index = path
    return b"\x00\x14" + hashlib.sha256(f"{chain.value}/{index}".encode()).digest()[:20]


FOREIGN = b"\x00\x14" + bytes(20)
paths = st.tuples(st.sampled_from(list(Chain)), st.integers(0, 2))
outpoints = st.builds(OutPoint, st.sampled_from(TXIDS), st.integers(0, 2))


@st.composite
def utxos(draw: st.DrawFn) -> Utxo:
    height = draw(st.none() | st.integers(TIP - COINBASE_MATURITY - 2, TIP))
    script = draw(st.sampled_from([FOREIGN]) | paths.map(script_of))
    coinbase = height is not None and draw(st.booleans())
    return Utxo(draw(outpoints), draw(st.integers(1, 10**8)), script, height, None, coinbase)


def held_path(utxo: Utxo, held: Holdings) -> KeyPath | None:
    """The spec: a credited deposit at its receive index, or change of one of our versions."""
    if utxo.outpoint in held.deposits:
        path = (Chain.EXTERNAL, held.deposits[utxo.outpoint])
    elif utxo.outpoint.txid in held.change:
        path = (Chain.INTERNAL, held.change[utxo.outpoint.txid])
    else:
        return None
    return path if script_of(path) == utxo.script_pubkey else None


@given(
    found=st.lists(utxos(), max_size=12),
    deposits=st.dictionaries(outpoints, st.integers(0, 2), max_size=6),
    change=st.dictionaries(st.sampled_from(TXIDS), st.integers(0, 2), max_size=2),
    reserved=st.sets(outpoints, max_size=3),
    min_confirmations=st.integers(1, 6),
)
def test_only_held_mature_unreserved_coins_are_offered(
    found: list[Utxo],
    deposits: dict[OutPoint, int],
    change: dict[str, int],
    reserved: set[OutPoint],
    min_confirmations: int,
) -> None:
    held = Holdings(deposits, change)
    offered = wallet_coins(found, held, script_of, reserved, TIP, min_confirmations)
    expected: dict[OutPoint, Utxo] = {}
    for u in found:
        path = held_path(u, held)
        if path is None or u.outpoint in reserved or u.outpoint in expected:
            continue
        deep = path[0] is Chain.INTERNAL or u.confirmations(TIP) >= min_confirmations
        if deep and (not u.coinbase or u.confirmations(TIP) >= COINBASE_MATURITY):
            expected[u.outpoint] = u
    assert [c.outpoint for c in offered] == list(expected)
    for coin in offered:
        path = held_path(expected[coin.outpoint], held)
        assert path is not None and (coin.key_chain, coin.key_index) == (path[0].value, path[1])
        assert coin.is_own_change is (path[0] is Chain.INTERNAL)


def test_a_deep_output_to_a_deposit_address_is_not_offered_until_credited() -> None:
    op = OutPoint(TXIDS[0], 0)
    deep = Utxo(op, 50_000, script_of((Chain.EXTERNAL, 1)), TIP - 1_000)
    assert wallet_coins([deep], Holdings({}, {}), script_of, set(), TIP, 1) == []
    [coin] = wallet_coins([deep], Holdings({op: 1}, {}), script_of, set(), TIP, 1)
    assert coin.outpoint == op and not coin.is_own_change


def test_coinbase_maturity_boundary() -> None:
    op = OutPoint(TXIDS[1], 0)
    held = Holdings({op: 0}, {})
    for confirmations, offered in ((COINBASE_MATURITY - 1, False), (COINBASE_MATURITY, True)):
        u = Utxo(op, 50_000, script_of((Chain.EXTERNAL, 0)), TIP - confirmations + 1, None, True)
        assert bool(wallet_coins([u], held, script_of, set(), TIP, 1)) is offered


def test_the_books_hold_credited_funding_and_live_change(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    fund_wallet(chain, any_ledger, coins=3)
    with any_ledger.read() as conn:
        funded = holdings(conn)
    assert len(funded.deposits) == 3 and set(funded.deposits.values()) == {0}
    assert funded.change == {}
    svc = service(any_ledger, chain)
    register(svc, ["alice"])
    earn(any_ledger, {"alice": 5_000_000})
    (first,) = svc.run_cycle().created
    s1 = svc.settlement(first)
    with any_ledger.read() as conn:
        flying = holdings(conn)
    assert flying.deposits == funded.deposits  # in flight: reserved, not gone
    assert flying.change == {s1.versions[0].txid: s1.change_index}
    run_to_final(svc, chain, first)
    with any_ledger.read() as conn:
        final = holdings(conn)
    spent = {c.outpoint for c in s1.inputs}
    assert set(final.deposits) == set(funded.deposits) - spent
    assert final.change == {s1.versions[0].txid: s1.change_index}
    earn(any_ledger, {"alice": 5_000_000}, tag="2")
    (second,) = svc.run_cycle().created
    s2 = svc.settlement(second)
    chain.drop_from_mempool(s2.versions[0].txid)
    svc.abandon(second, "never seen again")  # void: its change is not the books'
    with any_ledger.read() as conn:
        entry = next(d.entry_id for d in deposit_rows(conn) if d.outpoint in final.deposits)
    any_ledger.reverse(entry, "reverse:test", memo="credit reversed")
    with any_ledger.read() as conn:
        after = holdings(conn)
    assert svc.settlement(second).state is SettlementState.VOID
    assert after.change == final.change and len(after.deposits) == len(final.deposits) - 1


# --- the fee floor comes from the backend ----------------------------------------------


def _floor_chain(folder: Path, floor: int) -> RegtestChain:
    return RegtestChain.open(folder, policy=RelayPolicy(min_relay_sat_kvb=floor))


def test_planning_pays_at_least_the_nodes_relay_floor(ledger: LedgerStore, tmp_path: Path) -> None:
    with _floor_chain(tmp_path / "floor", 5_000) as chain:  # its estimate stays 1 sat/vB
        fund_wallet(chain, ledger)
        svc = service(ledger, chain)
        register(svc, ["alice"])
        earn(ledger, {"alice": 5_000_000})
        (sid,) = svc.run_cycle().created
        s = svc.settlement(sid)
        assert s.fee_rate_sat_per_kvb == 5_000  # not the estimate: the node's floor
        assert chain.relay_floor() == 5_000 > chain.fee_rate(6)
        assert s.state is SettlementState.BROADCAST
        assert chain.mempool_txids() == [s.versions[0].txid]


def test_a_relay_floor_above_the_fee_ceiling_plans_nothing(
    ledger: LedgerStore, tmp_path: Path
) -> None:
    with _floor_chain(tmp_path / "floor", 150_000) as chain:
        fund_wallet(chain, ledger)
        svc = service(ledger, chain, config(payout=PayoutPolicy(min_payout_sat=1_000)))
        register(svc, ["alice"])
        earn(ledger, {"alice": 50_000_000})
        report = svc.run_cycle()
        assert report.created == () and svc.settlements() == []
        assert any("150000 sat/kvB" in note and "ceiling" in note for note in report.notes)


def test_a_fee_bump_reaches_a_floor_that_rose(ledger: LedgerStore, tmp_path: Path) -> None:
    folder = tmp_path / "rising"
    with RegtestChain.open(folder) as chain:
        fund_wallet(chain, ledger)
        svc = service(ledger, chain)
        register(svc, ["alice"])
        earn(ledger, {"alice": 5_000_000})
        (sid,) = svc.run_cycle().created
        assert svc.settlement(sid).fee_rate_sat_per_kvb == 1_000
    with _floor_chain(folder, 4_000) as chain:  # the node's minimum rose: the tx is dropped
        assert chain.mempool_txids() == []
        svc = service(ledger, chain)
        svc.run_cycle()  # the rebroadcast is refused: bumped at once, not blocks later
        s = svc.settlement(sid)
        assert len(s.versions) == 2 and s.versions[1].fee_rate_sat_per_kvb >= 4_000
        assert chain.mempool_txids() == [s.versions[1].txid]  # not stuck below the minimum
        run_to_final(svc, chain, sid)
