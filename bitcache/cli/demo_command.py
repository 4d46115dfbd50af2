"""The demo command and its summary tables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bitcache.core.money import format_sats

if TYPE_CHECKING:
    pass
from bitcache.cli.base import (
    EXIT_CHECK_FAILED,
    JsonOption,
    _bar,
    _emit,
    _errors,
    app,
    console,
)
from bitcache.cli.node_commands import _reconcile_tables


@app.command()
def demo(
    folder: Annotated[
        Path, typer.Option(help="working folder: new, empty, or an earlier demo's")
    ] = Path("demo-data"),
    downloads: Annotated[int, typer.Option(help="downloads to simulate")] = 100_000,
    as_json: JsonOption = False,
) -> None:
    """Run the end-to-end demo on SQLite and the embedded regtest chain in FOLDER.

    FOLDER must be new, empty, or made by an earlier demo (which this run
    clears); any other folder is refused untouched.
    """
    with _errors(as_json):
        from bitcache.demo import DemoConfig, check_folder, run_demo

        cfg = DemoConfig(folder=folder, downloads=downloads)
        check_folder(folder)
        with _bar(as_json) as bar:
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
        "downloads_charged": r.downloads,
        "downloads_refused": r.refused,
        "journal_entries": r.entries,
        "downloaders": r.downloaders,
        "deposits_sat": r.deposits_sat,
        "operator_funding_sat": r.funding_sat,
        "platform_revenue_msat": r.platform_msat,
        "uploaders_paid_msat": r.paid_msat,
        "uploaders_payable_msat": r.payable_msat,
        "wallet_msat": r.wallet_msat,
        "settlements": [s.__dict__ for s in r.settlements],
        "reconcile": r.reconcile.to_json(),
        "statement": {
            "uploader": r.statement_uploader,
            "path": str(r.statement_path),
            "lines": r.statement_lines,
            "verified": r.statement_verified,
            "platform_public_key": r.public_key_hex,
        },
        "tip_height": r.tip_height,
        "database": str(r.db_path),
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
    txs = Table(
        "id",
        "state",
        "txid",
        "payees",
        "paid sat",
        "vbytes",
        "fee sat",
        "anchor",
        title="settlement transactions",
    )
    for s in r.settlements:
        txs.add_row(
            str(s.id),
            s.state,
            s.txid,
            str(s.payees),
            f"{s.payout_sat:,}",
            str(s.vbytes),
            str(s.fee_sat),
            "yes" if s.anchored else "no",
        )
    console.print(txs)
    _reconcile_tables(r.reconcile)
    mark = "[green]verified[/green]" if r.statement_verified else "[red]FAILED[/red]"
    console.print(
        f"statement of {r.statement_uploader}: {r.statement_lines} lines, {mark} "
        f"offline with public key {r.public_key_hex} ({r.statement_path})"
    )
    console.print(f"database: {r.db_path}")
    console.print(f"web pages: `bitcache demo-web --folder {r.db_path.parent}` serves them on "
                  "http://127.0.0.1:8470 and prints a login link for the uploader page and "
                  "the operator dashboard")


@app.command("demo-web")
def demo_web(
    folder: Annotated[Path, typer.Option(help="the folder `bitcache demo` finished")] = Path(
        "demo-data"),
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8470,
) -> None:
    """Serve the web pages over the demo's folder and print a login link for each page.

    The uploader page is the one of the uploader whose statement the demo
    issued.
    """
    import uvicorn

    from bitcache.cli.demo_web import DemoSite, demo_logins
    from bitcache.serve.app import create_app

    with _errors():
        site = DemoSite(folder)
        logins = demo_logins(site)
    base = f"http://{host}:{port}"
    console.print(f"bitcache serve on {base} over {folder} (Ctrl-C stops it)")
    console.print(f"uploader page ({logins.uploader}): {base}{logins.uploader_link}")
    console.print(f"operator dashboard: {base}{logins.operator_link}")
    try:
        uvicorn.run(create_app(site.service), host=host, port=port, access_log=False,
                    log_level="warning", server_header=False)
    finally:
        site.close()
