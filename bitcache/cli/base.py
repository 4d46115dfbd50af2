"""Shared parts of the command line: the Typer apps, options, exit codes, the node folder."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from bitcache.errors import (
    BitcacheError,
    ChainError,
    InvalidInput,
    ReorgTooDeep,
    StoreError,
)

if TYPE_CHECKING:
    from bitcache.chain.protocol import ChainBackend
    from bitcache.store.ledger import LedgerStore
    from bitcache.wallet.keys import HDWallet

app = typer.Typer(help="bitcache: pay file uploaders in bitcoin.", no_args_is_help=True)


db_app = typer.Typer(help="Database schema.")


app.add_typer(db_app, name="db")


console = Console()


EXIT_CHECK_FAILED = 1


EXIT_REFUSED = 2


EXIT_BACKEND = 3


#: ``settle``: a settlement is not moving (broadcast refused, or unconfirmed too long).
EXIT_STALLED = 4
#: ``settle``: a credited deposit left the best chain and nobody acknowledged it.
EXIT_REORG = 5


CONFIG_FILE = "config.json"


SEED_FILE = "wallet.seed"


KEY_FILE = "platform.key"


PASSPHRASE_ENV = "BITCACHE_PASSPHRASE"


HomeOption = Annotated[
    Path, typer.Option("--home", help="node folder made by `bitcache init`", envvar="BITCACHE_HOME")
]


DbOption = Annotated[str, typer.Option("--db", help="database URL", envvar="BITCACHE_DB")]


OptDb = Annotated[
    str | None,
    typer.Option("--db", help="database URL (default: the node's)", envvar="BITCACHE_DB"),
]


JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


DEFAULT_HOME = Path("bitcache-node")


DEFAULT_DB = "sqlite:///bitcache.sqlite"


def _fail(exc: BitcacheError, as_json: bool = False) -> typer.Exit:
    code = EXIT_BACKEND if isinstance(exc, StoreError | ChainError) else EXIT_REFUSED
    if isinstance(exc, ReorgTooDeep):
        code = EXIT_REORG
    if as_json:
        print(json.dumps({"ok": False, "error": type(exc).__name__, "message": str(exc)}))
    else:
        console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
    return typer.Exit(code)


@contextmanager
def _errors(as_json: bool = False) -> Iterator[None]:
    """Turn bitcache errors into the documented exit codes."""
    try:
        yield
    except BitcacheError as exc:
        raise _fail(exc, as_json) from exc


def _emit(data: object) -> None:
    print(json.dumps(data, sort_keys=True))


def _bar(disable: bool) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=disable,
    )


@dataclass(frozen=True)
class NodeConfig:
    """``config.json`` of a node folder: network, database, chain backend, public wallet."""

    home: Path
    network: str
    db: str
    chain: dict[str, str]
    account_xpub: str
    confirmations: int

    @classmethod
    def load(cls, home: Path) -> NodeConfig:
        path = home / CONFIG_FILE
        if not path.exists():
            raise InvalidInput(f"{path} does not exist: run `bitcache init --home {home}` first")
        raw = json.loads(path.read_text())
        return cls(
            home,
            raw["network"],
            raw["db"],
            raw["chain"],
            raw["account_xpub"],
            int(raw["confirmations"]),
        )

    def save(self) -> None:
        data = {
            "network": self.network,
            "db": self.db,
            "chain": self.chain,
            "account_xpub": self.account_xpub,
            "confirmations": self.confirmations,
        }
        (self.home / CONFIG_FILE).write_text(json.dumps(data, indent=2) + "\n")

    def watch_only(self) -> HDWallet:
        from bitcache.network import network
        from bitcache.wallet.keys import HDWallet

        return HDWallet.watch_only(self.account_xpub, network(self.network))

    def signing_wallet(self, passphrase: str) -> HDWallet:
        from bitcache.network import network
        from bitcache.wallet.keys import HDWallet
        from bitcache.wallet.seedbox import decrypt_mnemonic

        mnemonic = decrypt_mnemonic((self.home / SEED_FILE).read_bytes(), passphrase)
        return HDWallet.from_mnemonic(mnemonic, network(self.network))

    @contextmanager
    def chain_backend(self) -> Iterator[ChainBackend]:
        kind, where = self.chain.get("kind", ""), self.chain.get("url", "")
        if kind == "regtest":
            from bitcache.chain.regtest import RegtestChain

            with RegtestChain.open(Path(self.chain["path"])) as chain:
                yield chain
        elif kind == "rpc":
            from bitcache.chain.rpc import BitcoinCoreRPC

            yield BitcoinCoreRPC(where or None, network=self.network)
        elif kind == "esplora":
            from bitcache.chain.esplora import Esplora

            yield Esplora(where, network=self.network)
        else:
            raise InvalidInput(f"unknown chain backend {kind!r} in {self.home / CONFIG_FILE}")


def _passphrase(confirm: bool = False) -> str:
    found = os.environ.get(PASSPHRASE_ENV)
    if found:
        return found
    if not sys.stdin.isatty():
        raise InvalidInput(f"no passphrase: set {PASSPHRASE_ENV} or run in a terminal")
    return str(typer.prompt("passphrase", hide_input=True, confirmation_prompt=confirm))


def _ledger(db: str, migrate: bool = False) -> LedgerStore:
    from bitcache.store.ledger import LedgerStore

    return LedgerStore.open(db, migrate=migrate)


def _node_db(home: Path, db: str | None) -> str:
    return db or NodeConfig.load(home).db
