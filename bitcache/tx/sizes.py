"""Size arithmetic in weight units (WU), so every figure is an integer.

A vbyte is 4 WU; the fractional vbytes of segwit (the 10.5 vB overhead, the
67.75 vB input) are exact integers in WU, and rounding happens once, when
the total weight becomes a vsize (rounded up, as Bitcoin Core does).

Estimates are upper bounds: a P2WPKH input is counted with the largest
signature a low-S signer can produce (71 DER bytes + 1 sighash byte), so the
signed transaction is never bigger than its estimate, and at most 4 WU
(1 vB) per input smaller in all but one case in 65,536 (a short r or s).
"""

from __future__ import annotations

from collections.abc import Iterable

from bitcache.bitcoin.compact import compact_size_len
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidInput

WU_PER_VBYTE = 4

# version (4) + locktime (4), non-witness: ×4; marker + flag: witness, ×1.
TX_FIXED_WU = (4 + 4) * WU_PER_VBYTE + 2

# outpoint 36 + empty scriptSig length 1 + nSequence 4, non-witness: ×4 = 164;
# witness: item count 1 + (1 + 72) signature + (1 + 33) pubkey = 108.
P2WPKH_INPUT_WU = (36 + 1 + 4) * WU_PER_VBYTE + 1 + (1 + 72) + (1 + 33)

MAX_STANDARD_TX_WEIGHT = 400_000


def output_wu(script_type: ScriptType) -> int:
    """Weight of one output of ``script_type`` (value 8 + script length + script) × 4."""
    return script_type.output_vbytes * WU_PER_VBYTE


def script_output_wu(script_pubkey: bytes) -> int:
    """Weight of one output paying ``script_pubkey``, whatever its shape."""
    n = len(script_pubkey)
    return (8 + compact_size_len(n) + n) * WU_PER_VBYTE


def overhead_wu(n_inputs: int, n_outputs: int) -> int:
    """Weight outside inputs and outputs: fixed fields plus both counts.

    42 WU (10.5 vB) up to 252 inputs and outputs; each count above 252 grows
    by 2 bytes (8 WU).
    """
    counts = compact_size_len(n_inputs) + compact_size_len(n_outputs)
    return TX_FIXED_WU + counts * WU_PER_VBYTE


def tx_weight(
    n_inputs: int, output_types: Iterable[ScriptType], extra_scripts: Iterable[bytes] = ()
) -> int:
    """Upper bound on the weight of a signed tx of ``n_inputs`` P2WPKH inputs.

    ``extra_scripts`` are outputs of no standard payment type (an OP_RETURN anchor).
    """
    types, extras = list(output_types), list(extra_scripts)
    body = sum(output_wu(t) for t in types) + n_inputs * P2WPKH_INPUT_WU
    body += sum(script_output_wu(s) for s in extras)
    return overhead_wu(n_inputs, len(types) + len(extras)) + body


def vsize_of(weight: int) -> int:
    """Virtual size in vbytes of ``weight`` WU, rounded up."""
    if weight < 0:
        raise InvalidInput(f"weight cannot be negative: {weight}")
    return -(-weight // WU_PER_VBYTE)
