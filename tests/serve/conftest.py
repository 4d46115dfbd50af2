"""Service fixtures: a Service over a fresh database, an in-process client, keys, files."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from bitcache.core.pricing import PriceRule
from bitcache.core.tip import Tip
from bitcache.errors import ChainUnavailable
from bitcache.hooks import Hooks
from bitcache.network import Network
from bitcache.serve import keys
from bitcache.serve.app import create_app
from bitcache.serve.service import NodeParts, ServeOptions, Service
from bitcache.wallet import HDWallet

T = TypeVar("T")
ABANDON = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)
DATA = bytes(range(256)) * 40  # 10,240 bytes
FILE = hashlib.sha256(DATA).hexdigest()
PRICE = 3_000


class FakeChain:
    """Just enough chain for health checks: a tip, or a failure."""

    network = Network.REGTEST

    def __init__(self, state: dict[str, bool]):
        self.state = state

    def tip(self) -> Tip:
        if not self.state["up"]:
            raise ChainUnavailable("the node does not answer")
        return Tip(7, "00" * 32)

    def __getattr__(self, name: str) -> Any:
        raise ChainUnavailable(f"the fake chain has no {name}")


@dataclass
class World:
    """A service on a fresh database, with the host's files folder and a clock."""

    service: Service
    hooks: Hooks
    files: Path
    now: list[float]
    chain_up: dict[str, bool] = field(default_factory=lambda: {"up": True})

    def key(self, *scopes: str) -> dict[str, str]:
        made = keys.create_key(self.hooks.ledger, scopes, "test", 0)
        return {"Authorization": f"Bearer {made.key}"}

    def add_file(self, data: bytes = DATA, price: int = PRICE, **terms: Any) -> str:
        fh = hashlib.sha256(data).hexdigest()
        (self.files / fh).write_bytes(data)
        self.hooks.register_file(fh, "carol", PriceRule.fixed(price), size=len(data), **terms)
        return fh

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(self.service),
                                        client=("198.51.100.7", 5000))
        return httpx.AsyncClient(transport=transport, base_url="http://bitcache.test")

    def run(self, scenario: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        async def go() -> T:
            async with self.client() as client:
                return await scenario(client)

        return asyncio.run(go())


def make_world(db_url: str, tmp_path: Path, **options: Any) -> World:
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    now = [1_800_000_000.0]
    hold_policy = options.pop("hold_policy", None)
    chain = options.pop("chain", None)
    platform_key = options.pop("platform_key", None)
    hooks = Hooks.open(db_url, **({"hold_policy": hold_policy} if hold_policy else {}))
    options.setdefault("key_cache_seconds", 0.0)
    serve_options = ServeOptions(files, b"s" * 32, **options)
    wallet = HDWallet.watch_only(HDWallet.from_mnemonic(ABANDON, Network.REGTEST).account_xpub(),
                                 Network.REGTEST)
    state = {"up": True}

    @contextmanager
    def opener() -> Iterator[FakeChain]:
        yield FakeChain(state)

    node = NodeParts(wallet, chain or opener, 3, platform_key)
    service = Service(hooks, serve_options, node, clock=lambda: now[0])
    return World(service, hooks, files, now, state)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = make_world(db_url, tmp_path)
    yield w
    asyncio.run(w.service.close())
    w.hooks.close()
