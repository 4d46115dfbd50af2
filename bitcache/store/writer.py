"""The write pipeline of one ledger transaction.

Holds the chain head, the balances of the accounts touched so far and the
rows to insert; :meth:`BatchWriter.flush` writes them in bulk (postings
before their entries, as the database triggers require). It is given the
store's :class:`~bitcache.store.accounts.AccountCache` and the transaction's
head keeper (:class:`~bitcache.store.transactions.Transactions`), and imports
nothing of :mod:`bitcache.store.ledger`, which builds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from bitcache.core.balances import Balance
from bitcache.core.entries import Entry, EntryKind, EntryRequest, content_hash
from bitcache.core.entrymeta import encode_meta
from bitcache.core.journal import chain_hash
from bitcache.core.ledger import RefState, apply_entry, apply_posted, check_reference
from bitcache.errors import IdempotencyConflict, LedgerError, UnknownAccount
from bitcache.store import rows
from bitcache.store.accounts import AccountCache
from bitcache.store.driver import copy_rows, fetch_all, fetch_in, in_pipeline, insert_rows, run
from bitcache.store.transactions import Transactions

_POSTING_COLUMNS = ("entry_id", "n", "account_id", "amount", "file_hash", "balance_after")
_ENTRY_COLUMNS = (
    "id", "key", "kind", "ref", "resolves", "reverses", "expires_at", "memo", "recorded_at",
    "content_hash", "prev_hash", "entry_hash", "meta", "content_version",
)


_READ_HEAD = "SELECT last_id, last_hash FROM journal_head WHERE id = 1"
_UPDATE_BALANCE = (  # parameters in the order of BatchWriter._balance_rows: id first
    "UPDATE accounts SET posted = ?2, pending_debits = ?3, pending_credits = ?4 WHERE id = ?1"
)


@dataclass
class Work:
    """Per-transaction state of the write pipeline: the entries written so far, and
    which earlier entries they resolved or reversed."""

    new_by_key: dict[str, Entry] = field(default_factory=dict)
    new_by_id: dict[int, Entry] = field(default_factory=dict)
    resolved: dict[int, int] = field(default_factory=dict)
    reversed: dict[int, int] = field(default_factory=dict)


class BatchWriter:
    """Applies validated requests inside one write transaction."""

    def __init__(self, conn: Connection, accounts: AccountCache, heads: Transactions, now: int):
        self.conn, self.accounts, self.heads, self.now = conn, accounts, heads, now
        head = heads.known_head(conn)
        if head is None:
            # through the driver: SQLAlchemy's text() costs ~10x the query (SQLite reads
            # the head here once per write transaction, a group commit once per flush)
            ((last_id, last_hash),) = fetch_all(conn, _READ_HEAD)
            head = (int(last_id), bytes(last_hash))
        self.last_id, self.last_hash = head
        self.cached = accounts.balances.valid_at((self.last_id, self.last_hash))
        self.specs = accounts.specs
        self.work = Work()
        self.balances: dict[str, Balance] = {}
        self.dirty: set[str] = set()
        self.posting_rows: list[tuple[object, ...]] = []
        self.entry_rows: list[tuple[object, ...]] = []
        self.written = self.replayed = self.refused = 0

    # -- balances ----------------------------------------------------------

    def _ensure_balances(self, names: Iterable[str]) -> None:
        missing = [n for n in set(names) if n not in self.balances]
        if self.cached is not None:
            hits = {n: self.cached[n] for n in missing if n in self.cached}
            self.balances.update(hits)
            missing = [n for n in missing if n not in hits]
        self.accounts.load(self.conn, missing)
        known = self.accounts.ids
        ids = {known[name]: name for name in missing if name in known}
        found = fetch_in(
            self.conn,
            "SELECT id, posted, pending_debits, pending_credits FROM accounts WHERE id IN ({})",
            list(ids),
        )
        for aid, posted, pd, pc in found:
            self.balances[ids[int(aid)]] = Balance(int(posted), int(pd), int(pc))

    # -- requests ----------------------------------------------------------

    def run(
        self, requests: Sequence[EntryRequest], hashes: Sequence[bytes], *, atomic: bool,
        existing: dict[str, tuple[int, bytes]] | None = None,
        balances: dict[str, Balance] | None = None,
    ) -> list[Entry | LedgerError]:
        """Apply each request in order; return its entry or its refusal.

        ``existing``: the requests' keys already looked up in this transaction;
        ``balances``: balances the caller read in this transaction, not written since.
        """
        self.existing = (rows.entry_ids_by_keys(self.conn, [r.key for r in requests])
                         if existing is None else existing)
        if balances:
            self.accounts.load(self.conn, balances)
            self.balances.update(balances)
        self._ensure_balances(p.account for r in requests for p in r.postings)
        results: list[Entry | LedgerError] = []
        for request, digest in zip(requests, hashes, strict=True):
            try:
                results.append(self._one(request, digest))
            except LedgerError as exc:
                if atomic:
                    raise
                self.refused += 1
                results.append(exc)
        return results

    def _replay(self, request: EntryRequest, digest: bytes) -> Entry | None:
        prior = self.work.new_by_key.get(request.key)
        if prior is None and request.key in self.existing:
            entry_id, stored = self.existing[request.key]
            if stored != digest and not _recorded_before_meta(request, stored):
                raise IdempotencyConflict(
                    f"key {request.key!r} was used by entry {entry_id} with other content"
                )
            prior = rows.entry_by_id(self.conn, entry_id, self.accounts.name_map())
        elif prior is not None and prior.content_hash != digest:
            raise IdempotencyConflict(
                f"key {request.key!r} was used by entry {prior.id} with other content"
            )
        return prior

    def _one(self, request: EntryRequest, digest: bytes) -> Entry:
        if request.key in self.work.new_by_key or request.key in self.existing:
            prior = self._replay(request, digest)
            if prior is not None:
                self.replayed += 1
                return prior
        balances = self.balances
        for p in request.postings:
            if p.account not in balances:
                raise UnknownAccount(f"account {p.account!r} does not exist")
        if request.ref is None and request.kind is EntryKind.POSTED:
            apply_posted(balances, request.postings, self.specs)
            return self._append(request, digest, None)
        ref = self._ref_state(request.ref) if request.ref is not None else None
        check_reference(request, ref, now=self.now)
        if ref is not None:
            self._ensure_balances(p.account for p in ref.entry.postings)
        apply_entry(self.balances, request, ref, self.specs)
        return self._append(request, digest, ref)

    def _ref_state(self, entry_id: int) -> RefState | None:
        """The referenced entry and whether it was resolved or reversed."""
        work = self.work
        found = work.new_by_id.get(entry_id) or rows.entry_by_id(
            self.conn, entry_id, self.accounts.name_map()
        )
        if found is None:
            return None
        res = work.resolved.get(entry_id)
        rev = work.reversed.get(entry_id)
        if res is None or rev is None:
            row = self.conn.execute(
                text(
                    "SELECT (SELECT id FROM entries WHERE resolves = :i), "
                    "(SELECT id FROM entries WHERE reverses = :i)"
                ),
                {"i": entry_id},
            ).one()
            res = res if res is not None else row[0]
            rev = rev if rev is not None else row[1]
        return RefState(found, res, rev)

    def _append(self, request: EntryRequest, digest: bytes, ref: RefState | None) -> Entry:
        entry_id = self.last_id + 1
        entry_hash = chain_hash(digest, entry_id, self.now, self.last_hash)
        entry = Entry(
            entry_id,
            request.key,
            request.kind,
            request.postings,
            request.ref,
            request.expires_at,
            request.memo,
            self.now,
            digest,
            self.last_hash,
            entry_hash,
            request.meta,
            1 if request.meta is None else 2,
        )
        kind = request.kind
        resolves = reverses = None
        if ref is not None:
            if kind is EntryKind.REVERSAL:
                self.work.reversed[ref.entry.id] = entry_id
                reverses = ref.entry.id
            else:
                self.work.resolved[ref.entry.id] = entry_id
                resolves = ref.entry.id
        ids, balances = self.accounts.ids, self.balances
        self.posting_rows.extend(
            [
                (entry_id, n, ids[p.account], p.amount, p.file_hash, balances[p.account].posted)
                for n, p in enumerate(request.postings)
            ]
        )
        self.entry_rows.append(
            (
                entry_id,
                request.key,
                kind.value,
                request.ref,
                resolves,
                reverses,
                request.expires_at,
                request.memo,
                self.now,
                digest,
                self.last_hash,
                entry_hash,
                None if request.meta is None else encode_meta(request.meta),
                entry.content_version,
            )
        )
        self.dirty.update(p.account for p in request.postings)
        if ref is not None:
            self.dirty.update(p.account for p in ref.entry.postings)
        self.work.new_by_key[request.key] = entry
        self.work.new_by_id[entry_id] = entry
        self.last_id, self.last_hash = entry_id, entry_hash
        self.written += 1
        return entry

    def flush(self) -> None:
        """Write every row of the transaction in bulk (postings before their entries)."""
        if not self.entry_rows:
            return
        self.accounts.balances.update(
            (self.last_id, self.last_hash), {n: self.balances[n] for n in self.dirty}
        )
        if self.conn.dialect.name == "postgresql":
            self._flush_pg()
        else:
            self._flush_sqlite()
        head = "UPDATE journal_head SET last_id = ?, last_hash = ? WHERE id = 1"
        run(self.conn, head, (self.last_id, self.last_hash))
        self.heads.note_head(self.conn, (self.last_id, self.last_hash))

    def _flush_sqlite(self) -> None:
        """SQLite: multi-row inserts (see :func:`~bitcache.store.driver.insert_rows`),
        ``executemany`` of the balance updates (one row per account touched)."""
        insert_rows(self.conn, "postings", _POSTING_COLUMNS, self.posting_rows)
        insert_rows(self.conn, "entries", _ENTRY_COLUMNS, self.entry_rows)
        self.conn.exec_driver_sql(_UPDATE_BALANCE, self._balance_rows())

    def _balance_rows(self) -> list[tuple[int, int, int, int]]:
        ids = self.accounts.ids
        return [
            (ids[name], b.posted, b.pending_debits, b.pending_credits)
            for name in sorted(self.dirty)
            for b in (self.balances[name],)
        ]

    def _flush_pg(self) -> None:
        """PostgreSQL: ``COPY`` for postings and entries, one ``unnest()`` update for balances.

        Statement-level triggers run once per table per batch. Inside
        :func:`~bitcache.store.driver.pipelined` (a group commit's flush), where
        COPY cannot run, each table takes one ``INSERT … SELECT FROM unnest()``,
        and none of the statements waits for the one before.
        """
        if in_pipeline(self.conn):
            _by_columns(self.conn, _PG_POSTINGS, self.posting_rows)
            _by_columns(self.conn, _PG_ENTRIES, self.entry_rows)
        else:
            copy_rows(self.conn, "postings", _POSTING_COLUMNS, self.posting_rows)
            copy_rows(self.conn, "entries", _ENTRY_COLUMNS, self.entry_rows)
        _by_columns(self.conn, _PG_BALANCES, self._balance_rows())


def _recorded_before_meta(request: EntryRequest, stored: bytes) -> bool:
    """Whether ``stored`` is the version 1 content hash of ``request``: the same charge
    recorded before entries had metadata (its memo then says all its metadata says)."""
    meta = request.meta
    return (meta is not None and meta.memo() == request.memo
            and content_hash(request._replace(meta=None)) == stored)


def _by_columns(conn: Connection, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
    """One ``unnest()`` statement for many rows: each column as one array parameter."""
    run(conn, sql, tuple(list(col) for col in zip(*rows, strict=True)))


def _unnest(table: str, columns: tuple[str, ...], types: tuple[str, ...]) -> str:
    arrays = ", ".join(f"?::{t}[]" for t in types)
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"


_PG_POSTINGS = _unnest("postings", _POSTING_COLUMNS,
                       ("bigint", "smallint", "integer", "bigint", "bytea", "bigint"))
_PG_ENTRIES = _unnest("entries", _ENTRY_COLUMNS,
                      ("bigint", "text", "text", "bigint", "bigint", "bigint", "bigint", "text",
                       "bigint", "bytea", "bytea", "bytea", "text", "smallint"))
_PG_BALANCES = (
    "UPDATE accounts AS a SET posted = v.p, pending_debits = v.d, pending_credits = v.c "
    "FROM unnest(?::integer[], ?::bigint[], ?::bigint[], ?::bigint[]) AS v(i, p, d, c) "
    "WHERE a.id = v.i"
)
