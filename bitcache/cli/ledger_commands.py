"""Commands over the ledger database alone.

db upgrade, balance, earnings, verify-journal, export.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bitcache.errors import (
    InvalidInput,
)

if TYPE_CHECKING:
    from bitcache.store.ledger import LedgerStore
from bitcache.cli.base import (
    DEFAULT_HOME,
    EXIT_CHECK_FAILED,
    HomeOption,
    JsonOption,
    OptDb,
    _bar,
    _emit,
    _errors,
    _ledger,
    _node_db,
    app,
    console,
    db_app,
)


@db_app.command("upgrade")
def db_upgrade(
    home: HomeOption = DEFAULT_HOME, db: OptDb = None, as_json: JsonOption = False
) -> None:
    """Create or migrate the database schema (the node's, or --db)."""
    from bitcache.store.database import make_engine, upgrade

    with _errors(as_json):
        upgrade(make_engine(_node_db(home, db)))
    if as_json:
        _emit({"ok": True})
    else:
        console.print("database is up to date")


@app.command()
def balance(
    account: Annotated[str, typer.Argument(help="account name, or a prefix with --prefix")],
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    prefix: Annotated[bool, typer.Option(help="list every account with this prefix")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show balances (posted and pending, msat)."""
    with _errors(as_json):
        store = _ledger(_node_db(home, db))
        found = store.balances(account) if prefix else {account: store.balance(account)}
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


@app.command()
def earnings(
    uploader: Annotated[str, typer.Argument(help="the uploader")],
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    since: Annotated[int | None, typer.Option(help="from this time (µs)")] = None,
    until: Annotated[int | None, typer.Option(help="before this time (µs)")] = None,
    as_json: JsonOption = False,
) -> None:
    """An uploader's earnings per file: downloads and msat."""
    from bitcache.hooks import Hooks

    with _errors(as_json):
        found = Hooks(_ledger(_node_db(home, db))).earnings(uploader, since=since, until=until)
    rows = [
        {"file_hash": e.file_hash.hex(), "downloads": e.downloads, "msat": e.msat} for e in found
    ]
    if as_json:
        _emit({"uploader": uploader, "files": rows, "total_msat": sum(e.msat for e in found)})
        return
    table = Table("file sha256", "downloads", "earned msat", title=f"earnings of {uploader}")
    for row in rows:
        table.add_row(str(row["file_hash"]), str(row["downloads"]), f"{row['msat']:,}")
    console.print(table)


@app.command("verify-journal")
def verify_journal(
    home: HomeOption = DEFAULT_HOME, db: OptDb = None, as_json: JsonOption = False
) -> None:
    """Recompute the journal's hash chain; exit 1 naming the first broken entry."""
    with _errors(as_json):
        report = _ledger(_node_db(home, db)).verify()
    if as_json:
        _emit(
            {
                "ok": report.ok,
                "entries": report.entries,
                "first_broken": report.first_broken,
                "reason": report.reason,
            }
        )
    elif report.ok:
        console.print(f"journal verifies: {report.entries} entries")
    else:
        console.print(f"[red]journal broken[/red] at entry {report.first_broken}: {report.reason}")
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="file to write (- for standard output)")],
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    start: Annotated[int, typer.Option(help="first entry id")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Export journal entries for accounting tools: CSV (one row per posting) or JSON.

    The export is written whole or not at all: a file under a temporary name,
    renamed once complete; standard output once the last entry is read. With
    ``-`` the entries are the output, so ``--json`` needs ``--format json``.
    """
    to_stdout = str(out) == "-"
    with _errors(as_json):
        if fmt not in ("csv", "json"):
            raise InvalidInput(f"--format must be csv or json, got {fmt!r}")
        if to_stdout and as_json and fmt != "json":
            raise InvalidInput(
                "`export - --json` prints the entries as its one JSON document: "
                "add --format json, or export to a file"
            )
        store = _ledger(_node_db(home, db))
        total = store.head()[0]
        with _whole_output(out) as handle, _bar(as_json or to_stdout) as bar:
            task = bar.add_task("entries", total=max(total - start + 1, 0))
            writer = _csv_rows if fmt == "csv" else _json_rows
            count = writer(store, start, handle, lambda: bar.advance(task))
    if to_stdout:
        return
    if as_json:
        _emit({"ok": True, "entries": count, "format": fmt, "path": str(out)})
    else:
        console.print(f"exported {count} entries to {out} ({fmt})")


#: An export to standard output is held in memory up to this size, then in a temporary file.
SPOOL_BYTES = 16 * 1024 * 1024


@contextmanager
def _whole_output(out: Path) -> Iterator[Any]:
    """A handle whose content reaches ``out`` only if the export completes."""
    if str(out) == "-":
        with tempfile.SpooledTemporaryFile(
            SPOOL_BYTES, mode="w+", newline="", encoding="utf-8"
        ) as spool:
            yield spool
            spool.seek(0)
            shutil.copyfileobj(spool, sys.stdout)
        return
    if out.is_dir():
        raise InvalidInput(f"cannot write the export to {out}: it is a folder")
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        handle = temporary.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write the export to {out}: {exc.strerror or exc}") from exc
    try:
        with handle:
            yield handle
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)


CSV_COLUMNS = (
    "entry_id",
    "recorded_at",
    "key",
    "kind",
    "ref",
    "memo",
    "posting",
    "account",
    "amount_msat",
    "file_hash",
    "entry_hash",
)


def _csv_rows(store: LedgerStore, start: int, handle: Any, tick: Callable[[], None]) -> int:
    writer = csv.writer(handle)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for e in store.entries(start=start):
        for n, p in enumerate(e.postings):
            writer.writerow(
                (
                    e.id,
                    e.recorded_at,
                    e.key,
                    e.kind.value,
                    e.ref or "",
                    e.memo,
                    n,
                    p.account,
                    p.amount,
                    p.file_hash.hex() if p.file_hash else "",
                    e.entry_hash.hex(),
                )
            )
        count += 1
        tick()
    return count


def _json_rows(store: LedgerStore, start: int, handle: Any, tick: Callable[[], None]) -> int:
    from bitcache.statements.statement import entry_json

    handle.write("[")
    count = 0
    for e in store.entries(start=start):
        handle.write(("," if count else "") + "\n" + json.dumps(entry_json(e), sort_keys=True))
        count += 1
        tick()
    handle.write("\n]\n")
    return count
