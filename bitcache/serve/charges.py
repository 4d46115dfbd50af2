"""Where the service's money-moving calls go: one seam, the awaitable hooks.

:func:`money_hooks` gives the object every charge, transfer, tip, credit
and hold of the service goes through. It has the interface of
``bitcache.asynchooks.AsyncHooks`` (the group commit: concurrent requests'
charges share one transaction per flush), and switching to that is the one
line in :func:`money_hooks`. Until then :class:`SerialHooks` stands in: every
call runs in one writer thread, so the event loop never blocks and requests
never wait on each other's database locks, and the downloads that queue
while a write runs are charged together by :meth:`Hooks.download_batch`, one
transaction and one commit for all of them. Each caller gets the receipt or
refusal it would have got alone at its turn (the batch sees each charge's
effect on the next); if the batch is refused as a whole (one request's bad
input), each download is charged alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Protocol, TypeVar

from bitcache.errors import BitcacheError
from bitcache.hooks import DownloadRequest, Hooks
from bitcache.services.receipts import DownloadReceipt, MoveReceipt, TransferReceipt

T = TypeVar("T")

#: Downloads charged in one transaction at most.
MAX_BATCH = 1_000


class MoneyHooks(Protocol):
    """The awaitable money-moving calls of the hooks (``AsyncHooks`` has them all)."""

    async def download(self, file: str | bytes, downloader: str, key: str, *,
                       bytes_served: int | None = None) -> DownloadReceipt: ...

    async def download_batch(
        self, requests: Sequence[DownloadRequest]) -> list[DownloadReceipt | BitcacheError]: ...

    async def begin_transfer(self, file: str | bytes, downloader: str, key: str, *,
                             ttl_us: int | None = None) -> TransferReceipt: ...

    async def complete_transfer(self, transfer: TransferReceipt | int,
                                bytes_served: int) -> DownloadReceipt: ...

    async def cancel_transfer(self, transfer: TransferReceipt | int) -> MoveReceipt | None: ...

    async def promo_credit(self, downloader: str, amount_msat: int, key: str) -> MoveReceipt: ...

    async def tip(self, file: str | bytes, tipper: str, amount_msat: int,
                  key: str) -> MoveReceipt: ...

    async def hold(self, file: str | bytes, key: str) -> MoveReceipt: ...

    async def release(self, file: str | bytes, key: str) -> MoveReceipt: ...

    async def refund(self, file: str | bytes, key: str) -> MoveReceipt: ...


class SerialHooks:
    """The money-moving hooks in one writer thread; queued downloads charged as one batch."""

    def __init__(self, hooks: Hooks, max_batch: int = MAX_BATCH):
        self.hooks, self.max_batch = hooks, max_batch
        self._writer: ThreadPoolExecutor | None = None
        self._queue: list[tuple[DownloadRequest, asyncio.Future[object]]] = []
        self._draining = False

    async def _run(self, call: Callable[[], T]) -> T:
        if self._writer is None:  # made on first use (again after a close)
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="bitcache-writer")
        return await asyncio.get_running_loop().run_in_executor(self._writer, call)

    def close(self) -> None:
        """Finish the call in flight and stop the writer thread."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)

    async def download(self, file: str | bytes, downloader: str, key: str, *,
                       bytes_served: int | None = None) -> DownloadReceipt:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._queue.append((DownloadRequest(file, downloader, key, bytes_served), future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        answer = await future
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, DownloadReceipt)
        return answer

    async def _drain(self) -> None:
        """Charge the queued downloads, a batch per write, until none are left."""
        try:
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                requests = [request for request, _ in batch]
                try:
                    answers: list[object] = list(await self._run(partial(self._charge, requests)))
                except Exception as exc:  # not a refusal: every caller of the batch learns it
                    answers = [exc] * len(batch)
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():  # a caller that gave up: its charge stands
                        future.set_result(answer)
        finally:
            self._draining = False

    def _charge(self, requests: list[DownloadRequest]) -> list[DownloadReceipt | BitcacheError]:
        """One batch in one transaction; each alone if the batch is refused as a whole."""
        try:
            return self.hooks.download_batch(requests)
        except BitcacheError:
            return [self._alone(request) for request in requests]

    def _alone(self, r: DownloadRequest) -> DownloadReceipt | BitcacheError:
        try:
            return self.hooks.download(r.file, r.downloader, r.key, bytes_served=r.bytes_served)
        except BitcacheError as exc:
            return exc

    async def download_batch(
            self, requests: Sequence[DownloadRequest]) -> list[DownloadReceipt | BitcacheError]:
        return await self._run(lambda: self.hooks.download_batch(requests))

    async def begin_transfer(self, file: str | bytes, downloader: str, key: str, *,
                             ttl_us: int | None = None) -> TransferReceipt:
        return await self._run(
            lambda: self.hooks.begin_transfer(file, downloader, key, ttl_us=ttl_us))

    async def complete_transfer(self, transfer: TransferReceipt | int,
                                bytes_served: int) -> DownloadReceipt:
        return await self._run(lambda: self.hooks.complete_transfer(transfer, bytes_served))

    async def cancel_transfer(self, transfer: TransferReceipt | int) -> MoveReceipt | None:
        return await self._run(lambda: self.hooks.cancel_transfer(transfer))

    async def promo_credit(self, downloader: str, amount_msat: int, key: str) -> MoveReceipt:
        return await self._run(lambda: self.hooks.promo_credit(downloader, amount_msat, key))

    async def tip(self, file: str | bytes, tipper: str, amount_msat: int,
                  key: str) -> MoveReceipt:
        return await self._run(lambda: self.hooks.tip(file, tipper, amount_msat, key))

    async def hold(self, file: str | bytes, key: str) -> MoveReceipt:
        return await self._run(lambda: self.hooks.hold(file, key))

    async def release(self, file: str | bytes, key: str) -> MoveReceipt:
        return await self._run(lambda: self.hooks.release(file, key))

    async def refund(self, file: str | bytes, key: str) -> MoveReceipt:
        return await self._run(lambda: self.hooks.refund(file, key))


def money_hooks(hooks: Hooks) -> MoneyHooks:
    """The money-moving hooks the service uses (with group commit: ``AsyncHooks(hooks)``)."""
    return SerialHooks(hooks)
