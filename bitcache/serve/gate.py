"""The download gate: nginx serves the bytes, bitcache decides and charges.

nginx passes a download request (``/files/<sha256>?d=…&e=…&l=…&s=…``, its
Range header included) to ``GET /v1/gate/<sha256>``. The gate

1. checks the link's signature and expiry (a forged link counts as a failed
   authentication of the client);
2. checks that the host has the file on disk — a missing file is refused
   (404) before anything is charged;
3. reads the Range header against the file's size on disk;
4. charges the link's one download, keyed by the link id, for the bytes
   asked (prorated against the registered size as the hooks do; a file
   registered without a size, or a Range asking at least that size, is a
   whole download), and answers ``X-Accel-Redirect`` to
   nginx's internal location of the file, which nginx then serves —
   honouring the same Range header.

A retry of a link within its lifetime is charged nothing: a whole-file
link serves any request again; a link first used for a Range serves again
the bytes inside the ranges it paid for (recorded in ``serve_link_ranges``),
and refuses others (409 ``link-used``). A refused charge answers its problem
(402 with the deposit address and a BIP21 URI, 403 cap, 451 hold …) and
nginx passes it to the client. HEAD requests are checked but not charged.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bitcache.errors import (
    FileMissing,
    IdempotencyConflict,
    InsufficientFunds,
    LinkExpired,
    LinkInvalid,
    LinkUsed,
)
from bitcache.serve.auth import client_of
from bitcache.serve.charges import MoneyHooks
from bitcache.serve.links import Link, LinkSigner, link_params
from bitcache.serve.payment import DepositAddresses, payment_problem
from bitcache.serve.ranges import ByteRanges, parse_range
from bitcache.serve.ratelimit import FailureLimiter
from bitcache.services.receipts import DownloadReceipt
from bitcache.store import serve as serve_rows
from bitcache.store.ledger import LedgerStore


@dataclass(frozen=True, slots=True)
class GateConfig:
    """Where the host keeps the files (named by SHA-256 hex) and nginx's internal location."""

    files: Path
    accel_prefix: str = "/_bitcache_files/"
    trust_proxy: bool = True


class Gate:
    """Checks, charges and hands a download to nginx."""

    def __init__(self, config: GateConfig, signer: LinkSigner, money: MoneyHooks,
                 ledger: LedgerStore, addresses: DepositAddresses, limiter: FailureLimiter,
                 clock: Callable[[], float] = time.time, *,
                 registered_size: Callable[[str], int | None]):
        self.config, self.signer, self.money = config, signer, money
        self._registered_size = registered_size  # UnknownFile for a file not registered
        self._root = os.path.join(config.files, "")  # the folder, ending in a separator
        self.ledger, self.addresses, self.limiter = ledger, addresses, limiter
        self._clock = clock

    async def __call__(self, request: Request) -> Response:
        peer = request.client.host if request.client else None
        client = client_of(peer, request.headers, self.config.trust_proxy)
        link = self._link(request, client)
        size = self._size(link.file)
        asked = None if "if-range" in request.headers else parse_range(
            request.headers.get("range"), size)
        if asked is not None and asked.whole:
            asked = None  # at least the whole file: a whole download
        if request.method == "HEAD":
            return self._accel(link, None)
        if asked is not None:  # prorated against the registered size, when there is one
            registered = await run_in_threadpool(self._registered_size, link.file)
            if registered is None or asked.length >= registered:
                asked = None  # nothing to prorate against, or all of it: a whole download
        try:
            receipt = await self.money.download(
                link.file, link.downloader, link.charge_key,
                bytes_served=None if asked is None else asked.length)
        except IdempotencyConflict:  # the link was first used for other bytes
            await run_in_threadpool(self._covered, link, asked, size)
            return self._accel(link, None)
        except InsufficientFunds as exc:
            address = await run_in_threadpool(self.addresses.address, link.downloader)
            return payment_problem(exc, address).response()
        if asked is not None:
            await run_in_threadpool(self._paid_ranges, link, asked)
        return self._accel(link, receipt)

    def _link(self, request: Request, client: str) -> Link:
        self.limiter.check(client)
        try:
            return self.signer.verify(request.path_params["file"],
                                      link_params(request.scope["query_string"]),
                                      int(self._clock()))
        except LinkExpired:
            raise
        except LinkInvalid:
            self.limiter.failed(client)
            raise

    def _size(self, file: str) -> int:
        """The size of the host's copy (FileMissing when there is none)."""
        try:
            found = os.stat(self._root + file)  # file: 64 hex digits, checked with the link
        except OSError:
            raise FileMissing(f"the host has no copy of {file}") from None
        if not stat.S_ISREG(found.st_mode):
            raise FileMissing(f"the host has no copy of {file}")
        return found.st_size

    def _paid_ranges(self, link: Link, asked: ByteRanges) -> None:
        """Record the ranges the link's charge paid for, or check a retry lies inside them.

        Two first uses racing with as many bytes each are one charge: the
        ranges recorded first are the ones paid for.
        """
        with self.ledger.write() as conn:
            recorded = serve_rows.link_ranges(conn, link.link_id)
            if recorded is None:
                serve_rows.record_link_ranges(conn, link.link_id, bytes.fromhex(link.file),
                                         link.downloader, asked.text(),
                                         int(self._clock() * 1_000_000))
                return
        if not asked.within(ByteRanges.from_text(recorded, asked.size)):
            raise LinkUsed("this link paid for other bytes of the file: ask for a new link")

    def _covered(self, link: Link, asked: ByteRanges | None, size: int) -> None:
        """Whether bytes asked lie inside what the link paid for (LinkUsed otherwise)."""
        with self.ledger.read() as conn:
            recorded = serve_rows.link_ranges(conn, link.link_id)
        if recorded is not None:
            if asked is not None and asked.within(ByteRanges.from_text(recorded, size)):
                return
        elif asked is not None and self._paid_whole(link):
            return
        raise LinkUsed("this link paid for other bytes of the file: ask for a new link")

    def _paid_whole(self, link: Link) -> bool:
        entry = self.ledger.entry_by_key("dl:" + link.charge_key)
        return entry is not None and (entry.meta is None or entry.meta.bytes_served is None)

    def _accel(self, link: Link, receipt: DownloadReceipt | None) -> Response:
        charged = 0 if receipt is None or receipt.replayed else receipt.price_msat
        headers = {"X-Accel-Redirect": self.config.accel_prefix + link.file,
                   "Cache-Control": "private, no-store",
                   "X-Bitcache-Charged-Msat": str(charged)}
        if receipt is not None:
            headers["X-Bitcache-Balance-Msat"] = str(receipt.balance_after_msat)
        return Response(status_code=200, headers=headers)
