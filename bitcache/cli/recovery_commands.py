"""Recovery after a reorg deeper than N: reorged deposits, shortfalls, abandoning a settlement.

deposits reorged, deposits acknowledge, deposits reverse, shortfall, settlement abandon.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:
    from bitcache.store.deposits import ReorgedDeposit
from bitcache.cli.base import (
    DEFAULT_HOME,
    HomeOption,
    JsonOption,
    NodeConfig,
    OptDb,
    _emit,
    _errors,
    _iso,
    _ledger,
    _node_db,
    app,
    console,
)

deposits_app = typer.Typer(help="Credited deposits that left the best chain (deep reorgs).")
settlement_app = typer.Typer(help="Operator steps on settlements (also `bitcache settlements`).")
app.add_typer(deposits_app, name="deposits")
app.add_typer(settlement_app, name="settlement")

OutpointArg = Annotated[str, typer.Argument(help="the deposit, as <txid>:<vout>")]


def reorged_json(r: ReorgedDeposit) -> dict[str, object]:
    """A reorged deposit as JSON."""
    d = r.deposit
    return {
        "outpoint": str(d.outpoint),
        "account": d.account,
        "value_sat": d.value_sat,
        "block_hash": d.block_hash,
        "block_height": d.block_height,
        "entry_id": d.entry_id,
        "reversed_by": r.reversed_by,
        "acknowledged_at": _iso(r.acknowledged_at),
        "note": r.note,
    }


def print_alarms(alarms: list[ReorgedDeposit]) -> None:
    """Say which credited deposits left the chain while nobody resolved them."""
    for r in alarms:
        d = r.deposit
        console.print(
            f"[red]reorg:[/red] deposit {d.outpoint} ({d.value_sat:,} sat to {d.account}, "
            f"entry {d.entry_id}) left the best chain after its credit; the credit stands "
            "(see `bitcache deposits reorged`)"
        )


@deposits_app.command("reorged")
def deposits_reorged(
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    show_all: Annotated[bool, typer.Option("--all", help="include reversed ones")] = False,
    as_json: JsonOption = False,
) -> None:
    """Credited deposits that left the best chain: the credit, and whether it was resolved."""
    from bitcache.services.recovery import Recovery

    with _errors(as_json):
        found = Recovery(_ledger(_node_db(home, db))).reorged(include_reversed=show_all)
    if as_json:
        _emit({"reorged_deposits": [reorged_json(r) for r in found]})
        return
    table = Table("outpoint", "account", "sat", "entry", "state", title="reorged deposits")
    for r in found:
        state = (
            f"reversed by entry {r.reversed_by}" if r.reversed_by is not None
            else f"acknowledged: {r.note}" if r.acknowledged_at is not None
            else "[red]credit stands[/red]"
        )
        d = r.deposit
        table.add_row(str(d.outpoint), d.account, f"{d.value_sat:,}", str(d.entry_id), state)
    console.print(table)


@deposits_app.command("acknowledge")
def deposits_acknowledge(
    outpoint: OutpointArg,
    note: Annotated[str, typer.Option(help="why (kept with the acknowledgement)")],
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    as_json: JsonOption = False,
) -> None:
    """Acknowledge a reorged deposit: `settle` stops exiting 5 for it; its credit stands."""
    from bitcache.services.recovery import Recovery, parse_outpoint

    with _errors(as_json):
        op = parse_outpoint(outpoint)
        found = Recovery(_ledger(_node_db(home, db))).acknowledge(op, note)
    if as_json:
        _emit({"ok": True, **reorged_json(found)})
    else:
        console.print(f"deposit {op}: acknowledged; its credit stands until reversed or restored")


@deposits_app.command("reverse")
def deposits_reverse(
    outpoint: OutpointArg,
    home: HomeOption = DEFAULT_HOME,
    cover_shortfall: Annotated[
        bool, typer.Option(help="first book what the downloader already spent against equity")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="reverse even though the chain still knows the transaction")
    ] = False,
    memo: Annotated[str, typer.Option(help="memo of the reversing entry")] = "reorged",
    as_json: JsonOption = False,
) -> None:
    """Reverse the credit of a reorged deposit whose transaction can no longer confirm."""
    from bitcache.services.recovery import Recovery, parse_outpoint

    with _errors(as_json):
        op = parse_outpoint(outpoint)
        cfg = NodeConfig.load(home)
        ledger = _ledger(cfg.db)
        if force:
            done = Recovery(ledger).reverse_deposit(
                op, cover_shortfall=cover_shortfall, force=True, memo=memo
            )
        else:
            with cfg.chain_backend() as chain:
                done = Recovery(ledger, chain).reverse_deposit(
                    op, cover_shortfall=cover_shortfall, memo=memo
                )
    data = {
        "ok": True,
        "outpoint": str(op),
        "reversal_entry": done.reversal_entry,
        "shortfall_entry": done.shortfall_entry,
        "shortfall_msat": done.shortfall_msat,
        "replayed": done.replayed,
    }
    if as_json:
        _emit(data)
        return
    console.print(f"deposit {op}: credit reversed by entry {done.reversal_entry}")
    if done.shortfall_entry is not None:
        console.print(
            f"shortfall of {done.shortfall_msat:,} msat booked against equity:operator "
            f"(entry {done.shortfall_entry})"
        )


@app.command()
def shortfall(
    account: Annotated[str, typer.Argument(help="the account credited (e.g. asset:wallet)")],
    amount_msat: Annotated[int, typer.Argument(help="msat")],
    key: Annotated[str, typer.Option(help="idempotency key (a retry with it writes nothing)")],
    memo: Annotated[str, typer.Option(help="why")],
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    as_json: JsonOption = False,
) -> None:
    """Book a shortfall against equity:operator: debit equity, credit ACCOUNT."""
    from bitcache.services.recovery import Recovery

    with _errors(as_json):
        entry = Recovery(_ledger(_node_db(home, db))).cover_shortfall(
            account, amount_msat, key, memo
        )
    if as_json:
        _emit({"ok": True, "entry": entry, "account": account, "amount_msat": amount_msat})
    else:
        console.print(f"entry {entry}: {amount_msat:,} msat from equity:operator to {account}")


@settlement_app.command("abandon")
def settlement_abandon(
    settlement_id: Annotated[int, typer.Argument(help="the settlement")],
    reason: Annotated[str, typer.Option(help="why (kept as the settlement's reason)")],
    home: HomeOption = DEFAULT_HOME,
    as_json: JsonOption = False,
) -> None:
    """Void a settlement no version of which is on chain; its payees' credit is back."""
    from bitcache.services.settlement import SettlementService

    with _errors(as_json):
        cfg = NodeConfig.load(home)
        with cfg.chain_backend() as chain:
            config = cfg.settlement_config()
            service = SettlementService(_ledger(cfg.db), chain, cfg.watch_only(), config)
            done = service.abandon(settlement_id, reason)
    if as_json:
        _emit({"ok": True, "settlement": done.id, "state": done.state.value,
               "reason": done.reason, "payees": [p.uploader for p in done.payouts]})
    else:
        console.print(f"settlement {done.id}: {done.state.value} ({done.reason})")
