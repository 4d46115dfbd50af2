"""Where the service's money-moving calls go: one seam, the awaitable hooks.

:func:`money_hooks` gives the object every charge, transfer, tip, credit
and hold of the service goes through: :class:`~bitcache.asynchooks.AsyncHooks`,
whose calls share the group commit of their ``Hooks`` — the charges of
concurrent requests go into one transaction per flush, and each request is
answered, as if alone, once its commit is durable (see docs/hooks.md). The
event loop never waits on the database. With its charging process on,
``bitcache serve`` uses :class:`~bitcache.serve.charger.ChargedByProcess`
instead: the same calls, the gate's downloads committed by that process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bitcache.asynchooks import AsyncHooks
from bitcache.errors import BitcacheError
from bitcache.hooks import DownloadRequest, Hooks
from bitcache.services.receipts import DownloadReceipt, MoveReceipt, TransferReceipt


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


def money_hooks(hooks: Hooks) -> MoneyHooks:
    """The money-moving hooks the service uses: the group commit's asyncio face.

    A charge that meets a database outage is retried with the same key under
    the hooks' ``RetryPolicy`` (``bitcache serve --retry-seconds``), so it is
    made once; past the policy's deadline the request answers 503
    (``unavailable``, or ``outcome-unknown`` when an attempt may have
    committed) with ``Retry-After``, and the client's retry with the same
    Idempotency-Key or link is answered as made once.
    """
    return AsyncHooks(hooks)
