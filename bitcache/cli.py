"""The ``bitcache`` command line: a thin edge over the library.

Exit codes: 0 success; 1 a check failed (e.g. the journal does not verify);
2 bad input or a refused request (a ``BitcacheError``); 3 the database or
chain backend failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from bitcache.core.money import format_sats
from bitcache.errors import BitcacheError, ChainError, StoreError

app = typer.Typer(help="bitcache: pay file uploaders in bitcoin.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.")
app.add_typer(db_app, name="db")
console = Console()

EXIT_CHECK_FAILED = 1
EXIT_REFUSED = 2
EXIT_BACKEND = 3

DbOption = Annotated[str, typer.Option("--db", help="database URL", envvar="BITCACHE_DB")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def _fail(exc: BitcacheError) -> typer.Exit:
    code = EXIT_BACKEND if isinstance(exc, StoreError | ChainError) else EXIT_REFUSED
    console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
    return typer.Exit(code)


@app.command()
def demo(
    folder: Annotated[Path, typer.Option(help="working folder")] = Path("demo-data"),
    downloads: Annotated[int, typer.Option(help="downloads to simulate")] = 100_000,
    as_json: JsonOption = False,
) -> None:
    """Run the demo on the embedded default (SQLite in FOLDER)."""
    from bitcache.demo import DemoConfig, run_ledger_day

    cfg = DemoConfig(folder=folder, downloads=downloads)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    ) as bar:
        task = bar.add_task("downloads", total=downloads)
        result = run_ledger_day(cfg, progress=lambda n: bar.advance(task, n))
    summary = {
        "downloads_charged": result.downloads,
        "downloads_refused": result.refused,
        "journal_entries": result.entries,
        "uploaders_earned_msat": result.uploaders_msat,
        "platform_revenue_msat": result.platform_msat,
        "trial_balance_msat": result.trial_balance,
        "hash_chain_ok": result.chain_ok,
        "database": str(result.db_path),
    }
    if as_json:
        print(json.dumps(summary))
    else:
        table = Table(title="bitcache demo: one day of downloads")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in summary.items():
            is_msat = key.endswith("_msat") and isinstance(value, int)
            shown = f"{value} msat ({format_sats(value)} sat)" if is_msat else value  # type: ignore[arg-type]
            table.add_row(key, str(shown))
        console.print(table)
    if result.trial_balance != 0 or not result.chain_ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = "sqlite:///bitcache.sqlite") -> None:
    """Create or migrate the database schema."""
    from bitcache.store.database import make_engine, upgrade

    try:
        upgrade(make_engine(db))
    except BitcacheError as exc:
        raise _fail(exc) from exc
    console.print("database is up to date")


@app.command()
def balance(
    account: Annotated[str, typer.Argument(help="account name, or a prefix with --prefix")],
    db: DbOption = "sqlite:///bitcache.sqlite",
    prefix: Annotated[bool, typer.Option(help="list every account with this prefix")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show balances (posted and pending, msat)."""
    from bitcache.store.ledger import LedgerStore

    try:
        store = LedgerStore.open(db, migrate=False)
        found = store.balances(account) if prefix else {account: store.balance(account)}
    except BitcacheError as exc:
        raise _fail(exc) from exc
    rows = {
        n: {
            "posted": b.posted,
            "pending_debits": b.pending_debits,
            "pending_credits": b.pending_credits,
        }
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


@app.command("verify-journal")
def verify_journal(db: DbOption = "sqlite:///bitcache.sqlite", as_json: JsonOption = False) -> None:
    """Recompute the journal's hash chain; exit 1 naming the first broken entry."""
    from bitcache.store.ledger import LedgerStore

    try:
        report = LedgerStore.open(db, migrate=False).verify()
    except BitcacheError as exc:
        raise _fail(exc) from exc
    if as_json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "entries": report.entries,
                    "first_broken": report.first_broken,
                    "reason": report.reason,
                }
            )
        )
    elif report.ok:
        console.print(f"journal verifies: {report.entries} entries")
    else:
        console.print(f"[red]journal broken[/red] at entry {report.first_broken}: {report.reason}")
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


def main() -> None:
    """Console-script entry point."""
    app()
