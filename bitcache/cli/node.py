"""The node folder made by ``bitcache init``: ``config.json``, the sealed secrets, the chain.

``config.json`` holds no secret: the wallet's account public key, the
database URL, the chain backend and, for Bitcoin Core, the *paths* of the
RPC password file or cookie file. Paths inside the node folder are stored
relative to it and every relative path is resolved against the folder, so a
node works from any current directory and survives being moved or restored
from a backup. A config file that is missing, not JSON, or lacks a field is
refused with :class:`~bitcache.errors.InvalidConfig` naming the problem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bitcache.core.checks import is_int
from bitcache.errors import InvalidConfig, InvalidInput

if TYPE_CHECKING:
    from bitcache.chain.protocol import ChainBackend
    from bitcache.wallet.keys import HDWallet

CONFIG_FILE = "config.json"
SEED_FILE = "wallet.seed"
KEY_FILE = "platform.key"
LEDGER_FILE = "ledger.sqlite"
CHAIN_DIR = "chain"

CHAIN_KINDS = ("regtest", "rpc", "esplora")
#: The deepest N a node takes: beyond it (a typo), deposits would wait for ever uncredited.
MAX_CONFIRMATIONS = 1_000
FIELDS = ("network", "db", "chain", "account_xpub", "confirmations")
#: Keys of the ``chain`` object, per backend kind; the ones that name files are PATH_KEYS.
CHAIN_KEYS = {
    "regtest": frozenset({"kind", "path"}),
    "rpc": frozenset({"kind", "url", "rpc_user", "rpc_password_file", "rpc_cookie_file"}),
    "esplora": frozenset({"kind", "url"}),
}
PATH_KEYS = ("path", "rpc_password_file", "rpc_cookie_file")


def absolute(path: Path, base: Path | None = None) -> Path:
    """``path`` made absolute: against ``base`` if given, else the current folder."""
    path = path.expanduser()
    return Path(os.path.abspath(path if base is None else base / path))


def read_file(path: Path, what: str) -> bytes:
    """The bytes of a file the operator named; InvalidInput saying why it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def write_file(path: Path, data: bytes, what: str) -> None:
    """Write ``data`` whole or not at all: a temporary file beside ``path``, then a rename."""
    if path.is_dir():
        raise InvalidInput(f"cannot write {what} to {path}: it is a folder")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {what} to {path}: {exc.strerror or exc}") from exc


def read_secret(path: Path, what: str) -> str:
    """A one-line secret from a file (its trailing newline dropped); never echoed."""
    try:
        text = read_file(path, what).decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} {path} is not UTF-8 text") from exc
    if not text:
        raise InvalidInput(f"{what} {path} is empty")
    return text


def shown_url(url: str) -> str:
    """A database URL fit to print: its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "a URL with a password" if "@" in url else repr(url)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another engine or an in-memory database."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(f"database URL {shown_url(url)} is malformed") from exc
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _with_sqlite_file(url: str, path: Path | str) -> str:
    return make_url(url).set(database=str(path)).render_as_string(hide_password=False)


def resolve_db(url: str, base: Path) -> str:
    """``url`` with a relative SQLite file resolved against ``base``."""
    found = sqlite_file(url)
    if found is None or found.is_absolute():
        return url
    return _with_sqlite_file(url, absolute(found, base))


def _inside(path: Path, home: Path) -> str:
    """``path`` relative to ``home`` when it lies inside it, else as given."""
    try:
        return str(path.relative_to(home))
    except ValueError:
        return str(path)


def check_chain(spec: Mapping[str, str], network: str) -> None:
    """Refuse a chain backend spec that cannot work (InvalidInput naming the problem)."""
    from bitcache.chain.http import check_base_url

    kind = spec.get("kind", "")
    if kind not in CHAIN_KINDS:
        raise InvalidInput(f"unknown chain backend {kind!r}: expected regtest, rpc or esplora")
    if (kind == "regtest") != (network == "regtest"):
        raise InvalidInput("chain regtest goes with network regtest; rpc or esplora else")
    unknown = sorted(set(spec) - CHAIN_KEYS[kind])
    if unknown:
        raise InvalidInput(f"chain {kind} takes no {', '.join(unknown)}")
    if kind == "regtest" and not spec.get("path"):
        raise InvalidInput("chain regtest needs the path of its folder")
    url = spec.get("url", "")
    if kind == "esplora" or url:
        check_base_url(url, f"{kind} URL")
    if "@" in url:
        raise InvalidInput(
            f"the {kind} URL must not carry a user name or password: give Bitcoin Core "
            "credentials as a password file or a cookie file, which config.json names"
        )
    if bool(spec.get("rpc_user")) != bool(spec.get("rpc_password_file")):
        raise InvalidInput("an RPC user needs an RPC password file, and the reverse")
    if spec.get("rpc_user") and spec.get("rpc_cookie_file"):
        raise InvalidInput("give either an RPC user and password file or a cookie file, not both")


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InvalidConfig(
            f"{path} does not exist: run `bitcache init --home {path.parent}` first, "
            "or point --home (BITCACHE_HOME) at the node folder"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidConfig(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidConfig(f"{path} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise InvalidConfig(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    if not isinstance(raw, dict):
        raise InvalidConfig(f"{path} must hold a JSON object, not {type(raw).__name__}")
    missing = [name for name in FIELDS if name not in raw]
    if missing:
        raise InvalidConfig(f"{path} lacks {', '.join(missing)} (written by `bitcache init`)")
    return raw


def _fields(raw: dict[str, Any], path: Path) -> tuple[str, str, dict[str, str], str, int]:
    """The typed fields of a config object; InvalidConfig naming the first bad one."""
    texts = {name: raw[name] for name in ("network", "db", "account_xpub")}
    for name, value in texts.items():
        if not isinstance(value, str) or not value:
            raise InvalidConfig(f"{path}: {name} must be non-empty text, got {value!r}")
    chain = raw["chain"]
    if not isinstance(chain, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in chain.items()
    ):
        raise InvalidConfig(f"{path}: chain must be an object of text values, got {chain!r}")
    depth = raw["confirmations"]
    if not is_int(depth) or not 1 <= depth <= MAX_CONFIRMATIONS:
        raise InvalidConfig(f"{path}: confirmations must be a whole number from 1 to "
                            f"{MAX_CONFIRMATIONS}, got {depth!r}")
    return texts["network"], texts["db"], dict(chain), texts["account_xpub"], depth


@dataclass(frozen=True)
class NodeConfig:
    """``config.json`` of a node folder, its paths absolute (resolved against ``home``)."""

    home: Path
    network: str
    db: str
    chain: dict[str, str]
    account_xpub: str
    confirmations: int

    @classmethod
    def load(cls, home: Path) -> NodeConfig:
        """Read and check ``home/config.json``; InvalidConfig names what is wrong."""
        from bitcache.network import network

        folder = absolute(home)
        path = folder / CONFIG_FILE
        net, db, chain, xpub, depth = _fields(_load_json(path), path)
        try:
            net = network(net).value
            check_chain(chain, net)
            db = resolve_db(db, folder)
        except InvalidConfig:
            raise
        except InvalidInput as exc:
            raise InvalidConfig(f"{path}: {exc}") from exc
        for key in PATH_KEYS:
            if chain.get(key):
                chain[key] = str(absolute(Path(chain[key]), folder))
        return cls(folder, net, db, chain, xpub, depth)

    def to_json(self) -> dict[str, object]:
        """What ``config.json`` holds: paths inside the node folder relative to it."""
        chain = dict(self.chain)
        for key in PATH_KEYS:
            if chain.get(key):
                chain[key] = _inside(Path(chain[key]), self.home)
        found = sqlite_file(self.db)
        db = self.db if found is None else _with_sqlite_file(self.db, _inside(found, self.home))
        return {
            "network": self.network,
            "db": db,
            "chain": chain,
            "account_xpub": self.account_xpub,
            "confirmations": self.confirmations,
        }

    def save(self) -> None:
        """Write ``config.json`` whole or not at all (a temporary file, then a rename).

        Mode 0600: the account public key reveals every address, and a
        database URL may carry a password.
        """
        path = self.home / CONFIG_FILE
        temporary = path.with_name(CONFIG_FILE + ".tmp")
        text = json.dumps(self.to_json(), indent=2) + "\n"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)

    def watch_only(self) -> HDWallet:
        from bitcache.network import network
        from bitcache.wallet.keys import HDWallet

        return HDWallet.watch_only(self.account_xpub, network(self.network))

    def signing_wallet(self, passphrase: str) -> HDWallet:
        from bitcache.network import network
        from bitcache.wallet.keys import HDWallet
        from bitcache.wallet.seedbox import decrypt_mnemonic

        path = self.home / SEED_FILE
        if not path.exists():
            raise InvalidConfig(f"{path} does not exist: restore wallet.seed from its backup")
        mnemonic = decrypt_mnemonic(read_file(path, "the wallet seed"), passphrase)
        return HDWallet.from_mnemonic(mnemonic, network(self.network))

    def _rpc_credentials(self) -> dict[str, Any]:
        user, secret = self.chain.get("rpc_user"), self.chain.get("rpc_password_file")
        if user and secret:
            return {"auth": (user, read_secret(Path(secret), "the RPC password file"))}
        cookie = self.chain.get("rpc_cookie_file")
        return {"cookie_file": Path(cookie)} if cookie else {}

    @contextmanager
    def chain_backend(self) -> Iterator[ChainBackend]:
        kind, where = self.chain["kind"], self.chain.get("url", "")
        if kind == "regtest":
            from bitcache.chain.regtest import RegtestChain

            with RegtestChain.open(Path(self.chain["path"])) as chain:
                yield chain
        elif kind == "rpc":
            from bitcache.chain.rpc import BitcoinCoreRPC

            yield BitcoinCoreRPC(where or None, network=self.network, **self._rpc_credentials())
        else:
            from bitcache.chain.esplora import Esplora

            yield Esplora(where, network=self.network)
