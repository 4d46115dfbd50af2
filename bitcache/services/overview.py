"""What the web pages show: an uploader's overview and the operator's dashboard.

Each function gathers one page's figures in one read transaction: balances,
money over time (:mod:`bitcache.store.timeline`), top files, the payout
address, payouts and the newest settlements. Nothing here needs the chain:
the tip height comes in from the caller. The next payout follows the
payout policy's rules a payee must meet (a payout address, the minimum
amount); the planner may still wait for a batch or a fee it accepts.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from bitcache.core.accounts import (
    NETWORK_FEES,
    PLATFORM_REVENUE,
    SETTLING,
    WALLET,
    AccountKind,
    kind_of,
    payable,
)
from bitcache.core.balances import Balance
from bitcache.core.files import party_id
from bitcache.core.money import MSAT_PER_SAT
from bitcache.services.deposits import Sighting
from bitcache.settlement.model import Settlement
from bitcache.settlement.payouts import PayoutPolicy
from bitcache.settlement.stalls import Stall, stall_of
from bitcache.settlement.states import SettlementState
from bitcache.store import files as files_rows
from bitcache.store import settlement as settlement_rows
from bitcache.store import timeline as timeline_rows
from bitcache.store.files import FileEarnings
from bitcache.store.ledger import LedgerStore
from bitcache.store.timeline import Flow, Side

HOUR_US = 3_600_000_000


class Period(enum.Enum):
    """How a chart cuts time: its period in µs."""

    HOUR = HOUR_US
    DAY = 24 * HOUR_US
    WEEK = 7 * 24 * HOUR_US

    @classmethod
    def named(cls, name: str | None, default: Period) -> Period:
        """``hour``, ``day`` or ``week`` (anything else: the default)."""
        return next((p for p in cls if p.name.lower() == name), default)


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: ``(period start µs, msat)`` points, oldest first."""

    label: str
    points: tuple[tuple[int, int], ...]

    @property
    def total_msat(self) -> int:
        return sum(m for _, m in self.points)


@dataclass(frozen=True, slots=True)
class NextPayout:
    """The payout the current policy would plan next, or why none."""

    due: bool
    amount_msat: int
    reason: str


@dataclass(frozen=True, slots=True)
class PayoutRow:
    """One payout of an uploader: its settlement, transaction and split."""

    settlement_id: int
    state: SettlementState
    txid: str | None
    received_sat: int
    fee_share_msat: int
    created_height: int
    confirmations: int

    @property
    def amount_msat(self) -> int:
        return self.received_sat * MSAT_PER_SAT + self.fee_share_msat


@dataclass(frozen=True, slots=True)
class UploaderOverview:
    """Everything the uploader page shows."""

    uploader: str
    payable_msat: int
    settling_msat: int
    payout_address: str | None
    next_payout: NextPayout
    earnings: Series
    period: Period
    top_files: tuple[FileEarnings, ...]
    payouts: tuple[PayoutRow, ...]


@dataclass(frozen=True, slots=True)
class Family:
    """The books of one account family: how many accounts, their normal balance."""

    name: str
    kind: AccountKind
    accounts: int
    balance_msat: int
    reserved_msat: int


@dataclass(frozen=True, slots=True)
class SettlementRow:
    """A settlement as the dashboard lists it."""

    id: int
    state: SettlementState
    txid: str | None
    payees: int
    payout_sat: int
    fee_sat: int
    age_blocks: int | None
    confirmations: int
    stall: Stall | None


@dataclass(frozen=True, slots=True)
class OperatorOverview:
    """Everything the operator dashboard shows, but the reconcile report."""

    families: tuple[Family, ...]
    series: tuple[Series, ...]
    period: Period
    settlements: tuple[SettlementRow, ...]
    wallet_books_msat: int
    tip_height: int | None
    waiting: tuple[Sighting, ...] | None = None  # None: the chain could not be asked


def next_payout(available_msat: int, address: str | None, settling_msat: int,
                policy: PayoutPolicy) -> NextPayout:
    """Whether the policy pays this balance next cycle, and why not when it does not."""
    minimum = policy.min_payout_sat * MSAT_PER_SAT
    if address is None:
        return NextPayout(False, 0, "no payout address: none can be paid until one is set")
    if available_msat < minimum:
        short = -(-(minimum - available_msat) // MSAT_PER_SAT)
        why = (f"below the minimum payout of {policy.min_payout_sat:,} sat "
               f"({short:,} sat more to go)")
        if settling_msat:
            why += f"; {settling_msat:,} msat is already on its way"
        return NextPayout(False, 0, why)
    return NextPayout(True, available_msat,
                      "due at the next settlement cycle (the network fee share is taken "
                      "from it)" if policy.fee_payer.value == "uploader" else
                      "due at the next settlement cycle (the platform pays the fee)")


def _payout_rows(uploader: str, settlements: Sequence[Settlement]) -> tuple[PayoutRow, ...]:
    rows = []
    for s in settlements:
        txid = s.confirmed_txid or (s.latest.txid if s.latest else None)
        for p in s.payouts:
            if p.uploader == uploader:
                rows.append(PayoutRow(s.id, s.state, txid, p.payout_sat, p.fee_share_msat,
                                      s.created_height, s.confirmations))
    return tuple(sorted(rows, key=lambda r: -r.settlement_id))


def uploader_overview(
    ledger: LedgerStore, uploader: str, *, policy: PayoutPolicy, period: Period = Period.DAY,
    top: int = 10, payouts: int = 100,
) -> UploaderOverview:
    """The uploader page: balance, next payout, earnings over time, top files, the newest
    ``payouts``."""
    uploader = party_id(uploader, "uploader id")
    account = payable(uploader)
    with ledger.read() as conn:
        found = files_rows.account_id(conn, account)
        ids = [] if found is None else [found]
        balance = files_rows.balances(conn, [account]).get(account, (0, 0))
        points = timeline_rows.flow_by_period(
            conn, Flow(ids, Side.CREDITS, files_only=True), period.value)
        files = files_rows.earnings(conn, ids, limit=top)
        addresses = settlement_rows.payout_address_history(conn, uploader)
        settlements = settlement_rows.newest_settlements(conn, payouts, paying=uploader)
    address = addresses[-1].address if addresses else None
    posted, reserved = balance
    available = -posted - reserved
    return UploaderOverview(
        uploader, available, reserved, address,
        next_payout(available, address, reserved, policy),
        Series("earned", tuple(points)), period, tuple(files),
        _payout_rows(uploader, settlements))


def _family(name: str) -> str:
    parts = name.split(":")
    return ":".join(parts[:2]) + (":*" if len(parts) > 2 else "")


def families(balances: dict[str, Balance]) -> tuple[Family, ...]:
    """Balances summed by family (``liability:payable:*``), on each family's normal side."""
    sums: dict[str, tuple[AccountKind, int, int, int]] = {}
    for name, b in balances.items():
        fam, kind = _family(name), kind_of(name)
        debit = kind.debit_normal
        _, n, bal, res = sums.get(fam, (kind, 0, 0, 0))
        reserved = b.pending_credits if debit else b.pending_debits
        sums[fam] = (kind, n + 1, bal + b.normal(debit), res + reserved)
    order = list(AccountKind)
    return tuple(Family(f, kind, n, bal, res) for f, (kind, n, bal, res)
                 in sorted(sums.items(), key=lambda i: (order.index(i[1][0]), i[0])))


def _settlement_row(s: Settlement, tip: int | None, stall_after: int) -> SettlementRow:
    txid = s.confirmed_txid or (s.latest.txid if s.latest else None)
    fee = s.version(txid).fee_sat if txid else 0
    return SettlementRow(s.id, s.state, txid, len(s.payouts), s.payout_sat, fee,
                         None if tip is None else tip - s.created_height, s.confirmations,
                         stall_of(s, tip, stall_after))


def operator_overview(
    ledger: LedgerStore, *, tip_height: int | None, stall_after_blocks: int,
    period: Period = Period.DAY, limit: int = 20,
    waiting: Sequence[Sighting] | None = None,
) -> OperatorOverview:
    """The dashboard: books by family, money over time, the newest ``limit`` settlements."""
    balances = ledger.balances()
    with ledger.read() as conn:
        settlements = settlement_rows.newest_settlements(conn, limit)
        def ids(prefix: str) -> list[int]:
            return files_rows.account_ids_with_prefix(conn, prefix)

        flows = (
            ("platform revenue", Flow(ids(PLATFORM_REVENUE), Side.CREDITS)),
            ("deposits", Flow(ids(WALLET), Side.DEBITS, key_prefix="deposit:")),
            ("payouts", Flow(ids(SETTLING), Side.DEBITS)),
            ("network fees", Flow(ids(NETWORK_FEES), Side.DEBITS)),
        )
        series = tuple(Series(label, tuple(timeline_rows.flow_by_period(conn, f, period.value)))
                       for label, f in flows)
    rows = tuple(_settlement_row(s, tip_height, stall_after_blocks) for s in settlements)
    wallet = balances.get(WALLET, Balance())
    return OperatorOverview(families(balances), series, period, rows, wallet.posted,
                            tip_height, None if waiting is None else tuple(waiting))
