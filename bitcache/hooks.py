"""bitcache.hooks: the thin API a storage server calls on every upload and download.

::

    from bitcache.hooks import Hooks
    from bitcache.core.pricing import PriceRule

    hooks = Hooks.open("sqlite:///bitcache.sqlite")
    hooks.register_file(sha256_hex, "alice", PriceRule.fixed(2_000), size=len(data))
    receipt = hooks.download(sha256_hex, "bob", key=request_id)   # or raises a refusal

Every call that moves money takes an idempotency ``key`` — the event id of
the storage server's request — so a retried request never charges twice:
the retry answers the original receipt (``replayed=True``); the same key for
another event raises ``IdempotencyConflict``. Two-step transfers derive
their completion keys from the reservation id.

Answers are frozen receipts; refusals are raised: ``UnknownFile``,
``FileOwnershipConflict``, ``DownloadCapReached``, ``FileHeld``,
``FileNotHeld``, ``InsufficientFunds``, ``IdempotencyConflict`` — and an
``InvalidInput`` subclass for bad input, with nothing written. The postings
each hook makes are described in ``docs/hooks.md``.

A database outage raises ``StoreUnavailable`` (``OutcomeUnknown`` when the
connection died after COMMIT: retry with the same key). Every call but
``import_catalog`` is abandoned at ``deadline_s`` (``DeadlineExceeded``);
with ``retry=RetryPolicy()`` the money-moving hooks retry by themselves
through a failover, with the same key (:mod:`bitcache.retry`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from bitcache.core.accounts import account_name, prepaid
from bitcache.core.balances import Balance
from bitcache.core.checks import is_int
from bitcache.core.files import (
    CatalogRow,
    FileRecord,
    HoldPolicy,
    ImportReport,
    party_id,
)
from bitcache.core.pricing import FixedRateProvider, PriceRule, RateProvider, SplitPolicy
from bitcache.core.terms import KEEP, Keep, TermChange, TermsUpdate
from bitcache.errors import BitcacheError, InvalidInput
from bitcache.retry import RetryPolicy, retrying
from bitcache.services import charging, credits, earnings, holds, registry, transfers
from bitcache.services.charging import DownloadRequest
from bitcache.services.context import DEFAULT_TRANSFER_TTL_US, Context
from bitcache.services.earnings import FileEarnings
from bitcache.services.groupcommit import FlushPolicy, GroupCommit
from bitcache.services.receipts import DownloadReceipt, MoveReceipt, TransferReceipt
from bitcache.store.deadline import check_seconds, deadline
from bitcache.store.ledger import LedgerStore

__all__ = [
    "KEEP",
    "CatalogRow",
    "DownloadReceipt",
    "DownloadRequest",
    "FileEarnings",
    "FileRecord",
    "FixedRateProvider",
    "FlushPolicy",
    "HoldPolicy",
    "Hooks",
    "ImportReport",
    "Keep",
    "MoveReceipt",
    "PriceRule",
    "RetryPolicy",
    "SplitPolicy",
    "TermChange",
    "TransferReceipt",
]


T = TypeVar("T")
DEFAULT_DEADLINE_S = 30.0


class Hooks:
    """The storage server's API over one ledger. Thread-safe; one per process is typical.

    ``deadline_s``: no call (but ``import_catalog``) waits on the database
    longer; None for no deadline. ``retry``: the money-moving hooks retry
    ``StoreUnavailable`` with the same key under this policy (off by default).
    """

    def __init__(
        self,
        ledger: LedgerStore,
        *,
        splits: SplitPolicy | None = None,
        rates: RateProvider | None = None,
        hold_policy: HoldPolicy = HoldPolicy.REDIRECT,
        clock: Callable[[], int] | None = None,
        transfer_ttl_us: int = DEFAULT_TRANSFER_TTL_US,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        retry: RetryPolicy | None = None,
        flush: FlushPolicy | None = None,
    ):
        if not isinstance(ledger, LedgerStore):
            raise InvalidInput(f"ledger must be a LedgerStore, got {type(ledger).__name__}")
        # Reservations must expire on the ledger's own clock unless told otherwise.
        self.ctx = Context(
            ledger, SplitPolicy() if splits is None else splits, rates, hold_policy,
            ledger.clock if clock is None else clock, transfer_ttl_us,
        )
        self.ledger = ledger
        self.deadline_s = check_seconds(deadline_s)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidInput(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        self.retry = retry
        # Every call that moves money goes through the group commit (see docs/hooks.md).
        self.group = GroupCommit(self.ctx, flush, deadline_s=self.deadline_s)

    def _moving(self, fn: Callable[[], T]) -> T:
        """A keyed, money-moving call: under the deadline, retried if a policy is set."""
        return retrying(self.retry, self.deadline_s, fn)

    def _grouped(self, fn: Callable[[], T]) -> T:
        """A keyed, money-moving call through the group commit (one transaction per flush
        for concurrent callers), under the deadline, retried if a policy is set."""
        return self._moving(lambda: self.group.run(fn))

    def _bounded(self, fn: Callable[[], T]) -> T:
        """Any other call: under the deadline, once."""
        with deadline(self.deadline_s):
            return fn()

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], int] | None = None,
             **options: object) -> Hooks:
        """Open (and migrate) the database at ``url``; ``options`` as for the constructor."""
        ledger = LedgerStore.open(url, clock=clock)
        try:
            return cls(ledger, clock=clock, **options)  # type: ignore[arg-type]
        except BaseException:
            ledger.close()
            raise

    def close(self) -> None:
        """Release the database connections."""
        self.group.close()
        self.ledger.close()

    # -- files -------------------------------------------------------------

    def register_file(
        self, file: str | bytes, uploader: str, price: PriceRule | Keep = KEEP, *,
        size: int | Keep | None = KEEP, cap: int | Keep | None = KEEP,
        referrer: str | Keep | None = KEEP,
    ) -> FileRecord:
        """Register a file by its SHA-256; idempotent for its owner, a conflict for others.

        Re-registering sets the terms given and keeps the ones left out;
        ``cap=None`` or ``referrer=None`` removes them. A first registration
        needs a price.
        """
        update = TermsUpdate.of(price=price, size=size, cap=cap, referrer=referrer)
        return self._bounded(lambda: registry.register_file(self.ctx, file, uploader, update))

    def update_terms(
        self, file: str | bytes, uploader: str, *, price: PriceRule | Keep = KEEP,
        size: int | Keep | None = KEEP, cap: int | Keep | None = KEEP,
        referrer: str | Keep | None = KEEP,
    ) -> FileRecord:
        """The owner changes a file's terms: the ones given are set (None removes), others kept."""
        update = TermsUpdate.of(price=price, size=size, cap=cap, referrer=referrer)
        return self._bounded(lambda: registry.update_terms(self.ctx, file, uploader, update))

    def term_history(self, file: str | bytes) -> list[TermChange]:
        """Every change of a file's owner, price, size, cap or referrer, oldest first."""
        return self._bounded(lambda: registry.term_history(self.ledger, file))

    def transfer_ownership(self, file: str | bytes, new_uploader: str) -> FileRecord:
        """The platform gives a file to another uploader."""
        return self._bounded(
            lambda: registry.transfer_ownership(self.ctx, file, new_uploader))

    def import_catalog(self, rows: Iterable[CatalogRow | tuple[object, ...]]) -> ImportReport:
        """Register a legacy catalog of (file hash, uploader, price msat[, size]) rows."""
        if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
            raise InvalidInput(
                f"catalog rows must be an iterable of rows, got {type(rows).__name__}")
        return registry.import_catalog(self.ctx, rows)

    def file(self, file: str | bytes) -> FileRecord:
        """A registered file (``UnknownFile`` otherwise)."""
        return self._bounded(lambda: registry.get_file(self.ctx, file))

    # -- downloads ---------------------------------------------------------

    def download(
        self, file: str | bytes, downloader: str, key: str, *, bytes_served: int | None = None
    ) -> DownloadReceipt:
        """Authorize and charge one download; answered once its commit is durable.

        Concurrent calls share a transaction (group commit); each gets the
        answer it would have got alone.
        """
        request = charging.check_request(DownloadRequest(file, downloader, key, bytes_served))
        return self._moving(lambda: self.group.download(request))

    def download_batch(
        self, requests: Sequence[DownloadRequest]
    ) -> list[DownloadReceipt | BitcacheError]:
        """Charge many downloads in one transaction; a receipt or a refusal per request."""
        check_batch(requests)
        return self._moving(lambda: charging.charge_downloads(self.ctx, requests))

    def _download_batch_once(
        self, requests: Sequence[DownloadRequest]
    ) -> list[DownloadReceipt | BitcacheError]:
        """:meth:`download_batch` under the deadline, tried once (a caller that retries
        by itself: ``AsyncHooks`` with its own policy)."""
        check_batch(requests)
        return self._bounded(lambda: charging.charge_downloads(self.ctx, requests))

    def begin_transfer(
        self, file: str | bytes, downloader: str, key: str, *, ttl_us: int | None = None
    ) -> TransferReceipt:
        """Reserve the full price of a download whose size served is known only at the end."""
        return self._grouped(
            lambda: transfers.begin_transfer(self.ctx, file, downloader, key, ttl_us=ttl_us))

    def complete_transfer(
        self, transfer: TransferReceipt | int, bytes_served: int
    ) -> DownloadReceipt:
        """Charge the bytes served and release the rest of the reservation."""
        transfers.check_served(bytes_served)
        if isinstance(transfer, TransferReceipt) and transfer.pending_id is None:
            return DownloadReceipt(
                key=transfer.key, entry_id=None, file_hash=transfer.file_hash,
                downloader=transfer.downloader, price_msat=0, uploader_msat=0,
                platform_msat=0, referrer_msat=0, credited="",
                balance_after_msat=self.prepaid_balance(transfer.downloader),
            )
        pending = _pending_id(transfer)
        return self._grouped(
            lambda: transfers.complete_transfer(self.ctx, pending, bytes_served))

    def cancel_transfer(self, transfer: TransferReceipt | int) -> MoveReceipt | None:
        """Release a reservation (None for a free file's transfer: nothing was reserved)."""
        if isinstance(transfer, TransferReceipt) and transfer.pending_id is None:
            return None
        pending = _pending_id(transfer)
        return self._grouped(lambda: transfers.cancel_transfer(self.ctx, pending))

    def expire_transfers(self, now: int | None = None) -> int:
        """Void every expired reservation; returns how many were voided."""
        return self._bounded(lambda: len(self.ledger.expire_pending(now)))

    # -- money in, tips, holds ---------------------------------------------

    def credit_deposit(self, downloader: str, amount_msat: int, key: str) -> MoveReceipt:
        """Credit a confirmed deposit (wallet debit, prepaid credit); for the deposit flow."""
        return self._grouped(
            lambda: credits.credit_deposit(self.ctx, downloader, amount_msat, key))

    def promo_credit(self, downloader: str, amount_msat: int, key: str) -> MoveReceipt:
        """Promotional credit from ``expense:promotions`` to a downloader."""
        return self._grouped(lambda: credits.promo_credit(self.ctx, downloader, amount_msat, key))

    def tip(self, file: str | bytes, tipper: str, amount_msat: int, key: str) -> MoveReceipt:
        """Tip the uploader of a file from the tipper's prepaid balance."""
        return self._grouped(lambda: credits.tip(self.ctx, file, tipper, amount_msat, key))

    def hold(self, file: str | bytes, key: str) -> MoveReceipt:
        """Place a takedown hold: the file's unpaid earnings move to its held account."""
        return self._grouped(lambda: holds.hold(self.ctx, file, key))

    def release(self, file: str | bytes, key: str) -> MoveReceipt:
        """Lift a hold in the uploader's favour."""
        return self._grouped(lambda: holds.release(self.ctx, file, key))

    def refund(self, file: str | bytes, key: str) -> MoveReceipt:
        """Lift a hold by refunding the held balance to the file's downloaders pro rata."""
        return self._grouped(lambda: holds.refund(self.ctx, file, key))

    # -- queries -----------------------------------------------------------

    def balance(self, account: str) -> Balance:
        """The balance of any ledger account."""
        name = account_name(account)
        return self._bounded(lambda: self.ledger.balance(name))

    def prepaid_balance(self, downloader: str) -> int:
        """A downloader's available prepaid msat (0 before their first credit)."""
        name = prepaid(party_id(downloader, "downloader id"))
        found = self._bounded(lambda: self.ledger.balances(name)).get(name)
        return 0 if found is None else found.available(debit_normal=False)

    def earnings(
        self, uploader: str, *, since: int | None = None, until: int | None = None
    ) -> list[FileEarnings]:
        """An uploader's earnings per file (downloads, msat) over ``[since, until)`` µs."""
        return self._bounded(
            lambda: earnings.file_earnings(self.ctx, uploader, since=since, until=until))

    def top_files(
        self, limit: int = 10, *, since: int | None = None, until: int | None = None
    ) -> list[FileEarnings]:
        """The files that earned the most over ``[since, until)`` µs."""
        return self._bounded(
            lambda: earnings.top_files(self.ctx, limit, since=since, until=until))


def check_batch(requests: object) -> None:
    """Refuse a batch that is not a sequence of requests (a string is not)."""
    if isinstance(requests, str | bytes) or not isinstance(requests, Sequence):
        raise InvalidInput(
            "download_batch needs a sequence of DownloadRequest, "
            f"got {type(requests).__name__}")


def _pending_id(transfer: object) -> int:
    """The reservation id of a transfer receipt or an entry id (InvalidInput otherwise)."""
    pending = transfer.pending_id if isinstance(transfer, TransferReceipt) else transfer
    if not is_int(pending):
        raise InvalidInput(
            "transfer must be a TransferReceipt or a reservation id, "
            f"got {type(transfer).__name__}")
    return pending
