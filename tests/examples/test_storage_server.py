"""The example storage server over HTTP (httpx on the ASGI app): upload, charge, stream."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
import pytest

from bitcache.hooks import Hooks
from examples.storage_server.app import create_app
from tests.hooks.conftest import make_hooks
from tests.ledger.conftest import Clock

DATA = b"bitcache example file\n" * 5_000
PRICE = 3_000


def _client(hooks: Hooks, folder: Path) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(hooks, folder))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


async def _upload(client: httpx.AsyncClient) -> str:
    r = await client.put("/files", params={"uploader": "carol", "price_msat": PRICE},
                         content=DATA)
    assert r.status_code == 201, r.text
    assert r.json() == {"file_hash": hashlib.sha256(DATA).hexdigest(), "size": len(DATA)}
    return str(r.json()["file_hash"])


def test_upload_then_paid_download_streams_the_file(db_url: str, tmp_path: Path) -> None:
    hooks = make_hooks(db_url, Clock())

    async def scenario() -> None:
        async with _client(hooks, tmp_path / "files") as client:
            fh = await _upload(client)
            assert (tmp_path / "files" / fh).read_bytes() == DATA
            again = await client.put("/files", params={"uploader": "mallory", "price_msat": 1},
                                     content=DATA)
            assert again.status_code == 409
            r = await client.get(f"/files/{fh}", params={"downloader": "bob"},
                                 headers={"Idempotency-Key": "req-1"})
            assert r.status_code == 402
            hooks.credit_deposit("bob", 10_000, "tx")
            r = await client.get(f"/files/{fh}", params={"downloader": "bob"},
                                 headers={"Idempotency-Key": "req-1"})
            assert r.status_code == 200 and r.content == DATA
            assert r.headers["X-Bitcache-Balance-Msat"] == "7000"
            retry = await client.get(f"/files/{fh}", params={"downloader": "bob"},
                                     headers={"Idempotency-Key": "req-1"})
            assert retry.status_code == 200 and retry.headers["X-Bitcache-Balance-Msat"] == "7000"
            assert (await client.get("/balance/bob")).json()["available_msat"] == 7_000
            assert (await client.get("/files/" + "00" * 32, params={"downloader": "bob"},
                                     headers={"Idempotency-Key": "r2"})).status_code == 404
            assert (await client.get("/files/nothex", params={"downloader": "bob"},
                                     headers={"Idempotency-Key": "r3"})).status_code == 400

    try:
        asyncio.run(scenario())
    finally:
        hooks.close()


@pytest.mark.parametrize("covered", [0, 7])
def test_many_concurrent_downloads_exactly_the_covered_ones_succeed(
    db_url: str, tmp_path: Path, covered: int
) -> None:
    hooks = make_hooks(db_url, Clock())
    n = 24

    async def scenario() -> list[int]:
        async with _client(hooks, tmp_path / "files") as client:
            fh = await _upload(client)
            if covered:
                hooks.credit_deposit("bob", covered * PRICE + PRICE - 1, "tx")
            answers = await asyncio.gather(*[
                client.get(f"/files/{fh}", params={"downloader": "bob"},
                           headers={"Idempotency-Key": f"req-{i}"})
                for i in range(n)
            ])
            assert all(a.content == DATA for a in answers if a.status_code == 200)
            return [a.status_code for a in answers]

    try:
        codes = asyncio.run(scenario())
        assert codes.count(200) == covered and codes.count(402) == n - covered
        assert hooks.prepaid_balance("bob") == (PRICE - 1 if covered else 0)
        assert hooks.ledger.trial_balance() == 0
    finally:
        hooks.close()
