"""Coin selection: which wallet coins fund a batch, and whether it gets a change output.

Only *spendable* coins are considered: confirmed coins, and our own
unconfirmed change (the caller marks which via ``confirmed`` and
``is_own_change``). Unconfirmed coins from anyone else can be replaced or
never confirm and would stall the whole batch, so they are never chosen.

Algorithm (deterministic: no randomness; ties are broken by outpoint):

1. Order spendable coins by value, largest first, then by (txid, vout).
2. **Largest-first accumulation** takes coins in that order until they pay
   the outputs plus the fee of a transaction with that many inputs. Its
   count ``n`` is the fewest inputs any selection can use.
3. **Bounded branch-and-bound** then looks for a *changeless* match: for
   ``k = 1 .. n`` inputs, a depth-first search over the ordered coins for
   exactly ``k`` coins whose total lies in ``[target + fee(k),
   target + fee(k) + cost_of_change]``, where ``cost_of_change`` is the fee
   of a change output plus the fee of spending it later. Branches are cut
   when even the largest remaining coins cannot reach the window or the
   smallest overshoot it; coins of equal value are tried once per level;
   the search stops at an exact match or after a fixed number of steps.
   The first ``k`` with a match wins (fewest inputs), and within it the
   smallest excess. The excess of a changeless match goes to the fee: it
   is smaller than what the change output would have cost.
4. Otherwise the largest-first coins are used with a change output when
   the change is at least the change type's dust threshold; a smaller
   remainder is left to the fee rather than creating unspendable dust.

All inputs are P2WPKH, so the fee of a selection depends only on how many
coins it has; sizes are the upper bounds of :mod:`bitcache.tx.sizes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bitcache.bitcoin.script import null_data_script, require_script_type
from bitcache.bitcoin.transaction import check_sat
from bitcache.core.scripttype import ScriptType
from bitcache.core.utxo import OutPoint, Utxo
from bitcache.errors import InsufficientWalletFunds, InvalidInput
from bitcache.tx.fees import check_fee_rate, fee_for_weight
from bitcache.tx.outputs import Payment
from bitcache.tx.sizes import P2WPKH_INPUT_WU, output_wu, overhead_wu, script_output_wu

SEARCH_STEPS = 100_000
"""Upper bound on branch-and-bound steps, so selection time stays bounded."""


@dataclass(frozen=True, slots=True)
class SpendableCoin:
    """A P2WPKH coin of the wallet, and where its key is: BIP32 ``key_chain``/``key_index``."""

    outpoint: OutPoint
    value_sat: int
    script_pubkey: bytes
    confirmed: bool
    is_own_change: bool
    key_chain: int
    key_index: int

    def __post_init__(self) -> None:
        check_sat(self.value_sat, f"coin {self.outpoint} value")
        require_script_type(self.script_pubkey, ScriptType.P2WPKH, f"coin {self.outpoint}")
        for name in ("key_chain", "key_index"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInput(f"coin {self.outpoint}: {name} must be an int >= 0")

    @property
    def spendable(self) -> bool:
        """Confirmed, or our own change: safe to build on."""
        return self.confirmed or self.is_own_change

    @classmethod
    def from_utxo(
        cls, utxo: Utxo, *, is_own_change: bool, key_chain: int, key_index: int
    ) -> SpendableCoin:
        """A coin from a backend's UTXO; it is confirmed when the UTXO has a height."""
        return cls(
            outpoint=utxo.outpoint,
            value_sat=utxo.value_sat,
            script_pubkey=utxo.script_pubkey,
            confirmed=utxo.height is not None,
            is_own_change=is_own_change,
            key_chain=key_chain,
            key_index=key_index,
        )


@dataclass(frozen=True, slots=True)
class CoinSelection:
    """Coins chosen for a set of payments: ``inputs = payments + fee + change``.

    ``change_sat`` is 0 when there is no change output; ``weight`` is the
    upper-bound estimate the fee was computed from. ``anchor`` is the payload
    of an OP_RETURN output (value 0) the selection was sized for, if any.
    """

    coins: tuple[SpendableCoin, ...]
    payments_sat: int
    fee_sat: int
    change_sat: int
    weight: int
    anchor: bytes | None = None

    @property
    def has_change(self) -> bool:
        return self.change_sat > 0

    @property
    def input_sat(self) -> int:
        return sum(coin.value_sat for coin in self.coins)


@dataclass(frozen=True, slots=True)
class _Costs:
    """Fee arithmetic for one set of payments at one rate, as a function of input count."""

    target: int
    outputs_wu: int
    n_outputs: int
    change_wu: int
    change_dust: int
    rate: int
    anchor: bytes | None = None

    def weight(self, n_inputs: int, change: bool) -> int:
        n_out = self.n_outputs + (1 if change else 0)
        body = self.outputs_wu + (self.change_wu if change else 0) + n_inputs * P2WPKH_INPUT_WU
        return overhead_wu(n_inputs, n_out) + body

    def fee(self, n_inputs: int, change: bool) -> int:
        return fee_for_weight(self.weight(n_inputs, change), self.rate)

    def cost_of_change(self, n_inputs: int) -> int:
        extra = self.fee(n_inputs, True) - self.fee(n_inputs, False)
        return extra + fee_for_weight(P2WPKH_INPUT_WU, self.rate)

    def settle(self, coins: tuple[SpendableCoin, ...]) -> CoinSelection | None:
        """The selection these coins make (change only if not dust), or None if short."""
        total, n = sum(c.value_sat for c in coins), len(coins)
        if total < self.target + self.fee(n, False):
            return None
        change = total - self.target - self.fee(n, True)
        if change >= self.change_dust:
            return CoinSelection(
                coins, self.target, self.fee(n, True), change, self.weight(n, True), self.anchor
            )
        fee = total - self.target
        return CoinSelection(coins, self.target, fee, 0, self.weight(n, False), self.anchor)


def _costs(
    payments: Sequence[Payment], rate: int, change_type: ScriptType, anchor: bytes | None = None
) -> _Costs:
    if not payments:
        raise InvalidInput("coin selection needs at least one payment")
    check_fee_rate(rate)
    anchor_wu = 0 if anchor is None else script_output_wu(null_data_script(anchor))
    return _Costs(
        target=sum(p.value_sat for p in payments),
        outputs_wu=sum(output_wu(p.script_type) for p in payments) + anchor_wu,
        n_outputs=len(payments) + (0 if anchor is None else 1),
        change_wu=output_wu(change_type),
        change_dust=change_type.dust_sat,
        rate=rate,
        anchor=anchor,
    )


def _ordered(coins: Sequence[SpendableCoin]) -> list[SpendableCoin]:
    seen: set[OutPoint] = set()
    for coin in coins:
        if coin.outpoint in seen:
            raise InvalidInput(f"coin {coin.outpoint} is listed twice")
        seen.add(coin.outpoint)
    spendable = [c for c in coins if c.spendable]
    return sorted(spendable, key=lambda c: (-c.value_sat, c.outpoint.txid, c.outpoint.vout))


def _shortfall(costs: _Costs, coins: Sequence[SpendableCoin]) -> InsufficientWalletFunds:
    have = sum(c.value_sat for c in coins)
    need = costs.target + costs.fee(max(len(coins), 1), False)
    return InsufficientWalletFunds(
        f"spendable coins hold {have} sats across {len(coins)} coins; payments of "
        f"{costs.target} sats plus fee need at least {need}"
    )


def select_coins(
    coins: Sequence[SpendableCoin],
    payments: Sequence[Payment],
    fee_rate_sat_per_kvb: int,
    change_type: ScriptType = ScriptType.P2WPKH,
    *,
    anchor: bytes | None = None,
) -> CoinSelection:
    """Choose coins to pay ``payments`` at the given rate (see the module docstring).

    ``anchor``: the payload of an OP_RETURN output (value 0) to size the transaction for.
    """
    costs = _costs(payments, fee_rate_sat_per_kvb, change_type, anchor)
    ordered = _ordered(coins)
    fallback: CoinSelection | None = None
    for n in range(1, len(ordered) + 1):
        fallback = costs.settle(tuple(ordered[:n]))
        if fallback is not None:
            break
    if fallback is None:
        raise _shortfall(costs, ordered)
    changeless = _changeless(ordered, costs, len(fallback.coins))
    return changeless if changeless is not None else fallback


def use_coins(
    coins: Sequence[SpendableCoin],
    payments: Sequence[Payment],
    fee_rate_sat_per_kvb: int,
    change_type: ScriptType = ScriptType.P2WPKH,
    *,
    anchor: bytes | None = None,
) -> CoinSelection:
    """Spend exactly ``coins`` (a fee bump keeps its inputs; coin control in tests)."""
    costs = _costs(payments, fee_rate_sat_per_kvb, change_type, anchor)
    ordered = _ordered(coins)
    if len(ordered) != len(coins):
        raise InvalidInput("use_coins was given coins that are neither confirmed nor own change")
    chosen = costs.settle(tuple(ordered))
    if chosen is None:
        raise _shortfall(costs, ordered)
    return chosen


def _changeless(
    ordered: list[SpendableCoin], costs: _Costs, max_inputs: int
) -> CoinSelection | None:
    """The branch-and-bound step: fewest inputs, then smallest excess, no change output."""
    values = [c.value_sat for c in ordered]
    budget = [SEARCH_STEPS]
    for k in range(1, max_inputs + 1):
        low = costs.target + costs.fee(k, False)
        picks = _search(values, k, low, low + costs.cost_of_change(k), budget)
        if picks is not None:
            chosen = tuple(ordered[i] for i in picks)
            total = sum(c.value_sat for c in chosen)
            return CoinSelection(
                chosen, costs.target, total - costs.target, 0, costs.weight(k, False), costs.anchor
            )
        if budget[0] <= 0:
            return None
    return None


def _search(
    values: list[int], k: int, low: int, high: int, budget: list[int]
) -> tuple[int, ...] | None:
    """Indices of exactly ``k`` values (sorted descending) summing into ``[low, high]``,
    with the smallest sum found; ``budget[0]`` counts down the steps allowed."""
    m = len(values)
    prefix = [0]
    for v in values:
        prefix.append(prefix[-1] + v)
    best: list[tuple[int, tuple[int, ...]]] = []

    def visit(start: int, left: int, total: int, chosen: tuple[int, ...]) -> None:
        if left == 0:
            if low <= total <= high and (not best or total < best[0][0]):
                best[:] = [(total, chosen)]
            return
        budget[0] -= 1
        if budget[0] <= 0 or total + prefix[m] - prefix[m - left] > high:
            return
        for j in range(start, m - left + 1):
            if total + prefix[j + left] - prefix[j] < low:
                return
            if j > start and values[j] == values[j - 1]:
                continue
            visit(j + 1, left - 1, total + values[j], (*chosen, j))
            if best and best[0][0] == low:
                return

    visit(0, k, 0, ())
    return best[0][1] if best else None
