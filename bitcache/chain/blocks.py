"""Blocks for the embedded regtest chain: coinbase, commitments, header, assembly, parsing.

Pure functions: build a coinbase (BIP34 height, BIP141 witness commitment),
assemble a block and grind its nonce against regtest's trivial target
(nBits 0x207fffff), and read a serialized block's transactions. Nothing here
touches a clock, a file or the consensus engine; :mod:`bitcache.chain.regtest`
feeds the result to libbitcoinkernel, which decides what is valid.

Transactions are :class:`bitcache.bitcoin.transaction.Transaction`; the
header, the merkle trees, the target and the witness-commitment prefix are
python-bitcoinlib's (``CBlockHeader``, ``CBlock.build_merkle_tree_from_txids``,
``uint256_from_compact``, ``WITNESS_COINBASE_SCRIPTPUBKEY_MAGIC``). A block's
transactions are read with bitcache's transaction parser rather than
``CBlock.deserialize``: for a block holding a 1,000-output batch that call
alone takes 2.2 ms against 1.3 ms for the whole parse here, and its objects
would still have to become bitcache's model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bitcoin.core import WITNESS_COINBASE_SCRIPTPUBKEY_MAGIC, CBlock, CBlockHeader
from bitcoin.core.serialize import uint256_from_compact

from bitcache.bitcoin.compact import ByteReader, compact_size
from bitcache.bitcoin.hashes import sha256d
from bitcache.bitcoin.script import script_num_push
from bitcache.bitcoin.transaction import (
    NULL_TXID,
    SEQUENCE_FINAL,
    Transaction,
    TxIn,
    TxOut,
    read_transaction,
)
from bitcache.core.utxo import OutPoint
from bitcache.errors import InvalidInput

#: Regtest's proof-of-work limit, as compact bits: about one hash in two wins.
REGTEST_BITS = 0x207FFFFF
#: Regtest halves the subsidy every 150 blocks (mainnet: 210,000).
HALVING_INTERVAL = 150
INITIAL_SUBSIDY_SAT = 50 * 100_000_000
#: Block header version with the BIP9 top bits set, as Bitcoin Core mines.
BLOCK_VERSION = 0x20000000
#: BIP141: the coinbase witness holds one 32-byte reserved value (zeros here).
WITNESS_RESERVED_VALUE = bytes(32)
HEADER_SIZE = 80


def block_subsidy(height: int) -> int:
    """Regtest block subsidy in sats: 50 BTC, halving every 150 blocks."""
    halvings = height // HALVING_INTERVAL
    return 0 if halvings >= 64 else INITIAL_SUBSIDY_SAT >> halvings


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """Merkle root of internal-order hashes, duplicating the last of an odd level."""
    if not hashes:
        raise InvalidInput("a merkle tree needs at least one leaf")
    return bytes(CBlock.build_merkle_tree_from_txids(list(hashes))[-1])


def witness_commitment_script(txs: Sequence[Transaction]) -> bytes:
    """BIP141 commitment output script for a block whose non-coinbase txs are ``txs``."""
    leaves = [bytes(32)] + [bytes.fromhex(tx.wtxid)[::-1] for tx in txs]
    root = merkle_root(leaves)
    return bytes(WITNESS_COINBASE_SCRIPTPUBKEY_MAGIC) + sha256d(root + WITNESS_RESERVED_VALUE)


def build_coinbase(
    height: int, pay_to: bytes, value_sat: int, txs: Sequence[Transaction], tag: bytes
) -> Transaction:
    """Coinbase for a block at ``height`` over ``txs``.

    The scriptSig starts with the BIP34 height and carries ``tag`` (an extra
    nonce that keeps competing branches' coinbases distinct); the witness
    commitment is always present, with the reserved value as the coinbase witness.
    """
    script_sig = script_num_push(height) + bytes([len(tag)]) + tag
    if not 2 <= len(script_sig) <= 100:
        raise InvalidInput(f"coinbase scriptSig must be 2..100 bytes, got {len(script_sig)}")
    txin = TxIn(OutPoint(NULL_TXID, 0xFFFF_FFFF), SEQUENCE_FINAL, script_sig)
    outs = (TxOut(value_sat, pay_to), TxOut(0, witness_commitment_script(txs)))
    return Transaction(2, (txin,), outs, 0, ((WITNESS_RESERVED_VALUE,),))


@dataclass(frozen=True, slots=True)
class AssembledBlock:
    """A block ready for the consensus engine."""

    raw: bytes
    block_hash: str
    txs: tuple[Transaction, ...]


def assemble_block(prev_hash: str, time: int, txs: Sequence[Transaction]) -> AssembledBlock:
    """Header over ``txs`` (coinbase first) with a nonce that meets regtest's target."""
    root = merkle_root([bytes.fromhex(tx.txid)[::-1] for tx in txs])
    prev = bytes.fromhex(prev_hash)[::-1]
    target = uint256_from_compact(REGTEST_BITS)
    for nonce in range(1 << 32):
        header = CBlockHeader(BLOCK_VERSION, prev, root, time, REGTEST_BITS, nonce)
        digest = bytes(header.GetHash())
        if int.from_bytes(digest, "little") <= target:
            body = compact_size(len(txs)) + b"".join(tx.raw for tx in txs)
            return AssembledBlock(bytes(header.serialize()) + body, digest[::-1].hex(), tuple(txs))
    raise InvalidInput("no nonce meets the regtest target")  # pragma: no cover


def parse_block_txs(raw_block: bytes) -> list[Transaction]:
    """The transactions of a serialized block (the 80-byte header skipped)."""
    r = ByteReader(bytes(raw_block), HEADER_SIZE)
    if len(r.data) < HEADER_SIZE:
        raise InvalidInput(f"a block is at least {HEADER_SIZE} bytes, got {len(r.data)}")
    txs = [read_transaction(r) for _ in range(r.compact())]
    if not r.at_end:
        raise InvalidInput(f"{len(r.data) - r.pos} stray bytes after the block's transactions")
    return txs
