"""Issue signed tree heads, earnings statements and consistency proofs.

Each call reads one consistent snapshot of the journal (a read transaction,
bounded by the journal size read at its start), so a statement, its proofs
and its tree head always describe the same journal.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.clock import now_us
from bitcache.core.accounts import account_name
from bitcache.core.checks import is_int
from bitcache.errors import InvalidInput, StatementInvalid
from bitcache.statements.statement import (
    SignedTreeHead,
    Statement,
    StatementLine,
    classify,
    sign_statement,
)
from bitcache.store import statements as statements_rows
from bitcache.store import terms as terms_rows
from bitcache.store.ledger import LedgerStore

DEFAULT_PLATFORM = "bitcache"



def _check_period(start: int, end: int) -> None:
    for name, value in (("start", start), ("end", end)):
        if not is_int(value):
            raise InvalidInput(f"period {name} must be an int of microseconds, got {value!r}")
    if start >= end:
        raise InvalidInput(f"period start {start} must be before its end {end}")


def tree_head(
    ledger: LedgerStore, signing_key: Ed25519PrivateKey, *, clock: Callable[[], int] = now_us
) -> SignedTreeHead:
    """The platform's signed tree head over the whole journal as it is now."""
    with ledger.read() as conn:
        size = statements_rows.journal_size(conn)
        root, _ = statements_rows.tree_nodes(conn, size)
    return SignedTreeHead(size, root, clock()).sign(signing_key)


def consistency_proof(
    ledger: LedgerStore, old: SignedTreeHead, new: SignedTreeHead
) -> tuple[bytes, ...]:
    """The proof that ``new``'s journal extends ``old``'s (both issued from this ledger)."""
    if old.tree_size > new.tree_size:
        raise InvalidInput(f"tree head of size {old.tree_size} is after size {new.tree_size}")
    with ledger.read() as conn:
        return statements_rows.consistency_proof(conn, old.tree_size, new.tree_size)


def issue_statement(
    ledger: LedgerStore,
    uploader: str,
    start: int,
    end: int,
    signing_key: Ed25519PrivateKey,
    *,
    platform: str = DEFAULT_PLATFORM,
    clock: Callable[[], int] = now_us,
) -> bytes:
    """The signed statement (a JSON document) of ``uploader`` for ``[start, end)`` µs.

    Its lines are the journal postings to the uploader's payable account;
    it also lists the changes of terms of the files they own or refer
    that were made in the period.
    """
    _check_period(start, end)
    account_name(f"liability:payable:{uploader}")
    with ledger.read() as conn:
        size = statements_rows.journal_size(conn)
        postings = statements_rows.payable_postings(ledger, conn, uploader, start, end, size)
        opening = statements_rows.opening_balance(ledger, conn, uploader, start, size)
        root, proofs = statements_rows.inclusion_proofs(conn, (e.id for e, _ in postings), size)
        changes = terms_rows.changes_of_party(conn, uploader, start, end)
    head = SignedTreeHead(size, root, clock()).sign(signing_key)
    lines = []
    for entry, index in postings:
        facts = classify(entry, index)
        if facts is None:  # the query selects moving entries only
            raise StatementInvalid(f"entry {entry.id} moves no posted money")
        lines.append(StatementLine(entry, index, facts, proofs[entry.id]))
    statement = Statement(platform, uploader, start, end, opening, head, tuple(lines),
                          tuple(changes))
    return sign_statement(statement, signing_key)
