"""500 parallel requests against one balance through a running `bitcache serve`: exactly the
downloads the balance covers are charged, never one more, on both engines."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import httpx

from bitcache.core.pricing import PriceRule
from bitcache.hooks import Hooks
from bitcache.serve import keys
from bitcache.serve.links import Link, LinkSigner
from tests.serve.stack import init_node, serve_stack

PRICE = 2_000
REQUESTS = 500
COVERED = 137


def test_parallel_downloads_never_overdraw_one_balance(db_url: str, tmp_path: Path) -> None:
    home = tmp_path / "node"
    init_node(home)
    with serve_stack(home, db_url, tmp_path / "stack", with_nginx=False) as stack:
        data = os.urandom(4_096)
        fh = hashlib.sha256(data).hexdigest()
        (stack.files / fh).write_bytes(data)
        hooks = Hooks.open(db_url)
        try:
            hooks.register_file(fh, "carol", PriceRule.fixed(PRICE), size=len(data))
            hooks.credit_deposit("bob", COVERED * PRICE + PRICE - 1, "tx-1")
            storage = keys.create_key(hooks.ledger, ["storage"], "", 0).key
            signer = LinkSigner((home / "serve.secret").read_bytes())
            now = int(time.time())
            links = [signer.make(fh, "bob", 600, now) for _ in range(REQUESTS // 2)]
            codes = asyncio.run(_burst(stack.api, fh, storage, signer, links))
            assert codes.count(200) == COVERED, codes
            assert codes.count(402) == REQUESTS - COVERED, codes
            assert hooks.prepaid_balance("bob") == PRICE - 1
            assert hooks.file(fh).downloads == COVERED
            assert hooks.ledger.trial_balance() == 0
        finally:
            hooks.close()


async def _burst(api: str, fh: str, key: str, signer: LinkSigner,
                 links: list[Link]) -> list[int]:
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=api, limits=limits, timeout=120) as client:
        gate = [client.get(f"/v1/gate/{fh}?{signer.query(link)}") for link in links]
        auth = {"Authorization": f"Bearer {key}"}
        posts = [client.post("/v1/downloads", json={"file": fh, "downloader": "bob"},
                             headers={**auth, "Idempotency-Key": f"req-{i}"})
                 for i in range(REQUESTS - len(links))]
        answers = await asyncio.gather(*gate, *posts)
    return [a.status_code for a in answers]
