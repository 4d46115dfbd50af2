"""Engines and schema: SQLite (WAL, durable) as the embedded default, PostgreSQL for many processes.

SQLite writers open their transactions with ``BEGIN IMMEDIATE`` so two
processes never both read a balance and then write it; readers use a plain
``BEGIN``. PostgreSQL writers lock the journal head row instead.

Every engine's connections work under the calls' deadlines
(:mod:`bitcache.store.deadline`). A PostgreSQL URL without
``connect_timeout`` gets :data:`CONNECT_TIMEOUT_S` (libpq would wait for
ever on a host that does not answer), and with ``deadline_s`` every session
gets that ``statement_timeout``, so the server itself gives up a statement
the client has stopped waiting for. Migrations run without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bitcache.errors import InvalidInput, SchemaError, StoreError
from bitcache.store import deadline
from bitcache.store.failures import store_error

_MIGRATIONS = Path(__file__).with_name("migrations")
READ_ONLY = {"bitcache_read_only": True}
CONNECT_TIMEOUT_S = 5
#: Execution option of a write transaction whose commit does not wait for the disk.
DEFER_SYNC = "bitcache_defer_sync"


def sqlite_url(path: str | Path) -> str:
    """The URL of a SQLite database file."""
    return f"sqlite:///{Path(path)}"


# A batch of downloads dirties index pages all over the file (idempotency
# keys, each account's history, file counters). Checkpointing the WAL every
# 16,384 pages (64 MiB) instead of SQLite's 1,000 writes a page that many
# commits dirty back to the database once per checkpoint rather than after
# nearly every commit. (A larger page cache gained nothing measurable.)
SQLITE_CHECKPOINT_PAGES = 16_384


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get("bitcache_read_only", False):
        conn.exec_driver_sql("BEGIN")
        return
    # A write whose caller makes it durable itself (LedgerStore.sync, after releasing
    # the writer lock) commits without waiting for the disk: synchronous=NORMAL.
    sync = "NORMAL" if options.get(DEFER_SYNC, False) else "FULL"
    info = conn.connection.info
    if info.get(DEFER_SYNC) != sync:
        conn.exec_driver_sql(f"PRAGMA synchronous={sync}")
        info[DEFER_SYNC] = sync
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, echo: bool = False, deadline_s: float | None = None) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL with bitcache's settings.

    ``deadline_s``: the ``statement_timeout`` of PostgreSQL sessions (the
    per-call deadline itself is set by the caller's scope, see
    :mod:`bitcache.store.deadline`).
    """
    if not isinstance(url, str) or not url:
        raise InvalidInput("database URL must be a non-empty string")
    statement_s = deadline.check_seconds(deadline_s)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, echo=echo, connect_args={"timeout": 60})
            event.listen(engine, "connect", _sqlite_pragmas)
            deadline.install(engine)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        if url.startswith("postgresql"):
            args = _pg_connect_args(url, statement_s)
            engine = create_engine(url, echo=echo, connect_args=args)
            deadline.install(engine)
            return engine
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot create a database engine: {exc}") from exc
    raise InvalidInput(f"unsupported database URL scheme in {url.split(':', 1)[0]!r}")


def _pg_connect_args(url: str, statement_s: float | None) -> dict[str, object]:
    """libpq parameters bitcache adds to a PostgreSQL URL's own (which win)."""
    try:
        query = make_url(url).query
    except ArgumentError as exc:
        raise InvalidInput(f"malformed database URL: {exc}") from exc
    args: dict[str, object] = {}
    if "connect_timeout" not in query:
        args["connect_timeout"] = CONNECT_TIMEOUT_S
    if statement_s is not None:
        given = query.get("options", "")
        given = given if isinstance(given, str) else " ".join(given)
        timeout = f"-c statement_timeout={max(1, round(statement_s * 1000))}"
        args["options"] = f"{given} {timeout}".strip()
    return args


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revisions() -> set[str]:
    """The newest migration revisions this code knows (one per schema branch)."""
    return set(ScriptDirectory(str(_MIGRATIONS)).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    """The migration revisions the database is at (empty if never migrated)."""
    try:
        with engine.connect().execution_options(**READ_ONLY) as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:  # e.g. a file that cannot be opened, a server that is down
        raise store_error(exc, "cannot read the database schema version") from exc


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` — by default every branch's head (idempotent)."""
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            command.upgrade(_alembic_config(conn), revision)
    except SQLAlchemyError as exc:
        raise store_error(exc, "database migration failed") from exc


def check_schema(engine: Engine) -> None:
    """Refuse a database that is not at this code's schema version."""
    current, expected = current_revisions(engine), head_revisions()
    if current != expected:
        raise SchemaError(
            f"database schema is at {sorted(current) or 'nothing'}, this bitcache needs "
            f"{sorted(expected)}: run `bitcache db upgrade`"
        )
