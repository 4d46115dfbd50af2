"""The file registry's objects: who owns a file, what it costs, and whether it is held.

A file is identified by the SHA-256 of its content. Its first registration
owns it; only the platform can transfer it to another uploader. Pure: the
store module reads and writes these.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from bitcache.core.checks import is_int
from bitcache.core.filehash import FileHash, file_hash
from bitcache.core.pricing import MAX_FILE_SIZE, PriceKind, PriceRule
from bitcache.errors import InvalidAccountName, InvalidAmount, InvalidInput

#: The most downloads a cap may allow (a larger cap is taken for a mistake).
MAX_DOWNLOAD_CAP = 2**40
_PARTY = re.compile(r"[A-Za-z0-9_.@+\-]{1,128}")


def party_id(value: object, what: str = "party id") -> str:
    """Validate an uploader, downloader or referrer id: 1-128 of ``A-Z a-z 0-9 _ . @ + -``.

    The id becomes part of an account name (``liability:prepaid:<id>``), so
    anything else — colons, spaces, non-ASCII letters — is refused.
    """
    if not isinstance(value, str):
        raise InvalidAccountName(f"{what} must be text, got {type(value).__name__}")
    if not _PARTY.fullmatch(value):
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise InvalidAccountName(
            f"{what} {shown!r} must be 1 to 128 characters of A-Z a-z 0-9 _ . @ + -"
        )
    return value


class HoldPolicy(enum.Enum):
    """What a download of a held file does."""

    #: Charge it; the uploader's share goes to the file's held account.
    REDIRECT = "redirect"
    #: Refuse it with ``FileHeld``.
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A registered file."""

    file_hash: FileHash
    uploader: str
    price: PriceRule
    size: int | None = None
    cap: int | None = None
    referrer: str | None = None
    downloads: int = 0
    held: bool = False
    hold_key: str | None = None

    @property
    def hex(self) -> str:
        """The file hash as 64 lower-case hex characters."""
        return self.file_hash.hex()

    def same_terms(self, other: FileRecord) -> bool:
        """Whether ``other`` registers this file with the same owner, price, size, cap, referrer."""
        return (self.uploader, self.price, self.size, self.cap, self.referrer) == (
            other.uploader, other.price, other.size, other.cap, other.referrer)


def _optional_int(value: object, what: str, lo: int, hi: int) -> int | None:
    if value is None:
        return None
    if not is_int(value) or not lo <= value <= hi:
        raise InvalidAmount(f"{what} must be an int from {lo} to {hi}, got {value!r}")
    return value


def new_file(
    file: object,
    uploader: object,
    price: object,
    *,
    size: object = None,
    cap: object = None,
    referrer: object = None,
) -> FileRecord:
    """Validate a registration and return the record it would create."""
    if not isinstance(price, PriceRule):
        raise InvalidInput(f"price must be a PriceRule, got {type(price).__name__}")
    checked_size = _optional_int(size, "file size (bytes)", 0, MAX_FILE_SIZE)
    if price.kind is PriceKind.PER_GIB and checked_size is None:
        raise InvalidInput("a per-GiB price needs the file's size")
    owner = party_id(uploader, "uploader id")
    ref = None if referrer is None else party_id(referrer, "referrer id")
    if ref == owner:
        raise InvalidInput("an uploader cannot be the referrer of their own file")
    return FileRecord(
        file_hash=file_hash(file),
        uploader=owner,
        price=price,
        size=checked_size,
        cap=_optional_int(cap, "download cap", 1, MAX_DOWNLOAD_CAP),
        referrer=ref,
    )


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One row of a legacy catalog: a file, its uploader and its fixed price in msat."""

    file_hash: str
    uploader: str
    price_msat: int
    size: int | None = None

    def record(self) -> FileRecord:
        """The registration this row asks for (validated)."""
        return new_file(self.file_hash, self.uploader, PriceRule.fixed(self.price_msat),
                        size=self.size)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What :func:`import_catalog` did: counts, and the rows refused by ownership."""

    created: int
    unchanged: int
    conflicts: tuple[str, ...]
