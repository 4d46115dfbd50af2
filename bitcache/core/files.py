"""The file registry's objects: who owns a file, what it costs, and whether it is held.

A file is identified by the SHA-256 of its content. Its first registration
owns it; only the platform can transfer it to another uploader. Pure: the
store module reads and writes these.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass

from bitcache.core.checks import is_int
from bitcache.core.filehash import FileHash, file_hash
from bitcache.core.pricing import MAX_FILE_SIZE, PriceKind, PriceRule, full_price
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
class FileTerms:
    """What a file's downloads pay and to whom: its owner, price, size, cap and referrer."""

    uploader: str
    price: PriceRule
    size: int | None = None
    cap: int | None = None
    referrer: str | None = None


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A registered file: its terms, its download count and its hold state."""

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

    @property
    def terms(self) -> FileTerms:
        """The file's owner, price, size, cap and referrer."""
        return FileTerms(self.uploader, self.price, self.size, self.cap, self.referrer)

    def with_terms(self, terms: FileTerms) -> FileRecord:
        """This file under other terms (its downloads and hold state unchanged)."""
        return dataclasses.replace(
            self, uploader=terms.uploader, price=terms.price, size=terms.size, cap=terms.cap,
            referrer=terms.referrer)


def _optional_int(value: object, what: str, lo: int, hi: int) -> int | None:
    if value is None:
        return None
    if not is_int(value) or not lo <= value <= hi:
        raise InvalidAmount(f"{what} must be an int from {lo} to {hi}, got {value!r}")
    return value


def checked_price(value: object) -> PriceRule:
    """A file's price, which must be a :class:`PriceRule` (validated when it was built)."""
    if not isinstance(value, PriceRule):
        raise InvalidInput(f"price must be a PriceRule, got {type(value).__name__}")
    return value


def checked_size(value: object) -> int | None:
    """A file's size in bytes (0 to 1 PiB), or None when unknown."""
    return _optional_int(value, "file size (bytes)", 0, MAX_FILE_SIZE)


def checked_cap(value: object) -> int | None:
    """A cap of downloads (1 to 2**40), or None for no cap."""
    return _optional_int(value, "download cap", 1, MAX_DOWNLOAD_CAP)


def checked_referrer(value: object) -> str | None:
    """A referrer id, or None for no referrer."""
    return None if value is None else party_id(value, "referrer id")


def check_terms(rec: FileRecord) -> None:
    """The rules between a file's terms: what each value alone cannot say.

    A per-GiB price needs the size, and its price for the whole file must be
    one a download can be charged (at most ``MAX_PRICE_MSAT``: else every
    download of the file would be refused); an uploader cannot refer their
    own file; a cap cannot be below the downloads already counted.
    """
    if rec.price.kind is PriceKind.PER_GIB:
        if rec.size is None:
            raise InvalidInput("a per-GiB price needs the file's size")
        full_price(rec.price, rec.size, None)  # InvalidAmount past the bound
    if rec.referrer is not None and rec.referrer == rec.uploader:
        raise InvalidInput("an uploader cannot be the referrer of their own file")
    if rec.cap is not None and rec.cap < rec.downloads:
        raise InvalidInput(
            f"cap {rec.cap} is below the {rec.downloads} downloads already counted")


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
    rec = FileRecord(
        file_hash=file_hash(file),
        uploader=party_id(uploader, "uploader id"),
        price=checked_price(price),
        size=checked_size(size),
        cap=checked_cap(cap),
        referrer=checked_referrer(referrer),
    )
    check_terms(rec)
    return rec


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
