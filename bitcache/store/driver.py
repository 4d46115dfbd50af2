"""Driver-level SQL for the hot paths: positional tuples straight to the DBAPI driver.

SQLAlchemy's ``text()`` parses each statement and builds a parameter dict
per row, and iterating a result wraps every row; on the per-download paths
that costs more than the database itself. These helpers take ``?``
statements (adapted to the driver's paramstyle), pass tuples through, and
fetch all rows at once from the driver's own cursor, inside the caller's
transaction. Driver errors are raised as the classified
:class:`~bitcache.errors.StoreError` (:mod:`bitcache.store.failures`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy import Connection

from bitcache.store.failures import store_error

IN_CHUNK = 500  # values per IN (...) list: well under every driver's parameter limit
#: SQLite's historical limit on the parameters of one statement (newer builds allow more).
SQLITE_MAX_PARAMS = 999


def driver_sql(conn: Connection, sql: str) -> str:
    """Adapt a ``?``-placeholder statement to the driver's paramstyle."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


@contextmanager
def _driver_errors(conn: Connection) -> Iterator[None]:
    try:
        yield
    except conn.dialect.loaded_dbapi.Error as exc:
        raise store_error(exc, "database error") from exc


def fetch_all(conn: Connection, sql: str, params: Sequence[object] = ()) -> list[Any]:
    """Every row of a ``?`` query, as the driver's plain tuples."""
    with _driver_errors(conn):
        cursor = conn.connection.cursor()
        try:
            cursor.execute(driver_sql(conn, sql), tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()


def fetch_in(conn: Connection, sql: str, values: Sequence[object]) -> list[Any]:
    """Rows of ``sql`` (one ``IN ({})`` slot) for the distinct ``values``, each row once.

    PostgreSQL gets the values as one array (``= ANY(?)``: one parameter to
    parse and plan, however many values); other drivers get ``IN`` lists
    of at most :data:`IN_CHUNK` placeholders.
    """
    values = list(dict.fromkeys(values))
    if not values:
        return []
    if conn.dialect.name == "postgresql":
        return fetch_all(conn, sql.replace(" IN ({})", " = ANY(?)"), (list(values),))
    out: list[Any] = []
    for i in range(0, len(values), IN_CHUNK):
        part = tuple(values[i : i + IN_CHUNK])
        out.extend(fetch_all(conn, sql.format(", ".join(["?"] * len(part))), part))
    return out


def fetch_in_each(
    conn: Connection, queries: Sequence[tuple[str, Sequence[object]]]
) -> list[list[Any]]:
    """The rows of several :func:`fetch_in` queries; on PostgreSQL sent together in
    psycopg's pipeline mode, so they cost one round trip instead of one each.

    The rows are read after the pipeline block: its closing Sync brings every
    result back, where a read inside the block would first send a flush request
    and wait for it, and the Sync would then cost a second round trip.
    """
    if conn.dialect.name != "postgresql":
        return [fetch_in(conn, sql, values) for sql, values in queries]
    with _driver_errors(conn):
        pg = _psycopg(conn)
        cursors: list[Any] = []
        try:
            with pg.pipeline():
                for sql, values in queries:
                    distinct = list(dict.fromkeys(values))
                    if not distinct:
                        cursors.append(None)
                        continue
                    cursor = pg.cursor()
                    cursors.append(cursor)
                    cursor.execute(driver_sql(conn, sql.replace(" IN ({})", " = ANY(?)")),
                                   (distinct,))
            return [[] if c is None else list(c.fetchall()) for c in cursors]
        finally:
            for cursor in cursors:
                if cursor is not None:
                    cursor.close()


@contextmanager
def pipelined(conn: Connection, *, when: bool = True) -> Iterator[None]:
    """PostgreSQL: send the block's statements without waiting for each answer (psycopg's
    pipeline mode; a read waits for what was sent before it, the end of the block for
    the rest, and an error surfaces there). Elsewhere, nothing changes.

    Statements inside go through the driver (:func:`run`, the writer's bulk paths); COPY
    cannot, so bulk writes inside use ``INSERT … SELECT FROM unnest(…)`` instead.
    ``when`` False: not pipelined (large batches, whose rows COPY loads faster).
    """
    if not when or conn.dialect.name != "postgresql":
        yield
        return
    with _driver_errors(conn), _psycopg(conn).pipeline():
        yield


def in_pipeline(conn: Connection) -> bool:
    """Whether ``conn`` is inside :func:`pipelined` (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        return False
    return bool(_psycopg(conn).pgconn.pipeline_status)


def _psycopg(conn: Connection) -> Any:
    """The psycopg connection under a PostgreSQL ``Connection``."""
    found = conn.connection.driver_connection
    assert found is not None
    return found


def run(conn: Connection, sql: str, params: Sequence[object] = ()) -> None:
    """Execute one ``?`` statement through the driver, without reading a result."""
    with _driver_errors(conn):
        cursor = conn.connection.cursor()
        try:
            cursor.execute(driver_sql(conn, sql), tuple(params))
        finally:
            cursor.close()


def copy_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    """PostgreSQL's ``COPY … FROM STDIN`` of ``rows`` into ``table`` (the bulk-load path).

    Insert triggers and constraints run as for ``INSERT`` (statement-level
    triggers once per ``COPY``).
    """
    with _driver_errors(conn):
        cursor = conn.connection.cursor()
        try:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()


def execute_many(conn: Connection, sql: str, rows: Sequence[Sequence[object]]) -> None:
    """One ``?`` statement for each row of parameters (nothing when there are none).

    Through SQLAlchemy's driver-level path, so a refused write surfaces as the
    usual ``IntegrityError`` for the ledger's error translation.
    """
    if rows:
        conn.exec_driver_sql(driver_sql(conn, sql), list(rows))


@lru_cache(maxsize=32)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    """A multi-row ``INSERT … VALUES (…), (…)`` of ``rows`` rows (the statements of a few
    sizes, cached as text here and prepared once by the driver's statement cache)."""
    row = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * rows)}"


def insert_rows(conn: Connection, table: str, columns: tuple[str, ...],
                rows: Sequence[tuple[object, ...]]) -> None:
    """Insert ``rows`` into ``table`` with a few multi-row statements, not ``executemany``
    (SQLite's bulk path; through SQLAlchemy's driver-level path, as :func:`execute_many`,
    so a refused write surfaces as the usual ``IntegrityError``).

    ``executemany`` steps the engine once per row, and the driver releases and takes
    back the interpreter lock around each step: in a service whose event loop holds
    the lock, each take waits for the loop to let go, so a flush of 64 charges (256
    rows) cost several times its own CPU and up to a hundred milliseconds and more in
    lock hand-overs (docs/benchmarks.md, "The gate's CPU"). Chunks are powers of two of
    at most ``SQLITE_MAX_PARAMS`` parameters (128 postings, 64 entries): as many full
    chunks as fit, then one per binary digit of the rest — 2 statements for a flush's
    192 postings, 1 for its 64 entries — of at most 8 shapes a table.
    """
    width = len(columns)
    most = 1 << ((SQLITE_MAX_PARAMS // width).bit_length() - 1)
    start, total = 0, len(rows)
    while start < total:
        size = min(most, 1 << ((total - start).bit_length() - 1))
        values = tuple(chain.from_iterable(rows[start:start + size]))
        conn.exec_driver_sql(driver_sql(conn, _insert_sql(table, columns, size)), values)
        start += size
