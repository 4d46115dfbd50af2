"""LedgerStore: the double-entry ledger on SQLite or PostgreSQL.

Every write goes through one pipeline (:meth:`LedgerStore.record_many`):
validate every request in pure Python first (bad input raises before the
database is touched), then, in one transaction that holds the writer lock
(``BEGIN IMMEDIATE`` on SQLite, the journal-head row lock on PostgreSQL),
replay known idempotency keys, load the touched balances, apply the core's
rules and limits, extend the hash chain, and write postings, entries and
balances in bulk. A retried key with the same content returns the original
entry and writes nothing; with other content it is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from bitcache.clock import now_us
from bitcache.core.accounts import AccountSpec, account_name, default_spec
from bitcache.core.balances import Balance
from bitcache.core.checks import int64, timestamp_us
from bitcache.core.entries import (
    Entry,
    EntryKind,
    EntryRequest,
    Posting,
    content_hash,
    idempotency_key,
    negate,
    validate_request,
)
from bitcache.core.journal import ChainReport, verify_chain
from bitcache.errors import (
    BitcacheError,
    InvalidInput,
    LedgerError,
    StoreError,
    UnbalancedEntry,
    UnknownAccount,
    UnknownEntry,
)
from bitcache.store import rows
from bitcache.store.accounts import AccountCache
from bitcache.store.database import READ_ONLY, check_schema, make_engine, upgrade
from bitcache.store.deadline import Call, check_seconds, deadline
from bitcache.store.failures import Attempt, reclassify, store_error
from bitcache.store.transactions import Transactions
from bitcache.store.writer import BatchWriter


def _entry_id(value: object, *, allow_zero: bool = False) -> int:
    """Validate an entry id: an int from 1 (or 0) to the largest 64-bit value."""
    return int64(value, "entry id", lo=0 if allow_zero else 1)


def _legs(postings: object) -> tuple[Posting, ...]:
    """The postings a caller gave, as a tuple (each is checked when the entry is)."""
    if not isinstance(postings, Iterable) or isinstance(postings, str | bytes | Mapping):
        raise UnbalancedEntry(
            f"postings must be a sequence of Posting, got {type(postings).__name__}")
    return tuple(postings)


def _requests(requests: object) -> Sequence[EntryRequest]:
    """The requests of a batch: a sequence (each is checked by ``validate_request``)."""
    if not isinstance(requests, Sequence) or isinstance(requests, str | bytes):
        raise InvalidInput(
            f"requests must be a sequence of EntryRequest, got {type(requests).__name__}")
    return requests


def _specs(specs: object) -> list[AccountSpec]:
    """Accounts to open, each an AccountSpec whose kind and limit are well-formed."""
    if not isinstance(specs, Sequence) or isinstance(specs, str | bytes):
        raise InvalidInput(
            f"open_accounts must be a sequence of AccountSpec, got {type(specs).__name__}")
    for s in specs:
        if not isinstance(s, AccountSpec):
            raise InvalidInput(f"open_accounts must hold AccountSpec, got {type(s).__name__}")
        if default_spec(s.name, limited=s.limited) != s:
            raise InvalidInput(f"account spec {s!r} has a kind other than its name's family")
    return list(specs)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What :meth:`LedgerStore.record_many` did with each request, in order.

    ``results[i]`` is the recorded (or replayed) entry, or the ``LedgerError``
    that refused request ``i``; refused requests wrote nothing.
    """

    results: tuple[Entry | LedgerError, ...]
    written: int
    replayed: int
    refused: int

    def entries(self) -> list[Entry]:
        """The entries, raising the first refusal if there was one."""
        out = []
        for r in self.results:
            if isinstance(r, LedgerError):
                raise r
            out.append(r)
        return out


class LedgerStore:
    """The ledger on a database. Thread-safe to share; one per process is typical.

    ``deadline_s``: every transaction that is not already inside a call's
    deadline (:func:`bitcache.store.deadline.deadline`) gets this one; None
    for none. A transaction past it raises ``DeadlineExceeded`` (or
    ``OutcomeUnknown`` if COMMIT was sent).

    ``clock``: microseconds since the epoch, read for each write transaction's
    ``recorded_at`` and by the services built on this store (public, so that
    an edge passes the same clock on instead of reading the wall clock itself).
    ``accounts``: what this process knows of the accounts (:class:`AccountCache`),
    handed to each write pipeline.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], int] | None = None,
        deadline_s: float | None = None,
    ):
        self.engine = engine
        self.clock: Callable[[], int] = clock or now_us
        self.deadline_s = check_seconds(deadline_s)
        self.accounts = AccountCache()
        self._pg = engine.dialect.name == "postgresql"
        self._tx = Transactions(engine)

    @classmethod
    def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        clock: Callable[[], int] | None = None,
        deadline_s: float | None = None,
    ) -> LedgerStore:
        """Open (and by default migrate) the database at ``url``.

        ``deadline_s`` is each transaction's default deadline and the
        PostgreSQL sessions' ``statement_timeout``.
        """
        engine = make_engine(url, deadline_s=deadline_s)
        if migrate:
            upgrade(engine)
        else:
            check_schema(engine)
        return cls(engine, clock=clock, deadline_s=deadline_s)

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()
        self._tx.close()

    # -- transactions ------------------------------------------------------

    @contextmanager
    def write(self, *, defer_sync: bool = False) -> Iterator[Connection]:
        """A write transaction holding the ledger's writer lock.

        Called again by the thread that already holds one (a group commit
        running each caller's service call inside its flush), it joins that
        transaction as a savepoint: a refusal raised inside rolls back that
        call's writes alone, and the outer transaction decides the commit.

        ``defer_sync``: the commit does not wait for the disk, so the writer
        lock is not held through it; the caller must call :meth:`sync` before
        it tells anyone the write happened. Others may read the write (and
        build on it) before then; if the machine stops first, the write is
        lost with everything after it in the log, none of it acknowledged.
        """
        held = self._tx.held()
        if held is not None:
            try:
                with self._translated(Attempt(), None), self._tx.savepoint(held):
                    yield held.conn
            except BaseException:
                self._forget()  # rolled back to the savepoint: forget what it created
                raise
            return
        attempt = Attempt()
        try:
            with (
                deadline(self.deadline_s) as call,
                self._translated(attempt, call),
                self._tx.begin(defer_sync) as held,
            ):
                yield held.conn
                attempt.committing = True
        except BaseException:
            self._forget()  # the transaction rolled back: cached ids may name no account
            raise

    def sync(self) -> None:
        """Make every transaction committed so far durable (after ``write(defer_sync=True)``;
        see :meth:`Transactions.sync`)."""
        try:
            with deadline(self.deadline_s) as call, self._translated(Attempt(), call):
                self._tx.sync()
        except BaseException:
            self._forget()  # what this process cached may rest on commits now lost
            raise

    def _forget(self) -> None:
        """Drop what this process cached from a transaction that did not commit."""
        self.accounts.forget()

    @contextmanager
    def _translated(self, attempt: Attempt, call: Call | None) -> Iterator[None]:
        """Driver errors as classified StoreErrors (see :mod:`bitcache.store.failures`)."""
        try:
            yield
        except StoreError as exc:
            attempt.expired = call is not None and call.expired
            better = reclassify(exc, attempt)
            if better is exc:
                raise
            raise better from exc.__cause__
        except BitcacheError:
            raise
        except SQLAlchemyError as exc:
            attempt.expired = call is not None and call.expired
            raise store_error(exc, "database error", attempt) from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (no writer lock)."""
        with (
            deadline(self.deadline_s) as call,
            self._translated(Attempt(), call),
            self.engine.connect().execution_options(**READ_ONLY) as conn,
            conn.begin(),
        ):
            yield conn

    # -- accounts ----------------------------------------------------------

    def open_account(self, name: str, *, limited: bool | None = None) -> AccountSpec:
        """Open an account (idempotent); conflicting kind or limit is refused."""
        spec = default_spec(name, limited=limited)
        with self.write() as conn:
            self.open_accounts_in(conn, [spec])
        return spec

    def open_accounts_in(self, conn: Connection, specs: Iterable[AccountSpec]) -> None:
        """Open accounts inside an existing write transaction."""
        self.accounts.open(conn, specs)

    def account(self, name: str) -> AccountSpec:
        """The spec of an existing account."""
        account_name(name)
        spec = self.accounts.spec(None, name)
        if spec is None:
            with self.read() as conn:
                spec = self.accounts.spec(conn, name)
        if spec is None:
            raise UnknownAccount(f"account {name!r} does not exist")
        return spec

    # -- balances ----------------------------------------------------------

    def balance(self, name: str) -> Balance:
        """The current balance of an account (one row read, no journal scan)."""
        account_name(name)
        with self.read() as conn:
            row = conn.execute(
                text(
                    "SELECT posted, pending_debits, pending_credits FROM accounts WHERE name = :n"
                ),
                {"n": name},
            ).first()
        if row is None:
            raise UnknownAccount(f"account {name!r} does not exist")
        return Balance(int(row[0]), int(row[1]), int(row[2]))

    def balances(self, prefix: str = "") -> dict[str, Balance]:
        """Balances of every account whose name starts with ``prefix``."""
        if not isinstance(prefix, str) or len(prefix) > 200 or not prefix.isprintable():
            raise InvalidInput("account prefix must be printable text of at most 200 characters")
        try:
            prefix.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput("account prefix is not valid unicode text") from exc
        with self.read() as conn:
            found = conn.execute(
                text(
                    "SELECT name, posted, pending_debits, pending_credits FROM accounts "
                    "WHERE substr(name, 1, :n) = :p ORDER BY name"
                ),
                {"n": len(prefix), "p": prefix},
            )
            return {str(r[0]): Balance(int(r[1]), int(r[2]), int(r[3])) for r in found}

    def balance_as_of(self, name: str, entry_id: int) -> int:
        """The posted balance of ``name`` just after entry ``entry_id`` was recorded."""
        account_name(name)
        _entry_id(entry_id, allow_zero=True)
        with self.read() as conn:
            account = conn.execute(
                text("SELECT id FROM accounts WHERE name = :n"), {"n": name}
            ).first()
            if account is None:
                raise UnknownAccount(f"account {name!r} does not exist")
            row = conn.execute(
                text(
                    "SELECT balance_after FROM postings WHERE account_id = :a AND entry_id <= :e "
                    "ORDER BY entry_id DESC, n DESC LIMIT 1"
                ),
                {"a": int(account[0]), "e": entry_id},
            ).first()
        return 0 if row is None else int(row[0])

    def trial_balance(self) -> int:
        """Sum of every account's posted balance: zero when the books balance."""
        with self.read() as conn:
            return int(
                conn.execute(text("SELECT coalesce(sum(posted), 0) FROM accounts")).scalar_one()
            )

    # -- writes ------------------------------------------------------------

    def record(self, request: EntryRequest) -> Entry:
        """Record one entry (or return the original on a faithful retry)."""
        result = self.record_many([request], atomic=True).results[0]
        assert isinstance(result, Entry)
        return result

    def record_many(
        self,
        requests: Sequence[EntryRequest],
        *,
        atomic: bool = False,
        open_accounts: Sequence[AccountSpec] = (),
    ) -> BatchResult:
        """Record many entries in one transaction and one commit.

        Bad input anywhere (an ``InvalidInput``) refuses the whole batch before
        anything is written. A business refusal (``LedgerError``: insufficient
        funds, unknown account, idempotency conflict, pending already
        resolved…) refuses that request alone when ``atomic`` is False — it is
        returned in its place and the others are recorded, each seeing the
        effects of the ones before it — and the whole batch when ``atomic``.
        ``open_accounts`` are opened (idempotently) in the same transaction.
        """
        checked = [validate_request(r) for r in _requests(requests)]
        specs = _specs(open_accounts) if open_accounts else []
        with self.write() as conn:
            return self._record_checked(conn, checked, atomic, specs)

    def record_many_in(
        self,
        conn: Connection,
        requests: Sequence[EntryRequest],
        *,
        atomic: bool = False,
        open_accounts: Sequence[AccountSpec] = (),
        hashes: Sequence[bytes] | None = None,
        existing: dict[str, tuple[int, bytes]] | None = None,
        balances: dict[str, Balance] | None = None,
    ) -> BatchResult:
        """:meth:`record_many` inside a write transaction the caller holds (from :meth:`write`).

        For services whose own rows must commit atomically with the entries
        (download counters, deposit records, settlement states). The caller's
        transaction decides the commit; raising inside it writes nothing.

        ``hashes``: the caller already passed each request through
        ``validate_request`` and computed its ``content_hash`` (before taking
        the writer lock). ``existing``: the caller looked the requests' keys
        up in this transaction (key -> entry id and content hash). ``balances``: the
        caller read these accounts' balances in this transaction, not written since.
        """
        if hashes is None:
            requests = [validate_request(r) for r in requests]
        return self._record_checked(
            conn, requests, atomic, open_accounts, hashes, existing, balances)

    def _record_checked(
        self,
        conn: Connection,
        checked: Sequence[EntryRequest],
        atomic: bool,
        open_accounts: Sequence[AccountSpec],
        hashes: Sequence[bytes] | None = None,
        existing: dict[str, tuple[int, bytes]] | None = None,
        balances: dict[str, Balance] | None = None,
    ) -> BatchResult:
        if hashes is None:
            hashes = [content_hash(r) for r in checked]
        self.open_accounts_in(conn, open_accounts)
        writer = self.batch_writer(conn)
        results = writer.run(checked, hashes, atomic=atomic, existing=existing, balances=balances)
        writer.flush()
        return BatchResult(tuple(results), writer.written, writer.replayed, writer.refused)

    def post(self, key: str, postings: Sequence[Posting], *, memo: str = "") -> Entry:
        """Record a final entry."""
        return self.record(EntryRequest(key, _legs(postings), EntryKind.POSTED, memo=memo))

    def pending(
        self,
        key: str,
        postings: Sequence[Posting],
        *,
        expires_at: int | None = None,
        memo: str = "",
    ) -> Entry:
        """Reserve amounts with a pending entry (optionally expiring at ``expires_at`` µs)."""
        return self.record(
            EntryRequest(key, _legs(postings), EntryKind.PENDING, None, expires_at, memo)
        )

    def post_pending(
        self,
        pending_id: int,
        key: str,
        postings: Sequence[Posting] | None = None,
        *,
        memo: str = "",
    ) -> Entry:
        """Make a pending entry final — all of it, or the given smaller postings."""
        legs = _legs(postings) if postings is not None else self.entry(pending_id).postings
        return self.record(EntryRequest(key, legs, EntryKind.POST_PENDING, pending_id, memo=memo))

    def void_pending(self, pending_id: int, key: str, *, memo: str = "") -> Entry:
        """Release a pending entry."""
        legs = self.entry(pending_id).postings
        return self.record(EntryRequest(key, legs, EntryKind.VOID_PENDING, pending_id, memo=memo))

    def reverse(self, entry_id: int, key: str, *, memo: str = "") -> Entry:
        """Correct a posted entry with a reversing entry."""
        legs = negate(self.entry(entry_id).postings)
        return self.record(EntryRequest(key, legs, EntryKind.REVERSAL, entry_id, memo=memo))

    def expire_pending(self, now: int | None = None) -> list[Entry]:
        """Void every open pending entry whose expiry has passed (``now`` in µs, the clock's
        by default)."""
        now = self.clock() if now is None else timestamp_us(now, "now")
        with self.read() as conn:
            due = [
                int(r[0])
                for r in conn.execute(
                    text(
                        "SELECT e.id FROM entries e WHERE e.kind = 'pending' "
                        "AND e.expires_at <= :now AND NOT EXISTS "
                        "(SELECT 1 FROM entries r WHERE r.resolves = e.id) ORDER BY e.id"
                    ),
                    {"now": now},
                )
            ]
        requests = [
            EntryRequest(
                f"expire:{i}", self.entry(i).postings, EntryKind.VOID_PENDING, i, memo="expired"
            )
            for i in due
        ]
        done = self.record_many(requests).results
        return [r for r in done if isinstance(r, Entry)]

    # -- reads -------------------------------------------------------------

    def names(self, conn: Connection) -> dict[int, str]:
        """Every account id -> name, complete as of this transaction."""
        return self.accounts.names(conn)

    def entry_in(self, conn: Connection, entry_id: int) -> Entry | None:
        """The entry with that id as ``conn``'s transaction sees it, or None (for the
        services, inside their own transaction; ``entry_id`` is trusted)."""
        return rows.entry_by_id(conn, entry_id, self.accounts.name_map())

    def entry(self, entry_id: int) -> Entry:
        """The entry with that id."""
        _entry_id(entry_id)
        with self.read() as conn:
            found = self.entry_in(conn, entry_id)
        if found is None:
            raise UnknownEntry(f"entry {entry_id} does not exist")
        return found

    def entry_by_key(self, key: str) -> Entry | None:
        """The entry recorded under an idempotency key, if any."""
        idempotency_key(key)
        with self.read() as conn:
            ids = rows.entry_ids_by_keys(conn, [key])
            if key not in ids:
                return None
            return self.entry_in(conn, ids[key][0])

    def entries(self, *, start: int = 1) -> Iterator[Entry]:
        """Every entry from ``start`` on, in order, streamed in chunks."""
        _entry_id(start, allow_zero=True)
        with self.read() as conn:
            yield from rows.iter_entries(conn, self.accounts.name_map(), start=start)

    def open_pending(self) -> list[int]:
        """Ids of pending entries not yet posted or voided."""
        with self.read() as conn:
            return [
                int(r[0])
                for r in conn.execute(
                    text(
                        "SELECT e.id FROM entries e WHERE e.kind = 'pending' AND NOT EXISTS "
                        "(SELECT 1 FROM entries r WHERE r.resolves = e.id) ORDER BY e.id"
                    )
                )
            ]

    def head(self) -> tuple[int, bytes]:
        """Id and hash of the newest entry."""
        with self.read() as conn:
            row = conn.execute(
                text("SELECT last_id, last_hash FROM journal_head WHERE id = 1")
            ).one()
        return int(row[0]), bytes(row[1])

    def verify(self) -> ChainReport:
        """Recompute the whole hash chain; the report names the first broken entry."""
        report = verify_chain(self.entries())
        last_id, last_hash = self.head()
        if report.ok and (report.entries != last_id or report.head_hash != last_hash):
            return ChainReport(
                False,
                report.entries,
                report.head_hash,
                last_id,
                f"journal head says entry {last_id}, the journal ends at {report.entries}",
            )
        return report

    # -- used by the services and the writer ----------------------------------

    def account_id(self, conn: Connection, name: str) -> int:
        """Id of an account, read on first use (UnknownAccount if absent)."""
        return self.accounts.id_of(conn, name)

    def batch_writer(self, conn: Connection) -> BatchWriter:
        """The write pipeline of one transaction on ``conn`` (from :meth:`write`), over this
        store's account cache, at the store's clock."""
        return BatchWriter(conn, self.accounts, self._tx, self.clock())
