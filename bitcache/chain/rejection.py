"""A node's reason for refusing a transaction, mapped to a typed error.

Bitcoin Core reports a refused transaction as a reject reason string, the
same words whether they come from ``sendrawtransaction``, from
``testmempoolaccept`` or from an Esplora server relaying Core's answer:
``"min relay fee not met, 110 < 141"``,
``"mandatory-script-verify-flag-failed (Signature must be zero …)"``,
``"bad-txns-inputs-missingorspent"``. Older nodes prefix a numeric code
(``"66: min relay fee not met"``). This module classifies those words into
the :class:`~bitcache.errors.BroadcastRejected` subclasses, keeping the
node's own text as ``reason``, and recognises the answers that mean the
transaction is already known, which a broadcast counts as success.

Every chain backend (RPC, Esplora, the embedded chain) uses it, so the same
refusal raises the same error whichever backend said it.
"""

from __future__ import annotations

import re

from bitcache.bitcoin.transaction import parse_transaction
from bitcache.errors import (
    BroadcastRejected,
    FeeTooLow,
    InputsMissingOrSpent,
    InvalidInput,
    InvalidTransaction,
    NonStandardTransaction,
)

#: Bitcoin Core's ``RPC_VERIFY_ALREADY_IN_CHAIN``: the transaction (or its outputs)
#: is already confirmed — for a broadcast, that is success.
RPC_VERIFY_ALREADY_IN_CHAIN = -27

_ALREADY_KNOWN = (
    "txn-already-in-mempool",
    "txn-already-known",
    "transaction already in block chain",
    "transaction outputs already in utxo set",
    "already in utxo set",
    "already in block chain",
)

# Ordered: the first token found at a word start wins. "mempool-script-verify-flag"
# and "non-mandatory-script-verify-flag" are policy (standardness) failures and
# must be tried before the consensus "mandatory-script-verify-flag-failed".
_TABLE: tuple[tuple[str, type[BroadcastRejected]], ...] = (
    ("min relay fee not met", FeeTooLow),
    ("mempool min fee not met", FeeTooLow),
    ("min-fee-not-met", FeeTooLow),
    ("insufficient fee", FeeTooLow),
    ("bad-txns-inputs-missingorspent", InputsMissingOrSpent),
    ("missing-inputs", InputsMissingOrSpent),
    ("missing inputs", InputsMissingOrSpent),
    ("bad-txns-inputs-spent", InputsMissingOrSpent),
    ("txn-mempool-conflict", InputsMissingOrSpent),
    ("non-mandatory-script-verify-flag", NonStandardTransaction),
    ("mempool-script-verify-flag", NonStandardTransaction),
    ("mandatory-script-verify-flag-failed", InvalidTransaction),
    ("block-script-verify-flag-failed", InvalidTransaction),
    ("bad-txns-", InvalidTransaction),
    ("bad-witness-nonstandard", NonStandardTransaction),
    ("dust", NonStandardTransaction),
    ("tx-size", NonStandardTransaction),
    ("non-final", NonStandardTransaction),
    ("non-bip68-final", NonStandardTransaction),
    ("scriptpubkey", NonStandardTransaction),
    ("scriptsig-", NonStandardTransaction),
    ("multi-op-return", NonStandardTransaction),
    ("bare-multisig", NonStandardTransaction),
    ("version", NonStandardTransaction),
    ("too-long-mempool-chain", NonStandardTransaction),
    ("too-large-cluster", NonStandardTransaction),
)

_CODE_PREFIX = re.compile(r"^\s*\d+:\s*")


def _normalise(reason: str) -> str:
    """Lowercase, without an old node's ``"66: "`` code prefix."""
    return _CODE_PREFIX.sub("", reason).strip().lower()


def _has_token(text: str, token: str) -> bool:
    """``token`` occurs in ``text`` at the start of a word (not inside another token)."""
    return re.search(r"(?:^|[\s:(\[\"'])" + re.escape(token), text) is not None


def is_already_known(reason: str, *, code: int | None = None) -> bool:
    """True when the node's answer means it already has the transaction."""
    if code == RPC_VERIFY_ALREADY_IN_CHAIN:
        return True
    text = _normalise(reason)
    return any(_has_token(text, token) for token in _ALREADY_KNOWN)


def rejection_class(reason: str) -> type[BroadcastRejected]:
    """The most specific BroadcastRejected subclass for a reject reason."""
    text = _normalise(reason)
    for token, cls in _TABLE:
        if _has_token(text, token):
            return cls
    return BroadcastRejected


def rejection_error(reason: str, *, code: int | None = None) -> BroadcastRejected:
    """The typed error for a refusal; ``reason`` keeps the node's own words."""
    cls = rejection_class(reason)
    where = f" (code {code})" if code is not None else ""
    return cls(f"transaction rejected{where}: {reason}", reason=reason)


def txid_of(raw_tx: bytes) -> str:
    """The txid (display hex) of a serialized transaction, segwit or not.

    Needed when a node answers "already known" without echoing the txid.
    """
    if not isinstance(raw_tx, bytes | bytearray):
        raise InvalidInput(f"a raw transaction must be bytes, got {type(raw_tx).__name__}")
    return parse_transaction(bytes(raw_tx)).txid


def settle_refusal(reason: str, raw_tx: bytes, *, code: int | None = None) -> str:
    """Turn a broadcast refusal into a txid (already known) or raise its typed error."""
    if is_already_known(reason, code=code):
        return txid_of(raw_tx)
    raise rejection_error(reason, code=code)
