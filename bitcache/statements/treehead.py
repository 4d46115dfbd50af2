"""Signed tree heads: the platform's signed commitment to its journal at a size.

A tree head says "the first ``tree_size`` journal entries hash, as an RFC
6962 Merkle tree over their entry hashes, to ``root_hash``", timestamped and
signed with the platform's Ed25519 key. Two tree heads of the same platform
plus a consistency proof show the journal of the older one is a prefix of the
newer one: entries were only appended. :func:`anchor_payload` is the short
form committed in a settlement transaction's OP_RETURN output, so a tree
head is also anchored in bitcache's settlement transactions on chain.

Pure: signing keys are passed in; Ed25519 signing is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bitcache.errors import InvalidInput, StatementInvalid
from bitcache.statements import merkle

_STH_DOMAIN = b"bitcache:tree-head:v1\x00"
ANCHOR_MAGIC = b"BCH1"
ANCHOR_SIZE = len(ANCHOR_MAGIC) + 8 + merkle.HASH_SIZE
_MAX_U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """``root_hash`` of the first ``tree_size`` entries, at ``timestamp`` µs, signed."""

    tree_size: int
    root_hash: bytes
    timestamp: int
    signature: bytes = b""

    def message(self) -> bytes:
        """The bytes the signature covers (domain tag, size, timestamp, root)."""
        _check_fields(self.tree_size, self.root_hash, self.timestamp)
        return (
            _STH_DOMAIN
            + self.tree_size.to_bytes(8, "big")
            + self.timestamp.to_bytes(8, "big", signed=True)
            + self.root_hash
        )

    def sign(self, private_key: Ed25519PrivateKey) -> SignedTreeHead:
        """This tree head with the platform's signature."""
        signature = private_key.sign(self.message())
        return SignedTreeHead(self.tree_size, self.root_hash, self.timestamp, signature)

    def verify(self, public_key: Ed25519PublicKey) -> SignedTreeHead:
        """Return self if the signature is the platform's; raise StatementInvalid if not."""
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature as exc:
            raise StatementInvalid(
                f"the signature of the tree head of size {self.tree_size} does not verify "
                "with the platform's public key"
            ) from exc
        return self

    def to_json(self) -> dict[str, object]:
        """The JSON object form (hashes and signature as lowercase hex)."""
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, obj: object) -> SignedTreeHead:
        """Parse the JSON object form; malformed input raises StatementInvalid."""
        if not isinstance(obj, Mapping) or set(obj) != {
            "tree_size", "root_hash", "timestamp", "signature"
        }:
            raise StatementInvalid("tree head must have tree_size, root_hash, timestamp, signature")
        size, ts = obj["tree_size"], obj["timestamp"]
        if not (_is_int(size) and _is_int(ts)):
            raise StatementInvalid("tree head tree_size and timestamp must be integers")
        root = _hex_bytes(obj["root_hash"], "tree head root_hash", merkle.HASH_SIZE)
        sig = _hex_bytes(obj["signature"], "tree head signature", 64)
        try:
            _check_fields(size, root, ts)
        except InvalidInput as exc:
            raise StatementInvalid(str(exc)) from exc
        return cls(size, root, ts, sig)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fields(size: int, root: bytes, timestamp: int) -> None:
    if not _is_int(size) or not 0 <= size <= _MAX_U64:
        raise InvalidInput(f"tree size must be an int from 0 to 2^64-1, got {size!r}")
    if not isinstance(root, bytes) or len(root) != merkle.HASH_SIZE:
        raise InvalidInput("root hash must be 32 bytes")
    if not _is_int(timestamp) or not -(1 << 63) <= timestamp < (1 << 63):
        raise InvalidInput(f"timestamp must be an int of microseconds, got {timestamp!r}")


def _hex_bytes(value: object, what: str, length: int) -> bytes:
    if isinstance(value, str) and len(value) == 2 * length:
        try:
            if value == value.lower():
                return bytes.fromhex(value)
        except ValueError:
            pass
    raise StatementInvalid(f"{what} must be {length} bytes as lowercase hex")


def verify_consistency(
    old: SignedTreeHead, new: SignedTreeHead, proof: Sequence[bytes]
) -> None:
    """Raise StatementInvalid unless ``proof`` shows ``old``'s journal is a prefix of ``new``'s.

    The tree heads' signatures are checked separately (:meth:`SignedTreeHead.verify`).
    """
    _tree_head(old)
    _tree_head(new)
    if isinstance(proof, str | bytes) or not isinstance(proof, Sequence) or not all(
        isinstance(h, bytes) for h in proof
    ):
        raise InvalidInput("a consistency proof is a sequence of hashes (bytes)")
    if old.tree_size > new.tree_size:
        raise StatementInvalid(
            f"tree head of size {old.tree_size} is newer than the one of size {new.tree_size}"
        )
    if not merkle.verify_consistency(
        old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof
    ):
        raise StatementInvalid(
            f"the journal of size {new.tree_size} does not extend the journal of size "
            f"{old.tree_size}: the consistency proof does not verify (entries were changed, "
            "removed or reordered, or the proof is wrong)"
        )


def _tree_head(value: object) -> SignedTreeHead:
    if not isinstance(value, SignedTreeHead):
        raise InvalidInput(f"a SignedTreeHead is needed, got {type(value).__name__}")
    return value


def anchor_payload(sth: SignedTreeHead) -> bytes:
    """The 44-byte OP_RETURN payload: ``b"BCH1"`` ‖ tree size (8 bytes, big-endian) ‖ root."""
    _tree_head(sth)
    _check_fields(sth.tree_size, sth.root_hash, sth.timestamp)
    return ANCHOR_MAGIC + sth.tree_size.to_bytes(8, "big") + sth.root_hash


def parse_anchor(payload: bytes) -> tuple[int, bytes]:
    """``(tree_size, root_hash)`` from an OP_RETURN payload made by :func:`anchor_payload`."""
    if (
        not isinstance(payload, bytes)
        or len(payload) != ANCHOR_SIZE
        or not payload.startswith(ANCHOR_MAGIC)
    ):
        raise InvalidInput(f"an anchor payload is {ANCHOR_SIZE} bytes starting with b'BCH1'")
    size = int.from_bytes(payload[4:12], "big")
    return size, payload[12:]
