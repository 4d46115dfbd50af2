"""Takedown holds: freeze a file's unpaid earnings, then release them or refund the downloaders.

* **hold** moves the file's earnings not yet paid out from the uploader's
  payable to ``liability:held:<file>``: the net credit entries tagged with
  the file gave that payable (downloads and tips, less earlier hold moves),
  capped by the payable's available balance (payouts are not tagged by
  file, so money already paid or reserved for a payout cannot move). While
  the file is held, new downloads credit the held account instead of the
  uploader, or are refused with ``FileHeld`` (the ``HoldPolicy`` knob).
* **release** moves the whole available held balance to the (current)
  uploader's payable.
* **refund** returns the whole available held balance to the downloaders'
  prepaid accounts, pro rata to what each paid for the file in the entries
  that credited the uploader's payable or the held account, split by
  largest remainder so the refunds add up exactly; at most 63 downloaders
  per entry, all entries in one transaction. The platform's fee and the
  referrer's share are not refunded.

:func:`held_files` lists the files under a hold with what their held
accounts keep (``bitcache holds list``).

Each event takes a key; its retry answers the original receipt. The key of
the file's last hold event is kept on the file, so a retry after a zero
move (no entry) is recognised too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from bitcache.core.accounts import default_spec, held, payable
from bitcache.core.entries import MAX_POSTINGS, Entry, EntryRequest, Posting
from bitcache.core.filehash import FileHash, file_hash
from bitcache.core.files import FileRecord
from bitcache.core.splits import split_by_weights
from bitcache.errors import FileHeld, FileNotHeld, IdempotencyConflict, InvalidInput, UnknownFile
from bitcache.services.context import Context, event_key
from bitcache.services.receipts import MoveReceipt, move_receipt
from bitcache.store import files as files_rows
from bitcache.store import rows


@dataclass(frozen=True, slots=True)
class HeldFile:
    """A file under a takedown hold: its record, the msat its held account keeps
    (available), and when the hold was booked (µs; None if not known)."""

    record: FileRecord
    held_msat: int
    since: int | None


def held_files(ctx: Context) -> list[HeldFile]:
    """Every file under a hold, oldest hold first, with its held balance."""
    with ctx.ledger.read() as conn:
        found = files_rows.held_files(conn)
        balances = files_rows.available(conn, [held(r.hex) for r, _ in found])
    return [HeldFile(r, balances.get(held(r.hex), 0), since) for r, since in found]


def _file(conn: Connection, fh: FileHash) -> FileRecord:
    rec = files_rows.get_file(conn, fh)
    if rec is None:
        raise UnknownFile(f"no file is registered as {fh.hex()}")
    return rec


def _recorded(ctx: Context, conn: Connection, ledger_key: str) -> list[Entry]:
    """Entries of one hold event: ``key`` itself or ``key:<n>``."""
    pattern = re.compile(re.escape(ledger_key) + r"(:\d+)?")
    names = ctx.ledger.names(conn)
    found = []
    for entry_id in files_rows.entry_ids_with_key_prefix(conn, ledger_key):
        entry = rows.entry_by_id(conn, entry_id, names)
        if entry is not None and pattern.fullmatch(entry.key):
            found.append(entry)
    return found


def _start(ctx: Context, conn: Connection, fh: FileHash, ledger_key: str) -> FileRecord | None:
    """The file, or None when this event already happened (a retry)."""
    rec = _file(conn, fh)
    if rec.hold_key == ledger_key:
        return None
    if _recorded(ctx, conn, ledger_key):
        raise IdempotencyConflict(f"key {ledger_key!r} was used by an earlier hold event")
    return rec


def _move(
    ctx: Context,
    conn: Connection,
    key: str,
    source: str,
    credits: list[tuple[str, int]],
    fh: FileHash,
    memo: str,
) -> list[Entry]:
    """Debit ``source`` and credit each account, in entries of at most 64 postings."""
    credits = [(a, m) for a, m in credits if m > 0]
    chunks = [credits[i : i + MAX_POSTINGS - 1] for i in range(0, len(credits), MAX_POSTINGS - 1)]
    requests = [
        EntryRequest(
            key if len(chunks) == 1 else f"{key}:{n}",
            (
                Posting(source, sum(m for _, m in chunk), fh),
                *(Posting(a, -m, fh) for a, m in chunk),
            ),
            memo=memo,
        )
        for n, chunk in enumerate(chunks)
    ]
    specs = [default_spec(n) for n in sorted({source, *(a for a, _ in credits)})]
    done = ctx.ledger.record_many_in(conn, requests, atomic=True, open_accounts=specs)
    return done.entries()


def hold(ctx: Context, file: object, key: str) -> MoveReceipt:
    """Place a takedown hold on a file and move its unpaid earnings to the held account."""
    fh, ledger_key = file_hash(file), event_key("hold:", key)
    with ctx.ledger.write() as conn:
        rec = _start(ctx, conn, fh, ledger_key)
        if rec is None:
            return move_receipt(ledger_key, _recorded(ctx, conn, ledger_key), replayed=True)
        if rec.held:
            raise FileHeld(f"file {rec.hex} is already held")
        source, target = payable(rec.uploader), held(rec.hex)
        ctx.ledger.open_accounts_in(conn, [default_spec(source), default_spec(target)])
        earned = files_rows.file_credits(conn, ctx.ledger.account_id(conn, source), fh)
        amount = min(earned, files_rows.available(conn, [source])[source])
        entries = _move(ctx, conn, ledger_key, source, [(target, amount)], fh, "takedown hold")
        files_rows.set_hold(conn, fh, True, ledger_key)
        return move_receipt(ledger_key, entries, replayed=False)


def _held_balance(ctx: Context, conn: Connection, rec: FileRecord) -> tuple[str, int]:
    if not rec.held:
        raise FileNotHeld(f"file {rec.hex} is not under a hold")
    account = held(rec.hex)
    ctx.ledger.open_accounts_in(conn, [default_spec(account)])
    return account, files_rows.available(conn, [account])[account]


Credits = Callable[[Context, Connection, FileRecord, str, int], list[tuple[str, int]]]


def _resolve(
    ctx: Context, file: object, key: str, prefix: str, memo: str, credits_for: Credits
) -> MoveReceipt:
    """End a hold: move the held balance as ``credits_for`` says, and mark the file free."""
    fh, ledger_key = file_hash(file), event_key(prefix, key)
    with ctx.ledger.write() as conn:
        rec = _start(ctx, conn, fh, ledger_key)
        if rec is None:
            return move_receipt(ledger_key, _recorded(ctx, conn, ledger_key), replayed=True)
        source, amount = _held_balance(ctx, conn, rec)
        credits = credits_for(ctx, conn, rec, source, amount)
        entries = _move(ctx, conn, ledger_key, source, credits, fh, memo)
        files_rows.set_hold(conn, fh, False, ledger_key)
        return move_receipt(ledger_key, entries, replayed=False)


def _to_uploader(
    ctx: Context, conn: Connection, rec: FileRecord, source: str, amount: int
) -> list[tuple[str, int]]:
    return [(payable(rec.uploader), amount)]


def _to_payers(
    ctx: Context, conn: Connection, rec: FileRecord, source: str, amount: int
) -> list[tuple[str, int]]:
    """The held balance pro rata to what each downloader paid for the file (exact split)."""
    if amount <= 0:
        return []
    ids = [ctx.ledger.account_id(conn, source)]
    ctx.ledger.open_accounts_in(conn, [default_spec(payable(rec.uploader))])
    ids.append(ctx.ledger.account_id(conn, payable(rec.uploader)))
    paid = files_rows.payers(conn, ids, rec.file_hash)
    if not paid:
        raise InvalidInput(f"no downloader paid for file {rec.hex}: release the hold")
    shares = split_by_weights(amount, [p for _, p in paid])
    return [(name, share) for (name, _), share in zip(paid, shares, strict=True)]


def release(ctx: Context, file: object, key: str) -> MoveReceipt:
    """Resolve a hold in the uploader's favour: the held balance goes to their payable."""
    return _resolve(ctx, file, key, "release:", "hold released", _to_uploader)


def refund(ctx: Context, file: object, key: str) -> MoveReceipt:
    """Resolve a hold in the downloaders' favour: the held balance goes back pro rata."""
    return _resolve(ctx, file, key, "refund:", "hold refunded", _to_payers)
