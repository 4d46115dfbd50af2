"""The mnemonic encrypted at rest: scrypt for the key, AES-256-GCM for the box.

Blob format, version 1 (all integers unsigned, big-endian)::

    offset size  field
    0      1     format version (0x01)
    1      1     log2(n), scrypt cost
    2      1     r, scrypt block size
    3      1     p, scrypt parallelism
    4      16    salt
    20     12    AES-GCM nonce
    32     k+16  AES-256-GCM ciphertext of the UTF-8 mnemonic, with its 16-byte tag;
                 the 32 header bytes are the associated data, so the parameters
                 cannot be altered without failing the tag
    end-4  4     first 4 bytes of SHA-256 of everything before

The trailing checksum tells accidental damage (``SeedBlobCorrupt``) from a
wrong passphrase (``WrongPassphrase``), which AES-GCM alone cannot.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from bitcache.errors import InvalidInput, SeedBlobCorrupt, WrongPassphrase
from bitcache.wallet.keys import normalize_mnemonic

FORMAT_VERSION = 1
SALT_BYTES = 16
NONCE_BYTES = 12
HEADER_BYTES = 4 + SALT_BYTES + NONCE_BYTES
TAG_BYTES = 16
CHECKSUM_BYTES = 4
DEFAULT_LOG2_N = 15
MIN_LOG2_N = 10
MAX_LOG2_N = 20
MAX_MEMORY_BYTES = 2**28  # 256 MiB: refuse blobs that would exhaust memory
DEFAULT_R = 8
DEFAULT_P = 1


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost parameters: n = 2**log2_n, memory about 128 * r * n bytes."""

    log2_n: int = DEFAULT_LOG2_N
    r: int = DEFAULT_R
    p: int = DEFAULT_P

    def check(self) -> None:
        """Refuse parameters that are too weak, or so costly they look like an attack."""
        if not MIN_LOG2_N <= self.log2_n <= MAX_LOG2_N:
            raise InvalidInput(f"scrypt log2(n) must be in {MIN_LOG2_N}..{MAX_LOG2_N}")
        if not 1 <= self.r <= 32 or not 1 <= self.p <= 16:
            raise InvalidInput("scrypt r must be in 1..32 and p in 1..16")
        if 128 * self.r * 2**self.log2_n > MAX_MEMORY_BYTES:
            raise InvalidInput(f"scrypt parameters need more than {MAX_MEMORY_BYTES} bytes")


def _derive_key(passphrase: str, salt: bytes, params: ScryptParams) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=2**params.log2_n, r=params.r, p=params.p)
    return kdf.derive(passphrase.encode("utf-8"))


def _check_passphrase(passphrase: str) -> None:
    if not isinstance(passphrase, str) or not passphrase:
        raise InvalidInput("the encryption passphrase must be a non-empty str")


def _checksum(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:CHECKSUM_BYTES]


def encrypt_mnemonic(
    mnemonic: str,
    passphrase: str,
    *,
    salt: bytes,
    nonce: bytes,
    params: ScryptParams | None = None,
) -> bytes:
    """Encrypt a (validated) BIP39 mnemonic under ``passphrase``.

    ``salt`` (16 bytes) and ``nonce`` (12 bytes) must be fresh random bytes
    for every call; :func:`seal` draws them for you.
    """
    params = params or ScryptParams()
    params.check()
    _check_passphrase(passphrase)
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise InvalidInput(f"salt must be {SALT_BYTES} bytes")
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
        raise InvalidInput(f"nonce must be {NONCE_BYTES} bytes")
    plaintext = normalize_mnemonic(mnemonic).encode("utf-8")
    header = bytes([FORMAT_VERSION, params.log2_n, params.r, params.p]) + salt + nonce
    key = _derive_key(passphrase, salt, params)
    body = header + AESGCM(key).encrypt(nonce, plaintext, header)
    return body + _checksum(body)


def _split(blob: bytes) -> tuple[ScryptParams, bytes, bytes, bytes, bytes]:
    """Check a blob's framing; return params, salt, nonce, header and ciphertext."""
    if not isinstance(blob, bytes):
        raise SeedBlobCorrupt("encrypted seed must be bytes")
    if len(blob) < HEADER_BYTES + TAG_BYTES + CHECKSUM_BYTES:
        raise SeedBlobCorrupt(f"encrypted seed is truncated ({len(blob)} bytes)")
    body, checksum = blob[:-CHECKSUM_BYTES], blob[-CHECKSUM_BYTES:]
    if _checksum(body) != checksum:
        raise SeedBlobCorrupt("encrypted seed is damaged: its checksum does not verify")
    if body[0] != FORMAT_VERSION:
        raise SeedBlobCorrupt(f"unknown encrypted seed format version {body[0]}")
    params = ScryptParams(log2_n=body[1], r=body[2], p=body[3])
    try:
        params.check()
    except InvalidInput as exc:
        raise SeedBlobCorrupt(f"encrypted seed has unusable scrypt parameters: {exc}") from None
    salt, nonce = body[4 : 4 + SALT_BYTES], body[4 + SALT_BYTES : HEADER_BYTES]
    return params, salt, nonce, body[:HEADER_BYTES], body[HEADER_BYTES:]


def decrypt_mnemonic(blob: bytes, passphrase: str) -> str:
    """Recover the mnemonic; ``WrongPassphrase`` or ``SeedBlobCorrupt`` otherwise."""
    _check_passphrase(passphrase)
    params, salt, nonce, header, ciphertext = _split(blob)
    key = _derive_key(passphrase, salt, params)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, header)
    except InvalidTag:
        raise WrongPassphrase("the passphrase does not decrypt this seed") from None
    try:
        return normalize_mnemonic(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, InvalidInput):
        raise SeedBlobCorrupt("decrypted seed is not a valid mnemonic") from None


def seal(mnemonic: str, passphrase: str, *, params: ScryptParams | None = None) -> bytes:
    """Encrypt with a fresh random salt and nonce from the operating system."""
    return encrypt_mnemonic(
        mnemonic,
        passphrase,
        salt=os.urandom(SALT_BYTES),
        nonce=os.urandom(NONCE_BYTES),
        params=params,
    )
