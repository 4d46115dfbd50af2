"""Journal queries behind statements and tree heads.

* The Merkle tree is RFC 6962's over the whole journal: leaf ``i`` is the
  ``entry_hash`` of entry ``i + 1`` (ids are contiguous from 1). It is built
  in one streamed pass over ``(id, entry_hash)`` in id order, keeping only a
  compact range and the proof nodes asked for, so memory stays small and a
  journal of a million entries hashes in seconds.
* A statement's lines are the postings to ``liability:payable:<uploader>``
  in entries that move posted money (``posted``, ``post_pending``,
  ``reversal``) recorded in ``[start, end)``; the opening balance is the sum
  of those postings recorded before ``start``.

Every query is bounded by a tree size, so a statement and its tree head
describe the same journal even while writers append to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Connection, text

from bitcache.core.accounts import payable
from bitcache.core.entries import Entry
from bitcache.errors import InvalidInput, JournalCorrupt
from bitcache.statements import merkle
from bitcache.store import rows
from bitcache.store.ledger import LedgerStore

_CHUNK = 50_000


def journal_size(conn: Connection) -> int:
    """The number of entries in the journal (the id of the newest one)."""
    return int(conn.execute(text("SELECT last_id FROM journal_head WHERE id = 1")).scalar_one())


def journal_leaves(conn: Connection, size: int) -> Iterator[bytes]:
    """Leaf hashes of entries ``1..size`` in order, read in id chunks."""
    leaf = merkle.leaf_hash
    expected = 1
    while expected <= size:
        hi = min(size, expected + _CHUNK - 1)
        found = conn.execute(
            text("SELECT id, entry_hash FROM entries WHERE id BETWEEN :lo AND :hi ORDER BY id"),
            {"lo": expected, "hi": hi},
        )
        for entry_id, entry_hash in found:
            if entry_id != expected:
                raise JournalCorrupt(f"journal entry {expected} is missing (found {entry_id})")
            yield leaf(bytes(entry_hash))
            expected += 1
        if expected <= hi:
            raise JournalCorrupt(f"journal entry {expected} is missing")


def tree_nodes(
    conn: Connection, size: int, wanted: Iterable[merkle.NodeRange] = ()
) -> tuple[bytes, dict[merkle.NodeRange, bytes]]:
    """The root of the tree over the first ``size`` entries, and the wanted nodes."""
    if size > journal_size(conn):
        raise InvalidInput(f"the journal has fewer than {size} entries")
    return merkle.stream_nodes(journal_leaves(conn, size), size, wanted)


def inclusion_proofs(
    conn: Connection, entry_ids: Iterable[int], size: int
) -> tuple[bytes, dict[int, tuple[bytes, ...]]]:
    """The root at ``size`` and, per entry id, its audit path (one pass over the journal)."""
    paths = {i: merkle.inclusion_ranges(i - 1, size) for i in set(entry_ids)}
    root, nodes = tree_nodes(conn, size, (r for path in paths.values() for r in path))
    return root, {i: tuple(nodes[r] for r in path) for i, path in paths.items()}


def consistency_proof(conn: Connection, old_size: int, new_size: int) -> tuple[bytes, ...]:
    """The RFC 6962 consistency proof from the journal of ``old_size`` to ``new_size`` entries."""
    ranges = merkle.consistency_ranges(old_size, new_size)
    _, nodes = tree_nodes(conn, new_size, ranges)
    return tuple(nodes[r] for r in ranges)


def payable_postings(
    ledger: LedgerStore, conn: Connection, uploader: str, start: int, end: int, size: int
) -> list[tuple[Entry, int]]:
    """``(entry, posting index)`` of every statement line, in journal order."""
    account_id = ledger.account_id(conn, payable(uploader))
    found = conn.execute(
        text(
            "SELECT p.entry_id, p.n FROM postings p JOIN entries e ON e.id = p.entry_id "
            "WHERE p.account_id = :a AND e.id <= :size AND e.recorded_at >= :start "
            f"AND e.recorded_at < :end AND e.kind IN {rows.MOVING_SQL} ORDER BY p.entry_id, p.n"
        ),
        {"a": account_id, "size": size, "start": start, "end": end},
    ).all()
    entries = _entries(ledger, conn, sorted({int(r[0]) for r in found}))
    return [(entries[int(eid)], int(n)) for eid, n in found]


def opening_balance(
    ledger: LedgerStore, conn: Connection, uploader: str, start: int, size: int
) -> int:
    """The uploader's posted payable balance (credit-normal msat) from entries before ``start``."""
    account_id = ledger.account_id(conn, payable(uploader))
    total = conn.execute(
        text(
            "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN entries e "
            "ON e.id = p.entry_id WHERE p.account_id = :a AND e.id <= :size "
            f"AND e.recorded_at < :start AND e.kind IN {rows.MOVING_SQL}"
        ),
        {"a": account_id, "size": size, "start": start},
    ).scalar_one()
    return -int(total)


def _entries(ledger: LedgerStore, conn: Connection, ids: Sequence[int]) -> dict[int, Entry]:
    """Entries by id: dense runs read as id ranges, scattered ones one by one."""
    names = ledger.names(conn)
    out: dict[int, Entry] = {}
    for i in range(0, len(ids), 1000):
        part = ids[i : i + 1000]
        if part[-1] - part[0] < 4 * len(part):
            wanted = set(part)
            for e in rows.entries_between(conn, part[0], part[-1], names):
                if e.id in wanted:
                    out[e.id] = e
        else:
            for entry_id in part:
                found = rows.entry_by_id(conn, entry_id, names)
                if found is not None:
                    out[entry_id] = found
    return out
