"""What the store keeps about a settlement, as frozen objects, and the job's knobs."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from bitcache.core.checks import is_int
from bitcache.core.money import MSAT_PER_SAT
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidPolicy
from bitcache.settlement.payouts import PayoutPolicy
from bitcache.settlement.states import SettlementState
from bitcache.tx.coinselect import SpendableCoin
from bitcache.tx.outputs import Payment
from bitcache.tx.policy import PolicyLimits


@dataclass(frozen=True, slots=True)
class Version:
    """One signed transaction of a settlement; a fee bump adds a version (``n`` from 1)."""

    n: int
    txid: str
    raw: bytes
    fee_sat: int
    fee_rate_sat_per_kvb: int
    created_height: int


@dataclass(frozen=True, slots=True)
class ReservedPayout:
    """A payee of a settlement: the script paid, the amounts, and their pending entry."""

    uploader: str
    script_pubkey: bytes
    script_type: ScriptType
    payout_sat: int
    fee_share_msat: int
    pending_entry_id: int

    @property
    def reserved_msat(self) -> int:
        return self.payout_sat * MSAT_PER_SAT + self.fee_share_msat

    def payment(self) -> Payment:
        return Payment(self.script_pubkey, self.script_type, self.payout_sat)


#: Blocks a settlement may stay unconfirmed after planning before it counts as stalled
#: (about a day).
DEFAULT_STALL_AFTER_BLOCKS = 144


class BroadcastFailure(enum.Enum):
    """Why the last broadcast of a settlement did not get it to a node."""

    REFUSED = "refused"  # a node refused it: ``reason`` is the node's own words
    UNREACHABLE = "unreachable"  # the backend could not be asked (timeout, HTTP 5xx…)


@dataclass(frozen=True, slots=True)
class BroadcastProblem:
    """The last broadcast of a settlement failed and none has succeeded since.

    ``since_height``: the tip when the first failure of this run happened.
    Cleared when a broadcast is accepted or a version is seen on chain.
    """

    failure: BroadcastFailure
    reason: str
    since_height: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """A settlement as stored: state, plan, every version, and what it reserved."""

    id: int
    state: SettlementState
    fee_rate_sat_per_kvb: int
    created_height: int
    change_index: int
    anchor: bytes | None
    broadcast_height: int | None
    confirmations: int
    confirmed_txid: str | None
    reason: str
    attempts: int
    last_error: str
    versions: tuple[Version, ...]
    inputs: tuple[SpendableCoin, ...]
    payouts: tuple[ReservedPayout, ...]
    broadcast_problem: BroadcastProblem | None = None

    @property
    def txids(self) -> frozenset[str]:
        return frozenset(v.txid for v in self.versions)

    @property
    def latest(self) -> Version | None:
        return self.versions[-1] if self.versions else None

    def version(self, txid: str) -> Version:
        return next(v for v in self.versions if v.txid == txid)

    @property
    def payout_sat(self) -> int:
        return sum(p.payout_sat for p in self.payouts)

    @property
    def fee_share_msat(self) -> int:
        return sum(p.fee_share_msat for p in self.payouts)

    def payments(self) -> list[Payment]:
        return [p.payment() for p in self.payouts]


def _positive(name: str, value: object, low: int = 1) -> None:
    if not is_int(value) or value < low:
        raise InvalidPolicy(f"{name} must be an int >= {low}, got {value!r}")


@dataclass(frozen=True, slots=True)
class SettlementConfig:
    """The settlement job's knobs (see docs/settlement.md).

    * ``confirmations``: N, the depth at which a payout is final (and at which
      a conflicting transaction proves a settlement void);
    * ``bump_after_blocks``: blocks a version may wait unconfirmed before an
      RBF bump; ``bump_step_sat_per_kvb``: the least rate increase of a bump
      (at least the incremental relay fee, 1 sat/vB);
    * ``fee_target_blocks``: confirmation target asked of the fee estimator;
    * ``max_in_flight``: settlements in flight at once before a new batch is
      planned; ``batch_interval_blocks``: blocks between two plannings;
    * ``min_input_confirmations``: confirmations a coin the books hold (a
      credited deposit or funding) must still have when it is spent (our own
      change excepted). It is never a reason to spend a coin: only coins the
      books hold are spent (see :mod:`bitcache.settlement.coins`);
    * ``lock_lease_seconds``: how long the job lock holds without renewal;
    * ``stall_after_blocks``: blocks a settlement may stay unconfirmed after it
      was planned before it is reported as not moving (see
      :mod:`bitcache.settlement.stalls`).
    """

    payout: PayoutPolicy = field(default_factory=PayoutPolicy)
    limits: PolicyLimits = field(default_factory=PolicyLimits)
    confirmations: int = 6
    bump_after_blocks: int = 3
    bump_step_sat_per_kvb: int = 1_000
    fee_target_blocks: int = 6
    max_in_flight: int = 1
    batch_interval_blocks: int = 0
    min_input_confirmations: int = 1
    lock_lease_seconds: int = 600
    stall_after_blocks: int = DEFAULT_STALL_AFTER_BLOCKS

    def __post_init__(self) -> None:
        if not isinstance(self.payout, PayoutPolicy) or not isinstance(self.limits, PolicyLimits):
            raise InvalidPolicy("payout and limits must be PayoutPolicy and PolicyLimits")
        _positive("confirmations", self.confirmations)
        _positive("bump_after_blocks", self.bump_after_blocks)
        _positive("bump_step_sat_per_kvb", self.bump_step_sat_per_kvb, 1_000)
        _positive("fee_target_blocks", self.fee_target_blocks)
        _positive("max_in_flight", self.max_in_flight)
        _positive("batch_interval_blocks", self.batch_interval_blocks, 0)
        _positive("min_input_confirmations", self.min_input_confirmations)
        _positive("lock_lease_seconds", self.lock_lease_seconds)
        _positive("stall_after_blocks", self.stall_after_blocks)
        if self.payout.fee_floor_sat_per_kvb < self.limits.min_fee_rate_sat_per_kvb:
            raise InvalidPolicy(
                f"the payout fee floor {self.payout.fee_floor_sat_per_kvb} sat/kvB is below the "
                f"policy check's minimum {self.limits.min_fee_rate_sat_per_kvb}"
            )
