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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from bitcache.core.accounts import account_name, prepaid
from bitcache.core.balances import Balance
from bitcache.core.files import (
    CatalogRow,
    FileRecord,
    HoldPolicy,
    ImportReport,
    new_file,
    party_id,
)
from bitcache.core.pricing import FixedRateProvider, PriceRule, RateProvider, SplitPolicy
from bitcache.errors import BitcacheError, InvalidInput
from bitcache.services import charging, credits, earnings, holds, registry, transfers
from bitcache.services.charging import DownloadRequest
from bitcache.services.context import DEFAULT_TRANSFER_TTL_US, Context
from bitcache.services.earnings import FileEarnings
from bitcache.services.groupcommit import FlushPolicy, GroupCommit
from bitcache.services.receipts import DownloadReceipt, MoveReceipt, TransferReceipt
from bitcache.store.ledger import LedgerStore

__all__ = [
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
    "MoveReceipt",
    "PriceRule",
    "SplitPolicy",
    "TransferReceipt",
]


class Hooks:
    """The storage server's API over one ledger. Thread-safe; one per process is typical."""

    def __init__(
        self,
        ledger: LedgerStore,
        *,
        splits: SplitPolicy | None = None,
        rates: RateProvider | None = None,
        hold_policy: HoldPolicy = HoldPolicy.REDIRECT,
        clock: Callable[[], int] | None = None,
        transfer_ttl_us: int = DEFAULT_TRANSFER_TTL_US,
        flush: FlushPolicy | None = None,
    ):
        # Reservations must expire on the ledger's own clock unless told otherwise.
        self.ctx = Context(
            ledger, splits or SplitPolicy(), rates, hold_policy,
            clock or ledger._clock, transfer_ttl_us,
        )
        self.ledger = ledger
        # Every call that moves money goes through the group commit (see docs/hooks.md).
        self.group = GroupCommit(self.ctx, flush)

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], int] | None = None,
             **options: object) -> Hooks:
        """Open (and migrate) the database at ``url``; ``options`` as for the constructor."""
        return cls(LedgerStore.open(url, clock=clock), clock=clock, **options)  # type: ignore[arg-type]

    def close(self) -> None:
        """Release the database connections."""
        self.group.close()
        self.ledger.close()

    # -- files -------------------------------------------------------------

    def register_file(
        self, file: str | bytes, uploader: str, price: PriceRule, *, size: int | None = None,
        cap: int | None = None, referrer: str | None = None,
    ) -> FileRecord:
        """Register a file by its SHA-256; idempotent for its owner, a conflict for others."""
        rec = new_file(file, uploader, price, size=size, cap=cap, referrer=referrer)
        return registry.register_file(self.ctx, rec)

    def transfer_ownership(self, file: str | bytes, new_uploader: str) -> FileRecord:
        """The platform gives a file to another uploader."""
        return registry.transfer_ownership(self.ctx, file, new_uploader)

    def import_catalog(self, rows: Iterable[CatalogRow | tuple[object, ...]]) -> ImportReport:
        """Register a legacy catalog of (file hash, uploader, price msat[, size]) rows."""
        if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
            raise InvalidInput(
                f"catalog rows must be an iterable of rows, got {type(rows).__name__}")
        return registry.import_catalog(self.ctx, rows)

    def file(self, file: str | bytes) -> FileRecord:
        """A registered file (``UnknownFile`` otherwise)."""
        return registry.get_file(self.ctx, file)

    # -- downloads ---------------------------------------------------------

    def download(
        self, file: str | bytes, downloader: str, key: str, *, bytes_served: int | None = None
    ) -> DownloadReceipt:
        """Authorize and charge one download; answered once its commit is durable.

        Concurrent calls share a transaction (group commit); each gets the
        answer it would have got alone.
        """
        return self.group.download(
            charging.check_request(DownloadRequest(file, downloader, key, bytes_served)))

    def download_batch(
        self, requests: Sequence[DownloadRequest]
    ) -> list[DownloadReceipt | BitcacheError]:
        """Charge many downloads in one transaction; a receipt or a refusal per request."""
        if isinstance(requests, str | bytes) or not isinstance(requests, Sequence):
            raise InvalidInput(
                "download_batch needs a sequence of DownloadRequest, "
                f"got {type(requests).__name__}")
        return charging.charge_downloads(self.ctx, requests)

    def begin_transfer(
        self, file: str | bytes, downloader: str, key: str, *, ttl_us: int | None = None
    ) -> TransferReceipt:
        """Reserve the full price of a download whose size served is known only at the end."""
        return self.group.run(
            lambda: transfers.begin_transfer(self.ctx, file, downloader, key, ttl_us=ttl_us))

    def complete_transfer(
        self, transfer: TransferReceipt | int, bytes_served: int
    ) -> DownloadReceipt:
        """Charge the bytes served and release the rest of the reservation."""
        if isinstance(transfer, TransferReceipt) and transfer.pending_id is None:
            return DownloadReceipt(
                key=transfer.key, entry_id=None, file_hash=transfer.file_hash,
                downloader=transfer.downloader, price_msat=0, uploader_msat=0,
                platform_msat=0, referrer_msat=0, credited="",
                balance_after_msat=self.prepaid_balance(transfer.downloader),
            )
        pending = _pending_id(transfer)
        return self.group.run(
            lambda: transfers.complete_transfer(self.ctx, pending, bytes_served))

    def cancel_transfer(self, transfer: TransferReceipt | int) -> MoveReceipt | None:
        """Release a reservation (None for a free file's transfer: nothing was reserved)."""
        if isinstance(transfer, TransferReceipt) and transfer.pending_id is None:
            return None
        pending = _pending_id(transfer)
        return self.group.run(lambda: transfers.cancel_transfer(self.ctx, pending))

    def expire_transfers(self, now: int | None = None) -> int:
        """Void every expired reservation; returns how many were voided."""
        return len(self.ledger.expire_pending(now))

    # -- money in, tips, holds ---------------------------------------------

    def credit_deposit(self, downloader: str, amount_msat: int, key: str) -> MoveReceipt:
        """Credit a confirmed deposit (wallet debit, prepaid credit); for the deposit flow."""
        return self.group.run(
            lambda: credits.credit_deposit(self.ctx, downloader, amount_msat, key))

    def promo_credit(self, downloader: str, amount_msat: int, key: str) -> MoveReceipt:
        """Promotional credit from ``expense:promotions`` to a downloader."""
        return self.group.run(lambda: credits.promo_credit(self.ctx, downloader, amount_msat, key))

    def tip(self, file: str | bytes, tipper: str, amount_msat: int, key: str) -> MoveReceipt:
        """Tip the uploader of a file from the tipper's prepaid balance."""
        return self.group.run(lambda: credits.tip(self.ctx, file, tipper, amount_msat, key))

    def hold(self, file: str | bytes, key: str) -> MoveReceipt:
        """Place a takedown hold: the file's unpaid earnings move to its held account."""
        return self.group.run(lambda: holds.hold(self.ctx, file, key))

    def release(self, file: str | bytes, key: str) -> MoveReceipt:
        """Lift a hold in the uploader's favour."""
        return self.group.run(lambda: holds.release(self.ctx, file, key))

    def refund(self, file: str | bytes, key: str) -> MoveReceipt:
        """Lift a hold by refunding the held balance to the file's downloaders pro rata."""
        return self.group.run(lambda: holds.refund(self.ctx, file, key))

    # -- queries -----------------------------------------------------------

    def balance(self, account: str) -> Balance:
        """The balance of any ledger account."""
        return self.ledger.balance(account_name(account))

    def prepaid_balance(self, downloader: str) -> int:
        """A downloader's available prepaid msat (0 before their first credit)."""
        name = prepaid(party_id(downloader, "downloader id"))
        found = self.ledger.balances(name).get(name)
        return 0 if found is None else found.available(debit_normal=False)

    def earnings(
        self, uploader: str, *, since: int | None = None, until: int | None = None
    ) -> list[FileEarnings]:
        """An uploader's earnings per file (downloads, msat) over ``[since, until)`` µs."""
        return earnings.file_earnings(self.ctx, uploader, since=since, until=until)

    def top_files(
        self, limit: int = 10, *, since: int | None = None, until: int | None = None
    ) -> list[FileEarnings]:
        """The files that earned the most over ``[since, until)`` µs."""
        return earnings.top_files(self.ctx, limit, since=since, until=until)


def _pending_id(transfer: object) -> int:
    """The reservation id of a transfer receipt or an entry id (InvalidInput otherwise)."""
    pending = transfer.pending_id if isinstance(transfer, TransferReceipt) else transfer
    if isinstance(pending, bool) or not isinstance(pending, int):
        raise InvalidInput(
            "transfer must be a TransferReceipt or a reservation id, "
            f"got {type(transfer).__name__}")
    return pending
