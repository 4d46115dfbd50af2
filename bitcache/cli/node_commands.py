"""Commands that need the node folder made by ``bitcache init``.

deposit-address, settle, reconcile, statement, verify.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bitcache.clock import now_us
from bitcache.errors import (
    InvalidInput,
    StatementInvalid,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from bitcache.reconciliation.report import ReconcileReport
    from bitcache.services.settlement import CycleReport
    from bitcache.store.deposits import ReorgedDeposit
from bitcache.cli.base import (
    DEFAULT_HOME,
    EXIT_BACKEND,
    EXIT_CHECK_FAILED,
    EXIT_REORG,
    EXIT_STALLED,
    KEY_FILE,
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
from bitcache.cli.node import read_file, write_file
from bitcache.cli.recovery_commands import print_alarms, reorged_json
from bitcache.settlement.model import DEFAULT_STALL_AFTER_BLOCKS

StallOption = Annotated[
    int | None,
    typer.Option(
        "--stall-after-blocks",
        min=1,
        help="report a settlement still unconfirmed this many blocks after planning "
        "(default: settlement.stall_after_blocks, 144)",
    ),
]



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
                                     **cfg.deposit_options())
            address = service.deposit_address(downloader)
    if as_json:
        _emit({"downloader": downloader, "address": address})
    else:
        print(address)


def _stall(stall_after_blocks: int | None) -> dict[str, int]:
    """``--stall-after-blocks`` as a change of the configured settlement knobs."""
    return {} if stall_after_blocks is None else {"stall_after_blocks": stall_after_blocks}


@app.command()
def settle(
    home: HomeOption = DEFAULT_HOME,
    anchor: Annotated[bool | None, typer.Option(
        help="commit the tree head in an OP_RETURN (default: settlement.anchor)")] = None,
    stall_after_blocks: StallOption = None,
    as_json: JsonOption = False,
) -> None:
    """One settlement cycle: scan deposits, advance settlements in flight, plan a batch if due.

    Exits 5 while a credited deposit that left the best chain is neither reversed nor
    acknowledged (after running the whole cycle); otherwise 4 when a settlement is
    not moving (its broadcast refused by the node, or unconfirmed too long), 3 when a
    broadcast could not reach the backend.
    """
    from bitcache.services.node import Node
    from bitcache.wallet.platformkey import load_platform_key

    with _errors(as_json):
        cfg = NodeConfig.load(home)
        passphrase = _passphrase()
        wallet = cfg.signing_wallet(passphrase)
        ledger = _ledger(cfg.db)
        key = None
        if cfg.settlement.anchor if anchor is None else anchor:
            key = load_platform_key(home / KEY_FILE, passphrase=passphrase)
        config = cfg.settlement_config(**_stall(stall_after_blocks))
        with cfg.chain_backend() as chain:
            node = Node(ledger, wallet, chain, config, **cfg.deposit_options())
            outcome = node.settle(key)
    _settle_report(outcome.credited, outcome.cycle, list(outcome.alarms), as_json)


def _settle_report(
    credited: int, report: CycleReport, alarms: list[ReorgedDeposit], as_json: bool
) -> None:
    """Print what the cycle did; exit 5 on a reorg alarm, 4 if a settlement is not moving,
    3 if a broadcast did not reach the backend."""
    from bitcache.settlement.stalls import StallKind

    if as_json:
        _emit({
            "deposits_credited": credited,
            "advanced": [{"settlement": i, "state": s.value} for i, s in report.advanced],
            "created": list(report.created),
            "created_states": [
                {"settlement": i, "state": s.value} for i, s in report.created_states
            ],
            "skipped": len(report.skipped),
            "notes": list(report.notes),
            "stalled": [
                {"settlement": x.settlement_id, "state": x.state.value, "kind": x.kind.value,
                 "since_height": x.since_height, "detail": x.detail}
                for x in report.stalled
            ],
            "reorged_deposits": [reorged_json(r) for r in alarms],
        })
    else:
        console.print(f"deposits credited: {credited}")
        for i, state in report.advanced:
            console.print(f"settlement {i}: {state.value}")
        for i, state in report.created_states:
            console.print(f"settlement {i}: planned, now {state.value}")
        for stall in report.stalled:
            console.print(f"[red]not moving:[/red] {stall}", markup=True, highlight=False)
        for note in report.notes:
            console.print(f"note: {note}")
        print_alarms(alarms)
    kinds = {x.kind for x in report.stalled}
    if alarms:
        raise typer.Exit(EXIT_REORG)
    if kinds - {StallKind.BROADCAST_FAILED}:
        raise typer.Exit(EXIT_STALLED)
    if kinds:
        raise typer.Exit(EXIT_BACKEND)


@app.command("reconcile")
def reconcile_command(
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    ledger_only: Annotated[bool, typer.Option(help="skip the wallet and payout checks")] = False,
    stall_after_blocks: StallOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the books, the journal and the wallet against the chain; exit 1 on a discrepancy."""
    from bitcache.reconciliation.alerts import record_failure
    from bitcache.reconciliation.checks import reconcile

    with _errors(as_json):
        cfg = None if ledger_only and db else NodeConfig.load(home)
        ledger = _ledger(_node_db(home, db) if cfg is None else db or cfg.db)
        if stall_after_blocks is None:
            stall_after_blocks = (DEFAULT_STALL_AFTER_BLOCKS if cfg is None
                                  else cfg.settlement.stall_after_blocks)
        with _bar(as_json) as bar:
            task = bar.add_task("journal", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if ledger_only or cfg is None:
                report = reconcile(
                    ledger, progress=progress, stall_after_blocks=stall_after_blocks
                )
            else:
                with cfg.chain_backend() as chain:
                    report = reconcile(
                        ledger,
                        chain=chain,
                        wallet=cfg.watch_only(),
                        confirmations=cfg.settlement_config().confirmations,
                        deposit_confirmations=cfg.deposits.confirmations,
                        progress=progress,
                        stall_after_blocks=stall_after_blocks,
                    )
    with _errors(as_json):
        record_failure(ledger, report)
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
    from bitcache.services.statements import issue_statement
    from bitcache.statements.verify import verify_statement
    from bitcache.wallet.platformkey import load_platform_key

    with _errors(as_json):
        cfg = NodeConfig.load(home)  # no node folder: say so before asking for a passphrase
        key = load_platform_key(cfg.home / KEY_FILE, passphrase=_passphrase())
        end = until if until is not None else now_us() + 1
        document = issue_statement(
            _ledger(_node_db(home, db)), uploader, since, end, key, platform=platform
        )
        write_file(out, document, "the statement")
        summary = verify_statement(document, key.public_key()).summary
    _statement_summary(summary, out, as_json)


def _split_total(payouts: Any, name: str) -> int | None:
    """The sum of one part of the payouts' split (None if a payout does not record it)."""
    parts = [getattr(p, name) for p in payouts]
    return None if None in parts else sum(parts)


def _public_key(given: str) -> Ed25519PublicKey:
    """``--public-key``: a file holding the key, or the key itself in hex."""
    from bitcache.wallet.platformkey import load_public_key, parse_public_key

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
        "received_sat": _split_total(summary.payouts, "received_sat"),
        "fee_share_msat": _split_total(summary.payouts, "fee_share_msat"),
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
    from bitcache.statements.verify import verify_statement

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
