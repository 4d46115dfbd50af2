"""RFC 6962 Merkle hash trees: tree heads, inclusion and consistency proofs.

The tree is Certificate Transparency's (RFC 6962 section 2.1): a leaf hashes
as ``SHA-256(0x00 ‖ data)``, an interior node as ``SHA-256(0x01 ‖ left ‖
right)``, and the tree over ``n`` leaves splits at ``k``, the largest power
of two smaller than ``n``. The empty tree's hash is ``SHA-256("")``.

Proofs are lists of node hashes. Generation follows RFC 6962's ``PATH`` and
``SUBPROOF`` definitions, expressed as the leaf *ranges* ``[lo, hi)`` of the
nodes a proof needs, so the same proof shape can be filled either from leaves
in memory (:class:`MerkleTree`) or from leaves streamed once in order
(:func:`stream_nodes`, for a journal of millions of entries). Verification
follows RFC 9162 sections 2.1.3.2 and 2.1.4.2, which need no tree at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bitcache.core.checks import is_int
from bitcache.errors import InvalidInput

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: A node of the tree, named by the leaves it covers: ``[lo, hi)``.
NodeRange = tuple[int, int]


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 ‖ data)``: the hash of a leaf."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 ‖ left ‖ right)``: the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n`` ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(name: str, value: object) -> int:
    if not is_int(value) or value < 0:
        raise InvalidInput(f"{name} must be a non-negative int, got {value!r}")
    return value


# -- proof shapes (RFC 6962 section 2.1.1 and 2.1.2) -------------------------


def inclusion_ranges(index: int, size: int) -> list[NodeRange]:
    """The nodes of the audit path ``PATH(index, D[size])``, leaf side first."""
    _check_size("leaf index", index)
    _check_size("tree size", size)
    if index >= size:
        raise InvalidInput(f"leaf index {index} is outside a tree of {size} leaves")
    out: list[NodeRange] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[NodeRange]:
    """The nodes of ``PROOF(old_size, D[new_size])`` (empty when trivially consistent)."""
    _check_size("old tree size", old_size)
    _check_size("new tree size", new_size)
    if old_size > new_size:
        raise InvalidInput(f"old tree size {old_size} is larger than new tree size {new_size}")
    if old_size in (0, new_size):
        return []
    out: list[NodeRange] = []
    m, lo, hi, complete = old_size, 0, new_size, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            m, lo, complete = m - k, lo + k, False
    if not complete:
        out.append((lo, hi))
    out.reverse()
    return out


# -- trees in memory ---------------------------------------------------------


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (the empty tree hashes to ``SHA-256("")``)."""
    root, _ = stream_nodes(leaf_hashes, len(leaf_hashes), ())
    return root


@dataclass(frozen=True, slots=True)
class MerkleTree:
    """A tree over leaf hashes held in memory: roots and proofs for any size ≤ ``len``."""

    leaves: tuple[bytes, ...]

    @classmethod
    def of_data(cls, items: Iterable[bytes]) -> MerkleTree:
        """The tree whose leaves are the given data (hashed with :func:`leaf_hash`)."""
        return cls(tuple(leaf_hash(d) for d in items))

    def _size(self, size: int | None) -> int:
        n = len(self.leaves) if size is None else _check_size("tree size", size)
        if n > len(self.leaves):
            raise InvalidInput(f"tree size {n} is larger than the {len(self.leaves)} leaves held")
        return n

    def _fill(self, ranges: list[NodeRange], size: int) -> list[bytes]:
        _, nodes = stream_nodes(self.leaves[:size], size, ranges)
        return [nodes[r] for r in ranges]

    def root(self, size: int | None = None) -> bytes:
        """The tree head hash over the first ``size`` leaves (all by default)."""
        return root_of(self.leaves[: self._size(size)])

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of ``size`` leaves."""
        n = self._size(size)
        return self._fill(inclusion_ranges(index, n), n)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The proof that the tree of ``old_size`` leaves is a prefix of the larger one."""
        n = self._size(new_size)
        return self._fill(consistency_ranges(old_size, n), n)


# -- streaming ---------------------------------------------------------------


def _is_perfect(lo: int, hi: int) -> bool:
    width = hi - lo
    return width > 0 and width & (width - 1) == 0 and lo % width == 0


def stream_nodes(
    leaf_hashes: Iterable[bytes], size: int, wanted: Iterable[NodeRange]
) -> tuple[bytes, dict[NodeRange, bytes]]:
    """One pass over ``size`` leaf hashes in order: the root and the wanted nodes.

    Memory is O(log size + len(wanted)): complete subtrees are merged as soon
    as their right sibling completes (a compact range), and a node is kept
    only if it was asked for. The wanted nodes must belong to the tree of
    ``size`` leaves (as the ``*_ranges`` functions produce).
    """
    want = set(wanted)
    perfect = {(lo, (hi - lo).bit_length() - 1) for lo, hi in want if _is_perfect(lo, hi)}
    found: dict[NodeRange, bytes] = {}
    stack: list[tuple[int, int, bytes]] = []  # (height, lo, hash), heights decreasing
    count = 0
    for leaf in leaf_hashes:
        if count == size:
            break
        height, lo, h = 0, count, leaf
        if perfect and (lo, 0) in perfect:
            found[(lo, lo + 1)] = h
        while stack and stack[-1][0] == height:
            _, lo, left = stack.pop()
            height += 1
            h = hashlib.sha256(b"\x01" + left + h).digest()
            if perfect and (lo, height) in perfect:
                found[(lo, lo + (1 << height))] = h
        stack.append((height, lo, h))
        count += 1
    if count != size:
        raise InvalidInput(f"expected {size} leaves, got {count}")
    return _fold_right_edge(stack, size, want, found), found


def _fold_right_edge(
    stack: list[tuple[int, int, bytes]],
    size: int,
    want: set[NodeRange],
    found: dict[NodeRange, bytes],
) -> bytes:
    """Hash the right edge of the tree (the ragged nodes ``[lo, size)``) and its root."""
    if not stack:
        return EMPTY_ROOT
    acc = stack[-1][2]
    for _, lo, h in reversed(stack[:-1]):
        acc = node_hash(h, acc)
        if (lo, size) in want:
            found[(lo, size)] = acc
    missing = want - found.keys()
    if missing:
        raise InvalidInput(f"nodes {sorted(missing)[:3]} are not in a tree of {size} leaves")
    return acc


# -- verification (RFC 9162 section 2.1.3.2 and 2.1.4.2) ----------------------


def _hashes_ok(items: Iterable[object]) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in items)


def _is_size(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 0


def root_from_inclusion_proof(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root an audit path leads to, or None when the path cannot be one."""
    if not (_is_size(index) and _is_size(size) and index < size and _hashes_ok([leaf, *proof])):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when ``proof`` puts leaf hash ``leaf`` at ``index`` in the tree ``root`` of ``size``."""
    got = root_from_inclusion_proof(leaf, index, size, proof)
    return got is not None and got == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True when ``proof`` shows the tree ``old_root`` is a prefix of the tree ``new_root``."""
    if not (_is_size(old_size) and _is_size(new_size) and _hashes_ok(proof)):
        return False
    if old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof or not _hashes_ok([old_root, new_root]):
        return False
    return _consistency_roots(old_size, new_size, old_root, proof) == (old_root, new_root)


def _consistency_roots(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes] | None:
    """RFC 9162's walk: the (old, new) roots a consistency proof leads to, or None."""
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)  # a complete old tree is itself a node (RFC 9162 step 2)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = path[0]
    fr = sr = first
    for c in path[1:]:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        return None
    return fr, sr
