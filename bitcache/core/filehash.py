"""File identity: the SHA-256 of the file's content, 32 bytes."""

from __future__ import annotations

from typing import NewType

from bitcache.core.checks import is_hex_digest
from bitcache.errors import InvalidFileHash

FileHash = NewType("FileHash", bytes)

def file_hash(value: object) -> FileHash:
    """Accept 32 raw bytes or 64 hex characters (any case); return the 32 bytes."""
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) != 32:
            raise InvalidFileHash(f"file hash must be 32 bytes, got {len(raw)}")
        return FileHash(raw)
    if isinstance(value, str):
        text = value.lower()
        if not is_hex_digest(text):
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise InvalidFileHash(f"file hash must be 64 hex characters, got {shown!r}")
        return FileHash(bytes.fromhex(text))
    raise InvalidFileHash(f"file hash must be bytes or hex text, got {type(value).__name__}")
