"""Write transactions of a ledger: the writer lock, nested writes, and the deferred sync.

* **The writer lock.** A write transaction takes it first: on SQLite the
  kernel lock of :mod:`writerlock` and then ``BEGIN IMMEDIATE``; on
  PostgreSQL ``SELECT … FOR UPDATE`` of the journal-head row, which also
  returns the head (one round trip after psycopg's ``BEGIN``; read through
  the driver, without SQLAlchemy's result machinery).
* **The head a transaction knows.** The lock's answer, then each writer's
  new head, so the next writer of the same transaction need not read it.
* **Nested writes.** A thread that already holds a write transaction and
  asks for another joins it as a savepoint (:meth:`Transactions.savepoint`).
* **Deferred sync.** ``begin(defer_sync=True)`` commits without waiting for
  the disk — SQLite with ``synchronous=NORMAL`` for that transaction,
  PostgreSQL with ``synchronous_commit`` off, set by the lock query — so the
  lock is not held through the disk flush; :meth:`Transactions.sync` then
  makes every commit so far durable. On PostgreSQL the connection of a
  deferred commit stays checked out for the sync that follows, which runs on
  it: a pooled connection would cost a ping (see :mod:`deadline`) on top of
  the sync, and this one answered a moment ago. If it was lost meanwhile,
  a pooled connection, pinged, takes over, as it always did.
* **The server that syncs is the server that committed.** On PostgreSQL the
  sync is a synchronous commit on a pooled connection, which after a
  failover or a restart reaches another server (a multi-host URL finds the
  new primary): its flush proves nothing about commits the old server took
  without waiting for its log. So each write transaction notes which server
  incarnation took it (postmaster start time, address and port, as one text
  the server writes: compared, never decoded), and a sync
  answered by another incarnation raises :class:`OutcomeUnknown`: those
  commits may be gone, and the callers retry with their keys.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from bitcache.errors import OutcomeUnknown, StoreError
from bitcache.store import deadline
from bitcache.store.database import DEFER_SYNC
from bitcache.store.driver import fetch_all
from bitcache.store.writerlock import WriterLock, sqlite_database_path

# Which server incarnation answers: a restart or a promoted standby differs in one of them.
# One text column (the start time as epoch seconds, so no session setting changes it):
# decoding a timestamp and two network values cost more than the rest of the lock query.
_SERVER = ("concat_ws(' ', extract(epoch FROM pg_postmaster_start_time()), "
           "inet_server_addr(), inet_server_port())")
_LOCK_HEAD = f"SELECT last_id, last_hash, {_SERVER} FROM journal_head WHERE id = 1 FOR UPDATE"
_LOCK_HEAD_ASYNC = (  # and commit without waiting for the log's flush (SET LOCAL)
    f"SELECT last_id, last_hash, {_SERVER}, set_config('synchronous_commit', 'off', true) "
    "FROM journal_head WHERE id = 1 FOR UPDATE")
# A commit waits for the log flush (and a synchronous standby) only if its transaction
# wrote to the log: taking a transaction id alone writes nothing, so such a commit
# returns at once. A transactional logical-decoding message is a log record that any
# role may write at any wal_level, and touches no table.
_SYNC = f"SELECT pg_logical_emit_message(true, 'bitcache', 'sync'), {_SERVER}"

Server = str


class Held:
    """The write transaction a thread holds: its connection and the journal head it knows."""

    __slots__ = ("conn", "head", "pid", "server")

    def __init__(self, conn: Connection):
        self.conn, self.pid = conn, os.getpid()
        self.head: tuple[int, bytes] | None = None
        self.server: Server | None = None


class Transactions:
    """Begins the write transactions of one engine and tracks the one each thread holds."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._pg = engine.dialect.name == "postgresql"
        path = None if self._pg else sqlite_database_path(engine.url.database)
        self._lock = None if self._pg else WriterLock(path)
        self._wal = None if path is None else path + "-wal"
        self._local = threading.local()

    def held(self) -> Held | None:
        """The write transaction this thread holds (not one a forked child inherited)."""
        held: Held | None = getattr(self._local, "held", None)
        return held if held is not None and held.pid == os.getpid() else None

    @contextmanager
    def begin(self, defer_sync: bool = False) -> Iterator[Held]:
        """A new write transaction holding the writer lock; commits at the end of the block.

        PostgreSQL, ``defer_sync``: once committed, the connection is kept for
        this thread's next :meth:`sync` instead of going back to the pool.
        """
        self._release_kept()  # a deferred commit's connection that no sync used
        with self._exclusive():
            conn = self.engine.connect()
            keep = False
            try:
                if defer_sync:
                    conn.execution_options(**{DEFER_SYNC: True})
                with conn.begin():
                    held = Held(conn)
                    if self._pg:
                        (row,) = fetch_all(conn, _LOCK_HEAD_ASYNC if defer_sync else _LOCK_HEAD)
                        held.head, held.server = (int(row[0]), bytes(row[1])), str(row[2])
                    self._local.held = held
                    try:
                        yield held
                    finally:
                        self._local.held = None
                if held.server is not None:  # committed: the next sync must reach that server
                    self._unsynced().add(held.server)
                    keep = defer_sync
            finally:
                if keep:
                    self._local.kept = (conn, os.getpid())
                else:
                    conn.close()

    @contextmanager
    def savepoint(self, held: Held) -> Iterator[None]:
        """A savepoint in ``held``; rolled back, it restores the head it started from."""
        head = held.head
        try:
            with held.conn.begin_nested():
                yield
        except BaseException:
            held.head = head
            raise

    def known_head(self, conn: Connection) -> tuple[int, bytes] | None:
        """The journal head as this thread's transaction on ``conn`` last saw it, or None."""
        held = self.held()
        return held.head if held is not None and held.conn is conn else None

    def note_head(self, conn: Connection, head: tuple[int, bytes]) -> None:
        """Remember the head a writer moved the journal to, for the transaction's next."""
        held = self.held()
        if held is not None and held.conn is conn:
            held.head = head

    def sync(self) -> None:
        """Make every transaction committed so far durable.

        SQLite: ``fsync`` of the write-ahead log (the commits it holds; any
        it no longer holds were checkpointed into the database file, which
        the checkpoint synced). PostgreSQL: a transaction that writes a log
        record (a logical-decoding message) and commits synchronously, so the
        server flushes its log — and waits for a synchronous standby — through
        that commit, and so through every commit before it, on the server
        that took them (see the module docstring).
        """
        if self._pg:
            servers, self._local.unsynced = self._unsynced(), set()
            row = self._sync_kept()
            if row is None:
                with self.engine.connect() as conn:
                    row = _emit_sync(conn)
            if servers - {str(row[1])}:
                raise OutcomeUnknown(
                    "the database server that took this thread's commits is not the one "
                    "answering now (a failover or a restart): they may be lost; retry with "
                    "the same key")
            return
        if self._wal is None:
            return  # in memory: nothing to make durable
        try:
            fd = os.open(self._wal, os.O_RDWR)
        except FileNotFoundError:
            return  # no log: everything is in the database file
        try:
            os.fsync(fd)
        except OSError as exc:
            raise StoreError(f"could not make the commit durable: {exc}") from exc
        finally:
            os.close(fd)

    def _sync_kept(self) -> tuple[object, ...] | None:
        """The sync on the connection of this thread's last deferred commit (under the
        call's deadline, as a checkout would attach it); None when there is no such
        connection, or when it was lost before the deadline passed."""
        kept = self._take_kept()
        if kept is None:
            return None
        call = deadline.active()
        with kept:
            if call is not None:
                call.attach(kept.connection.dbapi_connection)
            try:
                return _emit_sync(kept)
            except DBAPIError as exc:
                if exc.connection_invalidated and (call is None or not call.expired):
                    return None  # lost (a restart, a failover): a pooled one takes over
                raise

    def _take_kept(self) -> Connection | None:
        """The connection kept for this thread's sync, now the caller's (None if none, or
        if it is a forked child's copy of the parent's)."""
        kept: tuple[Connection, int] | None = getattr(self._local, "kept", None)
        self._local.kept = None
        return kept[0] if kept is not None and kept[1] == os.getpid() else None

    def _release_kept(self) -> None:
        """Return the connection kept for a sync that did not come to the pool."""
        kept = self._take_kept()
        if kept is not None:
            kept.close()

    def _unsynced(self) -> set[Server]:
        """The server incarnations that committed this thread's transactions since its
        last sync (PostgreSQL)."""
        unsynced: set[Server] | None = getattr(self._local, "unsynced", None)
        if unsynced is None:
            unsynced = self._local.unsynced = set()
        return unsynced

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """SQLite: queue for the writer lock before ``BEGIN IMMEDIATE`` (see writerlock)."""
        if self._lock is None:
            yield
        else:
            with self._lock.held():
                yield

    def close(self) -> None:
        self._release_kept()
        if self._lock is not None:
            self._lock.close()


def _emit_sync(conn: Connection) -> tuple[object, ...]:
    """The sync statement on ``conn``, in autocommit (SQLAlchemy restores the isolation
    level when the connection goes back to the pool); its row names the server."""
    conn.execution_options(isolation_level="AUTOCOMMIT")
    return tuple(conn.exec_driver_sql(_SYNC).one())
