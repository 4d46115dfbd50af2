"""Reconcile's row encoder writes the journal's canonical entry content, for any entry.

The ledger hashes an entry's content with :func:`bitcache.core.entries.content_bytes`
(from an ``EntryRequest``); reconcile re-hashes the stored rows with
:class:`~bitcache.reconciliation.journal_audit.ContentEncoder`, which writes the
same layout from row tuples with each account's and file hash's text cached.
If the two ever differ, reconcile reports intact journals as tampered, or
misses tampering. Hypothesis draws entries of every shape: free text with
the layout's separators and non-ASCII characters, every kind, absent and
extreme numbers, repeated accounts and file hashes (the caches' hits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from bitcache.core.entries import EntryKind, EntryRequest, Posting, content_bytes, content_hash
from bitcache.core.entrymeta import EntryMeta, encode_meta
from bitcache.core.filehash import FileHash
from bitcache.core.journal import GENESIS_HASH, chain_hash
from bitcache.core.pricing import MAX_FILE_SIZE, MAX_RATE, Rate
from bitcache.reconciliation.journal_audit import ContentEncoder, JournalAudit
from bitcache.reconciliation.report import Check, Findings
from bitcache.store.reconcile import JournalExtent

I64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["", "|", "3:x,", "-;", "a|b,c;d:e", "mémo ✓ 💸"]
)
NAMES = st.lists(TEXT.filter(bool), min_size=1, max_size=6, unique=True)
FILES = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=3)
SIZES = st.none() | st.integers(min_value=0, max_value=MAX_FILE_SIZE)
RATES = st.none() | st.builds(
    Rate, st.sampled_from(["EUR", "USD", "JPY"]),
    st.fractions(min_value=Fraction(1, 10**9), max_value=MAX_RATE, max_denominator=10**30))
METAS = st.none() | st.builds(
    EntryMeta, st.permutations("upr").flatmap(lambda p: st.integers(1, 3).map(
        lambda n: "".join(p[:n]))), SIZES, SIZES, RATES)


@st.composite
def requests(draw: st.DrawFn) -> tuple[EntryRequest, dict[int, str]]:
    """An entry request (content only, not validated) and the account names by id."""
    names = draw(NAMES)
    files = draw(FILES)
    leg = st.tuples(st.sampled_from(names), I64, st.none() | st.sampled_from(files))
    legs = draw(st.lists(leg, max_size=8))
    postings = tuple(Posting(a, n, None if f is None else FileHash(f)) for a, n, f in legs)
    request = EntryRequest(
        draw(TEXT), postings, draw(st.sampled_from(EntryKind)), draw(st.none() | I64),
        draw(st.none() | I64), draw(TEXT), draw(METAS),
    )
    return request, dict(enumerate(names, start=7))


def rows_of(
    entry_id: int, request: EntryRequest, names: dict[int, str]
) -> list[tuple[object, ...]]:
    """The postings as stored rows: ``(entry_id, account_id, amount, file_hash)``."""
    ids = {name: i for i, name in names.items()}
    return [(entry_id, ids[p.account], p.amount, p.file_hash) for p in request.postings]


@given(requests())
def test_the_row_encoder_writes_the_canonical_bytes(
    drawn: tuple[EntryRequest, dict[int, str]],
) -> None:
    request, names = drawn
    encoder = ContentEncoder(names)
    for _ in range(2):  # the second pass reads the caches
        got = encoder.content(request.key, request.kind.value, request.ref, request.expires_at,
                              request.memo, rows_of(1, request, names), meta_text(request))
        assert got == content_bytes(request)
        assert hashlib.sha256(got).digest() == content_hash(request)


def meta_text(request: EntryRequest) -> str | None:
    """The ``meta`` column of a request's entry."""
    return None if request.meta is None else encode_meta(request.meta)


def _audit(journal: Sequence[tuple[EntryRequest, dict[int, str]]], memo_of: int | None) -> Findings:
    """Chain ``journal`` as the ledger does, store it as rows (entry ``memo_of``'s memo changed
    after hashing, if given), and run the journal pass over the rows."""
    names = {i: n for _, ns in journal for i, n in ns.items()}
    prev, entries, postings = GENESIS_HASH, [], []
    for entry_id, (request, ns) in enumerate(journal, start=1):
        content = content_hash(request)
        recorded_at = 1_700_000_000_000_000 + entry_id
        entry_hash = chain_hash(content, entry_id, recorded_at, prev)
        memo = request.memo + "!" if entry_id == memo_of else request.memo
        entries.append((entry_id, request.key, request.kind.value, request.ref,
                        request.expires_at, memo, recorded_at, content, prev, entry_hash,
                        meta_text(request), 1 if request.meta is None else 2))
        postings += rows_of(entry_id, request, ns)
        prev = entry_hash
    findings = Findings()
    audit = JournalAudit(names, findings)
    audit.feed(entries, postings)
    n = len(journal)
    audit.finish([], JournalExtent(n, prev, n, n, n))  # no accounts: balances are not checked
    return findings


@st.composite
def journals(draw: st.DrawFn) -> list[tuple[EntryRequest, dict[int, str]]]:
    """A few entries whose account ids do not collide across entries."""
    out = []
    for n in range(draw(st.integers(min_value=1, max_value=5))):
        request, names = draw(requests())
        out.append((request, {100 * n + i: name for i, name in names.items()}))
    return out


@given(journals(), st.data())
def test_the_journal_pass_accepts_the_ledger_chain_and_names_a_changed_memo(
    journal: list[tuple[EntryRequest, dict[int, str]]], data: st.DataObject
) -> None:
    assert _audit(journal, None).count[Check.HASH_CHAIN] == 0
    changed = data.draw(st.integers(min_value=1, max_value=len(journal)))
    listed = _audit(journal, changed).listed[Check.HASH_CHAIN]
    assert [d.subject for d in listed] == [f"entry {changed}"]
