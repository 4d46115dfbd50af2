"""Two-step transfers: reserve the full price when a transfer starts, charge what was served.

``begin`` records a pending entry with the legs of a full download and an
expiry; the downloader's reserved msat are unavailable until it resolves.
``complete`` posts only the price of the bytes served — the full price
prorated, split again by the split policy and fitted within what each
account reserved — and releases the rest; with nothing to charge it voids.
``cancel`` voids. A reservation never resolved is voided by
``LedgerStore.expire_pending`` once it expires. The download counter is
taken when the transfer begins (a cap counts authorized downloads), so a
cancelled or expired transfer keeps its slot.
"""

from __future__ import annotations

from sqlalchemy import Connection

from bitcache.core.accounts import payable
from bitcache.core.checks import INT64_MAX, int64, is_int, strict_int
from bitcache.core.entries import Entry, EntryKind, EntryRequest
from bitcache.core.entrymeta import charge_meta
from bitcache.core.filehash import FileHash
from bitcache.core.pricing import MAX_FILE_SIZE, fit_within, full_price, prorate, split_price
from bitcache.errors import (
    IdempotencyConflict,
    InvalidAmount,
    InvalidInput,
    InvalidPolicy,
    UnknownEntry,
    UnknownFile,
)
from bitcache.services.charging import (
    PREPAID,
    DownloadRequest,
    Event,
    charge_legs,
    check_cap,
    check_request,
    credit_specs,
    credited_account,
    receipt,
    split_of,
)
from bitcache.services.context import Context
from bitcache.services.receipts import DownloadReceipt, MoveReceipt, TransferReceipt
from bitcache.store import files as files_rows
from bitcache.store import rows


def _ttl(value: object) -> int:
    return strict_int(value, "a transfer time to live (µs)", 1, INT64_MAX, error=InvalidPolicy)


def _expiry(ctx: Context, ttl: int) -> int:
    """When a reservation made now with ``ttl`` expires (within the 64-bit timestamp range)."""
    expires_at = ctx.clock() + ttl
    if expires_at > INT64_MAX:
        raise InvalidPolicy(f"a transfer time to live of {ttl} µs ends past the largest timestamp")
    return expires_at


def _transfer_receipt(entry: Entry, event: Event, *, replayed: bool) -> TransferReceipt:
    return TransferReceipt(entry.key, entry.id, event.fh.hex(), event.downloader,
                           entry.postings[0].amount, entry.expires_at, replayed)


def _replay(ctx: Context, conn: Connection, event: Event, entry_id: int) -> TransferReceipt:
    entry = ctx.ledger.entry_in(conn, entry_id)
    assert entry is not None
    payer = entry.postings[0]
    if entry.kind is not EntryKind.PENDING or (payer.account, payer.file_hash) != (
        event.account, event.fh):
        raise IdempotencyConflict(f"key {event.key!r} was used by entry {entry_id} for another "
                                  "transfer")
    return _transfer_receipt(entry, event, replayed=True)


def begin_transfer(
    ctx: Context, file: str | bytes, downloader: str, key: str, *, ttl_us: int | None = None
) -> TransferReceipt:
    """Reserve the full price of a download; refuse as a one-step download would."""
    event = check_request(DownloadRequest(file, downloader, key), prefix="xfer:")
    ttl = ctx.transfer_ttl_us if ttl_us is None else _ttl(ttl_us)
    with ctx.ledger.write() as conn:
        expires_at = _expiry(ctx, ttl)
        existing = rows.entry_ids_by_keys(conn, [event.key])
        if event.key in existing:
            return _replay(ctx, conn, event, existing[event.key][0])
        rec = files_rows.get_file(conn, event.fh)
        if rec is None:
            raise UnknownFile(f"no file is registered as {event.fh.hex()}")
        credited = credited_account(ctx, rec)
        check_cap(rec)
        if rec.size is None:
            raise InvalidInput(f"file {rec.hex} has no known size: charge it in one step")
        quote = full_price(rec.price, rec.size, ctx.rates)
        files_rows.add_downloads(conn, {rec.file_hash: 1})
        if quote.msat == 0:
            return TransferReceipt(event.key, None, rec.hex, event.downloader, 0, None)
        split = split_price(quote.msat, ctx.splits, has_referrer=rec.referrer is not None)
        referrer = None if rec.referrer is None else payable(rec.referrer)
        legs, roles = charge_legs(event.fh, event.account, credited, referrer, split)
        meta = charge_meta(roles, None, rec.size, quote.rate)
        request = EntryRequest(event.key, legs, EntryKind.PENDING, None, expires_at,
                               meta.memo(), meta)
        done = ctx.ledger.record_many_in(conn, [request], atomic=True,
                                         open_accounts=credit_specs(rec, credited))
        entry = done.results[0]
        assert isinstance(entry, Entry)
        return _transfer_receipt(entry, event, replayed=False)


def _pending_id(value: object) -> int:
    return int64(value, "a transfer id", lo=1)


def _reservation(ctx: Context, conn: Connection, pending_id: int) -> tuple[Entry, int]:
    """The transfer reservation ``pending_id`` and the file size it prorates by."""
    entry = ctx.ledger.entry_in(conn, pending_id)
    if entry is None:
        raise UnknownEntry(f"entry {pending_id} does not exist")
    size = _transfer_size(entry)
    if size is None:
        raise InvalidInput(f"entry {pending_id} is not a transfer reservation (a pending charge "
                           "of a prepaid account whose metadata records the file's size)")
    return entry, size


def _transfer_size(entry: Entry) -> int | None:
    """The file size of an entry of the shape :func:`begin_transfer` records (a pending
    charge of a prepaid account for a file, its metadata naming each credit leg and the
    file's size), or None for any other entry."""
    meta = entry.meta
    if (meta is None or meta.file_size is None or entry.kind is not EntryKind.PENDING
            or not entry.key.startswith("xfer:")):
        return None
    payer, credits = entry.postings[0], entry.postings[1:]
    shaped = (
        len(meta.parts) == len(credits)
        and payer.account.startswith(PREPAID) and payer.file_hash is not None
        and all(p.amount < 0 and p.file_hash == payer.file_hash for p in credits)
    )
    return meta.file_size if shaped else None


def _record_one(ctx: Context, conn: Connection, request: EntryRequest) -> tuple[Entry, bool]:
    replayed = request.key in rows.entry_ids_by_keys(conn, [request.key])
    entry = ctx.ledger.record_many_in(conn, [request], atomic=True).results[0]
    assert isinstance(entry, Entry)
    return entry, replayed


def _void(pending: Entry) -> EntryRequest:
    return EntryRequest(f"xfer-void:{pending.id}", pending.postings, EntryKind.VOID_PENDING,
                        pending.id, memo="released")


def check_served(bytes_served: object) -> int:
    """The bytes served of a transfer: an int from 0 to the largest file size."""
    if not is_int(bytes_served) or not 0 <= bytes_served <= MAX_FILE_SIZE:
        raise InvalidAmount(f"bytes served must be an int from 0 to the file size, got "
                            f"{bytes_served!r}")
    return bytes_served


def complete_transfer(ctx: Context, pending_id: int, bytes_served: int) -> DownloadReceipt:
    """Post the price of ``bytes_served`` and release the rest of the reservation."""
    pending_id = _pending_id(pending_id)
    check_served(bytes_served)
    with ctx.ledger.write() as conn:
        pending, size = _reservation(ctx, conn, pending_id)
        payer = pending.postings[0]
        fh = FileHash(payer.file_hash or b"")
        charge = prorate(payer.amount, bytes_served, size)
        if charge == 0:
            entry, replayed = _record_one(ctx, conn, _void(pending))
            return _zero_receipt(conn, entry, payer.account, fh, replayed)
        reserved, accounts = split_of(pending)
        part = fit_within(split_price(charge, ctx.splits, has_referrer="r" in accounts), reserved)
        legs, roles = charge_legs(fh, payer.account, accounts.get("u"), accounts.get("r"), part)
        rate = None if pending.meta is None else pending.meta.rate
        meta = charge_meta(roles, bytes_served, size, rate)
        request = EntryRequest(f"xfer-post:{pending_id}", legs, EntryKind.POST_PENDING,
                               pending_id, memo=meta.memo(), meta=meta)
        entry, replayed = _record_one(ctx, conn, request)
        after = files_rows.balances_after(conn, [entry.id])[entry.id]
        return receipt(entry, after, replayed=replayed)


def _zero_receipt(
    conn: Connection, entry: Entry, payer: str, fh: FileHash, replayed: bool
) -> DownloadReceipt:
    after = files_rows.balances_after(conn, [entry.id])[entry.id]
    return DownloadReceipt(
        key=entry.key, entry_id=entry.id, file_hash=fh.hex(),
        downloader=payer.removeprefix("liability:prepaid:"), price_msat=0, uploader_msat=0,
        platform_msat=0, referrer_msat=0, credited="", balance_after_msat=-after,
        replayed=replayed, memo=entry.memo,
    )


def cancel_transfer(ctx: Context, pending_id: int) -> MoveReceipt:
    """Void a reservation: the downloader's reserved msat are available again."""
    pending_id = _pending_id(pending_id)
    with ctx.ledger.write() as conn:
        pending, _ = _reservation(ctx, conn, pending_id)
        entry, replayed = _record_one(ctx, conn, _void(pending))
        payer = pending.postings[0]
        return MoveReceipt(entry.key, (entry.id,), payer.amount, ((payer.account, payer.amount),),
                           replayed)
