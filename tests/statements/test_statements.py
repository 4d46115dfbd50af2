"""Statements issued from a ledger verify offline; every kind of tampering is named."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.core.entries import EntryKind, EntryRequest, Posting, content_hash
from bitcache.core.filehash import FileHash
from bitcache.core.journal import chain_hash
from bitcache.errors import InvalidInput, StatementInvalid, UnknownAccount
from bitcache.services import statements as service
from bitcache.statements import merkle
from bitcache.statements.statement import (
    LineKind,
    anchor_payload,
    entry_json,
    parse_anchor,
    verify_consistency,
)
from bitcache.statements.verify import verify_statement
from bitcache.store import statements as statements_rows
from bitcache.store.ledger import LedgerStore
from tests.statements.conftest import (
    FILE_A,
    FILE_B,
    TXID,
    Clock,
    Journal,
    build_history,
    download,
)

Doc = dict[str, Any]


def _issue(j: Journal, uploader: str = "carol") -> bytes:
    return service.issue_statement(j.store, uploader, *j.period, j.key, platform="example")


def _public(j: Journal) -> bytes:
    return j.key.public_key().public_bytes_raw()


def test_a_statement_verifies_offline_with_only_the_public_key(journal: Journal) -> None:
    document = _issue(journal)
    verified = verify_statement(document, _public(journal))
    s, summary = verified.statement, verified.summary
    assert (s.platform, s.uploader, s.tree_head.tree_size) == ("example", "carol", 13)
    kinds = [line.facts.kind for line in s.lines]
    assert kinds == [LineKind.DOWNLOAD] * 6 + [LineKind.REVERSAL, LineKind.ADJUSTMENT,
                                                LineKind.PAYOUT]
    files = {f.file_hash.hex(): (f.downloads, f.earned_msat) for f in summary.files}
    assert files == {FILE_A: (3, 2_400), FILE_B: (2, 1_600)}  # dl-wrong reversed: net zero
    assert [(p.txid, p.amount_msat) for p in summary.payouts] == [(TXID, 3_000)]
    assert (summary.opening_msat, summary.earned_msat, summary.adjusted_msat) == (800, 4_000, -100)
    assert summary.closing_msat == -journal.store.balance("liability:payable:carol").posted


def test_the_statement_is_scoped_to_the_uploader_and_period(journal: Journal) -> None:
    dave = verify_statement(_issue(journal, "dave"), _public(journal))
    assert [f.earned_msat for f in dave.summary.files] == [800]
    start, _ = journal.period
    empty = service.issue_statement(journal.store, "carol", start - 10, start - 5, journal.key)
    assert verify_statement(empty, _public(journal)).statement.lines == ()
    with pytest.raises(UnknownAccount):
        service.issue_statement(journal.store, "nobody", *journal.period, journal.key)
    with pytest.raises(InvalidInput, match="before its end"):
        service.issue_statement(journal.store, "carol", start, start, journal.key)


def _tampered(document: bytes, change: Callable[[Doc], object]) -> bytes:
    doc = json.loads(document)
    change(doc)
    return json.dumps(doc).encode()


def _flip_hex(value: str) -> str:
    return ("0" if value[0] != "0" else "1") + value[1:]


def _rehash_entry(doc: Doc, n: int) -> None:
    """Change line n's entry memo AND recompute its entry hash (a forged entry)."""
    entry = doc["lines"][n]["entry"]
    entry["memo"] = "forged"
    postings = tuple(Posting(p["account"], p["amount"], FileHash(bytes.fromhex(p["file_hash"]))
                             if p["file_hash"] else None) for p in entry["postings"])
    content = content_hash(EntryRequest(entry["key"], postings, EntryKind(entry["kind"]),
                                        entry["ref"], entry["expires_at"], entry["memo"]))
    entry["entry_hash"] = chain_hash(content, entry["id"], entry["recorded_at"],
                                     bytes.fromhex(entry["prev_hash"])).hex()


def _set(path: list[Any], value: Callable[[Any], Any]) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        node: Any = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value(node[path[-1]])
    return change


TAMPERING = {
    "amount changed": (_set(["lines", 1, "amount_msat"], lambda v: v + 1),
                       r"line 2 \(entry 4\): amount_msat says 801 but"),
    "file hash changed": (_set(["lines", 1, "file_hash"], lambda v: FILE_A),
                          r"line 2 \(entry 4\): file_hash says aaaa"),
    "posting changed in the disclosed entry": (
        _set(["lines", 2, "entry", "postings", 1, "amount"], lambda v: v - 1),
        r"line 3 entry: entry 5 does not hash to its entry hash"),
    "forged entry with a consistent hash": (lambda d: _rehash_entry(d, 0),
                                            r"line 1 \(entry 3\): the inclusion proof does not"),
    "proof altered": (_set(["lines", 3, "proof", 0], _flip_hex),
                      r"line 4 \(entry 6\): the inclusion proof does not lead"),
    "proof shortened": (_set(["lines", 3, "proof"], lambda p: p[:-1]),
                        r"line 4 \(entry 6\): the inclusion proof"),
    "payout txid changed": (_set(["lines", 8, "txid"], lambda t: "00" * 32),
                            r"line 9 \(entry 13\): txid says '0000"),
    "line kind changed": (_set(["lines", 7, "kind"], lambda k: "download"),
                          r"line 8 \(entry 11\): kind says download but .* adjustment"),
    "line removed from the middle": (lambda d: d["lines"].pop(2), r"line 3: is numbered 4"),
    "line removed from the end": (lambda d: d["lines"].pop(), r"payouts: the statement lists 1"),
    "file total changed": (_set(["files", 0, "downloads"], lambda v: v + 1),
                           r"files: item 1 says .*\"downloads\": 4"),
    "closing balance changed": (_set(["totals", "closing_msat"], lambda v: v + 1),
                                r"totals: closing_msat says"),
    "signature altered": (_set(["signature"], _flip_hex),
                          r"statement's signature does not verify"),
    "tree head signature altered": (_set(["tree_head", "signature"], _flip_hex),
                                    r"tree head of size 13 does not verify"),
    "tree head root altered": (_set(["tree_head", "root_hash"], _flip_hex),
                               r"tree head of size 13 does not verify"),
    "period widened": (_set(["period", "start"], lambda v: v - 1),
                       r"statement's signature does not verify"),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_a_tampered_statement_fails_naming_the_problem(journal: Journal, name: str) -> None:
    change, message = TAMPERING[name]
    bad = _tampered(_issue(journal), change)
    with pytest.raises(StatementInvalid, match=message):
        verify_statement(bad, _public(journal))


def test_a_renumbered_removal_with_fixed_totals_still_fails_on_the_signature(
    journal: Journal,
) -> None:
    def remove_download(doc: Doc) -> None:
        del doc["lines"][0]
        for n, line in enumerate(doc["lines"], 1):
            line["n"] = n
        doc["files"][0]["downloads"] -= 1
        doc["files"][0]["earned_msat"] -= 800
        for key in ("earned_msat", "closing_msat"):
            doc["totals"][key] -= 800

    with pytest.raises(StatementInvalid, match="statement's signature does not verify"):
        verify_statement(_tampered(_issue(journal), remove_download), _public(journal))


def test_another_platform_key_or_garbage_is_refused(journal: Journal) -> None:
    other = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32).public_key()
    with pytest.raises(StatementInvalid, match="tree head of size 13 does not verify"):
        verify_statement(_issue(journal), other)
    for junk, message in ((b"{", "not a valid JSON"), (b"[]", "must be a JSON object"),
                          (b'{"amount": 1.5}', "non-integer"), (b"{}", "statement: missing")):
        with pytest.raises(StatementInvalid, match=message):
            verify_statement(junk, _public(journal))


def test_lines_carry_entries_that_match_the_journal(journal: Journal) -> None:
    doc = json.loads(_issue(journal))
    for line in doc["lines"]:
        entry = journal.store.entry(line["entry"]["id"])
        assert line["entry"] == json.loads(json.dumps(entry_json(entry)))


def test_the_streamed_tree_equals_the_tree_over_entry_hashes(journal: Journal) -> None:
    hashes = [e.entry_hash for e in journal.store.entries()]
    tree = merkle.MerkleTree.of_data(hashes)
    with journal.store.read() as conn:
        root, proofs = statements_rows.inclusion_proofs(conn, [1, 7, 13], 13)
        assert root == tree.root() == statements_rows.tree_nodes(conn, 13)[0]
        assert statements_rows.tree_nodes(conn, 5)[0] == tree.root(5)
        proof = statements_rows.consistency_proof(conn, 5, 13)
        assert proof == tuple(tree.consistency_proof(5, 13))
        with pytest.raises(InvalidInput, match="fewer than 14"):
            statements_rows.tree_nodes(conn, 14)
    assert {i: list(p) for i, p in proofs.items()} == {
        i: tree.inclusion_proof(i - 1) for i in (1, 7, 13)
    }


def test_tree_heads_of_a_growing_journal_are_consistent(journal: Journal) -> None:
    store, key = journal.store, journal.key
    old = service.tree_head(store, key, clock=lambda: 1)
    store.post("later-1", download(FILE_A))
    mid = service.tree_head(store, key, clock=lambda: 2)
    store.post("later-2", download(FILE_B))
    new = service.tree_head(store, key, clock=lambda: 3)
    public = key.public_key()
    for a, b in ((old, mid), (mid, new), (old, new), (old, old)):
        a.verify(public)
        b.verify(public)
        verify_consistency(a, b, service.consistency_proof(store, a, b))
    with pytest.raises(StatementInvalid, match="newer than"):
        verify_consistency(new, old, ())
    assert parse_anchor(anchor_payload(new)) == (15, new.root_hash)
    assert len(anchor_payload(new)) <= 80 and anchor_payload(new)[:4] == b"BCH1"


def test_a_journal_rewritten_in_the_middle_fails_the_consistency_check(
    make_db_url: Callable[[], str],
) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    stores = [LedgerStore.open(make_db_url(), clock=Clock()) for _ in range(3)]
    try:
        original, replayed, rewritten = stores
        build_history(original)
        build_history(replayed)  # the same history, byte for byte: the control case
        build_history(rewritten, rewrite_at=2)  # one download in the middle changed
        old = service.tree_head(original, key, clock=lambda: 1)
        for store in (replayed, rewritten):
            store.post("later", download(FILE_A))
        good = service.tree_head(replayed, key, clock=lambda: 2)
        verify_consistency(old, good, service.consistency_proof(replayed, old, good))
        bad = service.tree_head(rewritten, key, clock=lambda: 2)
        proof = service.consistency_proof(rewritten, old, bad)
        with pytest.raises(StatementInvalid, match="does not extend the journal of size 13"):
            verify_consistency(old, bad, proof)
    finally:
        for store in stores:
            store.close()
