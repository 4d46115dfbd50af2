"""The settlement job lock: one job acts at a time, across processes and hosts.

A single row (``settlement_lock``) names the holder and the end of its lease.
Taking it is one short write transaction: ``BEGIN IMMEDIATE`` on SQLite (the
database's writer lock), ``SELECT … FOR UPDATE NOWAIT`` on PostgreSQL (a job
that finds the row locked loses at once). A lease that has expired — or,
on the same host, whose holder process is dead — may be taken over. Every
write the job makes renews the lease *and checks it still holds it*, in the
same transaction, so a job that lost the lock cannot commit anything.

A database that fails while the lock is taken or given up raises the
classified store error (``StoreUnavailable`` during a failover, see
:mod:`bitcache.store.failures`), never ``SettlementLocked``: only a lock row
held by another job is ``SettlementLocked``. Both run under the ledger's
per-call deadline.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bitcache.errors import BitcacheError, SettlementLocked
from bitcache.store.deadline import Call, deadline
from bitcache.store.failures import Attempt, sqlstate, store_error
from bitcache.store.settlement import LockHolder, read_lock, release_lock, take_lock

MICROS = 1_000_000
LOCK_NOT_AVAILABLE = "55P03"  # FOR UPDATE NOWAIT found the row locked


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobLock:
    """The lease-based lock of one job instance (``owner`` is unique per instance)."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], int],
        lease_seconds: int,
        *,
        deadline_s: float | None = None,
    ) -> None:
        self._engine = engine
        self._deadline_s = deadline_s
        self._clock = clock
        self.lease_us = lease_seconds * MICROS
        self.host = socket.gethostname()[:100]
        self.pid = os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex}"

    def expiry(self) -> int:
        """The lease end to write now."""
        return self._clock() + self.lease_us

    def _free(self, held: LockHolder, now: int) -> bool:
        if not held.owner or held.owner == self.owner or held.expires_at <= now:
            return True
        return held.host == self.host and held.pid > 0 and not _process_alive(held.pid)

    def acquire(self) -> None:
        """Take the lock or raise SettlementLocked naming the holder."""
        now = self._clock()
        with deadline(self._deadline_s) as call:
            try:
                with self._engine.begin() as conn:
                    held = read_lock(conn, for_update=True)
                    if not self._free(held, now):
                        raise SettlementLocked(
                            f"the settlement lock is held by {held.owner} for another "
                            f"{(held.expires_at - now) // MICROS} s"
                        )
                    holder = LockHolder(self.owner, self.host, self.pid, now + self.lease_us)
                    take_lock(conn, holder)
            except BitcacheError:
                raise
            except SQLAlchemyError as exc:
                if sqlstate(exc) == LOCK_NOT_AVAILABLE:
                    raise SettlementLocked("another settlement job is taking the lock") from exc
                raise store_error(exc, "taking the settlement lock", _attempt(call)) from exc

    def release(self) -> None:
        """Give the lock up (a no-op if another job took it over)."""
        with deadline(self._deadline_s) as call:
            try:
                with self._engine.begin() as conn:
                    release_lock(conn, self.owner)
            except SQLAlchemyError as exc:
                raise store_error(exc, "releasing the settlement lock", _attempt(call)) from exc


def _attempt(call: Call | None) -> Attempt:
    return Attempt(expired=call is not None and call.expired)
