"""Standard output script types, with their sizes and dust thresholds.

Numbers from Bitcoin Core's policy (dust relay fee 3000 sat/kvB) and the
usual vbyte accounting; see docs/settlement.md.
"""

from __future__ import annotations

import enum


class ScriptType(enum.Enum):
    """A standard output script type that bitcache can pay to."""

    P2PKH = "p2pkh"
    P2SH = "p2sh"
    P2WPKH = "p2wpkh"
    P2WSH = "p2wsh"
    P2TR = "p2tr"

    @property
    def output_vbytes(self) -> int:
        """Size of one output of this type (8-byte value + script length + script)."""
        return _OUTPUT_VBYTES[self]

    @property
    def dust_sat(self) -> int:
        """Smallest output value that relays at the default dust relay fee."""
        return _DUST_SAT[self]


_OUTPUT_VBYTES = {
    ScriptType.P2PKH: 34,
    ScriptType.P2SH: 32,
    ScriptType.P2WPKH: 31,
    ScriptType.P2WSH: 43,
    ScriptType.P2TR: 43,
}

_DUST_SAT = {
    ScriptType.P2PKH: 546,
    ScriptType.P2SH: 540,
    ScriptType.P2WPKH: 294,
    ScriptType.P2WSH: 330,
    ScriptType.P2TR: 330,
}
