"""RFC 6962 Merkle trees: published vectors, an independent reference, and properties."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitcache.errors import InvalidInput
from bitcache.statements import merkle

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "rfc6962.json").read_text())
TREE = merkle.MerkleTree.of_data(bytes.fromhex(x) for x in VECTORS["leaves"])
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _h(items: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in items]


# -- an independent reference: RFC 6962 section 2.1, written recursively -----


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = merkle.split_point(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = merkle.split_point(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


DATA = [bytes([i, i * 7 % 256]) for i in range(64)]
BIG = merkle.MerkleTree.of_data(DATA)


# -- published vectors ---------------------------------------------------------


def test_roots_match_the_published_ct_values() -> None:
    assert TREE.root(0).hex() == VECTORS["empty_root"]
    for size, root in enumerate(VECTORS["roots"], 1):
        assert TREE.root(size).hex() == root, size


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}@{c['size']}")
def test_inclusion_vectors_generate_and_verify(case: dict[str, object]) -> None:
    index, size = int(case["index"]), int(case["size"])  # type: ignore[call-overload]
    proof = _h(case["proof"])  # type: ignore[arg-type]
    assert TREE.inclusion_proof(index, size) == proof
    leaf, root = TREE.leaves[index], TREE.root(size)
    assert merkle.verify_inclusion(leaf, index, size, proof, root)
    bad = [
        (index - 1, size, root, leaf, proof),
        (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof),
        (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, merkle.EMPTY_ROOT, leaf, proof),
        (index, size, SOME_HASH, leaf, proof),
        (index, size, root, leaf, [*proof, b""]),
        (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]),
        (index, size, root, leaf, [root, *proof]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        bad.append((index, size, root, leaf, flipped))
    if proof:
        bad.append((index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        bad.append((index, size, root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    for i, s, r, lf, p in bad:
        assert not merkle.verify_inclusion(lf, i, s, p, r), (i, s)


@pytest.mark.parametrize(
    "case", VECTORS["consistency"], ids=lambda c: f"{c['old_size']}-{c['new_size']}"
)
def test_consistency_vectors_generate_and_verify(case: dict[str, object]) -> None:
    m, n = int(case["old_size"]), int(case["new_size"])  # type: ignore[call-overload]
    proof = _h(case["proof"])  # type: ignore[arg-type]
    assert TREE.consistency_proof(m, n) == proof
    r1, r2 = TREE.root(m), TREE.root(n)
    assert merkle.verify_consistency(m, n, r1, r2, proof)
    if not proof:
        return
    bad = [
        (m - 1, n, r1, r2, proof), (m + 1, n, r1, r2, proof), (m ^ 2, n, r1, r2, proof),
        (m, n * 2, r1, r2, proof), (m, n // 2, r1, r2, proof),
        (m, n, b"WrongRoot", r2, proof), (m, n, r1, b"WrongRoot", proof), (m, n, r2, r1, proof),
        (m, n, r1, r2, []), (m, n, r1, r2, [*proof, b""]), (m, n, r1, r2, [*proof, r1]),
        (m, n, r1, r2, [*proof, r2]), (m, n, r1, r2, [b"", *proof]), (m, n, r1, r2, [r1, *proof]),
        (m, n, r1, r2, [r2, *proof]), (m, n, r1, r2, [proof[0], *proof]),
        (m, n, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        bad.append((m, n, r1, r2, flipped))
    for a, b, x, y, p in bad:
        assert not merkle.verify_consistency(a, b, x, y, p), (a, b)


def test_trivial_consistency_cases_follow_rfc9162() -> None:
    r = TREE.root(3)
    assert merkle.verify_consistency(0, 0, r, r, [])
    assert merkle.verify_consistency(0, 5, r, TREE.root(5), [])
    assert not merkle.verify_consistency(1, 1, TREE.root(1), TREE.root(2), [])
    assert not merkle.verify_consistency(2, 1, TREE.root(2), TREE.root(1), [])
    assert not merkle.verify_consistency(1, 1, r, r, [merkle.EMPTY_ROOT])
    assert not merkle.verify_consistency(0, 1, r, r, [merkle.EMPTY_ROOT])


def test_bad_generation_arguments_are_refused() -> None:
    with pytest.raises(InvalidInput, match="outside a tree"):
        merkle.inclusion_ranges(3, 3)
    with pytest.raises(InvalidInput, match="larger than new"):
        merkle.consistency_ranges(5, 4)
    with pytest.raises(InvalidInput, match="non-negative"):
        merkle.inclusion_ranges(-1, 4)
    with pytest.raises(InvalidInput, match="larger than the 8 leaves"):
        TREE.root(9)


# -- against the reference, every tree up to 64 leaves --------------------------


def test_roots_and_audit_paths_equal_the_recursive_definition() -> None:
    for n in range(0, 65):
        assert BIG.root(n) == ref_mth(DATA[:n])
        for m in range(n):
            assert BIG.inclusion_proof(m, n) == ref_path(m, DATA[:n]), (m, n)


def test_every_consistency_proof_verifies_for_all_sizes_up_to_64() -> None:
    roots = [BIG.root(n) for n in range(65)]
    for n in range(1, 65):
        for m in range(1, n + 1):
            proof = BIG.consistency_proof(m, n)
            if m < n:
                assert proof == ref_subproof(m, DATA[:n], True), (m, n)
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
            if m < n:
                assert not merkle.verify_consistency(m, n, roots[m], roots[n - 1], proof)


def test_streaming_in_chunks_gives_the_same_nodes_as_memory() -> None:
    ranges = merkle.inclusion_ranges(37, 61) + merkle.consistency_ranges(13, 61)
    root, nodes = merkle.stream_nodes(iter(BIG.leaves[:61]), 61, ranges)
    assert root == ref_mth(DATA[:61])
    assert [nodes[r] for r in merkle.inclusion_ranges(37, 61)] == ref_path(37, DATA[:61])
    with pytest.raises(InvalidInput, match="expected 61 leaves, got 60"):
        merkle.stream_nodes(iter(BIG.leaves[:60]), 61, ranges)


# -- properties ------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_inclusion_proofs_verify_and_a_flipped_bit_fails(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 64))
    m = data.draw(st.integers(0, n - 1))
    proof = BIG.inclusion_proof(m, n)
    root, leaf = BIG.root(n), BIG.leaves[m]
    assert merkle.verify_inclusion(leaf, m, n, proof, root)
    target = data.draw(st.integers(0, len(proof)))  # == len(proof): flip the leaf itself
    bit = data.draw(st.integers(0, 255))
    if target == len(proof):
        leaf = _flip(leaf, bit)
    else:
        proof[target] = _flip(proof[target], bit)
    assert not merkle.verify_inclusion(leaf, m, n, proof, root)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_consistency_proofs_fail_with_a_flipped_bit(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 64))
    m = data.draw(st.integers(1, n - 1))
    proof = BIG.consistency_proof(m, n)
    target = data.draw(st.integers(0, len(proof) - 1))
    proof[target] = _flip(proof[target], data.draw(st.integers(0, 255)))
    assert not merkle.verify_consistency(m, n, BIG.root(m), BIG.root(n), proof)


def _flip(h: bytes, bit: int) -> bytes:
    raw = bytearray(h)
    raw[bit // 8] ^= 1 << (bit % 8)
    return bytes(raw)
