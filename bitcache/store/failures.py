"""Database failures, classified: retryable (``StoreUnavailable``) or permanent.

One function turns any driver error — raw from the DBAPI driver or wrapped
by SQLAlchemy — into the right :class:`~bitcache.errors.StoreError`:

* PostgreSQL by SQLSTATE: class 08 (connection), 57P01–57P03 (the server is
  shutting down or starting), 25006 (a read-only session: a standby after a
  failover), 40001 and 40P01 (serialization failure, deadlock), 57014
  (statement timeout or cancel) and 53300 (too many connections) are
  :class:`StoreUnavailable`; class 23 and the triggers' errors are
  :class:`ConstraintViolation`; an error without SQLSTATE from a connection
  that broke (the driver's ``OperationalError``) is a lost connection.
* SQLite by result code: busy and locked are :class:`StoreUnavailable`; a
  refused constraint or trigger is :class:`ConstraintViolation`.
* A connection lost while COMMIT was in flight is :class:`OutcomeUnknown`:
  the server may have committed before it went away (a PostgreSQL primary
  that is shut down while it waits for its synchronous standby says so
  itself: "the transaction has already committed locally"). An error that
  proves the commit did not happen (serialization failure, a deferred
  constraint) keeps its own class.
* A call whose deadline passed (see :mod:`bitcache.store.deadline`) is
  :class:`DeadlineExceeded`, or :class:`OutcomeUnknown` if COMMIT was sent.

This module imports no driver: it reads the SQLSTATE (``sqlstate`` on
psycopg 3, ``pgcode`` on psycopg2) and SQLite's ``sqlite_errorcode`` from
the exception, and the PEP 249 class names.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from bitcache.errors import (
    ConstraintViolation,
    DeadlineExceeded,
    OutcomeUnknown,
    StoreError,
    StoreUnavailable,
)

RETRYABLE_SQLSTATES = frozenset(
    {"25006", "40001", "40P01", "53300", "57014", "57P01", "57P02", "57P03"}
)
RETRYABLE_CLASSES = ("08",)
SHUTDOWN_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
# At COMMIT a cancel says the wait for the synchronous standby ended, not that the
# transaction was rolled back ("already committed locally"): the outcome is unknown.
CANCELED = "57014"
SQLITE_BUSY, SQLITE_LOCKED = 5, 6


@dataclass
class Attempt:
    """What a transaction was doing when it failed: the phase and the deadline's state."""

    committing: bool = False
    expired: bool = False


def driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception behind a SQLAlchemy wrapper (or ``exc`` itself)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return exc.orig
    return exc


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE of a driver error, if it has one."""
    orig = driver_error(exc)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) and code else None


def _kinds(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def connection_lost(exc: BaseException) -> bool:
    """The connection broke (no SQLSTATE, class 08, or the server shut it): the server may
    be gone, and a COMMIT in flight may or may not have happened."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = driver_error(exc)
    code = sqlstate(orig)
    if code is not None:
        return code.startswith(RETRYABLE_CLASSES) or code in SHUTDOWN_SQLSTATES
    if getattr(orig, "sqlite_errorcode", None) is not None:
        return False
    return bool(_kinds(orig) & {"OperationalError", "InterfaceError"})


def retryable(exc: BaseException) -> bool:
    """True when the same call may succeed later (see the module docstring)."""
    orig = driver_error(exc)
    code = sqlstate(orig)
    if code is not None:
        return code in RETRYABLE_SQLSTATES or code.startswith(RETRYABLE_CLASSES)
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
    return connection_lost(exc)


def _refused(exc: BaseException) -> bool:
    orig = driver_error(exc)
    code = sqlstate(orig)
    if code is not None:
        return code.startswith("23")
    return "IntegrityError" in _kinds(orig)


def store_error(exc: BaseException, doing: str, attempt: Attempt | None = None) -> StoreError:
    """The classified :class:`StoreError` for driver error ``exc`` met while ``doing``."""
    attempt = attempt or Attempt()
    orig = driver_error(exc)
    if attempt.committing and (
        attempt.expired or connection_lost(exc) or sqlstate(exc) == CANCELED
    ):
        return OutcomeUnknown(
            f"{doing}: the connection was lost after COMMIT was sent, so the write may or may "
            f"not have committed; retry with the same key ({orig})"
        )
    if attempt.expired:
        return DeadlineExceeded(
            f"{doing}: the call's deadline passed; its connection was abandoned and nothing "
            f"was committed ({orig})"
        )
    if _refused(exc):
        return ConstraintViolation(f"{doing}: the database refused the write: {orig}")
    if retryable(exc):
        return StoreUnavailable(f"{doing}: the database is unavailable, try again: {orig}")
    return StoreError(f"{doing}: {orig}")


def reclassify(error: StoreError, attempt: Attempt) -> StoreError:
    """``error`` (already classified, e.g. by the driver helpers) seen in light of ``attempt``.

    A lost connection becomes :class:`DeadlineExceeded` when the deadline had
    passed, or :class:`OutcomeUnknown` when COMMIT had been sent.
    """
    if not isinstance(error, StoreUnavailable) or isinstance(error, OutcomeUnknown):
        return error
    if not (attempt.expired or attempt.committing):
        return error
    cause = error.__cause__
    if cause is None or not (attempt.expired or connection_lost(cause)):
        return error
    return store_error(cause, str(error).split(":", 1)[0], attempt)
