"""Recovery from reorgs deeper than N: the operator's steps, as use cases.

A credited deposit whose transaction left the best chain is marked
``reorged`` by the deposit scan (:mod:`bitcache.services.deposits`). Its
credit stands — the downloader can still spend it, nothing is frozen — and
it is an *alarm* until an operator resolves it:

* :meth:`Recovery.alarms` — reorged deposits whose credit stands and that no
  operator acknowledged (``bitcache settle`` exits with its own code while
  there is one);
* :meth:`Recovery.acknowledge` — the operator saw it (say, the transaction is
  back in a mempool and likely to confirm): no longer an alarm; reconcile
  still names it while the credit stands;
* :meth:`Recovery.reverse_deposit` — the transaction cannot confirm any more:
  reverse the credit, optionally covering a spent prepaid balance from
  ``equity:operator`` first, in one transaction;
* :meth:`Recovery.cover_shortfall` — book any other shortfall against
  ``equity:operator`` (the wallet's coins lost to a payout made twice…).

Abandoning a settlement is :meth:`SettlementService.abandon`. See
docs/deposits.md for the procedure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from bitcache.chain.protocol import ChainBackend
from bitcache.clock import now_us
from bitcache.core.accounts import OPERATOR_EQUITY, account_name, default_spec
from bitcache.core.checks import is_hex_digest
from bitcache.core.entries import EntryKind, EntryRequest, Posting, negate
from bitcache.core.money import MSAT_PER_SAT, msat
from bitcache.core.utxo import OutPoint
from bitcache.errors import (
    DepositStateError,
    InvalidInput,
    UnknownAccount,
    UnknownDeposit,
)
from bitcache.services.context import event_key
from bitcache.store import deposits as deposits_rows
from bitcache.store import files as files_rows
from bitcache.store import rows
from bitcache.store.deposits import DepositRecord, DepositStatus, ReorgedDeposit
from bitcache.store.ledger import LedgerStore

_MAX_NOTE = 500

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reversal:
    """A reversed deposit credit: the reversing entry, and the shortfall entry (and its
    amount) that covered a spent prepaid balance first, if one was needed."""

    outpoint: OutPoint
    reversal_entry: int
    shortfall_entry: int | None
    shortfall_msat: int
    replayed: bool


def parse_outpoint(value: object) -> OutPoint:
    """``<txid>:<vout>`` → OutPoint; InvalidInput for anything else."""
    if not isinstance(value, str) or value.count(":") != 1:
        raise InvalidInput(f"an outpoint is <txid>:<vout>, got {value!r}")
    txid, vout = value.split(":")
    if not is_hex_digest(txid):
        raise InvalidInput(f"a txid is 64 lowercase hex characters, got {txid!r}")
    if not vout.isdigit() or len(vout) > 10 or int(vout) > 0xFFFF_FFFF:
        raise InvalidInput(f"an output index is 0 to 4294967295, got {vout!r}")
    return OutPoint(txid, int(vout))


def _note(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_NOTE:
        raise InvalidInput(f"a note is 1 to {_MAX_NOTE} characters of text")
    if not value.isprintable():
        raise InvalidInput("a note is printable text (no control characters)")
    return value.strip()


class Recovery:
    """The operator's recovery steps over a ledger (and a chain backend, to check
    that a deposit's transaction can no longer confirm before reversing it)."""

    def __init__(
        self,
        ledger: LedgerStore,
        chain: ChainBackend | None = None,
        *,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.ledger, self.chain = ledger, chain
        self._clock = clock or now_us

    # --- alarms ----------------------------------------------------------------

    def reorged(self, *, include_reversed: bool = False) -> list[ReorgedDeposit]:
        """Deposits reorganised away after their credit (by default those whose credit stands)."""
        with self.ledger.read() as conn:
            return deposits_rows.reorged(conn, include_reversed=include_reversed)

    def alarms(self) -> list[ReorgedDeposit]:
        """Reorged deposits whose credit stands and that no operator acknowledged."""
        return [r for r in self.reorged() if r.alarm]

    def acknowledge(self, outpoint: OutPoint, note: str) -> ReorgedDeposit:
        """Record that an operator saw the reorg of ``outpoint`` (idempotent)."""
        text = _note(note)
        with self.ledger.write() as conn:
            record = self._reorged(conn, outpoint)
            deposits_rows.acknowledge(conn, record, text, self._clock())
            found = self._find(conn, outpoint)
        log.info("reorged deposit %s acknowledged", outpoint,
                 extra={"outpoint": str(outpoint), "deposit_status": "acknowledged"})
        return found

    # --- reversing a credit ------------------------------------------------------

    def reverse_deposit(
        self,
        outpoint: OutPoint,
        *,
        cover_shortfall: bool = False,
        force: bool = False,
        memo: str = "reorged",
    ) -> Reversal:
        """Reverse the credit of a reorged deposit whose transaction can no longer confirm.

        Refused (DepositStateError) unless the deposit is ``reorged``, and —
        unless ``force`` — while the chain still knows its transaction (in a
        mempool, or confirmed: the scan restores it at N). A prepaid balance
        already spent makes the reversal InsufficientFunds, unless
        ``cover_shortfall`` books the missing amount against ``equity:operator``
        first (same transaction). Replays return the first outcome.
        """
        with self.ledger.read() as conn:
            record = self._deposit(conn, outpoint)
            done = self._find(conn, outpoint) if record.status is DepositStatus.REORGED else None
        if done is not None and done.reversed_by is not None:
            return self._replay(outpoint, done.reversed_by)
        if record.status is not DepositStatus.REORGED:
            raise DepositStateError(
                f"deposit {outpoint} is credited in block {record.block_hash} of the best chain "
                "(as of the last scan): its credit is backed, there is nothing to reverse"
            )
        if not force:
            self._check_gone(outpoint)
        credit = self.ledger.entry(record.entry_id)
        reverse = EntryRequest(
            f"reverse-deposit:{outpoint}", negate(credit.postings), EntryKind.REVERSAL,
            record.entry_id, memo=memo,
        )
        with self.ledger.write() as conn:
            short = self._shortfall(conn, record) if cover_shortfall else 0
            requests = [self._cover(record, short)] if short else []
            entries = self.ledger.record_many_in(
                conn, [*requests, reverse], atomic=True,
                open_accounts=[default_spec(OPERATOR_EQUITY)],
            ).entries()
        log.warning("credit of reorged deposit %s reversed by entry %d (shortfall %d msat)",
                    outpoint, entries[-1].id, short,
                    extra={"outpoint": str(outpoint), "deposit_status": "reversed"})
        return Reversal(
            outpoint, entries[-1].id, entries[0].id if short else None, short, replayed=False
        )

    def _check_gone(self, outpoint: OutPoint) -> None:
        if self.chain is None:
            raise InvalidInput(
                "checking that the deposit's transaction is gone needs a chain backend "
                "(or force)"
            )
        status = self.chain.tx_status(outpoint.txid)
        if status.known:
            where = (
                f"confirmed, {status.confirmations} deep" if status.confirmed else "in the mempool"
            )
            raise DepositStateError(
                f"the transaction of deposit {outpoint} is {where}: it may still confirm, and "
                "the scan restores the deposit once it is N deep; a reversed deposit is never "
                "credited again (force it only once it cannot confirm)"
            )

    def _shortfall(self, conn: Connection, record: DepositRecord) -> int:
        """How much of the deposit's value its account no longer has available."""
        if record.account == OPERATOR_EQUITY:
            return 0
        have = files_rows.available(conn, [record.account]).get(record.account, 0)
        return max(0, record.value_sat * MSAT_PER_SAT - have)

    def _cover(self, record: DepositRecord, amount: int) -> EntryRequest:
        op = record.outpoint
        return EntryRequest(
            f"shortfall:{op}",
            (Posting(OPERATOR_EQUITY, amount), Posting(record.account, -amount)),
            memo=f"shortfall of reorged deposit {op} covered by the operator",
        )

    def _replay(self, outpoint: OutPoint, reversal: int) -> Reversal:
        with self.ledger.read() as conn:
            found = rows.entry_ids_by_keys(conn, [f"shortfall:{outpoint}"])
        ids = found.get(f"shortfall:{outpoint}")
        short = None if not ids else ids[0]
        amount = 0
        if short is not None:
            amount = next(p.amount for p in self.ledger.entry(short).postings if p.amount > 0)
        return Reversal(outpoint, reversal, short, amount, replayed=True)

    # --- other shortfalls -----------------------------------------------------------

    def cover_shortfall(self, account: str, amount_msat: int, key: str, memo: str) -> int:
        """Book ``amount_msat`` against ``equity:operator`` in favour of ``account``
        (debit equity, credit the account); return the entry id. Idempotent by ``key``.

        Crediting ``asset:wallet`` writes the wallet down (coins lost, e.g. to a payout
        made twice); crediting a prepaid or payable account owes its owner more.
        """
        name = account_name(account)
        if name == OPERATOR_EQUITY:
            raise InvalidInput("a shortfall is covered from equity:operator, not booked to it")
        amount = msat(amount_msat)
        request = EntryRequest(
            event_key("shortfall:", key),
            (Posting(OPERATOR_EQUITY, amount), Posting(name, -amount)),
            memo=_note(memo),
        )
        with self.ledger.write() as conn:
            if files_rows.account_id(conn, name) is None:
                raise UnknownAccount(f"account {name} does not exist")
            done = self.ledger.record_many_in(
                conn, [request], atomic=True, open_accounts=[default_spec(OPERATOR_EQUITY)]
            )
        return done.entries()[0].id

    # --- lookups ---------------------------------------------------------------------

    def _deposit(self, conn: Connection, outpoint: OutPoint) -> DepositRecord:
        record = deposits_rows.deposit(conn, outpoint)
        if record is None:
            raise UnknownDeposit(f"no deposit is recorded for {outpoint}")
        return record

    def _find(self, conn: Connection, outpoint: OutPoint) -> ReorgedDeposit:
        """The reorged deposit ``outpoint``, reversed or not (the caller checked its status)."""
        found = deposits_rows.reorged(conn, include_reversed=True)
        return next(r for r in found if r.deposit.outpoint == outpoint)

    def _reorged(self, conn: Connection, outpoint: OutPoint) -> DepositRecord:
        record = self._deposit(conn, outpoint)
        if record.status is not DepositStatus.REORGED:
            raise DepositStateError(
                f"deposit {outpoint} is credited in a block of the best chain: no reorg to "
                "acknowledge"
            )
        return record
