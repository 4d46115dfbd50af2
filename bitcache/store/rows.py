"""Reading journal rows back into core objects (the only SQL for entry reads)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, text

from bitcache.core.entries import MOVING_KINDS, Entry, EntryKind, Posting
from bitcache.core.entrymeta import EntryMeta, decode_meta
from bitcache.core.filehash import FileHash
from bitcache.errors import InvalidMetadata, JournalCorrupt
from bitcache.store.driver import fetch_in

#: SQL list of the kinds in :data:`~bitcache.core.entries.MOVING_KINDS`, for ``kind IN …``.
MOVING_SQL = "(" + ", ".join(sorted(f"'{k.value}'" for k in MOVING_KINDS)) + ")"

_ENTRY_COLUMNS = (
    "id, key, kind, ref, expires_at, memo, recorded_at, content_hash, prev_hash, entry_hash, "
    "meta, content_version"
)


def account_names(conn: Connection) -> dict[int, str]:
    """Every account id with its name."""
    return {int(i): str(n) for i, n in conn.execute(text("SELECT id, name FROM accounts"))}


def _postings_by_entry(
    conn: Connection, lo: int, hi: int, names: dict[int, str]
) -> dict[int, list[Posting]]:
    rows = conn.execute(
        text(
            "SELECT entry_id, account_id, amount, file_hash FROM postings "
            "WHERE entry_id BETWEEN :lo AND :hi ORDER BY entry_id, n"
        ),
        {"lo": lo, "hi": hi},
    ).all()
    out: dict[int, list[Posting]] = defaultdict(list)
    for entry_id, account_id, amount, fh in rows:
        name = names.get(account_id)
        if name is None:  # opened since the map was read (by us or another process)
            names.update(account_names(conn))
            name = names.get(account_id) or f"?unknown-account-{account_id}"
        out[entry_id].append(Posting(name, int(amount), FileHash(bytes(fh)) if fh else None))
    return out


def _entry(row: Sequence[object], postings: list[Posting]) -> Entry:
    (eid, key, kind, ref, expires_at, memo, recorded_at, ch, ph, eh, meta, version) = row
    return Entry(
        id=int(eid),  # type: ignore[call-overload]
        key=str(key),
        kind=EntryKind(kind),
        postings=tuple(postings),
        ref=None if ref is None else int(ref),  # type: ignore[call-overload]
        expires_at=None if expires_at is None else int(expires_at),  # type: ignore[call-overload]
        memo=str(memo),
        recorded_at=int(recorded_at),  # type: ignore[call-overload]
        content_hash=bytes(ch),  # type: ignore[call-overload]
        prev_hash=bytes(ph),  # type: ignore[call-overload]
        entry_hash=bytes(eh),  # type: ignore[call-overload]
        meta=None if meta is None else _meta(int(eid), meta),  # type: ignore[call-overload]
        content_version=int(version),  # type: ignore[call-overload]
    )


def _meta(entry_id: int, text: object) -> EntryMeta:
    """The stored metadata of an entry; a row that does not decode is a corrupt journal."""
    try:
        return decode_meta(text)
    except InvalidMetadata as exc:
        raise JournalCorrupt(f"entry {entry_id}: stored metadata does not decode: {exc}") from exc


def entries_between(conn: Connection, lo: int, hi: int, names: dict[int, str]) -> list[Entry]:
    """Entries with ``lo <= id <= hi``, in id order, with their postings."""
    postings = _postings_by_entry(conn, lo, hi, names)
    rows = conn.execute(
        text(f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE id BETWEEN :lo AND :hi ORDER BY id"),
        {"lo": lo, "hi": hi},
    )
    return [_entry(tuple(r), postings.get(int(r[0]), [])) for r in rows]


def iter_entries(
    conn: Connection, names: dict[int, str], *, start: int = 1, chunk: int = 5000
) -> Iterator[Entry]:
    """Every entry from ``start`` on, read in id chunks (constant memory)."""
    last = conn.execute(text("SELECT coalesce(max(id), 0) FROM entries")).scalar_one()
    lo = start
    while lo <= last:
        hi = lo + chunk - 1
        yield from entries_between(conn, lo, hi, names)
        lo = hi + 1


def entry_by_id(conn: Connection, entry_id: int, names: dict[int, str]) -> Entry | None:
    """One entry, or None."""
    found = entries_between(conn, entry_id, entry_id, names)
    return found[0] if found else None


KEYS_SQL = "SELECT key, id, content_hash FROM entries WHERE key IN ({})"


def entry_ids_by_keys(conn: Connection, keys: Sequence[str]) -> dict[str, tuple[int, bytes]]:
    """For the keys that exist: key -> (entry id, content hash)."""
    return key_map(fetch_in(conn, KEYS_SQL, keys))


def key_map(found: Sequence[Sequence[Any]]) -> dict[str, tuple[int, bytes]]:
    """Rows of :data:`KEYS_SQL` as key -> (entry id, content hash)."""
    return {str(key): (int(eid), bytes(ch)) for key, eid, ch in found}
