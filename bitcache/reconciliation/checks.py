"""Reconcile: do the books balance, is the journal intact, and does the chain agree?

:func:`reconcile` runs every check and returns a :class:`ReconcileReport`
naming each discrepancy; it never raises for one (a database or chain
failure does raise). The checks:

* ``trial_balance``: the accounts' posted balances sum to zero;
* ``entry_balance``: every entry's postings sum to zero, two or more of them;
* ``hash_chain``: every entry re-hashes to its stored hash, links to the one
  before it, ids run 1, 2, 3… and the journal head names the last entry;
* ``account_balances``: each account's cached balance (posted, pending
  debits, pending credits) equals what the journal adds up to;
* ``reservations``: no pending entry resolved or reversed twice; each payee
  of a final settlement paid once, by a ``payout <txid>`` entry naming the
  settlement's transaction; no payout booked outside a final settlement;
* ``deposits``: each deposit credited once per outpoint, by the entry its
  row names, for its value; no entry keyed ``deposit:<txid>:<vout>`` (or
  ``funding:…``) without its row;
* ``reorged_deposits``: credited deposits reorganised away whose credit still
  stands (:meth:`DepositService.reorged_deposits`);
* ``wallet`` (needs a chain and the wallet): ``asset:wallet`` equals the
  value of the wallet's coins on chain — confirmed, plus our own unconfirmed
  change — to the sat, once in-flight settlements and deposits awaiting
  their credit (under N confirmations) are accounted for (each adjustment is
  listed); a deposit coin at N confirmations or more that is not credited
  (say, its credit was reversed and it confirmed after all) is named;
* ``payouts`` (needs a chain): every payee of a final settlement has an
  output with its script and amount in a transaction with at least N
  confirmations;
* ``double_payouts`` (needs a chain): no version of a void settlement is
  confirmed (a reorg beyond N can confirm one after its payees' credit was
  released and paid again); each one is named with its payees and the
  amounts to recover.
* ``settlements``: no settlement in flight is stalled — its last broadcast
  refused by the node, or (with a chain) unconfirmed ``stall_after_blocks``
  blocks after it was planned (:mod:`bitcache.settlement.stalls`).

The first four run in one streamed pass over the journal (chunked reads;
hash chain, per-entry balance and per-account sums together); the rest are
SQL aggregates and a few chain calls.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from bitcache.bitcoin.transaction import parse_transaction
from bitcache.chain.protocol import ChainBackend
from bitcache.core.accounts import OPERATOR_EQUITY, WALLET
from bitcache.core.checks import is_hex_digest, is_int
from bitcache.core.money import MSAT_PER_SAT
from bitcache.core.utxo import OutPoint, Utxo
from bitcache.errors import InvalidInput, InvalidPolicy
from bitcache.reconciliation.journal_audit import journal_pass
from bitcache.reconciliation.report import (
    Adjustment,
    Check,
    CheckResult,
    Findings,
    Progress,
    ReconcileReport,
    WalletView,
)
from bitcache.settlement.model import DEFAULT_STALL_AFTER_BLOCKS, Settlement
from bitcache.settlement.stalls import StallKind, stalls
from bitcache.settlement.states import SettlementState
from bitcache.store import deposits as deposits_rows
from bitcache.store import reconcile as reconcile_rows
from bitcache.store import settlement as settlement_rows
from bitcache.store.ledger import LedgerStore
from bitcache.telemetry.metrics import observe_reconcile, observe_wallet
from bitcache.wallet.keys import HDWallet

__all__ = ["reconcile"]

# --- ledger-side checks (SQL aggregates) -----------------------------------------------

log = logging.getLogger(__name__)


def _reservations(conn: Connection, f: Findings) -> None:
    for column, entry_id, times in reconcile_rows.resolved_more_than_once(conn):
        verb = "resolved" if column == "resolves" else "reversed"
        f.add(Check.RESERVATIONS, f"entry {entry_id}", f"{verb} {times} times")
    payees = reconcile_rows.payees(conn)
    owners = Counter(p.pending_entry_id for p in payees)
    final_pending: set[int] = set()
    for p in payees:
        subject = f"settlement {p.settlement_id} payee {p.uploader}"
        if owners[p.pending_entry_id] > 1:
            times = owners[p.pending_entry_id]
            f.add(
                Check.RESERVATIONS,
                subject,
                f"reservation {p.pending_entry_id} belongs to {times} payees",
            )
        if p.state == SettlementState.FINAL.value:
            final_pending.add(p.pending_entry_id)
        _payee_resolution(p, subject, f)
    for eid, resolves, memo in reconcile_rows.payout_entries(conn):
        if resolves not in final_pending:
            f.add(
                Check.RESERVATIONS,
                f"entry {eid}",
                f"books a payout ({memo[:80]}) outside any final settlement",
            )


def _payee_resolution(p: reconcile_rows.PayeeRow, subject: str, f: Findings) -> None:
    kinds = [kind for _, kind, _ in p.resolutions]
    if p.state == SettlementState.FINAL.value:
        want = f"payout {p.confirmed_txid}"
        good = [r for r in p.resolutions if r[1] == "post_pending" and r[2].startswith(want)]
        if len(p.resolutions) != 1 or len(good) != 1:
            f.add(
                Check.RESERVATIONS,
                subject,
                f"a final payee must be posted once with memo '{want}'; resolutions: {kinds}",
            )
    elif p.state == SettlementState.VOID.value:
        if kinds != ["void_pending"]:
            f.add(
                Check.RESERVATIONS,
                subject,
                f"a void settlement's reservation must be voided once; resolutions: {kinds}",
            )
    elif kinds:
        f.add(
            Check.RESERVATIONS,
            subject,
            f"reservation of a settlement in flight ({p.state}) already resolved: {kinds}",
        )


def _credit_outpoint(key: str) -> OutPoint | None:
    """The outpoint a ``deposit:<txid>:<vout>`` / ``funding:…`` key names, else None."""
    parts = key.split(":")
    if len(parts) != 3 or not parts[2].isdigit() or not is_hex_digest(parts[1]):
        return None
    return OutPoint(parts[1], int(parts[2]))


def _deposits(conn: Connection, f: Findings) -> None:
    credits = reconcile_rows.deposit_credits(conn)
    recorded = {c.entry_id for c in credits}
    for c in credits:
        prefix = "funding" if c.account == OPERATOR_EQUITY else "deposit"
        subject = f"deposit {c.outpoint}"
        if c.entry_key != f"{prefix}:{c.outpoint}":
            f.add(
                Check.DEPOSITS,
                subject,
                f"its crediting entry {c.entry_id} is {c.entry_key or 'missing'}",
            )
        elif c.wallet_msat != c.value_sat * MSAT_PER_SAT:
            f.add(
                Check.DEPOSITS,
                subject,
                f"worth {c.value_sat} sat, entry {c.entry_id} debits {WALLET} {c.wallet_msat} msat",
            )
        if c.status == "reorged" and c.reversed_by is None:
            f.add(
                Check.REORGED_DEPOSITS,
                subject,
                f"credited to {c.account} by entry {c.entry_id}, then reorganised out of the "
                "best chain; the credit stands (reverse it once the tx cannot confirm)",
            )
    per_outpoint: Counter[OutPoint] = Counter()
    for eid, key in reconcile_rows.credit_entry_keys(conn):
        op = _credit_outpoint(key)
        if op is None:
            continue  # a credit keyed by an event id (e.g. a hand-made deposit credit)
        per_outpoint[op] += 1
        if eid not in recorded:
            f.add(
                Check.DEPOSITS,
                f"entry {eid}",
                f"credit {key} names an outpoint but has no deposits row: the scanner "
                "would credit it again",
            )
    for op, times in per_outpoint.items():
        if times > 1:
            f.add(Check.DEPOSITS, f"deposit {op}", f"credited {times} times")


# --- chain-side checks -------------------------------------------------------------------


@dataclass
class _WalletScripts:
    """The wallet's scripts reconcile asks the chain about: receive and change."""

    receive: dict[bytes, int] = field(default_factory=dict)
    change: dict[bytes, int] = field(default_factory=dict)


def _scripts(conn: Connection, wallet: HDWallet, receive: Iterable[int]) -> _WalletScripts:
    found = _WalletScripts()
    for index, script in reconcile_rows.receive_scripts(conn):
        found.receive[script] = index
    for index in receive:
        found.receive.setdefault(wallet.receive_key(index).script_pubkey, index)
    for index in range(reconcile_rows.change_count(conn)):
        found.change[wallet.change_key(index).script_pubkey] = index
    return found


@dataclass(frozen=True, slots=True)
class _Books:
    """What the database says about the wallet, read in one transaction.

    ``confirmations`` is N of payouts, ``deposit_confirmations`` N of deposits;
    ``reversed`` names the entry that reversed each deposit credit reversed.
    """

    wallet_msat: int
    scripts: _WalletScripts
    credited: dict[OutPoint, int]
    reversed: dict[OutPoint, int]
    in_flight: list[Settlement]
    final: list[Settlement]
    void: list[Settlement]
    confirmations: int
    deposit_confirmations: int
    scanned_height: int | None


def _read_books(
    conn: Connection, wallet: HDWallet, receive: Iterable[int], depths: tuple[int, int]
) -> _Books:
    balance = next((a.posted for a in reconcile_rows.accounts(conn) if a.name == WALLET), 0)
    flying = [s for s in SettlementState if s.in_flight]
    reversed_by = {
        c.outpoint: c.reversed_by
        for c in reconcile_rows.deposit_credits(conn)
        if c.reversed_by is not None
    }
    return _Books(
        balance,
        _scripts(conn, wallet, receive),
        reconcile_rows.credited_outpoints(conn),
        reversed_by,
        settlement_rows.settlements_in(conn, flying),
        settlement_rows.settlements_in(conn, [SettlementState.FINAL]),
        settlement_rows.settlements_in(conn, [SettlementState.VOID]),
        *depths,
        _scanned_height(conn),
    )


def _scanned_height(conn: Connection) -> int | None:
    """The tip height the last deposit scan saw (``None`` before any scan)."""
    state = deposits_rows.scan_state(conn)
    return None if state is None else state.tip.height


def _visible_version(chain: ChainBackend, s: Settlement) -> str | None:
    """The txid of ``s``'s version that spends its inputs on chain (mempool or block), if any."""
    if not s.inputs or not s.versions:
        return None
    spend = chain.outspend(s.inputs[0].outpoint)
    return spend.txid if spend.spent and spend.txid in s.txids else None


def _unseen_note(chain: ChainBackend, s: Settlement) -> str:
    """Why no version of ``s`` is on chain: its inputs are unspent, or one no longer exists."""
    for coin in s.inputs:
        if not chain.tx_status(coin.outpoint.txid).known:
            return (
                f"{s.state.value}: no version on chain, and input {coin.outpoint} no longer "
                "exists (its transaction left the chain): the job voids the settlement once a "
                "conflict of that transaction is N deep; an operator may abandon it"
            )
    return f"{s.state.value}: no version on chain, its inputs are unspent"


def _in_flight_adjustments(chain: ChainBackend, books: _Books) -> list[Adjustment]:
    found = []
    for s in books.in_flight:
        txid = _visible_version(chain, s)
        if txid is None:
            found.append(
                Adjustment("in_flight_settlement", f"settlement {s.id}", 0, _unseen_note(chain, s))
            )
            continue
        v = s.version(txid)
        out = s.payout_sat + v.fee_sat
        found.append(
            Adjustment(
                "in_flight_settlement",
                f"settlement {s.id}",
                -out,
                f"{s.state.value}: tx {txid} (version {v.n}) pays "
                f"{s.payout_sat} sat + fee {v.fee_sat} sat; booked at final",
            )
        )
    return found


def _counted(utxos: Sequence[Utxo], books: _Books, ours: frozenset[str]) -> list[Utxo]:
    """Confirmed wallet coins, plus unconfirmed change of our own settlements."""
    return [
        u
        for u in utxos
        if u.height is not None
        or (u.script_pubkey in books.scripts.change and u.outpoint.txid in ours)
    ]


def _awaiting_credit(
    coins: Sequence[Utxo], books: _Books, tip: int, f: Findings
) -> list[Adjustment]:
    """Deposit coins not credited: under N confirmations an adjustment, at N or more a
    discrepancy (the scanner credits a coin at N; one it will not credit is lost)."""
    found = []
    for u in coins:
        if u.script_pubkey not in books.scripts.receive or u.outpoint in books.credited:
            continue
        index, depth = books.scripts.receive[u.script_pubkey], u.confirmations(tip)
        reversal = books.reversed.get(u.outpoint)
        waiting = _awaiting_scan(u, books) if reversal is None else None
        if depth < books.deposit_confirmations or waiting is not None:
            note = f"{depth} confirmation(s), not credited yet" if waiting is None else waiting
            found.append(
                Adjustment(
                    "awaiting_credit",
                    f"coin {u.outpoint}",
                    u.value_sat,
                    f"receive index {index}, {note}",
                )
            )
            continue
        why = (
            "not credited (run a deposit scan if none ran since it reached N)"
            if reversal is None
            else f"its credit was reversed by entry {reversal} and the scanner never credits "
            "a deposit twice: the coin is in the wallet, nobody is credited for it"
        )
        f.add(
            Check.WALLET,
            f"coin {u.outpoint}",
            f"{u.value_sat} sat on receive index {index}, {depth} confirmations "
            f"(N = {books.deposit_confirmations}): {why}",
        )
    return found


def _awaiting_scan(u: Utxo, books: _Books) -> str | None:
    """Why a coin at depth N is not credited *yet*: it reached N after the last deposit
    scan (the next scan credits it), or ``None`` when a scan has seen it at N."""
    if u.height is None:
        return None
    deep_at = u.height + books.deposit_confirmations - 1
    if books.scanned_height is not None and books.scanned_height >= deep_at:
        return None
    seen = (
        "no deposit scan ran yet"
        if books.scanned_height is None
        else (f"the last deposit scan saw block {books.scanned_height}")
    )
    return f"N deep since block {deep_at}, {seen}: the next scan credits it"


def _wallet(chain: ChainBackend, books: _Books, f: Findings) -> WalletView:
    scripts = [*books.scripts.receive, *books.scripts.change]
    tip = chain.tip().height
    utxos = chain.utxos(scripts) if scripts else []
    ours = frozenset(t for s in (*books.in_flight, *books.final) for t in s.txids)
    coins = _counted(utxos, books, ours)
    adjustments = _in_flight_adjustments(chain, books) + _awaiting_credit(coins, books, tip, f)
    view = WalletView(
        books.wallet_msat, sum(u.value_sat for u in coins), tuple(adjustments), len(coins)
    )
    if books.wallet_msat % MSAT_PER_SAT:
        f.add(Check.WALLET, WALLET, f"{books.wallet_msat} msat is not a whole number of sats")
    if view.difference_sat:
        f.add(
            Check.WALLET,
            WALLET,
            f"books {books.wallet_msat} msat + adjustments "
            f"{view.expected_sat - books.wallet_msat // MSAT_PER_SAT} sat = "
            f"{view.expected_sat} sat, the chain shows {view.chain_sat} sat "
            f"(difference {view.difference_sat:+d} sat)",
        )
        _name_missing(chain, books, {u.outpoint for u in utxos}, ours, f)
    return view


def _name_missing(
    chain: ChainBackend,
    books: _Books,
    present: set[OutPoint],
    ours: frozenset[str],
    f: Findings,
) -> None:
    """Name credited deposits gone from the chain's UTXO set without one of our settlements."""
    spent_by_us = {c.outpoint for s in (*books.in_flight, *books.final) for c in s.inputs}
    void = {t: s.id for s in books.void for t in s.txids}
    for op, value in sorted(books.credited.items(), key=lambda kv: str(kv[0])):
        if op in present or op in spent_by_us:
            continue
        spend = chain.outspend(op)
        if spend.spent and spend.txid in ours:
            continue
        if spend.spent and spend.txid in void:
            f.add(
                Check.WALLET,
                f"coin {op}",
                f"{value} sat credited deposit spent by {spend.txid}, a version of void "
                f"settlement {void[spend.txid]}: a payout made again (see double_payouts)",
            )
            continue
        how = f"spent by {spend.txid}" if spend.txid else "gone from the chain"
        f.add(
            Check.WALLET,
            f"coin {op}",
            f"{value} sat credited deposit {how}, not by a settlement of ours: "
            "spent behind the ledger's back",
        )


def _payouts(chain: ChainBackend, books: _Books, f: Findings) -> None:
    for s in books.final:
        txid = s.confirmed_txid
        if txid is None:
            f.add(Check.PAYOUTS, f"settlement {s.id}", "final without a confirmed txid")
            continue
        status = chain.tx_status(txid)
        raw = chain.raw_transaction(txid) if status.confirmed else None
        outputs: Counter[tuple[bytes, int]] = Counter()
        if raw is not None:
            tx = parse_transaction(raw)
            if tx.txid == txid:
                outputs = Counter((o.script_pubkey, o.value_sat) for o in tx.outputs)
        deep = status.confirmed and status.confirmations >= books.confirmations
        for p in s.payouts:
            key = (p.script_pubkey, p.payout_sat)
            if deep and outputs[key] > 0:
                outputs[key] -= 1
                continue
            where = (
                f"{status.confirmations} confirmation(s), N = {books.confirmations}"
                if deep is False and status.confirmed
                else ("tx unknown to the chain" if not status.confirmed else "no such output")
            )
            f.add(
                Check.PAYOUTS,
                f"settlement {s.id} payee {p.uploader}",
                f"{p.payout_sat} sat to script {p.script_pubkey.hex()} in tx {txid}: {where}",
            )


def _double_payouts(chain: ChainBackend, books: _Books, f: Findings) -> None:
    """Name each void settlement with a version on chain: its payees were paid although
    their reservations were released (and they are paid again by a later batch)."""
    for s in books.void:
        status = next(
            (st for st in (chain.tx_status(v.txid) for v in s.versions) if st.confirmed), None
        )
        if status is None:
            continue
        v = s.version(status.txid)
        f.add(
            Check.DOUBLE_PAYOUTS,
            f"settlement {s.id}",
            f"void, but its version {v.n} (tx {v.txid}) is confirmed, {status.confirmations} "
            f"deep: {len(s.payouts)} payee(s) paid {s.payout_sat} sat and {v.fee_sat} sat of fee "
            f"left the wallet outside the books; {s.payout_sat} sat to recover from the payees",
        )
        for p in s.payouts:
            again = _paid_again(books, s.id, p.uploader)
            f.add(
                Check.DOUBLE_PAYOUTS,
                f"settlement {s.id} payee {p.uploader}",
                f"paid {p.payout_sat} sat by tx {v.txid} after the reservation was released"
                f"{again}: {p.payout_sat} sat to recover",
            )


def _paid_again(books: _Books, void_id: int, uploader: str) -> str:
    later = [
        s.id
        for s in books.final
        if s.id > void_id and any(p.uploader == uploader for p in s.payouts)
    ]
    return f"; paid again by settlement {later[0]}" if later else ""


def _stalled(
    chain: ChainBackend | None, flying: Sequence[Settlement], after_blocks: int, f: Findings
) -> CheckResult:
    """Settlements that are not moving: refused by the node, or unconfirmed too long (a
    backend that could not be reached is retried, and shows here once it lasts that long)."""
    tip = None if chain is None or not flying else chain.tip().height
    for stall in stalls(flying, tip, after_blocks):
        if stall.kind is not StallKind.BROADCAST_FAILED:
            subject = f"settlement {stall.settlement_id}"
            f.add(Check.SETTLEMENTS, subject, f"{stall.state.value}: {stall.detail}")
    if chain is None:
        return f.result(Check.SETTLEMENTS, "broadcast refusals only (no chain for the age check)")
    return f.result(Check.SETTLEMENTS, f"stall limit {after_blocks} blocks")


def _check_arguments(
    chain: ChainBackend | None, wallet: HDWallet | None, limits: dict[str, int]
) -> None:
    for name, value in limits.items():
        if not is_int(value) or value < 1:
            raise InvalidPolicy(f"{name} must be a positive int, got {value!r}")
    if (chain is None) != (wallet is None):
        raise InvalidInput("the chain checks need both a chain backend and the wallet")
    if chain is not None and wallet is not None and chain.network is not wallet.network:
        raise InvalidInput(
            f"the chain serves {chain.network.value}, the wallet is for {wallet.network.value}"
        )


# --- entry point ---------------------------------------------------------------------------


def reconcile(
    ledger: LedgerStore,
    *,
    chain: ChainBackend | None = None,
    wallet: HDWallet | None = None,
    confirmations: int = 6,
    deposit_confirmations: int | None = None,
    receive_indices: Iterable[int] = (),
    progress: Progress | None = None,
    stall_after_blocks: int = DEFAULT_STALL_AFTER_BLOCKS,
) -> ReconcileReport:
    """Run every check; the chain checks need ``chain`` and ``wallet`` (watch-only is enough).

    ``confirmations`` is N, the depth final payouts must have;
    ``deposit_confirmations`` the depth at which deposits are credited (default: N).
    ``stall_after_blocks``: a settlement unconfirmed this many blocks after it
    was planned is reported as not moving.
    ``receive_indices`` adds receive-chain indices to the assigned deposit
    addresses (for wallets funded outside :class:`DepositService`).
    """
    deposit_depth = confirmations if deposit_confirmations is None else deposit_confirmations
    limits = {
        "confirmations": confirmations,
        "deposit_confirmations": deposit_depth,
        "stall_after_blocks": stall_after_blocks,
    }
    _check_arguments(chain, wallet, limits)
    f = Findings()
    with ledger.read() as conn:
        entries = journal_pass(conn, f, progress)
        _reservations(conn, f)
        _deposits(conn, f)
        depths = (confirmations, deposit_depth)
        books = None if wallet is None else _read_books(conn, wallet, receive_indices, depths)
        flying = settlement_rows.settlements_in(conn, [s for s in SettlementState if s.in_flight])
    chain_checks = (Check.WALLET, Check.PAYOUTS, Check.DOUBLE_PAYOUTS)
    results = [f.result(c) for c in Check if c not in (*chain_checks, Check.SETTLEMENTS)]
    view = None
    if chain is None or books is None:
        skip = "no chain backend given"
        results += [CheckResult(c, None, 0, skip) for c in chain_checks]
    else:
        view = _wallet(chain, books, f)
        _payouts(chain, books, f)
        _double_payouts(chain, books, f)
        results += [
            f.result(Check.WALLET),
            f.result(Check.PAYOUTS, f"N = {confirmations}"),
            f.result(Check.DOUBLE_PAYOUTS),
        ]
    results.append(_stalled(chain, flying, stall_after_blocks, f))
    found = tuple(d for c in Check for d in f.listed[c])
    report = ReconcileReport(entries, tuple(results), found, view)
    _observe(report)
    return report


def _observe(report: ReconcileReport) -> None:
    """Log every finding and the verdict; set the wallet gauges when the chain was read."""
    for d in report.discrepancies:
        log.warning("reconcile: %s", d, extra={"check": d.check.value, "subject": d.subject})
    level = logging.INFO if report.ok else logging.WARNING
    failed = ", ".join(f"{c.check.value} ({c.found} found)" for c in report.checks
                       if c.ok is False) or "none"
    log.log(level, "reconcile of %d entries: failed checks: %s", report.entries, failed,
            extra={"ok": report.ok})
    observe_reconcile(report.ok, sum(c.found for c in report.checks))
    if report.wallet is not None:
        observe_wallet(report.wallet.expected_sat, report.wallet.chain_sat)
