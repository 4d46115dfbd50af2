"""Payout planning: which uploaders to pay this cycle, how much, and in which transactions.

Pure code: balances, addresses and the fee estimate come in as arguments.

For each uploader with a payable balance and a payout address:

* the **marginal fee** of their output is ``output_vbytes × rate`` msat (a
  rate in sat/kvB times vbytes is exactly msat: no rounding);
* with :attr:`FeePayer.UPLOADER` that marginal fee is their **fee share**,
  taken from their balance; with :attr:`FeePayer.PLATFORM` their share is 0
  and the platform pays the whole network fee;
* the payout is the whole sats left, ``(balance − share) // 1000``; the
  sub-sat remainder stays on their account;
* they are paid only if the payout is at least the minimum payout and their
  output type's dust threshold, and the marginal fee is at most
  ``max_fee_ratio_bps`` of the payout (in both fee policies: paying 300 sats
  of fee to move 400 is waste whoever pays it).

So for every line ``payout × 1000 + fee_share + remainder == balance`` and
``reserved = payout × 1000 + fee_share``. Lines are split into batches that
keep each transaction under the output cap and the standard weight (minus a
reserve for inputs and change). One uploader gets at most one output per
cycle, and one script at most one output: a second uploader sharing an
address is skipped this cycle and paid in a later one.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from bitcache.bitcoin.script import null_data_script
from bitcache.core.checks import is_int
from bitcache.core.money import MSAT_PER_SAT
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidInput, InvalidPolicy
from bitcache.tx.fees import MAX_FEE_RATE, check_fee_rate, clamp_fee_rate
from bitcache.tx.outputs import Payment
from bitcache.tx.sizes import (
    MAX_STANDARD_TX_WEIGHT,
    P2WPKH_INPUT_WU,
    TX_FIXED_WU,
    WU_PER_VBYTE,
    output_wu,
    script_output_wu,
)

BPS = 10_000
_COUNTS_WU = 2 * 5 * WU_PER_VBYTE
"""Room for both CompactSize counts at their 5-byte width (more than any standard tx needs)."""


class FeePayer(enum.Enum):
    """Who pays the network fee of a payout's output."""

    UPLOADER = "uploader"  # the marginal vbytes of their own output, from their balance
    PLATFORM = "platform"  # the platform pays the whole fee (expense:network_fees)


class SkipReason(enum.Enum):
    """Why an uploader with a balance is not paid this cycle."""

    BELOW_MINIMUM = "below_minimum"
    BELOW_DUST = "below_dust"
    FEE_TOO_HIGH = "fee_too_high"
    SHARED_ADDRESS = "shared_address"


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if not is_int(value) or not low <= value <= high:
        raise InvalidPolicy(f"{name} must be an int within {low}..{high}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class PayoutPolicy:
    """The knobs of payout planning (amounts in sats, rates in sat/kvB, weights in WU)."""

    min_payout_sat: int = 10_000
    max_fee_ratio_bps: int = 500
    fee_payer: FeePayer = FeePayer.UPLOADER
    fee_floor_sat_per_kvb: int = 1_000
    fee_ceiling_sat_per_kvb: int = 100_000
    max_outputs_per_tx: int = 1_000
    max_weight: int = MAX_STANDARD_TX_WEIGHT
    input_reserve_wu: int = 100 * P2WPKH_INPUT_WU

    def __post_init__(self) -> None:
        _check_int("min_payout_sat", self.min_payout_sat, 1, 21_000_000 * 10**8)
        _check_int("max_fee_ratio_bps", self.max_fee_ratio_bps, 0, BPS)
        if not isinstance(self.fee_payer, FeePayer):
            raise InvalidPolicy(f"fee_payer must be a FeePayer, got {self.fee_payer!r}")
        _check_int("fee_floor_sat_per_kvb", self.fee_floor_sat_per_kvb, 1, MAX_FEE_RATE)
        _check_int("fee_ceiling_sat_per_kvb", self.fee_ceiling_sat_per_kvb, 1, MAX_FEE_RATE)
        if self.fee_floor_sat_per_kvb > self.fee_ceiling_sat_per_kvb:
            raise InvalidPolicy(
                f"fee floor {self.fee_floor_sat_per_kvb} is above the ceiling "
                f"{self.fee_ceiling_sat_per_kvb} sat/kvB"
            )
        _check_int("max_outputs_per_tx", self.max_outputs_per_tx, 1, 100_000)
        _check_int("max_weight", self.max_weight, 1, MAX_STANDARD_TX_WEIGHT)
        _check_int("input_reserve_wu", self.input_reserve_wu, P2WPKH_INPUT_WU, self.max_weight)
        if self.payout_budget_wu(None) < output_wu(ScriptType.P2TR):
            raise InvalidPolicy("max_weight leaves no room for outputs after the input reserve")

    def payout_budget_wu(self, anchor: bytes | None) -> int:
        """Weight left for payout outputs in one transaction (anchor, change, inputs kept aside)."""
        kept = TX_FIXED_WU + _COUNTS_WU + self.input_reserve_wu + output_wu(ScriptType.P2WPKH)
        if anchor is not None:
            kept += script_output_wu(null_data_script(anchor))
        return self.max_weight - kept


@dataclass(frozen=True, slots=True)
class Payable:
    """An uploader's payable balance (msat) and the script of their current payout address."""

    uploader: str
    balance_msat: int
    script_pubkey: bytes
    script_type: ScriptType


@dataclass(frozen=True, slots=True)
class PayoutLine:
    """One uploader's payout in a batch: whole sats out, a fee share, a remainder kept."""

    uploader: str
    script_pubkey: bytes
    script_type: ScriptType
    payout_sat: int
    fee_share_msat: int
    remainder_msat: int

    @property
    def reserved_msat(self) -> int:
        """What leaves the uploader's payable account: the payout plus their fee share."""
        return self.payout_sat * MSAT_PER_SAT + self.fee_share_msat

    @property
    def balance_msat(self) -> int:
        return self.reserved_msat + self.remainder_msat

    def payment(self) -> Payment:
        return Payment(self.script_pubkey, self.script_type, self.payout_sat)


@dataclass(frozen=True, slots=True)
class PayoutBatch:
    """The lines of one transaction, and the OP_RETURN anchor it carries (first batch only)."""

    lines: tuple[PayoutLine, ...]
    anchor: bytes | None = None

    def payments(self) -> list[Payment]:
        return [line.payment() for line in self.lines]

    @property
    def payout_sat(self) -> int:
        return sum(line.payout_sat for line in self.lines)

    @property
    def reserved_msat(self) -> int:
        return sum(line.reserved_msat for line in self.lines)

    @property
    def fee_share_msat(self) -> int:
        return sum(line.fee_share_msat for line in self.lines)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An uploader not paid this cycle, and why."""

    uploader: str
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class PayoutPlan:
    """A cycle's plan: the fee rate used, the batches, and who was left out."""

    fee_rate_sat_per_kvb: int
    batches: tuple[PayoutBatch, ...]
    skipped: tuple[Skipped, ...]


def marginal_fee_msat(script_type: ScriptType, rate_sat_per_kvb: int) -> int:
    """Fee of one output of ``script_type`` at the rate, exactly, in msat."""
    return script_type.output_vbytes * rate_sat_per_kvb


def choose_fee_rate(
    estimate_sat_per_kvb: int, policy: PayoutPolicy, relay_floor_sat_per_kvb: int = 0
) -> int:
    """The backend's estimate clamped to the floor and the policy's ceiling.

    The floor is the higher of the policy's and the node's relay floor: a
    transaction under the node's minimum would be refused or wait for ever.
    A relay floor above the ceiling is :class:`InvalidPolicy` (nothing can be paid).
    """
    relay = check_fee_rate(relay_floor_sat_per_kvb, "relay floor")
    floor = max(policy.fee_floor_sat_per_kvb, relay)
    return clamp_fee_rate(estimate_sat_per_kvb, floor, policy.fee_ceiling_sat_per_kvb)


def payout_line(payable: Payable, policy: PayoutPolicy, rate: int) -> PayoutLine | SkipReason:
    """The line paying ``payable`` at ``rate``, or why it is not worth paying."""
    cost = marginal_fee_msat(payable.script_type, rate)
    share = cost if policy.fee_payer is FeePayer.UPLOADER else 0
    payout_sat, remainder = divmod(payable.balance_msat - share, MSAT_PER_SAT)
    if payout_sat < policy.min_payout_sat:
        return SkipReason.BELOW_MINIMUM
    if payout_sat < payable.script_type.dust_sat:
        return SkipReason.BELOW_DUST
    if cost * BPS > policy.max_fee_ratio_bps * payout_sat * MSAT_PER_SAT:
        return SkipReason.FEE_TOO_HIGH
    return PayoutLine(
        payable.uploader, payable.script_pubkey, payable.script_type, payout_sat, share, remainder
    )


def _check_payables(payables: Sequence[Payable]) -> list[Payable]:
    seen: set[str] = set()
    for p in payables:
        if not isinstance(p, Payable):
            raise InvalidInput(f"expected Payable, got {type(p).__name__}")
        if p.uploader in seen:
            raise InvalidInput(f"uploader {p.uploader!r} is listed twice")
        if not is_int(p.balance_msat):
            raise InvalidInput(f"balance of {p.uploader!r} must be an int of msat")
        Payment(p.script_pubkey, p.script_type, 1)  # checks the script matches its type
        seen.add(p.uploader)
    return sorted(payables, key=lambda p: p.uploader)


def plan_payouts(
    payables: Sequence[Payable],
    policy: PayoutPolicy,
    fee_estimate_sat_per_kvb: int,
    *,
    anchor: bytes | None = None,
    relay_floor_sat_per_kvb: int = 0,
) -> PayoutPlan:
    """Plan this cycle's payouts (see the module docstring). Deterministic: by uploader.

    The rate is the estimate kept between max(policy floor, node's relay floor)
    and the policy's ceiling (:func:`choose_fee_rate`).
    """
    rate = choose_fee_rate(fee_estimate_sat_per_kvb, policy, relay_floor_sat_per_kvb)
    if anchor is not None:
        null_data_script(anchor)  # validates the payload size
    lines: list[PayoutLine] = []
    skipped: list[Skipped] = []
    scripts: set[bytes] = set()
    for payable in _check_payables(payables):
        found = payout_line(payable, policy, rate)
        if isinstance(found, SkipReason):
            skipped.append(Skipped(payable.uploader, found))
        elif found.script_pubkey in scripts:
            skipped.append(Skipped(payable.uploader, SkipReason.SHARED_ADDRESS))
        else:
            scripts.add(found.script_pubkey)
            lines.append(found)
    return PayoutPlan(rate, split_batches(lines, policy, anchor), tuple(skipped))


def split_batches(
    lines: Sequence[PayoutLine], policy: PayoutPolicy, anchor: bytes | None = None
) -> tuple[PayoutBatch, ...]:
    """Cut ``lines`` (in order) into transactions under the output cap and weight budget.

    The anchor, if any, rides in the first batch only.
    """
    batches: list[PayoutBatch] = []
    current: list[PayoutLine] = []
    used = 0
    for line in lines:
        wu = output_wu(line.script_type)
        budget = policy.payout_budget_wu(anchor if not batches else None)
        if current and (len(current) >= policy.max_outputs_per_tx or used + wu > budget):
            batches.append(PayoutBatch(tuple(current), anchor if not batches else None))
            current, used = [], 0
        current.append(line)
        used += wu
    if current:
        batches.append(PayoutBatch(tuple(current), anchor if not batches else None))
    return tuple(batches)
