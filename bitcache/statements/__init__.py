"""Verifiable earnings statements, the pure part: the format, its verifier, and their proofs.

- ``merkle``: RFC 6962 Merkle trees over the journal's entry hashes,
  inclusion and consistency proofs;
- ``treehead``: signed tree heads, and the anchor committed on chain;
- ``statement``: what a statement says, its lines and totals, and its
  signed JSON document;
- ``statement_check``: reading an untrusted document back, field by field;
- ``verify``: :func:`~bitcache.statements.verify.verify_statement`, which
  checks a document with the platform's public key alone.

Pure, and light: these modules need only the standard library, bitcache's
core and ``cryptography``, so a statement can be verified anywhere. Issuing
is a use case (:mod:`bitcache.services.statements`); the journal queries
behind it are in :mod:`bitcache.store.statements`.
"""
