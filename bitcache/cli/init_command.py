"""``bitcache init``: a node folder made whole or not at all.

Every input is checked before anything is written (the network, the chain
backend and its URL, Bitcoin Core's credentials, the database URL, that no
node is there already). Then :func:`bitcache.services.node.provision` makes
the database, the sealed seed, the platform key and ``bitcache.toml`` in that
order; if a step fails, what this run made is removed, so no seed or key is
ever left behind without its node.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from bitcache.cli.base import (
    DEFAULT_HOME,
    HomeOption,
    JsonOption,
    OptDb,
    _emit,
    _errors,
    _passphrase,
    app,
    console,
)
from bitcache.cli.node import (
    CHAIN_DIR,
    CONFIG_FILE,
    KEY_FILE,
    LEDGER_FILE,
    LEGACY_CONFIG_FILE,
    SEED_FILE,
    NodeConfig,
    absolute,
    check_chain,
    read_secret,
    resolve_db,
    shown_url,
    sqlite_file,
)
from bitcache.config.render import save
from bitcache.config.sections import (
    MAX_CONFIRMATIONS,
    ChainSection,
    DatabaseSection,
    DepositsSection,
    NodeSection,
)
from bitcache.core.checks import is_int
from bitcache.errors import InvalidConfig, InvalidInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@app.command()
def init(
    home: HomeOption = DEFAULT_HOME,
    network_name: Annotated[str, typer.Option("--network", help="testnet4, signet or regtest")] = (
        "testnet4"
    ),
    chain: Annotated[str, typer.Option(help="regtest (embedded), rpc or esplora")] = "rpc",
    chain_url: Annotated[str, typer.Option(help="node or Esplora URL")] = "",
    rpc_user: Annotated[
        str, typer.Option(help="Bitcoin Core rpcuser (with --rpc-password-file)")
    ] = "",
    rpc_password_file: Annotated[
        Path | None, typer.Option(help="file holding the rpcpassword (its path is kept)")
    ] = None,
    rpc_cookie_file: Annotated[
        Path | None, typer.Option(help="bitcoind's .cookie file (default: the network's own)")
    ] = None,
    db: OptDb = None,
    confirmations: Annotated[int, typer.Option(help="N: deposits and payouts")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Create a node folder: database, encrypted wallet seed, encrypted platform key.

    The mnemonic is generated from the operating system's randomness, sealed
    with the passphrase (scrypt + AES-256-GCM) and never printed or written
    in clear: back up wallet.seed and the passphrase. Every input is checked
    before anything is written, and if a step fails (the database, say) what
    this run made is removed: no seed or key is left behind.
    """
    from bitcache.wallet.platformkey import public_key_hex

    with _errors(as_json):
        planned = _init_config(
            home, network_name, chain, chain_url, db, confirmations,
            {"rpc_user": rpc_user, "rpc_password_file": rpc_password_file,
             "rpc_cookie_file": rpc_cookie_file},
        )
        cfg, key = _create_node(planned, _passphrase(confirm=True))
    facts = {
        "home": str(cfg.home),
        "network": cfg.network,
        "db": shown_url(cfg.db),
        "chain": chain,
        "account_xpub": cfg.account_xpub,
        "platform_public_key": public_key_hex(key),
    }
    if as_json:
        _emit({"ok": True, **facts})
        return
    for name, value in facts.items():
        console.print(f"{name}: {escape(value)}", soft_wrap=True)  # a value stays whole
    console.print(
        "[yellow]back up[/yellow] wallet.seed and platform.key with the passphrase: the "
        "mnemonic is never shown, and without the passphrase the coins are lost"
    )


def _init_config(
    home: Path,
    network_name: str,
    chain: str,
    chain_url: str,
    db: str | None,
    confirmations: int,
    credentials: dict[str, Any],
) -> NodeConfig:
    """The new node's config, every input checked before anything is written (no xpub yet)."""
    from bitcache.network import network
    from bitcache.store.database import make_engine, sqlite_url

    net, folder = network(network_name), absolute(home)
    for name in (SEED_FILE, KEY_FILE, CONFIG_FILE, LEGACY_CONFIG_FILE):
        if (folder / name).exists():
            raise InvalidInput(f"{folder / name} exists: refusing to overwrite a node")
    if not is_int(confirmations) or not 1 <= confirmations <= MAX_CONFIRMATIONS:
        raise InvalidInput(
            f"--confirmations must be from 1 to {MAX_CONFIRMATIONS}, got {confirmations}")
    section = _chain_section(folder, chain, chain_url, credentials)
    url = resolve_db(db, absolute(Path())) if db else sqlite_url(folder / LEDGER_FILE)
    planned = NodeConfig(
        folder, NodeSection(network=net.value, account_xpub="-"), DatabaseSection(url),
        section, DepositsSection(confirmations=confirmations),
    )
    try:
        check_chain(planned)
    except InvalidConfig as exc:
        raise InvalidInput(str(exc)) from exc
    if chain == "regtest":
        import bitcache.chain.regtest  # noqa: F401  (MissingExtra without the kernel extra)
    make_engine(url).dispose()  # refuses an unsupported or malformed URL; connects to nothing
    return planned


def _chain_section(
    folder: Path, chain: str, chain_url: str, credentials: dict[str, Any]
) -> ChainSection:
    """The ``[chain]`` section: Bitcoin Core credentials by path, never by value."""
    given = {k: v for k, v in credentials.items() if v}
    if chain not in ("regtest", "rpc", "esplora"):
        raise InvalidInput(f"unknown chain backend {chain!r}: expected regtest, rpc or esplora")
    if given and chain != "rpc":
        raise InvalidInput(
            "--rpc-user, --rpc-password-file and --rpc-cookie-file go with --chain rpc"
        )
    if chain == "regtest":
        if chain_url:
            raise InvalidInput("--chain regtest is embedded in the node folder: no --chain-url")
        return ChainSection("regtest", path=str(folder / CHAIN_DIR))
    if chain == "esplora" and not chain_url:
        raise InvalidInput("--chain esplora needs --chain-url, the Esplora server's API URL")
    paths = {name: str(absolute(value)) for name, value in given.items() if name != "rpc_user"}
    if "rpc_password_file" in paths:
        read_secret(Path(paths["rpc_password_file"]), "the RPC password file")
    return ChainSection(chain, chain_url, rpc_user=given.get("rpc_user"), **paths)


def _create_node(planned: NodeConfig, passphrase: str) -> tuple[NodeConfig, Ed25519PrivateKey]:
    """Database, sealed seed, platform key, bitcache.toml: all of them, or none
    (:func:`bitcache.services.node.provision`)."""
    from bitcache.network import network
    from bitcache.services.node import NodeFolder, provision

    def with_xpub(xpub: str) -> NodeConfig:
        return replace(planned, node=replace(planned.node, account_xpub=xpub))

    home = planned.home
    folder = NodeFolder(home, home / SEED_FILE, home / KEY_FILE, (home / CONFIG_FILE,),
                        sqlite_file(planned.db))
    made = provision(folder, network(planned.network), planned.db, passphrase,
                     lambda xpub: save(with_xpub(xpub)))
    return with_xpub(made.account_xpub), made.platform_key
