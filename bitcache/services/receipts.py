"""What the hooks answer: frozen receipts (refusals are raised ``HookError``/``LedgerError``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bitcache.core.entries import Entry


@dataclass(frozen=True, slots=True)
class DownloadReceipt:
    """A charged (or free) download.

    ``entry_id`` is None for a free download. ``credited`` is the account the
    uploader's share went to (their payable, or the file's held account).
    ``balance_after_msat`` is the downloader's posted prepaid balance right
    after this charge (the same on a replay). ``memo`` records the fiat rate
    used, when there was one.
    """

    key: str
    entry_id: int | None
    file_hash: str
    downloader: str
    price_msat: int
    uploader_msat: int
    platform_msat: int
    referrer_msat: int
    credited: str
    balance_after_msat: int
    replayed: bool = False
    memo: str = ""


@dataclass(frozen=True, slots=True)
class TransferReceipt:
    """A two-step transfer's reservation (``pending_id`` None for a free file)."""

    key: str
    pending_id: int | None
    file_hash: str
    downloader: str
    reserved_msat: int
    expires_at: int | None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class MoveReceipt:
    """Money moved by a credit, tip, hold, release, refund or cancel.

    ``credits`` lists each credited account and its msat; ``amount_msat`` is
    their sum. No entries (and an amount of 0) when there was nothing to move.
    """

    key: str
    entry_ids: tuple[int, ...]
    amount_msat: int
    credits: tuple[tuple[str, int], ...]
    replayed: bool = False


def move_receipt(key: str, entries: Iterable[Entry], *, replayed: bool) -> MoveReceipt:
    """The receipt of entries that move money (their credit postings)."""
    listed = list(entries)
    credits = tuple((p.account, -p.amount) for e in listed for p in e.postings if p.amount < 0)
    return MoveReceipt(
        key, tuple(e.id for e in listed), sum(c for _, c in credits), credits, replayed
    )
