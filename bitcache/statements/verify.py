"""Verifying a statement document with the platform's public key alone.

:func:`verify_statement` sits above both halves of the format: it reads the
document with :mod:`~bitcache.statements.statement_check` and recomputes
its totals with :mod:`~bitcache.statements.statement`, so neither of those
imports the other's caller. Pure, no database, no clock.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bitcache.errors import StatementInvalid
from bitcache.statements.statement import (
    SIGNATURE_DOMAIN,
    VerifiedStatement,
    canonical_json,
    summarize,
    summary_json,
)
from bitcache.statements.statement_check import (
    check_summary,
    load_document,
    read_statement,
    signature_bytes,
)
from bitcache.statements.statement_check import public_key as to_public_key

__all__ = ["verify_statement"]


def verify_statement(
    document: bytes, public_key: Ed25519PublicKey | bytes
) -> VerifiedStatement:
    """Check a statement document offline; raise StatementInvalid naming what fails.

    Order: the tree head's signature, then every line (its disclosed entry
    hashes to its entry hash, the line says what the entry's posting says,
    the entry lies in the period and under the tree head, and its inclusion
    proof leads to the signed root), then the totals, then the document's
    signature over everything.
    """
    key = to_public_key(public_key)
    doc = load_document(document)
    statement = read_statement(doc, key)
    summary = summarize(statement)
    check_summary(doc, summary_json(summary))
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    signature = signature_bytes(doc.get("signature"))
    try:
        key.verify(signature, SIGNATURE_DOMAIN + canonical_json(unsigned))
    except InvalidSignature as exc:
        raise StatementInvalid(
            "the statement's signature does not verify with the platform's public key "
            "(the document was changed after signing, or another key signed it)"
        ) from exc
    return VerifiedStatement(statement, summary)
