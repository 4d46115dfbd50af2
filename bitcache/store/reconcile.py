"""The SQL of reconcile: one streamed pass over the journal, then aggregates.

The journal is read in id chunks (entries and their postings, two range
scans on primary keys per chunk), so memory stays constant and each row is
read once. Everything else reconcile asks of the database is an aggregate
or a short list: account balances, duplicate resolutions, deposit credits,
settlement payees and their payout entries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from bitcache.core.utxo import OutPoint
from bitcache.store.driver import driver_sql

#: Entries read per chunk of the journal pass.
CHUNK = 20_000

EntryRow = tuple[Any, ...]
"""``(id, key, kind, ref, expires_at, memo, recorded_at, content_hash, prev_hash, entry_hash,
meta, content_version)``"""
PostingRow = tuple[Any, ...]
"""``(entry_id, account_id, amount, file_hash)``"""

_ENTRIES = (
    "SELECT id, key, kind, ref, expires_at, memo, recorded_at, content_hash, prev_hash, "
    "entry_hash, meta, content_version FROM entries WHERE id BETWEEN ? AND ? ORDER BY id"
)
_POSTINGS = (
    "SELECT entry_id, account_id, amount, file_hash FROM postings "
    "WHERE entry_id BETWEEN ? AND ? ORDER BY entry_id, n"
)


@dataclass(frozen=True, slots=True)
class AccountRow:
    """An account as stored: its id, name, normal side and cached balances."""

    id: int
    name: str
    debit_normal: bool
    posted: int
    pending_debits: int
    pending_credits: int


@dataclass(frozen=True, slots=True)
class JournalExtent:
    """The journal's head row and the id range its tables actually hold."""

    head_id: int
    head_hash: bytes
    max_entry_id: int
    entry_count: int
    max_posting_entry_id: int


@dataclass(frozen=True, slots=True)
class DepositCredit:
    """A ``deposits`` row with what its crediting entry says (None: no such entry)."""

    outpoint: OutPoint
    account: str
    value_sat: int
    status: str
    entry_id: int
    entry_key: str | None
    wallet_msat: int | None
    reversed_by: int | None


@dataclass(frozen=True, slots=True)
class PayeeRow:
    """A payee of a settlement, with the settlement's state and the entries resolving it."""

    settlement_id: int
    state: str
    confirmed_txid: str | None
    uploader: str
    script_pubkey: bytes
    payout_sat: int
    fee_share_msat: int
    pending_entry_id: int
    resolutions: tuple[tuple[int, str, str], ...]  # (entry id, kind, memo)


def journal_chunks(
    conn: Connection, last_id: int, *, chunk: int = CHUNK
) -> Iterator[tuple[Sequence[EntryRow], Sequence[PostingRow]]]:
    """Entries ``1..last_id`` with their postings, ``chunk`` ids at a time, in id order.

    Read through the driver's own cursor (plain tuples, no per-row wrapper) in
    the caller's transaction: this pass is what bounds reconcile's speed.
    """
    entries_sql, postings_sql = driver_sql(conn, _ENTRIES), driver_sql(conn, _POSTINGS)
    cursor = conn.connection.cursor()
    try:
        lo = 1
        while lo <= last_id:
            hi = min(lo + chunk - 1, last_id)
            cursor.execute(entries_sql, (lo, hi))
            entries = cursor.fetchall()
            cursor.execute(postings_sql, (lo, hi))
            postings = cursor.fetchall()
            yield entries, postings
            lo = hi + 1
    finally:
        cursor.close()


def journal_extent(conn: Connection) -> JournalExtent:
    """The head row, and the highest ids and count the journal tables hold."""
    head_id, head_hash = conn.execute(
        text("SELECT last_id, last_hash FROM journal_head WHERE id = 1")
    ).one()
    max_id, count = conn.execute(
        text("SELECT coalesce(max(id), 0), count(*) FROM entries")
    ).one()
    max_posting = conn.execute(
        text("SELECT coalesce(max(entry_id), 0) FROM postings")
    ).scalar_one()
    return JournalExtent(
        int(head_id), bytes(head_hash), int(max_id), int(count), int(max_posting)
    )


def accounts(conn: Connection) -> list[AccountRow]:
    """Every account with its cached balances."""
    rows = conn.execute(
        text(
            "SELECT id, name, debit_normal, posted, pending_debits, pending_credits "
            "FROM accounts ORDER BY id"
        )
    )
    return [
        AccountRow(int(r[0]), str(r[1]), bool(r[2]), int(r[3]), int(r[4]), int(r[5]))
        for r in rows
    ]


def trial_balance(conn: Connection) -> int:
    """The sum of every account's posted balance."""
    return int(conn.execute(text("SELECT coalesce(sum(posted), 0) FROM accounts")).scalar_one())


def resolved_more_than_once(conn: Connection) -> list[tuple[str, int, int]]:
    """``(column, entry id, times)`` for entries resolved or reversed more than once."""
    found = []
    for column in ("resolves", "reverses"):
        rows = conn.execute(
            text(
                f"SELECT {column}, count(*) FROM entries WHERE {column} IS NOT NULL "
                f"GROUP BY {column} HAVING count(*) > 1"
            )
        )
        found += [(column, int(r[0]), int(r[1])) for r in rows]
    return found


def deposit_credits(conn: Connection) -> list[DepositCredit]:
    """Every deposits row, with its entry's key, wallet posting and reversal (if any)."""
    rows = conn.execute(
        text(
            "SELECT d.txid, d.vout, d.account, d.value_sat, d.status, d.entry_id, e.key, "
            "(SELECT sum(p.amount) FROM postings p JOIN accounts a ON a.id = p.account_id "
            " WHERE p.entry_id = d.entry_id AND a.name = 'asset:wallet'), "
            "(SELECT r.id FROM entries r WHERE r.reverses = d.entry_id) "
            "FROM deposits d LEFT JOIN entries e ON e.id = d.entry_id ORDER BY d.entry_id"
        )
    )
    return [
        DepositCredit(
            OutPoint(str(r[0]), int(r[1])), str(r[2]), int(r[3]), str(r[4]), int(r[5]),
            None if r[6] is None else str(r[6]),
            None if r[7] is None else int(r[7]),
            None if r[8] is None else int(r[8]),
        )
        for r in rows
    ]


def credit_entry_keys(conn: Connection) -> list[tuple[int, str]]:
    """``(id, key)`` of every entry keyed as a deposit or funding credit."""
    rows = conn.execute(
        text(
            "SELECT id, key FROM entries WHERE kind = 'posted' AND "
            "(substr(key, 1, 8) = 'deposit:' OR substr(key, 1, 8) = 'funding:') ORDER BY id"
        )
    )
    return [(int(r[0]), str(r[1])) for r in rows]


def receive_scripts(conn: Connection) -> list[tuple[int, bytes]]:
    """``(index, script)`` of every assigned deposit address (the wallet's receive chain)."""
    rows = conn.execute(
        text("SELECT derivation_index, script_pubkey FROM deposit_addresses ORDER BY 1")
    )
    return [(int(r[0]), bytes(r[1])) for r in rows]


def credited_outpoints(conn: Connection) -> dict[OutPoint, int]:
    """Outpoints of deposits whose credit stands (not reversed), with their value."""
    rows = conn.execute(
        text(
            "SELECT d.txid, d.vout, d.value_sat FROM deposits d WHERE NOT EXISTS "
            "(SELECT 1 FROM entries r WHERE r.reverses = d.entry_id)"
        )
    )
    return {OutPoint(str(r[0]), int(r[1])): int(r[2]) for r in rows}


def change_count(conn: Connection) -> int:
    """How many change indices settlements have taken."""
    value = conn.execute(text("SELECT max(next_index) FROM wallet_change")).scalar_one()
    return 0 if value is None else int(value)


def payees(conn: Connection) -> list[PayeeRow]:
    """Every settlement payee, with the entries that resolved its reservation."""
    resolutions: dict[int, list[tuple[int, str, str]]] = {}
    for eid, kind, memo, ref in conn.execute(
        text(
            "SELECT e.id, e.kind, e.memo, e.resolves FROM entries e JOIN settlement_payouts p "
            "ON e.resolves = p.pending_entry_id ORDER BY e.id"
        )
    ):
        resolutions.setdefault(int(ref), []).append((int(eid), str(kind), str(memo)))
    rows = conn.execute(
        text(
            "SELECT p.settlement_id, s.state, s.confirmed_txid, p.uploader, p.script_pubkey, "
            "p.payout_sat, p.fee_share_msat, p.pending_entry_id FROM settlement_payouts p "
            "JOIN settlements s ON s.id = p.settlement_id ORDER BY p.settlement_id, p.uploader"
        )
    )
    return [
        PayeeRow(
            int(r[0]), str(r[1]), None if r[2] is None else str(r[2]), str(r[3]), bytes(r[4]),
            int(r[5]), int(r[6]), int(r[7]), tuple(resolutions.get(int(r[7]), ())),
        )
        for r in rows
    ]


def payout_entries(conn: Connection) -> list[tuple[int, int | None, str]]:
    """``(id, resolves, memo)`` of every entry booking a payout (memo ``payout …``)."""
    rows = conn.execute(
        text(
            "SELECT id, resolves, memo FROM entries WHERE kind = 'post_pending' "
            "AND substr(memo, 1, 7) = 'payout ' ORDER BY id"
        )
    )
    return [(int(r[0]), None if r[1] is None else int(r[1]), str(r[2])) for r in rows]
