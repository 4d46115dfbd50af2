"""The event outbox and its webhook endpoints' cursors: tables and SQL.

* ``events`` — one row per payout or deposit event, written by the store
  function that makes the state change, in the same transaction. Rows are
  never changed or deleted. Every write to this table happens inside a
  ledger write transaction, which holds the writer lock (see
  :mod:`bitcache.store.transactions`), so ids are handed out and committed
  in the same order: a reader never sees id 7 before id 6 is committed.
* ``event_endpoints`` — one row per webhook URL: the last event id it
  accepted (events go to each endpoint in id order), the retry state of
  the next one (attempts so far, when to try again, the last error), and
  the lease of the delivery run sending to it: one run at a time per
  endpoint, so two runs never send its events side by side.

Every function takes a connection the caller opened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Text, text
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from bitcache.errors import UnknownEvent

#: BIGINT on PostgreSQL; INTEGER on SQLite, where only an INTEGER PRIMARY KEY counts up.
EVENT_ID = BigInteger().with_variant(Integer(), "sqlite")


class EventRow(SQLModel, table=True):
    """An event as written: its kind, what it concerns, its JSON data, when (µs)."""

    __tablename__ = "events"

    id: int | None = Field(default=None, sa_column=Column(EVENT_ID, primary_key=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    subject: str = Field(sa_column=Column(String(200), nullable=False))
    data: str = Field(sa_column=Column(Text, nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class EventEndpointRow(SQLModel, table=True):
    """A webhook URL's cursor: events up to ``delivered_id`` were accepted."""

    __tablename__ = "event_endpoints"

    url: str = Field(sa_column=Column(String(500), primary_key=True))
    delivered_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    attempts: int = Field(sa_column=Column(Integer, nullable=False))
    next_attempt_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_error: str = Field(sa_column=Column(String(500), nullable=False))
    lease_owner: str = Field(sa_column=Column(String(64), nullable=False))
    lease_until: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event read back: ``data`` is the decoded JSON object."""

    id: int
    kind: str
    subject: str
    data: dict[str, Any]
    created_at: int


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A webhook endpoint's delivery state (``attempts`` at the event after ``delivered_id``)."""

    url: str
    delivered_id: int
    attempts: int
    next_attempt_at: int
    last_error: str


def append(conn: Connection, kind: str, subject: str, data: Mapping[str, Any], now: int) -> int:
    """Write an event in the caller's transaction; its id."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":"))
    found = conn.execute(
        text(
            "INSERT INTO events (kind, subject, data, created_at) VALUES (:k, :s, :d, :now) "
            "RETURNING id"
        ),
        {"k": kind, "s": subject[:200], "d": body, "now": now},
    )
    return int(found.scalar_one())


_EVENT = "SELECT id, kind, subject, data, created_at FROM events"


def _event(row: Any) -> StoredEvent:
    return StoredEvent(int(row[0]), str(row[1]), str(row[2]), json.loads(row[3]), int(row[4]))


def events_after(conn: Connection, after: int, limit: int) -> list[StoredEvent]:
    """Up to ``limit`` events with ids above ``after``, in id order."""
    rows = conn.execute(
        text(f"{_EVENT} WHERE id > :a ORDER BY id LIMIT :n"), {"a": after, "n": limit}
    )
    return [_event(r) for r in rows]


def newest_events(conn: Connection, limit: int, kind: str | None = None) -> list[StoredEvent]:
    """The newest ``limit`` events (of ``kind`` if given), oldest of them first."""
    where, args = ("WHERE kind = :k ", {"k": kind}) if kind else ("", {})
    rows = conn.execute(
        text(f"{_EVENT} {where}ORDER BY id DESC LIMIT :n"), {**args, "n": limit}
    ).all()
    return [_event(r) for r in reversed(rows)]


def event(conn: Connection, event_id: int) -> StoredEvent:
    """One event; UnknownEvent if no event has that id."""
    row = conn.execute(text(f"{_EVENT} WHERE id = :i"), {"i": event_id}).first()
    if row is None:
        raise UnknownEvent(f"no event has id {event_id}")
    return _event(row)


def last_event_id(conn: Connection) -> int:
    return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar_one())


_ENDPOINT = "SELECT url, delivered_id, attempts, next_attempt_at, last_error FROM event_endpoints"


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(str(row[0]), int(row[1]), int(row[2]), int(row[3]), str(row[4]))


def endpoints(conn: Connection) -> list[Endpoint]:
    """Every endpoint that was ever delivered to, by URL."""
    return [_endpoint(r) for r in conn.execute(text(f"{_ENDPOINT} ORDER BY url"))]


def endpoint(conn: Connection, url: str, now: int) -> Endpoint:
    """The endpoint of ``url``, created (from the first event on) if new."""
    row = conn.execute(text(f"{_ENDPOINT} WHERE url = :u"), {"u": url}).first()
    if row is not None:
        return _endpoint(row)
    conn.execute(
        text(
            "INSERT INTO event_endpoints (url, delivered_id, attempts, next_attempt_at, "
            "last_error, lease_owner, lease_until, updated_at) VALUES (:u, 0, 0, 0, '', '', 0, "
            ":now)"
        ),
        {"u": url, "now": now},
    )
    return Endpoint(url, 0, 0, 0, "")


def claim(conn: Connection, url: str, owner: str, until: int, now: int) -> bool:
    """Take (or extend) the lease of ``url`` for ``owner`` until ``until``; False while
    another run's lease has not expired."""
    done = conn.execute(
        text(
            "UPDATE event_endpoints SET lease_owner = :o, lease_until = :t "
            "WHERE url = :u AND (lease_owner = :o OR lease_until < :now)"
        ),
        {"o": owner, "t": until, "u": url, "now": now},
    )
    return done.rowcount == 1


def release(conn: Connection, url: str, owner: str) -> None:
    """Give up ``owner``'s lease of ``url`` (if it still holds it)."""
    conn.execute(
        text(
            "UPDATE event_endpoints SET lease_owner = '', lease_until = 0 "
            "WHERE url = :u AND lease_owner = :o"
        ),
        {"u": url, "o": owner},
    )


def mark_delivered(
    conn: Connection, url: str, event_id: int, owner: str, until: int, now: int
) -> bool:
    """``url`` accepted ``event_id``: move its cursor there, forget the retry state and
    extend ``owner``'s lease; False (nothing changed) if ``owner`` lost the lease."""
    done = conn.execute(
        text(
            "UPDATE event_endpoints SET delivered_id = CASE WHEN delivered_id < :i THEN :i "
            "ELSE delivered_id END, attempts = 0, next_attempt_at = 0, last_error = '', "
            "lease_until = :t, updated_at = :now WHERE url = :u AND lease_owner = :o"
        ),
        {"i": event_id, "t": until, "now": now, "u": url, "o": owner},
    )
    return done.rowcount == 1


def mark_failed(
    conn: Connection, url: str, error: str, next_attempt_at: int, owner: str, now: int
) -> None:
    """Count a failed attempt at ``url``'s next event and when to try again (if ``owner``
    still holds the endpoint's lease)."""
    conn.execute(
        text(
            "UPDATE event_endpoints SET attempts = attempts + 1, next_attempt_at = :n, "
            "last_error = :e, updated_at = :now WHERE url = :u AND lease_owner = :o"
        ),
        {"n": next_attempt_at, "e": error[:500], "now": now, "u": url, "o": owner},
    )


def rewind(conn: Connection, url: str, before: int, now: int) -> None:
    """Deliver again from event ``before`` + 1 on (never forward), at once, attempts reset."""
    conn.execute(
        text(
            "UPDATE event_endpoints SET delivered_id = CASE WHEN delivered_id > :b THEN :b "
            "ELSE delivered_id END, attempts = 0, next_attempt_at = 0, last_error = '', "
            "updated_at = :now WHERE url = :u"
        ),
        {"b": before, "now": now, "u": url},
    )
