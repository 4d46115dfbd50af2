"""The charging seam: downloads queued together are charged in one batch, each caller getting
the answer it would have got alone; a batch refused as a whole falls back to each alone."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from bitcache import errors as e
from bitcache.core.pricing import PriceRule
from bitcache.hooks import Hooks
from bitcache.serve.charges import SerialHooks
from bitcache.services.receipts import DownloadReceipt

PRICE = 1_000
FILE = hashlib.sha256(b"charges").hexdigest()


def _hooks(db_url: str) -> Hooks:
    hooks = Hooks.open(db_url)
    hooks.register_file(FILE, "carol", PriceRule.fixed(PRICE), size=1_000)
    hooks.credit_deposit("bob", 5 * PRICE + 1, "tx")
    return hooks


async def _gather(money: SerialHooks, calls: list[tuple[str, int | None]]) -> list[object]:
    return list(await asyncio.gather(
        *[money.download(FILE, "bob", key, bytes_served=served) for key, served in calls],
        return_exceptions=True))


def test_queued_downloads_answer_as_if_alone(db_url: str) -> None:
    hooks = _hooks(db_url)
    money = SerialHooks(hooks)
    calls: list[tuple[str, int | None]] = [(f"k{i}", None) for i in range(8)] + [("k0", None)]
    try:
        answers = asyncio.run(_gather(money, calls))
        charged = [a for a in answers[:8] if isinstance(a, DownloadReceipt)]
        refused = [a for a in answers[:8] if isinstance(a, e.InsufficientFunds)]
        assert len(charged) == 5 and len(refused) == 3
        replay = answers[8]
        assert isinstance(replay, DownloadReceipt) and replay.replayed
        assert replay.entry_id == next(a.entry_id for a in charged if a.key == "dl:k0")
        assert hooks.prepaid_balance("bob") == 1
    finally:
        money.close()
        hooks.close()


def test_bad_input_in_a_batch_refuses_only_its_own_caller(db_url: str) -> None:
    hooks = _hooks(db_url)
    money = SerialHooks(hooks)
    try:
        answers = asyncio.run(_gather(money, [("a", None), ("b", 5_000), ("c", 500)]))
        assert isinstance(answers[0], DownloadReceipt) and answers[0].price_msat == PRICE
        assert isinstance(answers[1], e.InvalidInput)  # more bytes than the file has
        assert isinstance(answers[2], DownloadReceipt) and answers[2].price_msat == PRICE // 2
        assert hooks.prepaid_balance("bob") == 5 * PRICE + 1 - PRICE - PRICE // 2
    finally:
        money.close()
        hooks.close()


@pytest.mark.parametrize("max_batch", [1, 3])
def test_batches_are_bounded_and_all_answered(db_url: str, max_batch: int) -> None:
    hooks = _hooks(db_url)
    money = SerialHooks(hooks, max_batch=max_batch)
    try:
        answers = asyncio.run(_gather(money, [(f"k{i}", None) for i in range(7)]))
        assert sum(isinstance(a, DownloadReceipt) for a in answers) == 5
        assert hooks.file(FILE).downloads == 5
    finally:
        money.close()
        hooks.close()
