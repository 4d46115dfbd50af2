"""Per-call deadlines: no database call waits past its deadline, a frozen server included.

A server that stops answering without closing its sockets — a primary
frozen by SIGSTOP or a paused VM, a host cut off by the network during a
failover — leaves libpq waiting for ever: TCP keepalives do not fire while
the socket is alive. So a call is given a deadline (:func:`deadline`), and
one watchdog thread per process abandons the call's connections when it
passes: a PostgreSQL connection's socket is shut down (the blocked driver
call returns at once with a connection error; the server rolls the open
transaction back when it next reads the socket), a SQLite connection is
interrupted. The store then raises
:class:`~bitcache.errors.DeadlineExceeded`, or
:class:`~bitcache.errors.OutcomeUnknown` if COMMIT had been sent.

The engines :func:`bitcache.store.database.make_engine` creates take part
(:func:`install`):

* a connection checked out of the pool during a call is attached to the
  call, then pinged (the pool's pre-ping, moved here so that the ping
  itself is under the deadline); a failed ping invalidates the whole pool,
  since after a failover every older connection points at the old primary;
* a new connection is opened in a helper thread and abandoned when the
  deadline passes first (libpq's ``connect_timeout`` still ends the
  attempt, which is then closed);
* SQLite's busy wait is capped at the time left.

Deadlines nest: an inner scope keeps the outer call's deadline, so a call
made of several transactions is bounded as a whole.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import InvalidatePoolError

from bitcache.errors import DeadlineExceeded, InvalidInput

_FRESH = "bitcache_fresh"
_BUSY_SET = "bitcache_busy_timeout_set"
SQLITE_BUSY_TIMEOUT_MS = 60_000
SWEEP_AFTER = 4096  # finished calls in the watchdog's heap before it drops them at once


class Call:
    """One call's deadline and the connections it holds; ``expired`` once the watchdog fired.

    The watchdog learns of a call only when it attaches its first connection:
    a call that never touches the database (a group commit's follower, whose
    flush another thread leads) costs no turn on the watchdog's lock.
    """

    __slots__ = ("_conns", "_lock", "armed", "done", "expired", "expires_at", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self.armed = False
        self.done = False
        self._conns: list[Any] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left before the deadline (0 once it passed)."""
        return max(0.0, self.expires_at - time.monotonic())

    def attach(self, dbapi_connection: Any) -> None:
        """Abandon ``dbapi_connection`` with the call if the deadline passes (at once if it did)."""
        with self._lock:
            live = not self.expired and self.expires_at > time.monotonic()
            if live:
                self._conns.append(dbapi_connection)
                arm, self.armed = not self.armed, True
        if not live:
            self.expire()
            abandon(dbapi_connection)
        elif arm:
            _WATCHDOG.arm(self)

    def expire(self) -> None:
        """The deadline passed: abandon every connection the call holds."""
        with self._lock:
            if self.done:
                return
            self.expired = True
            conns, self._conns = self._conns, []
        for conn in conns:
            abandon(conn)

    def finish(self) -> None:
        """The call is over: the watchdog leaves its connections alone."""
        with self._lock:
            self.done = True
            self._conns = []


def abandon(dbapi_connection: Any) -> None:
    """Make a blocked driver call on ``dbapi_connection`` return now (any thread may call this).

    PostgreSQL: shut the socket down (``shutdown(2)`` on a duplicate of the
    descriptor: the driver's own descriptor stays valid until it closes it,
    so no other file can take its number). SQLite: ``interrupt()``.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.interrupt()
        return
    try:
        fd = dbapi_connection.fileno()
        sock = socket.socket(fileno=os.dup(fd))
    except Exception:  # already closed or broken: nothing blocks on it
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


class _Watchdog:
    """One thread that expires calls whose deadline passed (a heap of deadlines)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Call]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._finished = 0  # calls finished since the heap was last swept

    def reset(self) -> None:
        """Forget everything (in a forked child: the parent's thread and locks are not ours)."""
        self._heap = []
        self._finished = 0
        self._cond = threading.Condition()
        self._thread = None

    def arm(self, call: Call) -> None:
        with self._cond:
            if self._thread is None or self._pid != os.getpid():  # not started, or forked
                self._heap = []
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="bitcache-deadline", daemon=True
                )
                self._thread.start()
            if self._finished > SWEEP_AFTER and 2 * self._finished > len(self._heap):
                self._heap = [e for e in self._heap if not e[2].done]  # drop finished calls
                heapq.heapify(self._heap)
                self._finished = 0
            first = not self._heap or call.expires_at < self._heap[0][0]
            heapq.heappush(self._heap, (call.expires_at, next(self._seq), call))
            if first:
                self._cond.notify()

    def disarm(self, call: Call) -> None:
        """``call`` finished: the watchdog leaves it alone (swept from the heap later)."""
        call.finish()
        if call.armed:
            self._finished += 1  # a hint for sweeping: an unlocked race only delays a sweep

    def _next_due(self) -> list[Call]:
        """Wait until a live call's deadline passes; the calls that are due."""
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                due = []
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                return due

    def _run(self) -> None:
        while True:
            for call in self._next_due():
                call.expire()


_WATCHDOG = _Watchdog()
os.register_at_fork(after_in_child=_WATCHDOG.reset)
_ACTIVE: ContextVar[Call | None] = ContextVar("bitcache_call", default=None)


def active() -> Call | None:
    """The call in progress in this thread or task, if it has a deadline."""
    return _ACTIVE.get()


def check_seconds(seconds: object, what: str = "deadline") -> float | None:
    """Validate a deadline in seconds: None (no deadline) or a positive finite number."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidInput(f"{what} must be a number of seconds, got {type(seconds).__name__}")
    if not 0 < seconds < 86_400:
        raise InvalidInput(f"{what} must be above 0 and below a day, got {seconds}")
    return float(seconds)


@contextmanager
def deadline(seconds: float | None) -> Iterator[Call | None]:
    """A call scope: database work inside it is abandoned ``seconds`` from now.

    Inside an outer scope the outer deadline stands (and is yielded);
    ``None`` outside any scope means no deadline.
    """
    outer = _ACTIVE.get()
    if outer is not None or seconds is None:
        yield outer
        return
    call = Call(seconds)  # armed on the watchdog when it attaches a connection
    token = _ACTIVE.set(call)
    try:
        yield call
    finally:
        _WATCHDOG.disarm(call)
        _ACTIVE.reset(token)


def raise_if_expired(call: Call | None, doing: str) -> None:
    """DeadlineExceeded when ``call``'s deadline has passed."""
    if call is not None and (call.expired or call.remaining() <= 0):
        call.expire()
        raise DeadlineExceeded(f"{doing}: the call's deadline of {call.seconds:g} s passed")


# --- engine integration -----------------------------------------------------


class _Connecting:
    """A connection being opened in a helper thread, which the caller may abandon."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self.conn: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        conn, error = None, None
        try:
            conn = self._connect()
        except BaseException as exc:
            error = exc
        with self._lock:
            if self._abandoned:
                if conn is not None:
                    conn.close()
                return
            self.conn, self.error = conn, error
            self._done.set()

    def wait(self, seconds: float) -> bool:
        """True if the connection attempt ended in time; else it is abandoned."""
        if self._done.wait(seconds):
            return True
        with self._lock:
            if self._done.is_set():
                return True
            self._abandoned = True
            return False


def connect_within(call: Call, connect: Callable[[], Any]) -> Any:
    """``connect()`` in a helper thread, given up (DeadlineExceeded) when ``call`` expires."""
    raise_if_expired(call, "connecting to the database")
    attempt = _Connecting(connect)
    threading.Thread(target=attempt.run, name="bitcache-connect", daemon=True).start()
    if not attempt.wait(call.remaining()):
        call.expire()
        raise DeadlineExceeded(
            f"connecting to the database: the call's deadline of {call.seconds:g} s passed"
        )
    if attempt.error is not None:
        raise attempt.error
    return attempt.conn


def install(engine: Engine) -> None:
    """Put ``engine``'s connections under the calls' deadlines (see the module docstring)."""
    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine, "connect")
    def _fresh(dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        call = _ACTIVE.get()
        if call is not None:
            call.attach(dbapi_connection)
        if sqlite or record.info.pop(_FRESH, False):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise InvalidatePoolError(f"a pooled connection failed its ping: {exc}") from exc

    if sqlite:
        event.listen(engine, "begin", _sqlite_busy_timeout)
        return

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        call = _ACTIVE.get()
        if call is None:
            return None
        return connect_within(call, lambda: dialect.connect(*cargs, **cparams))


def _sqlite_busy_timeout(conn: Any) -> None:
    """Cap SQLite's busy wait at the call's time left (and restore it after)."""
    info = conn.connection.info
    call = _ACTIVE.get()
    if call is not None:
        ms = max(1, int(call.remaining() * 1000))
        conn.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={ms}")
        info[_BUSY_SET] = True
    elif info.pop(_BUSY_SET, False):
        conn.connection.dbapi_connection.execute(
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"
        )
