"""Deposits: one address per downloader, credited after N confirmations, exactly once.

:class:`DepositService` hands each downloader a deposit address of the
wallet's external chain (index 0 is the operator's funding address), and
:meth:`DepositService.scan` credits every output paying those addresses once
it has ``confirmations`` confirmations — spent or not: outputs are found by
the transaction that created them (:meth:`ChainBackend.received`, read from a
little below the last scan's reach), so a deposit spent before its credit
(by anyone, with the wallet's keys) is still credited, and reconcile then
names the spend:

* ``asset:wallet`` is debited and ``liability:prepaid:<downloader>`` (or
  ``equity:operator`` for the funding address) credited with the value in
  msat, under the idempotency key ``deposit:<txid>:<vout>`` (``funding:…``),
  and the ``deposits`` row and a ``deposit.credited`` event are written in the
  same transaction, so an outpoint is credited (and announced) once however
  often, or however concurrently, scans run;
* an output orphaned by a reorg before N confirmations is never credited: it
  never reaches N, or it disappears;
* a credited deposit whose block left the best chain while its transaction is
  no longer confirmed is marked ``reorged`` and reported with
  :class:`~bitcache.errors.ReorgTooDeep`. Nothing is reversed automatically:
  an operator investigates, then reverses the credit (see docs/deposits.md).

All chain reads happen before the write transaction; the writer lock is
never held across a network call.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from bitcache.chain.protocol import ChainBackend, TxStatus
from bitcache.clock import now_us
from bitcache.core.accounts import OPERATOR_EQUITY, WALLET, default_spec, prepaid
from bitcache.core.checks import is_hex_digest, is_int
from bitcache.core.entries import EntryRequest, posting
from bitcache.core.money import SAT_PER_BTC, sats_to_msat
from bitcache.core.tip import Tip
from bitcache.core.utxo import OutPoint, Utxo
from bitcache.errors import (
    ChainMismatch,
    ChainProtocolError,
    ChainUnavailable,
    InvalidAccountName,
    InvalidInput,
    InvalidPolicy,
    ReorgTooDeep,
    UnknownAccount,
    WalletMismatch,
)
from bitcache.events.kinds import EventKind, deposit_data, deposit_subject
from bitcache.store import deposits as deposits_rows
from bitcache.store import outbox
from bitcache.store.deposits import (
    DepositAddress,
    DepositRecord,
    DepositStatus,
    ReorgedDeposit,
    ScanState,
)
from bitcache.store.ledger import LedgerStore
from bitcache.telemetry.metrics import observe_deposits_waiting
from bitcache.wallet.gaplimit import next_deposit_index
from bitcache.wallet.keys import HDWallet

log = logging.getLogger(__name__)

#: External-chain index reserved for the operator's funding of the hot wallet.
OPERATOR_INDEX = 0
#: Confirmations before a deposit is credited (testnet default).
DEFAULT_CONFIRMATIONS = 3
#: Credited deposits buried deeper than this below the tip are not re-checked.
DEFAULT_WATCH_DEPTH = 2016
#: Blocks a scan reads below the lowest height an uncredited deposit could have (room for a
#: reorg that moved a transaction to a lower block).
RESCAN_MARGIN = 6
_MAX_SAT = 21_000_000 * SAT_PER_BTC
_VIEW_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Sighting:
    """An output paying an assigned address that has too few confirmations so far."""

    outpoint: OutPoint
    index: int
    account: str
    value_sat: int
    confirmations: int


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What one scan saw and did.

    ``credited``: deposits credited by this scan. ``waiting``: outputs below N
    confirmations, not on record. ``seen_credited``: outputs at N or more that an earlier scan
    credited. ``moved``: credited deposits whose transaction was reorganised
    into another best-chain block (the credit stands; the new block is
    recorded). ``restored``: deposits marked reorged whose transaction is back
    at N confirmations. ``reorged``: deposits found reorganised away by this
    scan (the scan then raised :class:`ReorgTooDeep`).
    """

    tip: Tip
    credited: tuple[DepositRecord, ...] = ()
    waiting: tuple[Sighting, ...] = ()
    seen_credited: int = 0
    moved: tuple[DepositRecord, ...] = ()
    restored: tuple[DepositRecord, ...] = ()
    reorged: tuple[DepositRecord, ...] = ()

    @property
    def credited_sat(self) -> int:
        """Total value credited by this scan, in sats."""
        return sum(d.value_sat for d in self.credited)


@dataclass(frozen=True, slots=True)
class _Ready:
    """An output with N confirmations, its address, and the block holding it."""

    utxo: Utxo
    address: DepositAddress
    height: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class _View:
    """One consistent reading of the chain (the tip did not move while it was taken)."""

    tip: Tip
    ready: tuple[_Ready, ...]
    waiting: tuple[Sighting, ...]
    changes: tuple[tuple[DepositRecord, DepositRecord], ...]  # (as stored, as it should be)


class _ChainMoved(Exception):
    """The chain changed while it was being read: read it again."""



class DepositService:
    """Deposit addresses for downloaders and the scanner that credits their deposits.

    ``wallet`` may be watch-only: only public derivation is used.
    ``watch_depth`` bounds how far below the tip credited deposits are
    re-checked for reorgs on every scan (None: all of them).
    ``gap_limit``: None (the default) hands out addresses without limit — the
    scan asks about every issued address, so none needs a wallet's recovery
    gap; an int refuses a new address more than that many indices past the
    highest funded one (for a seed that other wallets must be able to
    restore with that gap), raising GapLimitExceeded.
    """

    def __init__(
        self,
        ledger: LedgerStore,
        wallet: HDWallet,
        chain: ChainBackend,
        *,
        confirmations: int = DEFAULT_CONFIRMATIONS,
        gap_limit: int | None = None,
        watch_depth: int | None = DEFAULT_WATCH_DEPTH,
        clock: Callable[[], int] | None = None,
    ) -> None:
        _check_parts(ledger, wallet, chain)
        self.confirmations = _positive("confirmations", confirmations)
        self.gap_limit = None if gap_limit is None else _positive("gap_limit", gap_limit)
        self.watch_depth = None if watch_depth is None else _positive("watch_depth", watch_depth)
        self.ledger, self.wallet, self.chain = ledger, wallet, chain
        self._clock = clock or now_us
        self._verified: set[DepositAddress] = set()

    # -- addresses -----------------------------------------------------------

    def deposit_address(self, downloader: str) -> str:
        """The downloader's deposit address: assigned on first call, the same ever after.

        Raises InvalidAccountName for a name that cannot form a prepaid
        account; GapLimitExceeded only when a ``gap_limit`` is configured and
        a new address would leave more than that many unfunded in a row.
        """
        if not isinstance(downloader, str):
            raise InvalidAccountName(f"downloader must be text, got {type(downloader).__name__}")
        return self._assign(prepaid(downloader)).address

    def funding_address(self) -> str:
        """The operator's address for funding the hot wallet (external index 0)."""
        return self._assign(OPERATOR_EQUITY).address

    def addresses(self) -> list[DepositAddress]:
        """Every assigned address, by index."""
        with self.ledger.read() as conn:
            return deposits_rows.addresses(conn)

    def _assign(self, account: str) -> DepositAddress:
        with self.ledger.read() as conn:
            found = deposits_rows.address_of_account(conn, account)
            unscanned = found is None and deposits_rows.scan_state(conn) is None
        if found is None:
            # Before the first scan, the tip at which the first address is issued is
            # where deposits can start: the scan reads history from there, not genesis.
            tip = _check_tip(self.chain.tip()) if unscanned else None
            with self.ledger.write() as conn:
                found = deposits_rows.address_of_account(conn, account)
                if found is None:
                    if account != OPERATOR_EQUITY:
                        self._ensure_operator(conn)
                    found = self._new_address(conn, account)
                    if tip is not None and deposits_rows.scan_state(conn) is None:
                        deposits_rows.save_scan_state(conn, tip, self._clock())
        return self._verify(found)

    def _ensure_operator(self, conn: Connection) -> None:
        if deposits_rows.address_of_account(conn, OPERATOR_EQUITY) is None:
            self._new_address(conn, OPERATOR_EQUITY)

    def _new_address(self, conn: Connection, account: str) -> DepositAddress:
        if account == OPERATOR_EQUITY:
            index = OPERATOR_INDEX
        elif self.gap_limit is None:
            index = deposits_rows.next_index(conn)
        else:
            issued = deposits_rows.issued_indices(conn) | {OPERATOR_INDEX}
            funded = deposits_rows.funded_indices(conn)
            index = next_deposit_index(issued, funded, gap_limit=self.gap_limit)
        key = self.wallet.receive_key(index)
        address = DepositAddress(index, account, key.script_pubkey, key.address)
        deposits_rows.insert_address(conn, address, self._clock())
        self._verified.add(address)  # derived from this wallet just now
        return address

    def _verify(self, address: DepositAddress) -> DepositAddress:
        """Refuse a wallet that does not derive the addresses on record."""
        if address not in self._verified:
            key = self.wallet.receive_key(address.index)
            if key.script_pubkey != address.script_pubkey:
                raise WalletMismatch(
                    f"external index {address.index} of this wallet is not the address on "
                    f"record for {address.account}: the database belongs to another wallet"
                )
            self._verified.add(address)
        return address

    # -- queries -------------------------------------------------------------

    def deposits(self, status: DepositStatus | None = None) -> list[DepositRecord]:
        """Recorded deposits (all, or those with ``status``)."""
        with self.ledger.read() as conn:
            return deposits_rows.deposits(conn, status)

    def credited_deposits(self) -> list[DepositRecord]:
        """Credited deposits whose block is in the best chain as of the last scan:
        the wallet coins settlement may spend (with its own change)."""
        return self.deposits(DepositStatus.CREDITED)

    def reorged_deposits(self, *, include_reversed: bool = False) -> list[ReorgedDeposit]:
        """Credited deposits reorganised away; by default those whose credit still stands.

        Reconcile fails while this list is not empty.
        """
        with self.ledger.read() as conn:
            return deposits_rows.reorged(conn, include_reversed=include_reversed)

    def credit_times(self) -> dict[OutPoint, int]:
        """When each recorded deposit was credited (µs), by outpoint."""
        with self.ledger.read() as conn:
            return deposits_rows.credit_times(conn)

    def waiting(self) -> list[Sighting]:
        """Outputs paying an assigned address that no scan has credited yet: below N
        confirmations, or at N and credited by the next scan. Reads the chain, writes
        nothing."""
        view = self._observe(self.addresses())
        ready = [
            Sighting(r.utxo.outpoint, r.address.index, r.address.account, r.utxo.value_sat,
                     r.utxo.confirmations(view.tip.height))
            for r in view.ready
        ]
        found = [*view.waiting, *ready]
        with self.ledger.read() as conn:
            known = deposits_rows.known_outpoints(conn, [w.outpoint for w in found])
        fresh = [w for w in found if w.outpoint not in known]
        observe_deposits_waiting(len(fresh), sum(w.value_sat for w in fresh))
        return sorted(fresh, key=lambda w: (-w.confirmations, w.outpoint.txid, w.outpoint.vout))

    def scan_state(self) -> ScanState | None:
        """The tip the last completed scan saw, or None before the first scan."""
        with self.ledger.read() as conn:
            return deposits_rows.scan_state(conn)

    # -- scanning ------------------------------------------------------------

    def scan(self, *, raise_on_reorg: bool = True) -> ScanReport:
        """Credit every deposit with N confirmations not credited yet; check old credits.

        Chain errors propagate (a ChainError subclass) and nothing is written.
        Raises ReorgTooDeep, after recording everything else this scan found,
        when credited deposits were reorganised away (with ``raise_on_reorg``
        False they are in ``ScanReport.reorged`` instead; either way they stay
        listed by :meth:`reorged_deposits` until resolved). Raises WalletMismatch
        when the wallet does not derive the first or the last stored address,
        or an address that received an output.
        """
        assigned = self.addresses()
        for address in {assigned[0], assigned[-1]} if assigned else ():
            self._verify(address)
        view = self._observe(assigned)
        for address in {r.address for r in view.ready}:
            self._verify(address)
        report = self._commit(view)
        _log_scan(report)
        if report.reorged and raise_on_reorg:
            names = tuple(str(d.outpoint) for d in report.reorged)
            raise ReorgTooDeep(
                f"{len(names)} credited deposit(s) left the best chain after their credit: "
                f"{', '.join(names)}. Their credits stand until the chain restores them or an "
                "operator reverses them (see reorged_deposits(), `bitcache deposits reorged`)",
                outpoints=names,
            )
        return report

    def _observe(self, assigned: Sequence[DepositAddress]) -> _View:
        for _ in range(_VIEW_ATTEMPTS):
            try:
                view = self._observe_once(assigned)
                if _check_tip(self.chain.tip()) == view.tip:
                    return view
            except _ChainMoved:
                pass
        raise ChainUnavailable("the chain kept moving while deposits were scanned; scan again")

    def _history_from(self) -> int:
        """The lowest height whose outputs a scan reads: a little below where an output
        could still have had fewer than N confirmations at the last scan (0 before any)."""
        with self.ledger.read() as conn:
            state = deposits_rows.scan_state(conn)
        if state is None:
            return 0
        return max(0, state.tip.height - self.confirmations + 1 - RESCAN_MARGIN)

    def _observe_once(self, assigned: Sequence[DepositAddress]) -> _View:
        tip = _check_tip(self.chain.tip())
        hashes = _BlockHashes(self.chain, tip)
        by_script = {a.script_pubkey: a for a in assigned}
        since = self._history_from()
        found = self.chain.received(list(by_script), since) if by_script else []
        ready: list[_Ready] = []
        waiting: list[Sighting] = []
        for utxo in _checked_utxos(found, by_script, tip):
            address = by_script[utxo.script_pubkey]
            confs = utxo.confirmations(tip.height)
            if utxo.height is not None and confs >= self.confirmations:
                block = hashes.at(utxo.height)
                if utxo.block_hash is not None and utxo.block_hash != block:
                    raise _ChainMoved
                ready.append(_Ready(utxo, address, utxo.height, block))
            else:
                waiting.append(
                    Sighting(utxo.outpoint, address.index, address.account, utxo.value_sat, confs)
                )
        return _View(tip, tuple(ready), tuple(waiting), tuple(self._recheck(tip, hashes)))

    def _recheck(self, tip: Tip, hashes: _BlockHashes) -> list[tuple[DepositRecord, DepositRecord]]:
        """Decide, for stored deposits, which left the best chain or came back."""
        low = 0 if self.watch_depth is None else max(0, tip.height - self.watch_depth)
        with self.ledger.read() as conn:
            credited = deposits_rows.credited_since(conn, low)
            stranded = [r.deposit for r in deposits_rows.reorged(conn)]
        changes = []
        for d in credited:
            if d.block_height <= tip.height and hashes.at(d.block_height) == d.block_hash:
                continue
            status = self._tx_status(d.outpoint.txid, tip)
            if status.confirmed:
                changes.append((d, _at(d, status, DepositStatus.CREDITED)))
            else:
                changes.append((d, dataclasses.replace(d, status=DepositStatus.REORGED)))
        for d in stranded:
            status = self._tx_status(d.outpoint.txid, tip)
            depth = tip.height - (status.block_height or 0) + 1
            if status.confirmed and depth >= self.confirmations:
                changes.append((d, _at(d, status, DepositStatus.CREDITED)))
        return changes

    def _tx_status(self, txid: str, tip: Tip) -> TxStatus:
        status = self.chain.tx_status(txid)
        if not isinstance(status, TxStatus) or status.txid != txid:
            raise ChainProtocolError(f"the backend answered the status of another tx for {txid}")
        if status.confirmed:
            height = status.block_height
            if not is_int(height) or height < 0:
                raise ChainProtocolError(f"confirmed tx {txid} has no valid block height")
            _check_hash(status.block_hash, f"block of tx {txid}")
            if height > tip.height:
                raise _ChainMoved
        return status

    def _commit(self, view: _View) -> ScanReport:
        now = self._clock()
        with self.ledger.write() as conn:
            known = deposits_rows.known_outpoints(
                conn, [*(r.utxo.outpoint for r in view.ready), *(w.outpoint for w in view.waiting)]
            )
            fresh = [r for r in view.ready if r.utxo.outpoint not in known]
            credited = self._credit(conn, fresh, now) if fresh else []
            for before, after in view.changes:
                deposits_rows.update_location(
                    conn, before.outpoint, after.status, after.block_hash, after.block_height
                )
            deposits_rows.save_scan_state(conn, view.tip, now)
        ok = DepositStatus.CREDITED
        return ScanReport(
            tip=view.tip,
            credited=tuple(credited),
            waiting=tuple(w for w in view.waiting if w.outpoint not in known),
            seen_credited=len(view.ready) - len(fresh),
            moved=tuple(a for b, a in view.changes if b.status is ok and a.status is ok),
            restored=tuple(a for b, a in view.changes if b.status is not ok and a.status is ok),
            reorged=tuple(a for _, a in view.changes if a.status is DepositStatus.REORGED),
        )

    def _credit(self, conn: Connection, fresh: Sequence[_Ready], now: int) -> list[DepositRecord]:
        """Ledger entries and deposit rows for ``fresh``, in the caller's transaction."""
        names = sorted({WALLET, *(r.address.account for r in fresh)})
        specs = [default_spec(n) for n in names if not self._account_exists(conn, n)]
        requests = [_credit_request(r) for r in fresh]
        entries = self.ledger.record_many_in(
            conn, requests, atomic=True, open_accounts=specs
        ).entries()
        records = [
            DepositRecord(
                r.utxo.outpoint, r.address.index, r.address.account, r.utxo.value_sat,
                r.block_hash, r.height, e.id, DepositStatus.CREDITED,
            )
            for r, e in zip(fresh, entries, strict=True)
        ]
        deposits_rows.insert_deposits(conn, records, now)
        for d in records:
            op = d.outpoint
            data = deposit_data(
                txid=op.txid, vout=op.vout, account=d.account, value_sat=d.value_sat,
                block_hash=d.block_hash, block_height=d.block_height, entry_id=d.entry_id,
            )
            kind = EventKind.DEPOSIT_CREDITED.value
            outbox.append(conn, kind, deposit_subject(op.txid, op.vout), data, now)
        return records

    def _account_exists(self, conn: Connection, name: str) -> bool:
        try:
            self.ledger.account_id(conn, name)
        except UnknownAccount:
            return False
        return True


# --- helpers --------------------------------------------------------------------


def _log_scan(report: ScanReport) -> None:
    """Log every deposit state change a scan committed."""
    for what, found, level in (
        ("credited", report.credited, logging.INFO),
        ("moved to another block", report.moved, logging.INFO),
        ("restored to the best chain", report.restored, logging.INFO),
        ("left the best chain after its credit", report.reorged, logging.WARNING),
    ):
        for d in found:
            log.log(
                level, "deposit %s (%d sat to %s) %s at height %d",
                d.outpoint, d.value_sat, d.account, what, d.block_height,
                extra={"outpoint": str(d.outpoint), "account": d.account,
                       "value_sat": d.value_sat, "deposit_status": d.status.value},
            )
    observe_deposits_waiting(len(report.waiting), sum(w.value_sat for w in report.waiting))
    log.debug("deposit scan at height %d: %d waiting for confirmations",
              report.tip.height, len(report.waiting))


class _BlockHashes:
    """Best-chain block hashes by height, asked of the backend once per scan."""

    def __init__(self, chain: ChainBackend, tip: Tip) -> None:
        self._chain = chain
        self._known = {tip.height: tip.block_hash}

    def at(self, height: int) -> str:
        if height not in self._known:
            self._known[height] = _check_hash(self._chain.block_hash(height), f"block {height}")
        return self._known[height]


def _credit_request(ready: _Ready) -> EntryRequest:
    op, account = ready.utxo.outpoint, ready.address.account
    amount = sats_to_msat(ready.utxo.value_sat)
    prefix, what = ("funding", "operator funding") if account == OPERATOR_EQUITY else (
        "deposit", "deposit")
    return EntryRequest(
        f"{prefix}:{op.txid}:{op.vout}",
        (posting(WALLET, amount), posting(account, -amount)),
        memo=f"{what} {op} to {ready.address.address} ({ready.utxo.value_sat} sat)",
    )


def _at(record: DepositRecord, status: TxStatus, new: DepositStatus) -> DepositRecord:
    """``record`` relocated to the block ``status`` names."""
    return dataclasses.replace(
        record,
        status=new,
        block_hash=status.block_hash or record.block_hash,
        block_height=record.block_height if status.block_height is None else status.block_height,
    )


def _check_hash(value: object, what: str) -> str:
    if not is_hex_digest(value):
        raise ChainProtocolError(f"the backend gave a malformed hash for {what}: {value!r}")
    return value


def _check_tip(tip: object) -> Tip:
    if not isinstance(tip, Tip) or not is_int(tip.height):
        raise ChainProtocolError(f"the backend gave a malformed tip: {tip!r}")
    if tip.height < 0:
        raise ChainProtocolError(f"the backend gave a negative tip height: {tip.height}")
    _check_hash(tip.block_hash, "the tip")
    return tip


def _checked_utxos(
    found: object, by_script: dict[bytes, DepositAddress], tip: Tip
) -> list[Utxo]:
    """The backend's UTXOs, each checked; duplicates folded; garbage refused."""
    if not isinstance(found, list):
        raise ChainProtocolError(f"the backend gave {type(found).__name__} for a UTXO list")
    seen: dict[OutPoint, Utxo] = {}
    for utxo in found:
        _check_utxo(utxo, by_script)
        if utxo.height is not None and utxo.height > tip.height:
            raise _ChainMoved
        if seen.setdefault(utxo.outpoint, utxo) != utxo:
            raise ChainProtocolError(f"the backend listed {utxo.outpoint} twice, differently")
    return list(seen.values())


def _check_utxo(utxo: object, by_script: dict[bytes, DepositAddress]) -> None:
    if not isinstance(utxo, Utxo) or not isinstance(utxo.outpoint, OutPoint):
        raise ChainProtocolError(f"the backend gave {type(utxo).__name__} for a UTXO")
    op, value, height = utxo.outpoint, utxo.value_sat, utxo.height
    _check_hash(op.txid, f"a UTXO's txid ({op})")
    if not is_int(op.vout) or op.vout < 0:
        raise ChainProtocolError(f"UTXO {op} has an invalid output index")
    if not is_int(value) or not 0 < value <= _MAX_SAT:
        raise ChainProtocolError(f"UTXO {op} has an invalid value {value!r}")
    if utxo.script_pubkey not in by_script:
        raise ChainProtocolError(f"UTXO {op} pays a script that was not asked about")
    if height is not None and (not is_int(height)
                               or height < 0):
        raise ChainProtocolError(f"UTXO {op} has an invalid height {height!r}")
    if utxo.block_hash is not None:
        _check_hash(utxo.block_hash, f"the block of UTXO {op}")


def _positive(name: str, value: object) -> int:
    if not is_int(value) or value < 1:
        raise InvalidPolicy(f"{name} must be a positive int, got {value!r}")
    return value


def _check_parts(ledger: object, wallet: object, chain: object) -> None:
    if not isinstance(ledger, LedgerStore):
        raise InvalidInput(f"ledger must be a LedgerStore, got {type(ledger).__name__}")
    if not isinstance(wallet, HDWallet):
        raise InvalidInput(f"wallet must be an HDWallet, got {type(wallet).__name__}")
    if not isinstance(chain, ChainBackend):
        raise InvalidInput(f"chain must be a ChainBackend, got {type(chain).__name__}")
    if chain.network is not wallet.network:
        raise ChainMismatch(
            f"the chain backend serves {chain.network.value}, the wallet is for "
            f"{wallet.network.value}"
        )
