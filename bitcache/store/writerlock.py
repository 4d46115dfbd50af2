"""The writer lock of a SQLite ledger: one writer at a time, and waiters wake as soon as it is free.

SQLite serialises writers itself (``BEGIN IMMEDIATE``), but a writer that
finds the database locked sleeps in SQLite's busy handler — 1, 2, 5, 10 …
up to 100 ms between tries — so under contention the lock sits idle while
its waiters sleep, and whoever happens to retry first wins. Many threads or
processes charging at once then see latencies of a hundred milliseconds and
a throughput that falls as they are added.

:class:`WriterLock` queues writers in the kernel instead: a re-entrant
thread lock for the threads of one process, and ``flock`` on a lock file
beside the database for other processes; the holder then opens its
``BEGIN IMMEDIATE``, which finds the database free. ``flock`` hands the lock
over the moment it is released. A process that dies, even by SIGKILL,
releases it with its file descriptor. Like a PostgreSQL row lock, it waits
as long as the holder holds it.

The lock file (``<database>-writer.lock``) holds no data. Where it cannot be
created (a read-only folder, no ``fcntl``), processes fall back to SQLite's
own locking and only the threads of one process are queued.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = "-writer.lock"


class WriterLock:
    """Exclusive across the threads of this process and, with a lock file, across processes."""

    def __init__(self, database_path: str | None):
        self._path = None if database_path is None else database_path + LOCK_SUFFIX
        self._fork_safe()

    def _fork_safe(self) -> None:
        """Start afresh in this process: a forked child inherits the parent's lock state,
        and its descriptor would share the parent's ``flock``."""
        self._owner = os.getpid()
        self._mutex = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block (re-entrant in the thread that holds it)."""
        if self._owner != os.getpid():
            self._fork_safe()
        with self._mutex:
            if self._depth == 0:
                self._lock_file()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._unlock_file()

    def _descriptor(self) -> int | None:
        """The lock file's descriptor, opened by this process."""
        if self._path is None or fcntl is None:
            return None
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._path = None  # cannot create it: SQLite's own locking only
        return self._fd

    def _lock_file(self) -> None:
        fd = self._descriptor()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock_file(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file's descriptor (the lock must not be held)."""
        if self._owner != os.getpid():
            self._fork_safe()  # the inherited descriptor is the parent's to close
            return
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None


def sqlite_database_path(database: str | None) -> str | None:
    """The file of a SQLite URL's database part, or None for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)
