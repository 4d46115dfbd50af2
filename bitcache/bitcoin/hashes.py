"""The hashes bitcoin is built on: ``sha256d`` (txids, sighashes, checksums) and ``hash160``.

``sha256d`` is two calls of :mod:`hashlib`. ``hash160`` (RIPEMD-160 of
SHA-256, the hash in P2PKH, P2SH and P2WPKH programs) comes from bip-utils,
because OpenSSL 3 builds of :mod:`hashlib` may lack RIPEMD-160 and bip-utils
carries a compiled one (through its own pycryptodome dependency), so bitcache
needs no import of its own from a package it does not declare.
"""

from __future__ import annotations

import hashlib

from bip_utils import Hash160


def sha256d(data: bytes) -> bytes:
    """SHA-256 applied twice."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD-160(SHA-256(data)): 20 bytes."""
    return bytes(Hash160.QuickDigest(data))
