"""The platform's Ed25519 signing key: generate, save, load; and its public key.

The private key signs tree heads and statements. It is stored either as a
PKCS#8 PEM encrypted with a passphrase (the recommended form) or as its raw
32 bytes; both files are created with mode 0600 and never overwritten, and
loading refuses a key file others can read. The private key is never
printed or logged: only the public key has a text form (64 hex characters),
which is what uploaders need to verify statements offline.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bitcache.errors import InvalidInput, WrongPassphrase

_PEM = b"-----BEGIN"


def generate_platform_key() -> Ed25519PrivateKey:
    """A new random Ed25519 key (from the operating system's CSPRNG)."""
    return Ed25519PrivateKey.generate()


def _secret(passphrase: str | bytes | None) -> bytes | None:
    if passphrase is None:
        return None
    raw = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    if not isinstance(raw, bytes) or not raw:
        raise InvalidInput("the key passphrase must be non-empty text or bytes")
    return raw


def private_key_bytes(key: Ed25519PrivateKey, passphrase: str | bytes | None = None) -> bytes:
    """The key file's content: encrypted PKCS#8 PEM with a passphrase, else the raw 32 bytes."""
    secret = _secret(passphrase)
    if secret is None:
        return key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )


def save_platform_key(
    key: Ed25519PrivateKey, path: str | Path, *, passphrase: str | bytes | None = None
) -> Path:
    """Write the key to a new file readable by its owner only (0600); never overwrite."""
    target = Path(path)
    data = private_key_bytes(key, passphrase)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise InvalidInput(f"refusing to overwrite the existing key file {target}") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot create the key file {target}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return target


def _read_private(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InvalidInput(
                f"the key file {path} is accessible by other users (mode {mode & 0o777:o}); "
                "make it 0600"
            )
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the key file {path}: {exc.strerror}") from exc


def load_platform_key(
    path: str | Path, *, passphrase: str | bytes | None = None
) -> Ed25519PrivateKey:
    """Load the key saved by :func:`save_platform_key` (the passphrase if it is encrypted)."""
    source = Path(path)
    data = _read_private(source)
    if not data.startswith(_PEM):
        if len(data) != 32:
            raise InvalidInput(f"{source} is neither a PEM key nor a raw 32-byte Ed25519 key")
        return Ed25519PrivateKey.from_private_bytes(data)
    secret = _secret(passphrase)
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError as exc:  # encrypted without a passphrase, or the reverse
        need = "a passphrase is needed" if secret is None else "the key is not encrypted"
        raise WrongPassphrase(f"{source}: {need}") from exc
    except ValueError as exc:
        if secret is not None:
            raise WrongPassphrase(f"the passphrase does not decrypt {source}") from exc
        raise InvalidInput(f"{source} is not a readable PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{source} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as 64 lowercase hex characters (safe to print and publish)."""
    if not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        raise InvalidInput(f"an Ed25519 key is needed, got {type(key).__name__}")
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def parse_public_key(value: str | bytes) -> Ed25519PublicKey:
    """A public key from 64 hex characters, its raw 32 bytes, or a PEM SubjectPublicKeyInfo."""
    raw = value.encode() if isinstance(value, str) else value
    if not isinstance(raw, bytes):
        raise InvalidInput("a public key is text or bytes")
    if raw.startswith(_PEM):
        try:
            key = serialization.load_pem_public_key(raw)
        except ValueError as exc:
            raise InvalidInput("not a readable PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidInput("the PEM public key is not an Ed25519 key")
        return key
    if len(raw) != 32:
        try:
            raw = bytes.fromhex(raw.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput("a public key is 64 hex characters") from exc
    if len(raw) != 32:
        raise InvalidInput("an Ed25519 public key is 32 bytes (64 hex characters)")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """Read a public key file (hex, raw or PEM)."""
    try:
        return parse_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise InvalidInput(f"cannot read the public key file {path}: {exc.strerror}") from exc
