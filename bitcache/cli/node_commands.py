"""Commands that need the node folder made by ``bitcache init``.

init, deposit-address, settle, reconcile, statement, verify.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bitcache.errors import (
    InvalidInput,
    StatementInvalid,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from bitcache.services.reconcile import ReconcileReport
from bitcache.cli.base import (
    CONFIG_FILE,
    DEFAULT_HOME,
    EXIT_CHECK_FAILED,
    KEY_FILE,
    SEED_FILE,
    HomeOption,
    JsonOption,
    NodeConfig,
    OptDb,
    _bar,
    _emit,
    _errors,
    _ledger,
    _node_db,
    _passphrase,
    app,
    console,
)
from bitcache.cli.node import (
    CHAIN_DIR,
    LEDGER_FILE,
    absolute,
    check_chain,
    read_file,
    read_secret,
    resolve_db,
    shown_url,
    sqlite_file,
    write_file,
)


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
        Path | None, typer.Option(help="file holding the rpcpassword (config.json keeps its path)")
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
    from bitcache.services.platformkey import public_key_hex

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
    for name in (SEED_FILE, KEY_FILE, CONFIG_FILE):
        if (folder / name).exists():
            raise InvalidInput(f"{folder / name} exists: refusing to overwrite a node")
    if isinstance(confirmations, bool) or confirmations < 1:
        raise InvalidInput(f"--confirmations must be at least 1, got {confirmations}")
    spec = _chain_spec(folder, chain, chain_url, credentials)
    check_chain(spec, net.value)
    if chain == "regtest":
        import bitcache.chain.regtest  # noqa: F401  (MissingExtra without the kernel extra)
    url = resolve_db(db, absolute(Path())) if db else sqlite_url(folder / LEDGER_FILE)
    make_engine(url).dispose()  # refuses an unsupported or malformed URL; connects to nothing
    return NodeConfig(folder, net.value, url, spec, "", confirmations)


def _chain_spec(
    folder: Path, chain: str, chain_url: str, credentials: dict[str, Any]
) -> dict[str, str]:
    """The ``chain`` object of config.json: Bitcoin Core credentials by path, never by value."""
    given = {k: v for k, v in credentials.items() if v}
    if given and chain != "rpc":
        raise InvalidInput(
            "--rpc-user, --rpc-password-file and --rpc-cookie-file go with --chain rpc"
        )
    if chain == "regtest":
        if chain_url:
            raise InvalidInput("--chain regtest is embedded in the node folder: no --chain-url")
        return {"kind": "regtest", "path": str(folder / CHAIN_DIR)}
    if chain == "esplora" and not chain_url:
        raise InvalidInput("--chain esplora needs --chain-url, the Esplora server's API URL")
    spec = {"kind": chain, "url": chain_url}
    for name, value in given.items():
        spec[name] = value if name == "rpc_user" else str(absolute(value))
    if "rpc_password_file" in spec:
        read_secret(Path(spec["rpc_password_file"]), "the RPC password file")
    return spec


def _create_node(planned: NodeConfig, passphrase: str) -> tuple[NodeConfig, Ed25519PrivateKey]:
    """Database, sealed seed, platform key, config.json: all of them, or none."""
    from bitcache.network import network
    from bitcache.services.platformkey import generate_platform_key, save_platform_key
    from bitcache.store.database import make_engine, upgrade
    from bitcache.wallet.keys import HDWallet, generate_mnemonic
    from bitcache.wallet.seedbox import seal

    made = _Made()
    try:
        made.folder(planned.home)
        made.database(planned.db)
        engine = make_engine(planned.db)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        mnemonic = generate_mnemonic(secrets.token_bytes(32))
        xpub = HDWallet.from_mnemonic(mnemonic, network(planned.network)).account_xpub()
        seed = made.file(planned.home / SEED_FILE)
        with os.fdopen(os.open(seed, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(seal(mnemonic, passphrase))
        del mnemonic
        key = generate_platform_key()
        save_platform_key(key, made.file(planned.home / KEY_FILE), passphrase=passphrase)
        cfg = replace(planned, account_xpub=xpub)
        made.file(planned.home / (CONFIG_FILE + ".tmp"))
        made.file(planned.home / CONFIG_FILE)
        cfg.save()
    except BaseException:
        made.undo()
        raise
    return cfg, key


class _Made:
    """The files and folders one ``init`` created, so that a failed init leaves none."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def file(self, path: Path) -> Path:
        if not path.exists():
            self.paths.append(path)
        return path

    def folder(self, path: Path) -> None:
        for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
            self.paths.append(missing)
        path.mkdir(parents=True, exist_ok=True)

    def database(self, url: str) -> None:
        found = sqlite_file(url)
        if found is not None:
            for suffix in ("", "-journal", "-wal", "-shm"):
                self.file(found.with_name(found.name + suffix))

    def undo(self) -> None:
        for path in reversed(self.paths):
            with contextlib.suppress(OSError):
                if path.is_dir():
                    path.rmdir()  # only if empty: never removes what another hand put there
                else:
                    path.unlink(missing_ok=True)


@app.command("deposit-address")
def deposit_address(
    downloader: Annotated[str, typer.Argument(help="the downloader")],
    home: HomeOption = DEFAULT_HOME,
    as_json: JsonOption = False,
) -> None:
    """The downloader's deposit address (assigned once, the same ever after)."""
    from bitcache.services.deposits import DepositService

    with _errors(as_json):
        cfg = NodeConfig.load(home)
        with cfg.chain_backend() as chain:
            service = DepositService(
                _ledger(cfg.db), cfg.watch_only(), chain, confirmations=cfg.confirmations
            )
            address = service.deposit_address(downloader)
    if as_json:
        _emit({"downloader": downloader, "address": address})
    else:
        print(address)


@app.command()
def settle(
    home: HomeOption = DEFAULT_HOME,
    anchor: Annotated[bool, typer.Option(help="commit the tree head in an OP_RETURN")] = True,
    as_json: JsonOption = False,
) -> None:
    """One settlement cycle: scan deposits, advance settlements in flight, plan a batch if due."""
    from bitcache.core.treehead import anchor_payload
    from bitcache.services.deposits import DepositService
    from bitcache.services.platformkey import load_platform_key
    from bitcache.services.settlement import SettlementService
    from bitcache.services.statements import tree_head
    from bitcache.settlement.model import SettlementConfig

    with _errors(as_json):
        cfg = NodeConfig.load(home)
        passphrase = _passphrase()
        wallet = cfg.signing_wallet(passphrase)
        ledger = _ledger(cfg.db)
        payload = None
        if anchor:
            key = load_platform_key(home / KEY_FILE, passphrase=passphrase)
            payload = anchor_payload(tree_head(ledger, key))
        with cfg.chain_backend() as chain:
            deposits = DepositService(ledger, wallet, chain, confirmations=cfg.confirmations)
            scan = deposits.scan()
            config = SettlementConfig(
                confirmations=cfg.confirmations, min_input_confirmations=cfg.confirmations
            )
            service = SettlementService(
                ledger,
                chain,
                wallet,
                config,
                receive_indices=lambda: [a.index for a in deposits.addresses()],
            )
            report = service.run_cycle(anchor=payload)
    data = {
        "deposits_credited": len(scan.credited),
        "advanced": [{"settlement": i, "state": s.value} for i, s in report.advanced],
        "created": list(report.created),
        "skipped": len(report.skipped),
        "notes": list(report.notes),
    }
    if as_json:
        _emit(data)
        return
    console.print(f"deposits credited: {data['deposits_credited']}")
    for i, state in report.advanced:
        console.print(f"settlement {i}: {state.value}")
    for i in report.created:
        console.print(f"settlement {i}: planned and sent")
    for note in report.notes:
        console.print(f"note: {note}")


@app.command("reconcile")
def reconcile_command(
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    ledger_only: Annotated[bool, typer.Option(help="skip the wallet and payout checks")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the books, the journal and the wallet against the chain; exit 1 on a discrepancy."""
    from bitcache.services.reconcile import reconcile

    with _errors(as_json):
        cfg = None if ledger_only and db else NodeConfig.load(home)
        ledger = _ledger(_node_db(home, db) if cfg is None else db or cfg.db)
        with _bar(as_json) as bar:
            task = bar.add_task("journal", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if ledger_only or cfg is None:
                report = reconcile(ledger, progress=progress)
            else:
                with cfg.chain_backend() as chain:
                    report = reconcile(
                        ledger,
                        chain=chain,
                        wallet=cfg.watch_only(),
                        confirmations=cfg.confirmations,
                        progress=progress,
                    )
    if as_json:
        _emit(report.to_json())
    else:
        _reconcile_tables(report)
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _reconcile_tables(report: ReconcileReport) -> None:
    title = f"reconcile: {report.entries:,} entries"
    checks = Table("check", "result", "found", "note", title=title)
    for c in report.checks:
        verdict = {True: "[green]ok[/green]", False: "[red]FAILED[/red]", None: "skipped"}[c.ok]
        checks.add_row(c.check.value, verdict, str(c.found), c.note)
    console.print(checks)
    if report.wallet is not None:
        w = report.wallet
        wallet = Table("wallet", "sat", "note", title="asset:wallet against the chain")
        wallet.add_row("books (asset:wallet)", f"{w.books_msat // 1000:,}", f"{w.books_msat} msat")
        for a in w.adjustments:
            wallet.add_row(f"{a.kind}: {a.subject}", f"{a.sat:+,}", a.note)
        wallet.add_row("expected on chain", f"{w.expected_sat:,}", "")
        wallet.add_row("chain", f"{w.chain_sat:,}", f"{w.coins} coin(s)")
        wallet.add_row("difference", f"{w.difference_sat:+,}", "")
        console.print(wallet)
    if report.discrepancies:
        found = Table("check", "subject", "detail", title="[red]discrepancies[/red]")
        for d in report.discrepancies:
            found.add_row(d.check.value, d.subject, d.detail)
        console.print(found)


@app.command()
def statement(
    uploader: Annotated[str, typer.Argument(help="the uploader")],
    out: Annotated[Path, typer.Option(help="file to write the signed statement to")],
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    since: Annotated[int, typer.Option(help="period start (µs)")] = 0,
    until: Annotated[int | None, typer.Option(help="period end (µs, default now)")] = None,
    platform: Annotated[str, typer.Option(help="the platform's name")] = "bitcache",
    as_json: JsonOption = False,
) -> None:
    """Issue an uploader's signed earnings statement for a period."""
    from bitcache.core.statement import verify_statement
    from bitcache.services.platformkey import load_platform_key
    from bitcache.services.statements import issue_statement

    with _errors(as_json):
        key = load_platform_key(home / KEY_FILE, passphrase=_passphrase())
        end = until if until is not None else time.time_ns() // 1000 + 1
        document = issue_statement(
            _ledger(_node_db(home, db)), uploader, since, end, key, platform=platform
        )
        write_file(out, document, "the statement")
        summary = verify_statement(document, key.public_key()).summary
    _statement_summary(summary, out, as_json)


def _public_key(given: str) -> Ed25519PublicKey:
    """``--public-key``: a file holding the key, or the key itself in hex."""
    from bitcache.services.platformkey import load_public_key, parse_public_key

    if Path(given).is_file():
        try:
            return load_public_key(given)
        except InvalidInput as exc:
            raise InvalidInput(f"--public-key file {given}: {exc}") from exc
    try:
        return parse_public_key(given)
    except InvalidInput as exc:
        raise InvalidInput(
            f"--public-key {given!r} is neither a file nor a key in hex: {exc}"
        ) from exc


def _statement_summary(summary: Any, path: Path, as_json: bool) -> None:
    totals = {
        "earned_msat": summary.earned_msat,
        "paid_msat": summary.paid_msat,
        "closing_msat": summary.closing_msat,
        "files": len(summary.files),
        "payouts": len(summary.payouts),
        "path": str(path),
    }
    if as_json:
        _emit({"ok": True, **totals})
        return
    table = Table("figure", "value", title=f"statement {path}")
    for name, value in totals.items():
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)


@app.command()
def verify(
    document: Annotated[Path, typer.Argument(help="the statement file")],
    public_key: Annotated[str, typer.Option(help="the platform's public key (64 hex) or a file")],
    as_json: JsonOption = False,
) -> None:
    """Verify a statement offline with the platform's public key alone (no database)."""
    from bitcache.core.statement import verify_statement

    with _errors(as_json):
        key = _public_key(public_key)
        data = read_file(document, "the statement")
        try:
            verified = verify_statement(data, key)
        except StatementInvalid as exc:
            line = getattr(exc, "line", None)
            if as_json:
                _emit({"ok": False, "line": line, "reason": str(exc)})
            else:
                where = f" (line {line})" if line else ""
                console.print(f"[red]statement does not verify[/red]{where}: {exc}")
            raise typer.Exit(EXIT_CHECK_FAILED) from exc
    if not as_json:
        console.print("[green]statement verifies[/green] against the platform's public key")
    _statement_summary(verified.summary, document, as_json)
