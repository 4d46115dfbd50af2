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
  their credit are accounted for (each adjustment is listed);
* ``payouts`` (needs a chain): every payee of a final settlement has an
  output with its script and amount in a transaction with at least N
  confirmations.

The first four run in one streamed pass over the journal (chunked reads;
hash chain, per-entry balance and per-account sums together); the rest are
SQL aggregates and a few chain calls.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256

from sqlalchemy import Connection

from bitcache.chain.protocol import ChainBackend, OutPoint, Utxo
from bitcache.core.accounts import OPERATOR_EQUITY, WALLET
from bitcache.core.entries import EntryKind
from bitcache.core.journal import GENESIS_HASH, chain_hash
from bitcache.core.money import MSAT_PER_SAT
from bitcache.errors import InvalidInput, InvalidPolicy
from bitcache.settlement.model import Settlement
from bitcache.settlement.states import SettlementState
from bitcache.store import reconcile as sql
from bitcache.store import settlement as rows
from bitcache.store.ledger import LedgerStore
from bitcache.tx.transaction import parse_transaction
from bitcache.wallet.keys import HDWallet

#: Discrepancies listed per check; beyond that they are counted.
MAX_LISTED = 20
_MOVING = frozenset({"posted", "post_pending", "reversal"})
_KINDS = {k.value: k for k in EntryKind}

Progress = Callable[[int, int], None]
"""``progress(entries_done, entries_total)``, called after each chunk of the journal pass."""


class Check(enum.Enum):
    """The checks reconcile runs, in report order."""

    TRIAL_BALANCE = "trial_balance"
    ENTRY_BALANCE = "entry_balance"
    HASH_CHAIN = "hash_chain"
    ACCOUNT_BALANCES = "account_balances"
    RESERVATIONS = "reservations"
    DEPOSITS = "deposits"
    REORGED_DEPOSITS = "reorged_deposits"
    WALLET = "wallet"
    PAYOUTS = "payouts"


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One thing that does not reconcile: which check, what it concerns, and why."""

    check: Check
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check.value}: {self.subject}: {self.detail}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's verdict: ``ok`` True/False, or None when it was skipped (``note`` says why)."""

    check: Check
    ok: bool | None
    found: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A known reason why the chain shows another wallet value than the books, in sats.

    ``kind`` is ``in_flight_settlement`` (coins left the wallet on chain; the
    books post it at N confirmations) or ``awaiting_credit`` (a deposit on
    chain not credited yet).
    """

    kind: str
    subject: str
    sat: int
    note: str


@dataclass(frozen=True, slots=True)
class WalletView:
    """``asset:wallet`` against the chain: books + adjustments should equal the chain."""

    books_msat: int
    chain_sat: int
    adjustments: tuple[Adjustment, ...]
    coins: int

    @property
    def expected_sat(self) -> int:
        return self.books_msat // MSAT_PER_SAT + sum(a.sat for a in self.adjustments)

    @property
    def difference_sat(self) -> int:
        """Chain minus expected: negative when coins are missing, positive when unbooked."""
        return self.chain_sat - self.expected_sat


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """Every check's verdict, the discrepancies named, and the wallet comparison."""

    entries: int
    checks: tuple[CheckResult, ...]
    discrepancies: tuple[Discrepancy, ...]
    wallet: WalletView | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def failed(self) -> list[Check]:
        return [c.check for c in self.checks if c.ok is False]

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (amounts as integers)."""
        wallet = None
        if self.wallet is not None:
            w = self.wallet
            wallet = {
                "books_msat": w.books_msat,
                "chain_sat": w.chain_sat,
                "expected_sat": w.expected_sat,
                "difference_sat": w.difference_sat,
                "coins": w.coins,
                "adjustments": [
                    {"kind": a.kind, "subject": a.subject, "sat": a.sat, "note": a.note}
                    for a in w.adjustments
                ],
            }
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checks": {
                c.check.value: {"ok": c.ok, "found": c.found, "note": c.note} for c in self.checks
            },
            "discrepancies": [
                {"check": d.check.value, "subject": d.subject, "detail": d.detail}
                for d in self.discrepancies
            ],
            "wallet": wallet,
        }


class _Findings:
    """Discrepancies by check: the first MAX_LISTED listed, the rest counted."""

    def __init__(self) -> None:
        self.listed: dict[Check, list[Discrepancy]] = {c: [] for c in Check}
        self.count: Counter[Check] = Counter()

    def add(self, check: Check, subject: str, detail: str) -> None:
        self.count[check] += 1
        if len(self.listed[check]) < MAX_LISTED:
            self.listed[check].append(Discrepancy(check, subject, detail))

    def result(self, check: Check, note: str = "") -> CheckResult:
        found = self.count[check]
        more = found - len(self.listed[check])
        if more:
            note = f"{note}; {more} more not listed".lstrip("; ")
        return CheckResult(check, found == 0, found, note)


# --- the journal pass ----------------------------------------------------------------


class ContentEncoder:
    """:func:`bitcache.core.entries.content_bytes` from stored rows, without building objects.

    The same canonical layout, written from the row tuples with each account's
    ``<len>:<name>,`` and each file hash's hex cached: the journal pass
    re-hashes every entry, and building ``Posting`` and ``EntryRequest``
    objects for each would cost more than the hashing. A test checks it
    against the core function.
    """

    def __init__(self, names: Mapping[int, str]) -> None:
        self._accounts = {i: f"{len(n)}:{n}," for i, n in names.items()}
        self._hex: dict[bytes, str] = {}

    def _account(self, account_id: int) -> str:
        name = f"?{account_id}"  # an id with no account: the hash will not match
        return self._accounts.get(account_id) or f"{len(name)}:{name},"

    def _file(self, file_hash: bytes | None) -> str:
        if file_hash is None:
            return "-"
        found = self._hex.get(file_hash)
        if found is None:
            found = self._hex[file_hash] = bytes(file_hash).hex()
        return found

    def content(
        self, key: str, kind: str, ref: int | None, expires_at: int | None, memo: str,
        legs: Sequence[sql.PostingRow],
    ) -> bytes:
        """The canonical content bytes of a stored entry and its postings."""
        parts = [
            f"v1|{len(key)}:{key}|{kind}|{'-' if ref is None else ref}|"
            f"{'-' if expires_at is None else expires_at}|{len(memo)}:{memo}|"
        ]
        accounts = self._accounts
        for _, account_id, amount, file_hash in legs:
            prefix = accounts.get(account_id) or self._account(account_id)
            parts.append(f"{prefix}{amount},{self._file(file_hash)};")
        return "".join(parts).encode("utf-8")


class JournalAudit:
    """One pass over the journal: hash chain, per-entry balance and per-account sums.

    Feed it chunks in id order (:meth:`feed`), then :meth:`finish` with the
    accounts and the journal extent. Pure: the rows come in as arguments.
    """

    def __init__(self, names: Mapping[int, str], findings: _Findings) -> None:
        self._encode = ContentEncoder(names)
        self._f = findings
        self.prev = GENESIS_HASH
        self.expected = 1
        self.entries = 0
        self.posted: Counter[int] = Counter()
        self.open: dict[int, list[tuple[int, int]]] = {}

    def feed(self, entries: Sequence[sql.EntryRow], postings: Sequence[sql.PostingRow]) -> None:
        j, n = 0, len(postings)
        for row in entries:
            eid = row[0]
            while j < n and postings[j][0] < eid:
                self._f.add(Check.ENTRY_BALANCE, f"posting of entry {postings[j][0]}",
                            "the posting's entry does not exist")
                j += 1
            k = j
            while j < n and postings[j][0] == eid:
                j += 1
            self._entry(row, postings[k:j])
        for p in postings[j:]:
            self._f.add(Check.ENTRY_BALANCE, f"posting of entry {p[0]}",
                        "the posting's entry does not exist")

    def _entry(self, row: sql.EntryRow, legs: Sequence[sql.PostingRow]) -> None:
        eid, kind, ref, eh = row[0], row[2], row[3], row[9]
        if eid != self.expected:
            self._f.add(Check.HASH_CHAIN, f"entry {eid}",
                        f"expected entry {self.expected} (missing or reordered entries)")
        total = 0
        for leg in legs:
            total += leg[2]
        if total != 0 or len(legs) < 2:
            self._f.add(Check.ENTRY_BALANCE, f"entry {eid}",
                        f"{len(legs)} posting(s) summing to {total} msat")
        self._chain(row, legs)
        self._effects(eid, kind, ref, legs)
        self.prev, self.expected = bytes(eh), eid + 1
        self.entries += 1

    def _chain(self, row: sql.EntryRow, legs: Sequence[sql.PostingRow]) -> None:
        eid, key, kind, ref, expires_at, memo, recorded_at, ch, ph, eh = row
        if bytes(ph) != self.prev:
            self._f.add(Check.HASH_CHAIN, f"entry {eid}",
                        "prev_hash does not match the previous entry's hash")
            return
        if kind not in _KINDS:
            self._f.add(Check.HASH_CHAIN, f"entry {eid}", f"unknown entry kind {kind!r}")
            return
        content = sha256(self._encode.content(key, kind, ref, expires_at, memo, legs)).digest()
        if content != bytes(ch):
            self._f.add(Check.HASH_CHAIN, f"entry {eid}",
                        "content does not match its stored hash (postings or fields changed)")
        elif chain_hash(content, eid, recorded_at, self.prev) != bytes(eh):
            self._f.add(Check.HASH_CHAIN, f"entry {eid}", "entry hash does not verify")

    def _effects(
        self, eid: int, kind: str, ref: int | None, legs: Sequence[sql.PostingRow]
    ) -> None:
        if kind in _MOVING:
            posted = self.posted
            for leg in legs:
                posted[leg[1]] += leg[2]
        if kind == "pending":
            self.open[eid] = [(leg[1], leg[2]) for leg in legs]
        elif kind in ("post_pending", "void_pending") and ref is not None:
            self.open.pop(ref, None)

    def finish(self, accounts: Sequence[sql.AccountRow], extent: sql.JournalExtent) -> None:
        """Compare the sums with the cached balances, and the journal with its head."""
        debits: Counter[int] = Counter()
        credits: Counter[int] = Counter()
        for legs in self.open.values():
            for account, amount in legs:
                if amount > 0:
                    debits[account] += amount
                else:
                    credits[account] -= amount
        for a in accounts:
            journal = (self.posted[a.id], debits[a.id], credits[a.id])
            cached = (a.posted, a.pending_debits, a.pending_credits)
            if journal != cached:
                self._f.add(Check.ACCOUNT_BALANCES, a.name,
                            f"cached (posted, pending debits, pending credits) {cached} msat, "
                            f"the journal adds up to {journal}")
        self._head(extent)

    def _head(self, x: sql.JournalExtent) -> None:
        if x.head_id != self.expected - 1 or x.head_hash != self.prev:
            self._f.add(Check.HASH_CHAIN, "journal head",
                        f"the head names entry {x.head_id}, the journal ends at entry "
                        f"{self.expected - 1} (or its hash differs)")
        if x.entry_count != self.entries or x.max_entry_id != x.head_id:
            self._f.add(Check.HASH_CHAIN, "journal",
                        f"{x.entry_count} entries stored up to id {x.max_entry_id}, "
                        f"the head says {x.head_id}")
        if x.max_posting_entry_id > x.head_id:
            self._f.add(Check.ENTRY_BALANCE, f"entry {x.max_posting_entry_id}",
                        "postings exist beyond the journal head")


def _journal_pass(conn: Connection, f: _Findings, progress: Progress | None) -> int:
    extent = sql.journal_extent(conn)
    accounts = sql.accounts(conn)
    audit = JournalAudit({a.id: a.name for a in accounts}, f)
    last = max(extent.head_id, extent.max_entry_id)
    for entries, postings in sql.journal_chunks(conn, last):
        audit.feed(entries, postings)
        if progress is not None:
            progress(audit.entries, extent.entry_count)
    audit.finish(accounts, extent)
    total = sql.trial_balance(conn)
    if total != 0:
        f.add(Check.TRIAL_BALANCE, "accounts", f"posted balances sum to {total} msat, not zero")
    return audit.entries


# --- ledger-side checks (SQL aggregates) -----------------------------------------------


def _reservations(conn: Connection, f: _Findings) -> None:
    for column, entry_id, times in sql.resolved_more_than_once(conn):
        verb = "resolved" if column == "resolves" else "reversed"
        f.add(Check.RESERVATIONS, f"entry {entry_id}", f"{verb} {times} times")
    payees = sql.payees(conn)
    owners = Counter(p.pending_entry_id for p in payees)
    final_pending: set[int] = set()
    for p in payees:
        subject = f"settlement {p.settlement_id} payee {p.uploader}"
        if owners[p.pending_entry_id] > 1:
            times = owners[p.pending_entry_id]
            f.add(Check.RESERVATIONS, subject,
                  f"reservation {p.pending_entry_id} belongs to {times} payees")
        if p.state == SettlementState.FINAL.value:
            final_pending.add(p.pending_entry_id)
        _payee_resolution(p, subject, f)
    for eid, resolves, memo in sql.payout_entries(conn):
        if resolves not in final_pending:
            f.add(Check.RESERVATIONS, f"entry {eid}",
                  f"books a payout ({memo[:80]}) outside any final settlement")


def _payee_resolution(p: sql.PayeeRow, subject: str, f: _Findings) -> None:
    kinds = [kind for _, kind, _ in p.resolutions]
    if p.state == SettlementState.FINAL.value:
        want = f"payout {p.confirmed_txid}"
        good = [r for r in p.resolutions if r[1] == "post_pending" and r[2].startswith(want)]
        if len(p.resolutions) != 1 or len(good) != 1:
            f.add(Check.RESERVATIONS, subject,
                  f"a final payee must be posted once with memo '{want}'; resolutions: {kinds}")
    elif p.state == SettlementState.VOID.value:
        if kinds != ["void_pending"]:
            f.add(Check.RESERVATIONS, subject,
                  f"a void settlement's reservation must be voided once; resolutions: {kinds}")
    elif kinds:
        f.add(Check.RESERVATIONS, subject,
              f"reservation of a settlement in flight ({p.state}) already resolved: {kinds}")


def _credit_outpoint(key: str) -> OutPoint | None:
    """The outpoint a ``deposit:<txid>:<vout>`` / ``funding:…`` key names, else None."""
    parts = key.split(":")
    if len(parts) != 3 or not parts[2].isdigit() or len(parts[1]) != 64:
        return None
    if not set(parts[1]) <= set("0123456789abcdef"):
        return None
    return OutPoint(parts[1], int(parts[2]))


def _deposits(conn: Connection, f: _Findings) -> None:
    credits = sql.deposit_credits(conn)
    recorded = {c.entry_id for c in credits}
    for c in credits:
        prefix = "funding" if c.account == OPERATOR_EQUITY else "deposit"
        subject = f"deposit {c.outpoint}"
        if c.entry_key != f"{prefix}:{c.outpoint}":
            f.add(Check.DEPOSITS, subject,
                  f"its crediting entry {c.entry_id} is {c.entry_key or 'missing'}")
        elif c.wallet_msat != c.value_sat * MSAT_PER_SAT:
            f.add(Check.DEPOSITS, subject,
                  f"worth {c.value_sat} sat, entry {c.entry_id} debits {WALLET} "
                  f"{c.wallet_msat} msat")
        if c.status == "reorged" and c.reversed_by is None:
            f.add(Check.REORGED_DEPOSITS, subject,
                  f"credited to {c.account} by entry {c.entry_id}, then reorganised out of the "
                  "best chain; the credit stands (reverse it once the tx cannot confirm)")
    per_outpoint: Counter[OutPoint] = Counter()
    for eid, key in sql.credit_entry_keys(conn):
        op = _credit_outpoint(key)
        if op is None:
            continue  # a credit keyed by an event id (e.g. a hand-made deposit credit)
        per_outpoint[op] += 1
        if eid not in recorded:
            f.add(Check.DEPOSITS, f"entry {eid}",
                  f"credit {key} names an outpoint but has no deposits row: the scanner "
                  "would credit it again")
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
    for index, script in sql.receive_scripts(conn):
        found.receive[script] = index
    for index in receive:
        found.receive.setdefault(wallet.receive_key(index).script_pubkey, index)
    for index in range(sql.change_count(conn)):
        found.change[wallet.change_key(index).script_pubkey] = index
    return found


@dataclass(frozen=True, slots=True)
class _Books:
    """What the database says about the wallet, read in one transaction."""

    wallet_msat: int
    scripts: _WalletScripts
    credited: dict[OutPoint, int]
    in_flight: list[Settlement]
    final: list[Settlement]
    confirmations: int


def _read_books(
    conn: Connection, wallet: HDWallet, receive: Iterable[int], confirmations: int
) -> _Books:
    balance = next((a.posted for a in sql.accounts(conn) if a.name == WALLET), 0)
    flying = [s for s in SettlementState if s.in_flight]
    return _Books(
        balance,
        _scripts(conn, wallet, receive),
        sql.credited_outpoints(conn),
        rows.settlements_in(conn, flying),
        rows.settlements_in(conn, [SettlementState.FINAL]),
        confirmations,
    )


def _visible_version(chain: ChainBackend, s: Settlement) -> str | None:
    """The txid of ``s``'s version that spends its inputs on chain (mempool or block), if any."""
    if not s.inputs or not s.versions:
        return None
    spend = chain.outspend(s.inputs[0].outpoint)
    return spend.txid if spend.spent and spend.txid in s.txids else None


def _in_flight_adjustments(chain: ChainBackend, books: _Books) -> list[Adjustment]:
    found = []
    for s in books.in_flight:
        txid = _visible_version(chain, s)
        if txid is None:
            found.append(Adjustment("in_flight_settlement", f"settlement {s.id}", 0,
                                    f"{s.state.value}: no version on chain, its inputs are "
                                    "unspent"))
            continue
        v = s.version(txid)
        out = s.payout_sat + v.fee_sat
        found.append(Adjustment("in_flight_settlement", f"settlement {s.id}", -out,
                                f"{s.state.value}: tx {txid} (version {v.n}) pays "
                                f"{s.payout_sat} sat + fee {v.fee_sat} sat; booked at final"))
    return found


def _counted(utxos: Sequence[Utxo], books: _Books, ours: frozenset[str]) -> list[Utxo]:
    """Confirmed wallet coins, plus unconfirmed change of our own settlements."""
    return [
        u for u in utxos
        if u.height is not None or (u.script_pubkey in books.scripts.change and u.outpoint.txid
                                    in ours)
    ]


def _awaiting_credit(coins: Sequence[Utxo], books: _Books, tip: int) -> list[Adjustment]:
    found = []
    for u in coins:
        if u.script_pubkey in books.scripts.receive and u.outpoint not in books.credited:
            index = books.scripts.receive[u.script_pubkey]
            found.append(Adjustment("awaiting_credit", f"coin {u.outpoint}", u.value_sat,
                                    f"receive index {index}, {u.confirmations(tip)} "
                                    "confirmation(s), not credited yet"))
    return found


def _wallet(chain: ChainBackend, books: _Books, f: _Findings) -> WalletView:
    scripts = [*books.scripts.receive, *books.scripts.change]
    tip = chain.tip().height
    utxos = chain.utxos(scripts) if scripts else []
    ours = frozenset(t for s in (*books.in_flight, *books.final) for t in s.txids)
    coins = _counted(utxos, books, ours)
    adjustments = _in_flight_adjustments(chain, books) + _awaiting_credit(coins, books, tip)
    view = WalletView(books.wallet_msat, sum(u.value_sat for u in coins), tuple(adjustments),
                      len(coins))
    if books.wallet_msat % MSAT_PER_SAT:
        f.add(Check.WALLET, WALLET, f"{books.wallet_msat} msat is not a whole number of sats")
    if view.difference_sat:
        f.add(Check.WALLET, WALLET,
              f"books {books.wallet_msat} msat + adjustments "
              f"{view.expected_sat - books.wallet_msat // MSAT_PER_SAT} sat = "
              f"{view.expected_sat} sat, the chain shows {view.chain_sat} sat "
              f"(difference {view.difference_sat:+d} sat)")
        _name_missing(chain, books, {u.outpoint for u in utxos}, ours, f)
    return view


def _name_missing(
    chain: ChainBackend, books: _Books, present: set[OutPoint], ours: frozenset[str],
    f: _Findings,
) -> None:
    """Name credited deposits gone from the chain's UTXO set without one of our settlements."""
    spent_by_us = {c.outpoint for s in (*books.in_flight, *books.final) for c in s.inputs}
    for op, value in sorted(books.credited.items(), key=lambda kv: str(kv[0])):
        if op in present or op in spent_by_us:
            continue
        spend = chain.outspend(op)
        if spend.spent and spend.txid in ours:
            continue
        how = f"spent by {spend.txid}" if spend.txid else "gone from the chain"
        f.add(Check.WALLET, f"coin {op}",
              f"{value} sat credited deposit {how}, not by a settlement of ours: "
              "spent behind the ledger's back")


def _payouts(chain: ChainBackend, books: _Books, f: _Findings) -> None:
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
            f.add(Check.PAYOUTS, f"settlement {s.id} payee {p.uploader}",
                  f"{p.payout_sat} sat to script {p.script_pubkey.hex()} in tx {txid}: {where}")


# --- entry point ---------------------------------------------------------------------------


def reconcile(
    ledger: LedgerStore,
    *,
    chain: ChainBackend | None = None,
    wallet: HDWallet | None = None,
    confirmations: int = 6,
    receive_indices: Iterable[int] = (),
    progress: Progress | None = None,
) -> ReconcileReport:
    """Run every check; the chain checks need ``chain`` and ``wallet`` (watch-only is enough).

    ``confirmations`` is N, the depth final payouts must have.
    ``receive_indices`` adds receive-chain indices to the assigned deposit
    addresses (for wallets funded outside :class:`DepositService`).
    """
    if isinstance(confirmations, bool) or not isinstance(confirmations, int) or confirmations < 1:
        raise InvalidPolicy(f"confirmations must be a positive int, got {confirmations!r}")
    if (chain is None) != (wallet is None):
        raise InvalidInput("the chain checks need both a chain backend and the wallet")
    if chain is not None and wallet is not None and chain.network is not wallet.network:
        raise InvalidInput(
            f"the chain serves {chain.network.value}, the wallet is for {wallet.network.value}"
        )
    f = _Findings()
    with ledger.read() as conn:
        entries = _journal_pass(conn, f, progress)
        _reservations(conn, f)
        _deposits(conn, f)
        books = None if wallet is None else _read_books(
            conn, wallet, receive_indices, confirmations)
    ledger_checks = [c for c in Check if c not in (Check.WALLET, Check.PAYOUTS)]
    results = [f.result(c) for c in ledger_checks]
    view = None
    if chain is None or books is None:
        skip = "no chain backend given"
        results += [CheckResult(c, None, 0, skip) for c in (Check.WALLET, Check.PAYOUTS)]
    else:
        view = _wallet(chain, books, f)
        _payouts(chain, books, f)
        results += [f.result(Check.WALLET), f.result(Check.PAYOUTS, f"N = {confirmations}")]
    found = tuple(d for c in Check for d in f.listed[c])
    return ReconcileReport(entries, tuple(results), found, view)
