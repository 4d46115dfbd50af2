"""The payment the builder pays: value, output script and the script's declared type.

Settlement never handles addresses here: an uploader's address was parsed into
its scriptPubKey and :class:`~bitcache.core.scripttype.ScriptType` upstream.
A payment checks that the bytes really have the shape of that type (through
:mod:`bitcache.bitcoin.script`), so a mislabelled script cannot slip a wrong
size or dust threshold into a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitcache.bitcoin.script import require_script_type
from bitcache.bitcoin.transaction import check_sat
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Payment:
    """One payout: ``value_sat`` to ``script_pubkey``, a script of ``script_type``.

    Dust is not refused here (the policy checks do that with the type's own
    threshold); the script must match its declared type.
    """

    script_pubkey: bytes
    script_type: ScriptType
    value_sat: int

    def __post_init__(self) -> None:
        if not isinstance(self.script_type, ScriptType):
            raise InvalidInput(
                f"payment script_type must be a ScriptType, got {self.script_type!r}"
            )
        require_script_type(self.script_pubkey, self.script_type, "payment")
        check_sat(self.value_sat, "payment value")
