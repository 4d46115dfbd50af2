"""The hashes bitcoin is built on: ``sha256d`` (txids, sighashes, checksums) and ``hash160``.

Both come from :mod:`hashlib` when it can: RIPEMD-160 (for ``hash160``, the
hash in P2PKH, P2SH and P2WPKH programs) is missing from OpenSSL 3 builds
without the legacy provider, and there bip-utils' compiled RIPEMD-160 is used
instead (it ships one through its own pycryptodome dependency), so bitcache
imports nothing from a package it does not declare. The choice is made once,
at import: hashlib's is about four times faster per call, and ``hash160``
runs for every input signed and every key derived. bip-utils is imported only
when it is needed: importing it takes about a second.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def sha256d(data: bytes) -> bytes:
    """SHA-256 applied twice."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    """RIPEMD-160(SHA-256(data)): 20 bytes."""
    return _ripemd160(hashlib.sha256(data).digest())


def _hashlib_ripemd160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", data).digest()


def _bip_utils_ripemd160(data: bytes) -> bytes:
    from bip_utils import Ripemd160

    return bytes(Ripemd160.QuickDigest(data))


def _pick_ripemd160() -> Callable[[bytes], bytes]:
    try:
        hashlib.new("ripemd160")
    except ValueError:  # OpenSSL 3 without the legacy provider
        return _bip_utils_ripemd160
    return _hashlib_ripemd160


_ripemd160 = _pick_ripemd160()
