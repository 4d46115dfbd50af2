"""``bitcache demo-web``: the web pages over the demo's folder, on a local ``bitcache serve``.

The demo's folder holds a ledger and a regtest chain, and its wallet and
platform key come from public demo-only seeds (:mod:`bitcache.demo`), so a
:class:`~bitcache.serve.app.Service` can be built over it with no node
folder: the chain is opened once and shared, and the link secret is made
fresh each run (sessions end with the process). :func:`demo_logins` makes
an operator key and an uploader key and returns their login links.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bitcache.chain.protocol import ChainBackend
from bitcache.chain.regtest import RegtestChain
from bitcache.demo import DEMO_MARKER, DEMO_POLICY, HOT_WALLET_SEED, demo_platform_key
from bitcache.errors import InvalidInput
from bitcache.hooks import Hooks
from bitcache.network import Network
from bitcache.serve import keys
from bitcache.serve.service import NodeParts, ServeOptions, Service
from bitcache.serve.web.session import login_link
from bitcache.store.database import sqlite_url
from bitcache.wallet.keys import HDWallet

DEMO_CONFIRMATIONS = 3


@dataclass(frozen=True)
class DemoLogins:
    """Login links (paths with the key in the fragment) of the two pages."""

    uploader: str
    uploader_link: str
    operator_link: str


class DemoSite:
    """A service over a finished demo folder; :meth:`close` releases the chain and ledger."""

    def __init__(self, folder: Path):
        if not (folder / DEMO_MARKER).is_file() or not (folder / "ledger.sqlite").is_file():
            raise InvalidInput(f"{folder} is not a folder `bitcache demo` finished: run the "
                               "demo first (make demo)")
        self.folder = folder
        self.chain = RegtestChain.open(folder / "chain")
        files = folder / "files"
        files.mkdir(exist_ok=True)
        self.hooks = Hooks.open(sqlite_url(folder / "ledger.sqlite"))
        node = NodeParts(HDWallet.from_seed(HOT_WALLET_SEED, Network.REGTEST), self._chain,
                         DEMO_CONFIRMATIONS, demo_platform_key(), "bitcache demo",
                         payout=DEMO_POLICY)
        options = ServeOptions(files.resolve(), secrets.token_bytes(32))
        self.service = Service(self.hooks, options, node)

    def _chain(self) -> AbstractContextManager[ChainBackend]:
        @contextmanager
        def shared() -> Iterator[ChainBackend]:
            yield self.chain
        return shared()

    def statement_uploader(self) -> str:
        """The uploader whose statement the demo issued (else the first uploader)."""
        found = sorted(self.folder.glob("statement-*.json"))
        return found[0].stem.removeprefix("statement-") if found else "u000"

    def close(self) -> None:
        self.hooks.close()
        self.chain.close()


def demo_logins(site: DemoSite) -> DemoLogins:
    """Make an operator key and an uploader key; their login links (shown once)."""
    now = time.time_ns() // 1000
    uploader = site.statement_uploader()
    ledger = site.service.ledger
    op = keys.create_key(ledger, ["operator"], "demo-web operator", now)
    up = keys.create_key(ledger, [f"uploader:{uploader}"], f"demo-web {uploader}", now)
    return DemoLogins(uploader, login_link(up.key), login_link(op.key))
