"""Event delivery inside ``bitcache serve``: a background task, every few seconds.

Started by ``bitcache serve --deliver-events`` (the node's ``events``
settings). Each round runs one delivery pass in a worker thread, so the
event loop never waits on a receiver; the endpoints' leases keep it from
sending side by side with ``bitcache events deliver`` run by cron. On
shutdown the pass in progress stops after the event it is sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from bitcache.errors import BitcacheError
from bitcache.services.webhooks import Webhooks

log = logging.getLogger(__name__)


async def _rounds(webhooks: Webhooks, every_s: float, stop: threading.Event,
                  wake: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await run_in_threadpool(webhooks.deliver, stop)
        except BitcacheError as exc:  # the database is away: try again next round
            log.warning("event delivery failed: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), every_s)


@contextlib.asynccontextmanager
async def delivering(webhooks: Webhooks | None, every_s: float) -> AsyncIterator[None]:
    """Deliver in the background while the block runs (nothing when ``webhooks`` is None)."""
    if webhooks is None:
        yield
        return
    stop, wake = threading.Event(), asyncio.Event()
    task = asyncio.create_task(_rounds(webhooks, every_s, stop, wake))
    try:
        yield
    finally:
        stop.set()
        wake.set()
        await task
        webhooks.close()
