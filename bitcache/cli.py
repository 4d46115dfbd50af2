"""The ``bitcache`` command line: a thin edge over the library.

Exit codes (every command):

* 0: success;
* 1: a check failed: reconcile found a discrepancy, a statement or the
  journal does not verify, the demo's books do not reconcile;
* 2: bad input or a refused request (a ``BitcacheError`` such as a wrong
  passphrase, an unknown account, an existing wallet, mainnet);
* 3: the database or the chain backend failed (``StoreError``, ``ChainError``).

Commands that need the wallet or the chain read the node folder made by
``bitcache init`` (``--home``, or ``BITCACHE_HOME``): ``config.json``, the
encrypted seed ``wallet.seed`` and the encrypted platform key
``platform.key``. The passphrase comes from ``BITCACHE_PASSPHRASE`` or a
prompt. ``--json`` prints one JSON document instead of tables.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from bitcache.core.money import format_sats
from bitcache.errors import (
    BitcacheError,
    ChainError,
    InvalidInput,
    StatementInvalid,
    StoreError,
)

if TYPE_CHECKING:
    from bitcache.chain.protocol import ChainBackend
    from bitcache.services.reconcile import ReconcileReport
    from bitcache.store.ledger import LedgerStore
    from bitcache.wallet.keys import HDWallet

app = typer.Typer(help="bitcache: pay file uploaders in bitcoin.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.")
app.add_typer(db_app, name="db")
console = Console()

EXIT_CHECK_FAILED = 1
EXIT_REFUSED = 2
EXIT_BACKEND = 3

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


# --- the node folder ------------------------------------------------------------------


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
        return cls(home, raw["network"], raw["db"], raw["chain"], raw["account_xpub"],
                   int(raw["confirmations"]))

    def save(self) -> None:
        data = {"network": self.network, "db": self.db, "chain": self.chain,
                "account_xpub": self.account_xpub, "confirmations": self.confirmations}
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


# --- init, db --------------------------------------------------------------------------


@app.command()
def init(
    home: HomeOption = DEFAULT_HOME,
    network_name: Annotated[str, typer.Option("--network", help="testnet4, signet or regtest")] = (
        "testnet4"
    ),
    chain: Annotated[str, typer.Option(help="regtest (embedded), rpc or esplora")] = "rpc",
    chain_url: Annotated[str, typer.Option(help="node or Esplora URL")] = "",
    db: OptDb = None,
    confirmations: Annotated[int, typer.Option(help="N: deposits and payouts")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Create a node folder: database, encrypted wallet seed, encrypted platform key.

    The mnemonic is generated from the operating system's randomness, sealed
    with the passphrase (scrypt + AES-256-GCM) and never printed or written
    in clear: back up wallet.seed and the passphrase.
    """
    from bitcache.network import network
    from bitcache.services.platformkey import (
        generate_platform_key,
        public_key_hex,
        save_platform_key,
    )
    from bitcache.store.database import make_engine, sqlite_url, upgrade
    from bitcache.wallet.keys import HDWallet, generate_mnemonic
    from bitcache.wallet.seedbox import seal

    with _errors(as_json):
        net = network(network_name)
        if (home / SEED_FILE).exists():
            raise InvalidInput(f"{home / SEED_FILE} exists: refusing to overwrite a wallet")
        if chain not in ("regtest", "rpc", "esplora") or (chain == "regtest") != (
            net.value == "regtest"
        ):
            raise InvalidInput("--chain regtest goes with --network regtest; rpc or esplora else")
        passphrase = _passphrase(confirm=True)
        home.mkdir(parents=True, exist_ok=True)
        mnemonic = generate_mnemonic(secrets.token_bytes(32))
        wallet = HDWallet.from_mnemonic(mnemonic, net)
        seed_path = home / SEED_FILE
        with os.fdopen(os.open(seed_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(seal(mnemonic, passphrase))
        del mnemonic
        key = generate_platform_key()
        save_platform_key(key, home / KEY_FILE, passphrase=passphrase)
        spec = {"kind": chain, "url": chain_url}
        if chain == "regtest":
            spec = {"kind": "regtest", "path": str(home / "chain")}
        cfg = NodeConfig(home, net.value, db or sqlite_url(home / "ledger.sqlite"), spec,
                         wallet.account_xpub(), confirmations)
        upgrade(make_engine(cfg.db))
        cfg.save()
    facts = {"home": str(home), "network": net.value, "db": cfg.db, "chain": chain,
             "account_xpub": cfg.account_xpub, "platform_public_key": public_key_hex(key)}
    if as_json:
        _emit({"ok": True, **facts})
        return
    for name, value in facts.items():
        console.print(f"{name}: {value}")
    console.print(
        "[yellow]back up[/yellow] wallet.seed and platform.key with the passphrase: the "
        "mnemonic is never shown, and without the passphrase the coins are lost"
    )


@db_app.command("upgrade")
def db_upgrade(db: DbOption = DEFAULT_DB, as_json: JsonOption = False) -> None:
    """Create or migrate the database schema."""
    from bitcache.store.database import make_engine, upgrade

    with _errors(as_json):
        upgrade(make_engine(db))
    if as_json:
        _emit({"ok": True})
    else:
        console.print("database is up to date")


# --- demo ------------------------------------------------------------------------------


@app.command()
def demo(
    folder: Annotated[Path, typer.Option(help="working folder (wiped first)")] = Path(
        "demo-data"
    ),
    downloads: Annotated[int, typer.Option(help="downloads to simulate")] = 100_000,
    as_json: JsonOption = False,
) -> None:
    """Run the end-to-end demo on SQLite and the embedded regtest chain in FOLDER."""
    from bitcache.demo import DemoConfig, run_demo

    cfg = DemoConfig(folder=folder, downloads=downloads)
    with _errors(as_json), _bar(as_json) as bar:
        task = bar.add_task("downloads", total=downloads)

        def progress(stage: str, done: int, total: int) -> None:
            if stage == "downloads":
                bar.update(task, completed=done)
            else:
                bar.console.print(f"… {stage}")

        result = run_demo(cfg, progress)
    if as_json:
        _emit(_demo_json(result))
    else:
        _demo_tables(result)
    if not (result.reconcile.ok and result.statement_verified):
        raise typer.Exit(EXIT_CHECK_FAILED)


def _msat_text(value: int) -> str:
    return f"{value:,} msat ({format_sats(value)} sat)"


def _demo_json(r: Any) -> dict[str, object]:
    return {
        "downloads_charged": r.downloads, "downloads_refused": r.refused,
        "journal_entries": r.entries, "downloaders": r.downloaders,
        "deposits_sat": r.deposits_sat, "operator_funding_sat": r.funding_sat,
        "platform_revenue_msat": r.platform_msat, "uploaders_paid_msat": r.paid_msat,
        "uploaders_payable_msat": r.payable_msat, "wallet_msat": r.wallet_msat,
        "settlements": [s.__dict__ for s in r.settlements],
        "reconcile": r.reconcile.to_json(),
        "statement": {"uploader": r.statement_uploader, "path": str(r.statement_path),
                      "lines": r.statement_lines, "verified": r.statement_verified,
                      "platform_public_key": r.public_key_hex},
        "tip_height": r.tip_height, "database": str(r.db_path),
    }


def _demo_tables(r: Any) -> None:
    totals = Table("figure", "value", title="bitcache demo: one day on regtest")
    rows = [
        ("downloads charged / refused", f"{r.downloads:,} / {r.refused:,}"),
        ("journal entries", f"{r.entries:,}"),
        ("downloader deposits", f"{r.deposits_sat:,} sat ({r.downloaders} downloaders)"),
        ("operator funding", f"{r.funding_sat:,} sat"),
        ("platform revenue", _msat_text(r.platform_msat)),
        ("paid to uploaders (incl. fee shares)", _msat_text(r.paid_msat)),
        ("still payable to uploaders", _msat_text(r.payable_msat)),
        ("asset:wallet", _msat_text(r.wallet_msat)),
        ("regtest tip", str(r.tip_height)),
    ]
    for name, value in rows:
        totals.add_row(name, value)
    console.print(totals)
    txs = Table("id", "state", "txid", "payees", "paid sat", "vbytes", "fee sat", "anchor",
                title="settlement transactions")
    for s in r.settlements:
        txs.add_row(str(s.id), s.state, s.txid, str(s.payees), f"{s.payout_sat:,}",
                    str(s.vbytes), str(s.fee_sat), "yes" if s.anchored else "no")
    console.print(txs)
    _reconcile_tables(r.reconcile)
    mark = "[green]verified[/green]" if r.statement_verified else "[red]FAILED[/red]"
    console.print(f"statement of {r.statement_uploader}: {r.statement_lines} lines, {mark} "
                  f"offline with public key {r.public_key_hex} ({r.statement_path})")
    console.print(f"database: {r.db_path}")


# --- reading the books -----------------------------------------------------------------


@app.command()
def balance(
    account: Annotated[str, typer.Argument(help="account name, or a prefix with --prefix")],
    db: DbOption = DEFAULT_DB,
    prefix: Annotated[bool, typer.Option(help="list every account with this prefix")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show balances (posted and pending, msat)."""
    with _errors(as_json):
        store = _ledger(db)
        found = store.balances(account) if prefix else {account: store.balance(account)}
    rows = {
        n: {"posted": b.posted, "pending_debits": b.pending_debits,
            "pending_credits": b.pending_credits}
        for n, b in found.items()
    }
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("account", "posted msat", "pending debits", "pending credits")
    for name, row in rows.items():
        table.add_row(
            name, str(row["posted"]), str(row["pending_debits"]), str(row["pending_credits"])
        )
    console.print(table)


@app.command()
def earnings(
    uploader: Annotated[str, typer.Argument(help="the uploader")],
    db: DbOption = DEFAULT_DB,
    since: Annotated[int | None, typer.Option(help="from this time (µs)")] = None,
    until: Annotated[int | None, typer.Option(help="before this time (µs)")] = None,
    as_json: JsonOption = False,
) -> None:
    """An uploader's earnings per file: downloads and msat."""
    from bitcache.hooks import Hooks

    with _errors(as_json):
        found = Hooks(_ledger(db)).earnings(uploader, since=since, until=until)
    rows = [{"file_hash": e.file_hash.hex(), "downloads": e.downloads, "msat": e.msat}
            for e in found]
    if as_json:
        _emit({"uploader": uploader, "files": rows,
               "total_msat": sum(e.msat for e in found)})
        return
    table = Table("file sha256", "downloads", "earned msat", title=f"earnings of {uploader}")
    for row in rows:
        table.add_row(str(row["file_hash"]), str(row["downloads"]), f"{row['msat']:,}")
    console.print(table)


@app.command("verify-journal")
def verify_journal(db: DbOption = DEFAULT_DB, as_json: JsonOption = False) -> None:
    """Recompute the journal's hash chain; exit 1 naming the first broken entry."""
    with _errors(as_json):
        report = _ledger(db).verify()
    if as_json:
        _emit({"ok": report.ok, "entries": report.entries,
               "first_broken": report.first_broken, "reason": report.reason})
    elif report.ok:
        console.print(f"journal verifies: {report.entries} entries")
    else:
        console.print(f"[red]journal broken[/red] at entry {report.first_broken}: {report.reason}")
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="file to write (- for standard output)")],
    db: DbOption = DEFAULT_DB,
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    start: Annotated[int, typer.Option(help="first entry id")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Export journal entries for accounting tools: CSV (one row per posting) or JSON."""
    with _errors(as_json):
        if fmt not in ("csv", "json"):
            raise InvalidInput(f"--format must be csv or json, got {fmt!r}")
        store = _ledger(db)
        total = store.head()[0]
        with _open_out(out) as handle, _bar(as_json or str(out) == "-") as bar:
            task = bar.add_task("entries", total=max(total - start + 1, 0))
            writer = _csv_rows if fmt == "csv" else _json_rows
            count = writer(store, start, handle, lambda: bar.advance(task))
    if as_json:
        _emit({"ok": True, "entries": count, "format": fmt, "path": str(out)})
    elif str(out) != "-":
        console.print(f"exported {count} entries to {out} ({fmt})")


@contextmanager
def _open_out(out: Path) -> Iterator[Any]:
    if str(out) == "-":
        yield sys.stdout
    else:
        with out.open("w", newline="", encoding="utf-8") as handle:
            yield handle


CSV_COLUMNS = ("entry_id", "recorded_at", "key", "kind", "ref", "memo", "posting", "account",
               "amount_msat", "file_hash", "entry_hash")


def _csv_rows(store: LedgerStore, start: int, handle: Any, tick: Callable[[], None]) -> int:
    writer = csv.writer(handle)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for e in store.entries(start=start):
        for n, p in enumerate(e.postings):
            writer.writerow((e.id, e.recorded_at, e.key, e.kind.value, e.ref or "", e.memo, n,
                             p.account, p.amount, p.file_hash.hex() if p.file_hash else "",
                             e.entry_hash.hex()))
        count += 1
        tick()
    return count


def _json_rows(store: LedgerStore, start: int, handle: Any, tick: Callable[[], None]) -> int:
    from bitcache.core.statement import entry_json

    handle.write("[")
    count = 0
    for e in store.entries(start=start):
        handle.write(("," if count else "") + "\n" + json.dumps(entry_json(e), sort_keys=True))
        count += 1
        tick()
    handle.write("\n]\n")
    return count


# --- chain-facing commands -------------------------------------------------------------


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
            service = DepositService(_ledger(cfg.db), cfg.watch_only(), chain,
                                     confirmations=cfg.confirmations)
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
            config = SettlementConfig(confirmations=cfg.confirmations,
                                      min_input_confirmations=cfg.confirmations)
            service = SettlementService(ledger, chain, wallet, config, receive_indices=lambda: [
                a.index for a in deposits.addresses()])
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
        ledger = _ledger(db or (cfg.db if cfg else DEFAULT_DB))
        with _bar(as_json) as bar:
            task = bar.add_task("journal", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if ledger_only or cfg is None:
                report = reconcile(ledger, progress=progress)
            else:
                with cfg.chain_backend() as chain:
                    report = reconcile(ledger, chain=chain, wallet=cfg.watch_only(),
                                       confirmations=cfg.confirmations, progress=progress)
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


# --- statements ------------------------------------------------------------------------


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
        document = issue_statement(_ledger(_node_db(home, db)), uploader, since, end, key,
                                   platform=platform)
        out.write_bytes(document)
        summary = verify_statement(document, key.public_key()).summary
    _statement_summary(summary, out, as_json)


def _statement_summary(summary: Any, path: Path, as_json: bool) -> None:
    totals = {"earned_msat": summary.earned_msat, "paid_msat": summary.paid_msat,
              "closing_msat": summary.closing_msat, "files": len(summary.files),
              "payouts": len(summary.payouts), "path": str(path)}
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
    from bitcache.services.platformkey import load_public_key, parse_public_key

    with _errors(as_json):
        key = (load_public_key(public_key) if Path(public_key).is_file()
               else parse_public_key(public_key))
        data = document.read_bytes()
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


def main() -> None:
    """Console-script entry point."""
    app()
