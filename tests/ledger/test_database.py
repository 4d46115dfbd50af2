"""SQLite connection settings: durable WAL, and the WAL checkpoint the hot path needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bitcache.store.database import (
    SQLITE_CHECKPOINT_PAGES,
    make_engine,
    sqlite_url,
)


def _pragma(conn: Any, name: str) -> object:
    cursor = conn.cursor()
    try:
        cursor.execute(f"PRAGMA {name}")
        return cursor.fetchone()[0]
    finally:
        cursor.close()


def test_every_sqlite_connection_gets_the_settings(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "s.sqlite"))
    connections = [engine.raw_connection() for _ in range(2)]  # two pooled connections
    try:
        for conn in connections:
            assert _pragma(conn, "journal_mode") == "wal"
            assert _pragma(conn, "synchronous") == 2  # FULL: a commit is durable when it returns
            assert _pragma(conn, "wal_autocheckpoint") == SQLITE_CHECKPOINT_PAGES
            assert _pragma(conn, "foreign_keys") == 1
    finally:
        for conn in connections:
            conn.close()
        engine.dispose()
