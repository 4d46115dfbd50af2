"""bitcache.asynchooks: the storage-server hooks for asyncio (ASGI) servers.

::

    from bitcache.asynchooks import AsyncHooks

    hooks = await AsyncHooks.open("sqlite:///bitcache.sqlite")
    receipt = await hooks.download(sha256_hex, "bob", key=request_id)

The same calls, answers and refusals as :class:`bitcache.hooks.Hooks`, as
coroutines that never block the event loop: input is checked in the loop
(pure Python, no I/O); the database work runs in a worker thread. Calls that
move money (downloads, transfers, tips, credits, holds) are coalesced by the
group commit the wrapped ``Hooks`` shares with its threads: concurrent tasks'
charges go into one transaction per flush, and each task's answer arrives
once that commit is durable. The other calls (registration, queries) run
in asyncio's default thread pool.

Cancelling a task that awaits a charge does not withdraw the charge once it
is queued: it is made or refused as if the task were still waiting. Retry
with the same key to learn its outcome.

``retry=RetryPolicy()`` (the same argument as ``Hooks``; by default the
wrapped hooks' policy) makes the money-moving calls retry
``StoreUnavailable`` with the same key, with backoff and a deadline
(:func:`bitcache.retry.retrying_async`): the waits are ``asyncio.sleep``
and each attempt's wait is bounded, so a retrying call never blocks the
event loop. An attempt that outlives its deadline raises ``OutcomeUnknown``
(its request may still commit; the next attempt replays it if it did).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from bitcache.core.balances import Balance
from bitcache.core.files import CatalogRow, FileRecord, ImportReport
from bitcache.core.pricing import PriceRule
from bitcache.core.terms import KEEP, Keep, TermChange
from bitcache.errors import BitcacheError, InvalidInput
from bitcache.hooks import Hooks, _pending_id
from bitcache.retry import RetryPolicy, retrying_async
from bitcache.services import charging, credits, holds, transfers
from bitcache.services.charging import DownloadRequest
from bitcache.services.earnings import FileEarnings
from bitcache.services.receipts import DownloadReceipt, MoveReceipt, TransferReceipt

__all__ = ["AsyncHooks"]

T = TypeVar("T")


class AsyncHooks:
    """Awaitable hooks over a :class:`~bitcache.hooks.Hooks` (which may serve threads too).

    ``retry``: the money-moving calls retry ``StoreUnavailable`` with the same
    key under this policy; None (the default) takes the wrapped hooks' policy.
    """

    def __init__(self, hooks: Hooks, *, retry: RetryPolicy | None = None):
        if not isinstance(hooks, Hooks):
            raise InvalidInput(f"hooks must be a Hooks, got {type(hooks).__name__}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidInput(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        self.hooks = hooks
        self.ctx = hooks.ctx
        self.group = hooks.group
        self.retry = hooks.retry if retry is None else retry

    @classmethod
    async def open(cls, url: str, **options: object) -> AsyncHooks:
        """Open (and migrate) the database at ``url`` in a thread; options as for ``Hooks``
        (``retry`` included)."""
        return cls(await asyncio.to_thread(Hooks.open, url, **options))  # type: ignore[arg-type]

    async def _moving(self, fn: Callable[[], Awaitable[T]]) -> T:
        """A keyed, money-moving call, retried with the same key if a policy is set."""
        return await retrying_async(self.retry, self.hooks.deadline_s, fn)

    async def _grouped(self, fn: Callable[[], T]) -> T:
        """A money-moving service call through the group commit (see :meth:`_moving`)."""
        return await self._moving(lambda: self.group.run_async(fn))

    async def close(self) -> None:
        """Finish the flushes in flight and release the database connections."""
        await asyncio.to_thread(self.hooks.close)

    # -- money moves: through the group commit -----------------------------

    async def download(
        self, file: str | bytes, downloader: str, key: str, *, bytes_served: int | None = None
    ) -> DownloadReceipt:
        """Authorize and charge one download; answered once its commit is durable."""
        event = charging.check_request(DownloadRequest(file, downloader, key, bytes_served))
        return await self._moving(lambda: self.group.download_async(event))

    async def begin_transfer(
        self, file: str | bytes, downloader: str, key: str, *, ttl_us: int | None = None
    ) -> TransferReceipt:
        """Reserve the full price of a download whose size served is known only at the end."""
        return await self._grouped(
            lambda: transfers.begin_transfer(self.ctx, file, downloader, key, ttl_us=ttl_us))

    async def complete_transfer(
        self, transfer: TransferReceipt | int, bytes_served: int
    ) -> DownloadReceipt:
        """Charge the bytes served and release the rest of the reservation."""
        if isinstance(transfer, TransferReceipt) and transfer.pending_id is None:
            return await asyncio.to_thread(self.hooks.complete_transfer, transfer, bytes_served)
        pending = _pending_id(transfer)
        return await self._grouped(
            lambda: transfers.complete_transfer(self.ctx, pending, bytes_served))

    async def cancel_transfer(self, transfer: TransferReceipt | int) -> MoveReceipt | None:
        """Release a reservation (None for a free file's transfer: nothing was reserved)."""
        if isinstance(transfer, TransferReceipt) and transfer.pending_id is None:
            return None
        pending = _pending_id(transfer)
        return await self._grouped(lambda: transfers.cancel_transfer(self.ctx, pending))

    async def credit_deposit(self, downloader: str, amount_msat: int, key: str) -> MoveReceipt:
        """Credit a confirmed deposit (wallet debit, prepaid credit)."""
        return await self._grouped(
            lambda: credits.credit_deposit(self.ctx, downloader, amount_msat, key))

    async def promo_credit(self, downloader: str, amount_msat: int, key: str) -> MoveReceipt:
        """Promotional credit from ``expense:promotions`` to a downloader."""
        return await self._grouped(
            lambda: credits.promo_credit(self.ctx, downloader, amount_msat, key))

    async def tip(
        self, file: str | bytes, tipper: str, amount_msat: int, key: str
    ) -> MoveReceipt:
        """Tip the uploader of a file from the tipper's prepaid balance."""
        return await self._grouped(
            lambda: credits.tip(self.ctx, file, tipper, amount_msat, key))

    async def hold(self, file: str | bytes, key: str) -> MoveReceipt:
        """Place a takedown hold: the file's unpaid earnings move to its held account."""
        return await self._grouped(lambda: holds.hold(self.ctx, file, key))

    async def release(self, file: str | bytes, key: str) -> MoveReceipt:
        """Lift a hold in the uploader's favour."""
        return await self._grouped(lambda: holds.release(self.ctx, file, key))

    async def refund(self, file: str | bytes, key: str) -> MoveReceipt:
        """Lift a hold by refunding the held balance to the file's downloaders pro rata."""
        return await self._grouped(lambda: holds.refund(self.ctx, file, key))

    # -- everything else: in a thread ----------------------------------------

    async def download_batch(
        self, requests: Sequence[DownloadRequest]
    ) -> list[DownloadReceipt | BitcacheError]:
        """Charge many downloads in one transaction; a receipt or a refusal per request
        (retried by this object's policy, in a thread)."""
        return await self._moving(
            lambda: asyncio.to_thread(self.hooks._download_batch_once, requests))

    async def register_file(
        self, file: str | bytes, uploader: str, price: PriceRule | Keep = KEEP, *,
        size: int | Keep | None = KEEP, cap: int | Keep | None = KEEP,
        referrer: str | Keep | None = KEEP,
    ) -> FileRecord:
        """Register a file by its SHA-256; idempotent for its owner, a conflict for others.
        Terms left out keep their values on a re-registration, as with ``Hooks``."""
        return await asyncio.to_thread(self.hooks.register_file, file, uploader, price,
                                       size=size, cap=cap, referrer=referrer)

    async def update_terms(
        self, file: str | bytes, uploader: str, *, price: PriceRule | Keep = KEEP,
        size: int | Keep | None = KEEP, cap: int | Keep | None = KEEP,
        referrer: str | Keep | None = KEEP,
    ) -> FileRecord:
        """The owner changes a file's terms: the ones given are set (None removes), others kept."""
        return await asyncio.to_thread(self.hooks.update_terms, file, uploader, price=price,
                                       size=size, cap=cap, referrer=referrer)

    async def term_history(self, file: str | bytes) -> list[TermChange]:
        """Every change of a file's owner, price, size, cap or referrer, oldest first."""
        return await asyncio.to_thread(self.hooks.term_history, file)

    async def transfer_ownership(self, file: str | bytes, new_uploader: str) -> FileRecord:
        """The platform gives a file to another uploader."""
        return await asyncio.to_thread(self.hooks.transfer_ownership, file, new_uploader)

    async def import_catalog(
        self, rows: Iterable[CatalogRow | tuple[object, ...]]
    ) -> ImportReport:
        """Register a legacy catalog of (file hash, uploader, price msat[, size]) rows."""
        return await asyncio.to_thread(self.hooks.import_catalog, rows)

    async def file(self, file: str | bytes) -> FileRecord:
        """A registered file (``UnknownFile`` otherwise)."""
        return await asyncio.to_thread(self.hooks.file, file)

    async def expire_transfers(self, now: int | None = None) -> int:
        """Void every expired reservation; returns how many were voided."""
        return await asyncio.to_thread(self.hooks.expire_transfers, now)

    async def balance(self, account: str) -> Balance:
        """The balance of any ledger account."""
        return await asyncio.to_thread(self.hooks.balance, account)

    async def prepaid_balance(self, downloader: str) -> int:
        """A downloader's available prepaid msat (0 before their first credit)."""
        return await asyncio.to_thread(self.hooks.prepaid_balance, downloader)

    async def earnings(
        self, uploader: str, *, since: int | None = None, until: int | None = None
    ) -> list[FileEarnings]:
        """An uploader's earnings per file (downloads, msat) over ``[since, until)`` µs."""
        return await asyncio.to_thread(self.hooks.earnings, uploader, since=since, until=until)

    async def top_files(
        self, limit: int = 10, *, since: int | None = None, until: int | None = None
    ) -> list[FileEarnings]:
        """The files that earned the most over ``[since, until)`` µs."""
        return await asyncio.to_thread(self.hooks.top_files, limit, since=since, until=until)
