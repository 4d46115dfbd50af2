"""Where the service's money-moving calls go: one seam, the awaitable hooks.

:func:`money_hooks` gives the object every charge, transfer, tip, credit
and hold of the service goes through. It has the interface of
``bitcache.asynchooks.AsyncHooks`` (the group commit: concurrent requests'
charges share one transaction per flush); where that is not available,
:class:`SerialHooks` runs each call in one dedicated writer thread, one
transaction per call, so the event loop never blocks and concurrent
requests never wait on each other's database locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from bitcache.errors import BitcacheError
from bitcache.hooks import DownloadRequest, Hooks
from bitcache.services.receipts import DownloadReceipt, MoveReceipt, TransferReceipt

T = TypeVar("T")


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
    """The money-moving hooks, each call run in one writer thread (one transaction per call)."""

    def __init__(self, hooks: Hooks):
        self.hooks = hooks
        self._writer: ThreadPoolExecutor | None = None

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
        return await self._run(
            lambda: self.hooks.download(file, downloader, key, bytes_served=bytes_served))

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
