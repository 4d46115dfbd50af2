"""Coin selection properties, checked against a brute force on small wallets."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from tx_support import make_coin, payment, payments

from bitcache.core.scripttype import ScriptType
from bitcache.errors import InsufficientWalletFunds, InvalidInput
from bitcache.tx import (
    CoinSelection,
    Payment,
    SpendableCoin,
    fee_for_weight,
    select_coins,
    use_coins,
)
from bitcache.tx.sizes import P2WPKH_INPUT_WU, output_wu, tx_weight


def _fee(n: int, pays: list[Payment], rate: int, change: bool) -> int:
    types = [p.script_type for p in pays] + ([ScriptType.P2WPKH] if change else [])
    return fee_for_weight(tx_weight(n, types), rate)


def _window(n: int, pays: list[Payment], rate: int) -> tuple[int, int]:
    target = sum(p.value_sat for p in pays)
    low = target + _fee(n, pays, rate, False)
    cost = _fee(n, pays, rate, True) - _fee(n, pays, rate, False)
    return low, low + cost + fee_for_weight(P2WPKH_INPUT_WU, rate)


def _largest_first_count(coins: list[SpendableCoin], pays: list[Payment], rate: int) -> int:
    values = sorted((c.value_sat for c in coins if c.spendable), reverse=True)
    target = sum(p.value_sat for p in pays)
    for n in range(1, len(values) + 1):
        if sum(values[:n]) >= target + _fee(n, pays, rate, False):
            return n
    raise AssertionError("unreachable in this test")


def _check_accounting(sel: CoinSelection, pays: list[Payment], rate: int) -> None:
    assert sel.input_sat == sel.payments_sat + sel.fee_sat + sel.change_sat
    assert sel.payments_sat == sum(p.value_sat for p in pays)
    assert sel.fee_sat >= fee_for_weight(sel.weight, rate)
    assert sel.change_sat == 0 or sel.change_sat >= ScriptType.P2WPKH.dust_sat
    assert sel.weight == tx_weight(
        len(sel.coins),
        [p.script_type for p in pays] + ([ScriptType.P2WPKH] if sel.has_change else []),
    )


_wallets = st.lists(
    st.tuples(st.integers(300, 120_000), st.booleans(), st.booleans()), min_size=1, max_size=8
)


def _plant(
    wallet: list[tuple[int, bool, bool]], pays: list[Payment], rate: int, k: int, offset: int
) -> None:
    """Make the first ``k`` coins spendable and sum into the changeless window for ``k``."""
    low, high = _window(k, pays, rate)
    goal = low + offset % (high - low + 1)
    rest = sum(v for v, _, _ in wallet[: k - 1])
    if goal - rest >= 1:
        wallet[:k] = [(v, True, False) for v, _, _ in wallet[: k - 1]] + [
            (goal - rest, True, False)
        ]


@settings(max_examples=200, deadline=None)
@given(
    wallet=_wallets,
    pays=payments(max_size=4, max_value=150_000),
    rate=st.integers(1_000, 30_000),
    plant=st.integers(0, 3),
    offset=st.integers(0, 10**6),
)
def test_selection_properties_against_brute_force(
    wallet: list[tuple[int, bool, bool]], pays: list[Payment], rate: int, plant: int, offset: int
) -> None:
    if 0 < plant <= len(wallet):
        _plant(wallet, pays, rate, plant, offset)
    coins = [make_coin(i, v, confirmed=c, own_change=o) for i, (v, c, o) in enumerate(wallet)]
    spendable = [c for c in coins if c.spendable]
    try:
        sel = select_coins(coins, pays, rate)
    except InsufficientWalletFunds:
        event("insufficient")
        total = sum(c.value_sat for c in spendable)
        assert total < sum(p.value_sat for p in pays) + _fee(
            max(len(spendable), 1), pays, rate, False
        )
        return
    _check_accounting(sel, pays, rate)
    assert all(c.spendable for c in sel.coins)
    assert len(set(c.outpoint for c in sel.coins)) == len(sel.coins)
    n_min = _largest_first_count(coins, pays, rate)
    assert len(sel.coins) <= n_min
    exact = [
        k
        for k in range(1, n_min + 1)
        if any(
            _window(k, pays, rate)[0]
            <= sum(c.value_sat for c in combo)
            <= _window(k, pays, rate)[1]
            for combo in combinations(spendable, k)
        )
    ]
    event(f"changeless match exists: {bool(exact)}")
    if exact:
        assert not sel.has_change
        assert len(sel.coins) == exact[0]


def test_exact_single_coin_match_is_taken_without_change() -> None:
    pays = [payment(ScriptType.P2WPKH, 50_000, 1)]
    need = 50_000 + _fee(1, pays, 1_000, False)
    coins = [make_coin(0, 900_000), make_coin(1, need + 10), make_coin(2, 20_000)]
    sel = select_coins(coins, pays, 1_000)
    assert [c.key_index for c in sel.coins] == [1]
    assert not sel.has_change
    assert sel.fee_sat == need + 10 - 50_000


def test_two_coin_exact_match_beats_change() -> None:
    pays = [payment(ScriptType.P2TR, 100_000, 1)]
    need = 100_000 + _fee(2, pays, 2_000, False)
    coins = [make_coin(0, 60_000), make_coin(1, need - 60_000), make_coin(2, 150_000)]
    sel = select_coins(coins, pays, 2_000)
    # one coin (150k) would do with change; fewest inputs wins over changeless.
    assert [c.key_index for c in sel.coins] == [2]
    assert sel.has_change
    coins[2] = make_coin(2, 90_000)
    sel = select_coins(coins, pays, 2_000)
    assert sorted(c.key_index for c in sel.coins) == [0, 1]
    assert not sel.has_change


def test_change_below_dust_goes_to_fee() -> None:
    pays = [payment(ScriptType.P2WPKH, 50_000, 1)]
    _, high = _window(1, pays, 1_000)
    with_change = 50_000 + _fee(1, pays, 1_000, True)
    value = with_change + ScriptType.P2WPKH.dust_sat - 1
    assert value > high  # outside the changeless window, yet its change would be dust
    sel = select_coins([make_coin(0, value)], pays, 1_000)
    assert not sel.has_change
    assert sel.fee_sat == value - 50_000
    sel = select_coins([make_coin(0, value + 1)], pays, 1_000)
    assert sel.change_sat == ScriptType.P2WPKH.dust_sat


def test_unconfirmed_foreign_coins_are_never_used() -> None:
    pays = [payment(ScriptType.P2WPKH, 50_000, 1)]
    coins = [make_coin(0, 10_000_000, confirmed=False), make_coin(1, 60_000)]
    sel = select_coins(coins, pays, 1_000)
    assert [c.key_index for c in sel.coins] == [1]
    with pytest.raises(InsufficientWalletFunds, match="60000 sats across 1 coins"):
        select_coins(coins, [payment(ScriptType.P2WPKH, 70_000, 1)], 1_000)
    own = [make_coin(0, 10_000_000, confirmed=False, own_change=True)]
    assert select_coins(own, pays, 1_000).coins == tuple(own)


def test_deterministic_tie_break_by_outpoint() -> None:
    pays = [payment(ScriptType.P2WPKH, 50_000, 1)]
    coins = [make_coin(i, 80_000) for i in range(5)]
    first = select_coins(coins, pays, 1_000)
    again = select_coins(list(reversed(coins)), pays, 1_000)
    assert first == again
    assert first.coins[0].outpoint.txid == min(c.outpoint.txid for c in coins)


def test_use_coins_spends_exactly_the_given_coins() -> None:
    pays = [payment(ScriptType.P2WSH, 10_000, 1)]
    coins = [make_coin(i, 50_000) for i in range(3)]
    sel = use_coins(coins, pays, 5_000)
    assert set(sel.coins) == set(coins)
    assert sel.change_sat == 150_000 - 10_000 - sel.fee_sat
    with pytest.raises(InvalidInput, match="neither confirmed nor own change"):
        use_coins([make_coin(9, 50_000, confirmed=False)], pays, 5_000)
    with pytest.raises(InvalidInput, match="listed twice"):
        use_coins([coins[0], coins[0]], pays, 5_000)
    with pytest.raises(InsufficientWalletFunds):
        use_coins([make_coin(9, 10_100)], pays, 5_000)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one payment"):
        select_coins([make_coin(0, 1_000)], [], 1_000)
    with pytest.raises(InvalidInput, match="is not P2WPKH"):
        SpendableCoin(make_coin(0, 1).outpoint, 1_000, b"\x51\x20" + bytes(32), True, False, 0, 0)
    with pytest.raises(InvalidInput, match="key_index"):
        SpendableCoin(
            make_coin(0, 1).outpoint, 1_000, make_coin(0, 1).script_pubkey, True, False, 0, -1
        )


def test_large_wallet_selection_is_bounded_and_valid() -> None:
    coins = [make_coin(i, 1_000 + (i * 7919) % 50_000) for i in range(400)]
    pays = [payment(ScriptType.P2WPKH, 30_000, i) for i in range(50)]
    sel = select_coins(coins, pays, 2_000)
    _check_accounting(sel, pays, 2_000)
    assert output_wu(ScriptType.P2WPKH) == 124
