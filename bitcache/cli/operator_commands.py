"""An operator's daily commands: payout and funding addresses, settlements, deposits, holds.

payout-address set|list, funding-address, settlements list|show|abandon,
deposits list, holds list, pubkey, regtest mine. Every one takes ``--json``;
times are ISO 8601 in UTC. Reads that need no chain never open it (the
embedded chain's folder stays free for ``settle``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bitcache.cli.base import (
    DEFAULT_HOME,
    KEY_FILE,
    HomeOption,
    JsonOption,
    NodeConfig,
    OptDb,
    _emit,
    _errors,
    _iso,
    _ledger,
    _node_db,
    _passphrase,
    app,
    console,
)
from bitcache.cli.recovery_commands import deposits_app, settlement_abandon
from bitcache.errors import InvalidInput

if TYPE_CHECKING:
    from bitcache.services.settlement import SettlementService
    from bitcache.settlement.model import Settlement
    from bitcache.store.ledger import LedgerStore
    from bitcache.store.settlement import PayoutAddress

payout_app = typer.Typer(help="Uploaders' payout addresses.")
settlements_app = typer.Typer(help="Settlements: list, inspect, abandon.")
holds_app = typer.Typer(help="Files under a takedown hold.")
regtest_app = typer.Typer(help="The embedded regtest chain (trials only).")
app.add_typer(payout_app, name="payout-address")
app.add_typer(settlements_app, name="settlements")
app.add_typer(holds_app, name="holds")
app.add_typer(regtest_app, name="regtest")
#: `settlements abandon` is `settlement abandon` (kept, documented since it came first).
settlements_app.command("abandon")(settlement_abandon)

#: Most blocks one `regtest mine` makes.
MAX_MINE = 10_000


def _settlements(cfg: NodeConfig, ledger: LedgerStore) -> SettlementService:
    """The settlement service over a chain opened only for a call that needs it."""
    from bitcache.network import network
    from bitcache.serve.chain import PerCallChain
    from bitcache.services.settlement import SettlementService

    chain = PerCallChain(network(cfg.network), cfg.chain_backend)
    return SettlementService(ledger, chain, cfg.watch_only(), cfg.settlement_config())


def _payout_json(p: PayoutAddress) -> dict[str, Any]:
    return {"uploader": p.uploader, "address": p.address, "script_type": p.script_type.value,
            "since": _iso(p.created_at)}


def _payout_table(found: list[PayoutAddress], title: str) -> None:
    table = Table("uploader", "address", "type", "since", title=title)
    for p in found:
        table.add_row(p.uploader, p.address, p.script_type.value, _iso(p.created_at))
    console.print(table)


@payout_app.command("set")
def payout_set(
    uploader: Annotated[str, typer.Argument(help="the uploader")],
    address: Annotated[str, typer.Argument(help="their payout address (this network's)")],
    home: HomeOption = DEFAULT_HOME,
    as_json: JsonOption = False,
) -> None:
    """Set an uploader's payout address (applies to payouts planned from now on)."""
    with _errors(as_json):
        cfg = NodeConfig.load(home)
        made = _settlements(cfg, _ledger(cfg.db)).register_payout_address(uploader, address)
    if as_json:
        _emit({"ok": True, **_payout_json(made)})
    else:
        console.print(f"{escape(made.uploader)}: {made.address} ({made.script_type.value})",
                      soft_wrap=True)


@payout_app.command("list")
def payout_list(
    uploader: Annotated[str | None, typer.Argument(
        help="one uploader: every address they registered, oldest first")] = None,
    home: HomeOption = DEFAULT_HOME,
    as_json: JsonOption = False,
) -> None:
    """Every uploader's current payout address (or one uploader's history)."""
    with _errors(as_json):
        cfg = NodeConfig.load(home)
        service = _settlements(cfg, _ledger(cfg.db))
        if uploader is None:
            found = sorted(service.payout_addresses().values(), key=lambda p: p.uploader)
        else:
            found = service.payout_address_history(uploader)
    if as_json:
        _emit({"payout_addresses": [_payout_json(p) for p in found]})
    else:
        _payout_table(found, "payout addresses" if uploader is None else f"{uploader}'s history")


@app.command("funding-address")
def funding_address(home: HomeOption = DEFAULT_HOME, as_json: JsonOption = False) -> None:
    """The operator's address for funding the hot wallet (credited to equity:operator)."""
    from bitcache.core.accounts import OPERATOR_EQUITY
    from bitcache.services.deposits import DepositService

    with _errors(as_json):
        cfg = NodeConfig.load(home)
        with cfg.chain_backend() as chain:
            address = DepositService(_ledger(cfg.db), cfg.watch_only(), chain,
                                     **cfg.deposit_options()).funding_address()
    if as_json:
        _emit({"account": OPERATOR_EQUITY, "address": address})
    else:
        print(address)


def _states(names: list[str] | None, every: bool) -> list[Any]:
    from bitcache.settlement.states import SettlementState

    if every:
        return list(SettlementState)
    if not names:
        return [s for s in SettlementState if s.in_flight]
    known = {s.value: s for s in SettlementState}
    for name in names:
        if name not in known:
            raise InvalidInput(f"--state {name!r}: expected one of {', '.join(known)}")
    return [known[n] for n in names]


def _summary(s: Settlement, times: tuple[int, int] | None) -> dict[str, Any]:
    problem = s.broadcast_problem
    return {
        "id": s.id, "state": s.state.value,
        "created_at": _iso(times[0]) if times else None,
        "updated_at": _iso(times[1]) if times else None,
        "created_height": s.created_height, "broadcast_height": s.broadcast_height,
        "confirmations": s.confirmations, "txid": s.latest.txid if s.latest else None,
        "payees": len(s.payouts), "payout_sat": s.payout_sat,
        "fee_sat": s.latest.fee_sat if s.latest else None, "reason": s.reason,
        "broadcast_problem": None if problem is None else {
            "failure": problem.failure.value, "reason": problem.reason,
            "since_height": problem.since_height},
    }


@settlements_app.command("list")
def settlements_list(
    state: Annotated[list[str] | None, typer.Option(
        "--state", help="planned, signed, broadcast, confirmed, final or void (repeat)")] = None,
    every: Annotated[bool, typer.Option("--all", help="every settlement")] = False,
    home: HomeOption = DEFAULT_HOME,
    as_json: JsonOption = False,
) -> None:
    """Settlements, oldest first: those in flight, or those in --state, or --all."""
    with _errors(as_json):
        states = _states(state, every)
        cfg = NodeConfig.load(home)
        service = _settlements(cfg, _ledger(cfg.db))
        found = service.settlements(states)
        times = service.times(s.id for s in found)
    rows = [_summary(s, times.get(s.id)) for s in found]
    if as_json:
        _emit({"settlements": rows})
        return
    table = Table("id", "state", "planned", "payees", "sat", "txid", "confs", "note",
                  title="settlements")
    for r in rows:
        note = r["broadcast_problem"]["reason"] if r["broadcast_problem"] else r["reason"]
        table.add_row(str(r["id"]), r["state"], r["created_at"], str(r["payees"]),
                      f"{r['payout_sat']:,}", r["txid"] or "", str(r["confirmations"]),
                      escape(note))
    console.print(table)


def _detail(s: Settlement, times: tuple[int, int] | None, net: Any) -> dict[str, Any]:
    from bitcache.wallet.addresses import address_for_script

    return {
        **_summary(s, times),
        "fee_rate_sat_per_kvb": s.fee_rate_sat_per_kvb, "confirmed_txid": s.confirmed_txid,
        "fee_share_msat": s.fee_share_msat, "attempts": s.attempts, "last_error": s.last_error,
        "anchor": None if s.anchor is None else s.anchor.hex(),
        "versions": [{"n": v.n, "txid": v.txid, "fee_sat": v.fee_sat,
                      "fee_rate_sat_per_kvb": v.fee_rate_sat_per_kvb,
                      "created_height": v.created_height} for v in s.versions],
        "inputs": [{"outpoint": str(c.outpoint), "value_sat": c.value_sat,
                    "own_change": c.is_own_change} for c in s.inputs],
        "payouts": [{"uploader": p.uploader, "address": address_for_script(p.script_pubkey, net),
                     "script_type": p.script_type.value, "payout_sat": p.payout_sat,
                     "fee_share_msat": p.fee_share_msat, "pending_entry": p.pending_entry_id}
                    for p in s.payouts],
    }


@settlements_app.command("show")
def settlements_show(
    settlement_id: Annotated[int, typer.Argument(help="the settlement")],
    home: HomeOption = DEFAULT_HOME,
    as_json: JsonOption = False,
) -> None:
    """One settlement: its state, every version, its inputs and its payees."""
    from bitcache.network import network

    with _errors(as_json):
        cfg = NodeConfig.load(home)
        service = _settlements(cfg, _ledger(cfg.db))
        found = service.settlement(settlement_id)
        data = _detail(found, service.times([found.id]).get(found.id), network(cfg.network))
    if as_json:
        _emit(data)
        return
    for name in ("id", "state", "created_at", "updated_at", "created_height",
                 "broadcast_height", "confirmations", "confirmed_txid", "payout_sat",
                 "fee_share_msat", "fee_sat", "fee_rate_sat_per_kvb", "attempts", "reason",
                 "last_error", "broadcast_problem", "anchor"):
        if data[name] not in (None, ""):
            console.print(f"{name}: {escape(str(data[name]))}", soft_wrap=True)
    for title, rows in (("versions", data["versions"]), ("inputs", data["inputs"]),
                        ("payouts", data["payouts"])):
        if rows:
            table = Table(*rows[0], title=title)
            for row in rows:
                table.add_row(*(str(v) for v in row.values()))
            console.print(table)


@deposits_app.command("list")
def deposits_list(
    status: Annotated[str, typer.Option(
        help="waiting (on chain, not credited yet), credited, reorged, or all")] = "all",
    home: HomeOption = DEFAULT_HOME,
    as_json: JsonOption = False,
) -> None:
    """Deposits: waiting ones (read from the chain) and recorded ones (credited, reorged)."""
    from bitcache.services.deposits import DepositService
    from bitcache.store.deposits import DepositStatus

    if status not in ("all", "waiting", "credited", "reorged"):
        with _errors(as_json):
            raise InvalidInput(f"--status {status!r}: expected waiting, credited, reorged or all")
    with _errors(as_json):
        cfg = NodeConfig.load(home)
        ledger = _ledger(cfg.db)
        with cfg.chain_backend() as chain:
            service = DepositService(ledger, cfg.watch_only(), chain, **cfg.deposit_options())
            waiting = service.waiting() if status in ("all", "waiting") else []
            recorded = [] if status == "waiting" else service.deposits(
                None if status == "all" else DepositStatus(status))
            times = service.credit_times()
    rows: list[dict[str, Any]] = [
        {"status": "waiting", "outpoint": str(w.outpoint), "account": w.account,
             "value_sat": w.value_sat, "confirmations": w.confirmations, "block_height": None,
             "entry_id": None, "credited_at": None} for w in waiting
    ]
    rows += [{"status": d.status.value, "outpoint": str(d.outpoint), "account": d.account,
              "value_sat": d.value_sat, "confirmations": None, "block_height": d.block_height,
              "entry_id": d.entry_id, "credited_at": _iso(times.get(d.outpoint))}
             for d in recorded]
    if as_json:
        _emit({"deposits": rows})
        return
    table = Table("status", "outpoint", "account", "sat", "confs/block", "credited",
                  title="deposits")
    for r in rows:
        where = (f"{r['confirmations']} conf" if r["status"] == "waiting"
                 else f"block {r['block_height']}")
        table.add_row(r["status"], r["outpoint"], r["account"], f"{r['value_sat']:,}", where,
                      r["credited_at"] or "")
    console.print(table)


@holds_app.command("list")
def holds_list(home: HomeOption = DEFAULT_HOME, db: OptDb = None,
               as_json: JsonOption = False) -> None:
    """Files under a takedown hold: uploader, msat held, since when."""
    from bitcache.services.context import Context
    from bitcache.services.holds import held_files

    with _errors(as_json):
        found = held_files(Context(_ledger(_node_db(home, db))))
    rows: list[dict[str, Any]] = [
        {"file": h.record.hex, "uploader": h.record.uploader, "held_msat": h.held_msat,
         "since": _iso(h.since), "hold_key": h.record.hold_key} for h in found
    ]
    if as_json:
        _emit({"holds": rows})
        return
    table = Table("file", "uploader", "held msat", "since", title="files under a hold")
    for r in rows:
        table.add_row(r["file"], r["uploader"], f"{r['held_msat']:,}", r["since"] or "")
    console.print(table)


@app.command()
def pubkey(home: HomeOption = DEFAULT_HOME, as_json: JsonOption = False) -> None:
    """Print the platform's public key (hex), which verifies statements and tree heads."""
    from bitcache.wallet.platformkey import load_platform_key, public_key_hex

    with _errors(as_json):
        cfg = NodeConfig.load(home)  # no node folder: say so before asking for a passphrase
        key = load_platform_key(cfg.home / KEY_FILE, passphrase=_passphrase())
    found = public_key_hex(key)
    if as_json:
        _emit({"platform_public_key": found})
    else:
        print(found)


@regtest_app.command("mine")
def regtest_mine(
    blocks: Annotated[int, typer.Argument(help="how many blocks")],
    to: Annotated[str | None, typer.Option(
        help="pay the coinbases to this address (a deposit or the funding address)")] = None,
    home: HomeOption = DEFAULT_HOME,
    as_json: JsonOption = False,
) -> None:
    """Mine blocks on the node's embedded regtest chain (trials; refused on other chains)."""
    from bitcache.network import network
    from bitcache.wallet.addresses import parse_address

    with _errors(as_json):
        if not 1 <= blocks <= MAX_MINE:
            raise InvalidInput(f"BLOCKS must be from 1 to {MAX_MINE}, got {blocks}")
        cfg = NodeConfig.load(home)
        if cfg.chain.backend != "regtest":
            raise InvalidInput(f"regtest mine needs the embedded regtest chain; this node's "
                               f"chain.backend is {cfg.chain.backend}")
        script = None if to is None else parse_address(to, network(cfg.network)).script_pubkey
        with cfg.chain_backend() as chain:
            hashes = chain.mine(blocks, to_script=script)  # type: ignore[attr-defined]
            tip = chain.tip()
    if as_json:
        _emit({"ok": True, "blocks": hashes, "tip_height": tip.height, "tip_hash": tip.block_hash})
    else:
        console.print(f"mined {len(hashes)} block(s); tip {tip.height} {tip.block_hash}",
                      soft_wrap=True)
