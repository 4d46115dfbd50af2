"""A charge whose outcome is unknown (the connection died after COMMIT) answers 503
``outcome-unknown`` with ``Retry-After``; retrying the same request — the same
Idempotency-Key, or the same download link — answers it as made once, never a second charge."""

from __future__ import annotations

from typing import Any

import httpx

from bitcache.errors import OutcomeUnknown
from bitcache.serve.charges import MoneyHooks
from bitcache.services.receipts import DownloadReceipt
from tests.serve.conftest import PRICE, World

PROBLEM = "application/problem+json"


class CommitsThenLoses:
    """Money hooks whose first ``download`` commits, then loses the answer (OutcomeUnknown)."""

    def __init__(self, money: MoneyHooks):
        self.money, self.lost = money, 0

    async def download(self, *args: Any, **kwargs: Any) -> DownloadReceipt:
        receipt = await self.money.download(*args, **kwargs)
        if self.lost == 0:
            self.lost += 1
            raise OutcomeUnknown("the connection was lost after COMMIT")
        return receipt

    def __getattr__(self, name: str) -> Any:
        return getattr(self.money, name)


def _lose_first_answer(world: World) -> CommitsThenLoses:
    lossy = CommitsThenLoses(world.service.money)
    world.service.money = lossy  # type: ignore[assignment]
    world.service.gate.money = lossy  # type: ignore[assignment]
    return lossy


def _outcome_unknown(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.headers["retry-after"] == "1"
    assert r.json()["type"] == "/problems/outcome-unknown"


def test_a_post_whose_outcome_is_unknown_is_retried_with_its_key_and_charged_once(
        world: World) -> None:
    fh = world.add_file()
    world.hooks.credit_deposit("bob", 10 * PRICE, "tx1")
    storage = {**world.key("storage"), "Idempotency-Key": "dl-1"}
    lossy = _lose_first_answer(world)

    async def scenario(c: httpx.AsyncClient) -> None:
        body = {"file": fh, "downloader": "bob"}
        _outcome_unknown(await c.post("/v1/downloads", json=body, headers=storage))
        again = await c.post("/v1/downloads", json=body, headers=storage)
        assert again.status_code == 200, again.text
        assert again.json()["replayed"] is True  # the first attempt had committed
        assert "idempotent-replayed" not in again.headers  # the 503 was not kept: run again

    world.run(scenario)
    assert lossy.lost == 1
    assert world.hooks.prepaid_balance("bob") == 9 * PRICE
    assert world.hooks.file(fh).downloads == 1


def test_a_link_whose_charge_outcome_is_unknown_is_served_on_retry_without_a_second_charge(
        world: World) -> None:
    fh = world.add_file()
    world.hooks.credit_deposit("bob", 10 * PRICE, "tx1")
    signer = world.service.signer
    link = signer.make(fh, "bob", 600, int(world.now[0]))
    _lose_first_answer(world)

    async def scenario(c: httpx.AsyncClient) -> None:
        url = f"/v1/gate/{fh}?{signer.query(link)}"
        _outcome_unknown(await c.get(url))
        again = await c.get(url)
        assert again.status_code == 200, again.text
        assert again.headers["x-accel-redirect"].endswith(fh)
        assert again.headers["x-bitcache-charged-msat"] == "0"

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 9 * PRICE
    assert world.hooks.file(fh).downloads == 1
