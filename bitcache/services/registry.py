"""The file registry's use cases: register, change terms, transfer ownership, import.

The first registration of a file owns it. Registering it again by the same
uploader (a re-upload) sets the terms the call gives and keeps the others:
a term left out is :data:`~bitcache.core.terms.KEEP`, and only an explicit
``None`` removes a cap or a referrer. :func:`update_terms` changes terms
without re-registering. Registering it by another uploader is a
:class:`~bitcache.errors.FileOwnershipConflict` unless the platform
transfers it with :func:`transfer_ownership`. Earnings already credited
stay with the uploader who earned them.

Every change of owner, price, size, cap or referrer appends a row to the
file's terms history in the same transaction (:func:`term_history`), so an
uploader's statement can be explained by the terms in force at each time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sqlalchemy import Connection

from bitcache.core.accounts import PLATFORM_REVENUE, default_spec, payable
from bitcache.core.filehash import FileHash, file_hash
from bitcache.core.files import CatalogRow, FileRecord, ImportReport, party_id
from bitcache.core.terms import TermChange, TermsReason, TermsUpdate
from bitcache.errors import FileOwnershipConflict, InvalidInput, UnknownFile
from bitcache.services.context import Context
from bitcache.store import files as files_rows
from bitcache.store import terms as terms_rows
from bitcache.store.ledger import LedgerStore


def _open_payables(ctx: Context, conn: Connection, records: Iterable[FileRecord]) -> None:
    names = {PLATFORM_REVENUE}
    for rec in records:
        names.add(payable(rec.uploader))
        if rec.referrer is not None:
            names.add(payable(rec.referrer))
    ctx.ledger.open_accounts_in(conn, [default_spec(n) for n in sorted(names)])


def register_file(ctx: Context, file: object, uploader: object, update: TermsUpdate) -> FileRecord:
    """Register a file, or re-register it by its owner: given terms are set, others kept."""
    fh, owner = file_hash(file), party_id(uploader, "uploader id")
    with ctx.ledger.write() as conn:
        existing = files_rows.get_file(conn, fh)
        if existing is None:
            rec = update.first(fh, owner)
            now = ctx.clock()
            files_rows.insert_files(conn, [rec], now)
            terms_rows.record_changes(conn, [(fh, TermsReason.REGISTERED, None, rec.terms)], now)
            _open_payables(ctx, conn, [rec])
            return rec
        _check_owner(existing, owner)
        return _change(ctx, conn, existing, update.applied_to(existing), TermsReason.UPDATED)


def update_terms(ctx: Context, file: object, uploader: object, update: TermsUpdate) -> FileRecord:
    """The owner changes a registered file's terms (idempotent: the same terms change nothing)."""
    fh, owner = file_hash(file), party_id(uploader, "uploader id")
    with ctx.ledger.write() as conn:
        existing = _existing(conn, fh)
        _check_owner(existing, owner)
        return _change(ctx, conn, existing, update.applied_to(existing), TermsReason.UPDATED)


def transfer_ownership(ctx: Context, file: object, new_uploader: object) -> FileRecord:
    """The platform gives a file to another uploader (idempotent)."""
    fh = file_hash(file)
    owner = party_id(new_uploader, "uploader id")
    with ctx.ledger.write() as conn:
        existing = _existing(conn, fh)
        if existing.referrer == owner:
            raise InvalidInput("the new owner is the file's referrer; a file cannot refer itself")
        updated = dataclasses.replace(existing, uploader=owner)
        return _change(ctx, conn, existing, updated, TermsReason.TRANSFERRED)


def _existing(conn: Connection, fh: FileHash) -> FileRecord:
    found = files_rows.get_file(conn, fh)
    if found is None:
        raise UnknownFile(f"no file is registered as {fh.hex()}")
    return found


def _check_owner(existing: FileRecord, uploader: str) -> None:
    if existing.uploader != uploader:
        raise FileOwnershipConflict(
            f"file {existing.hex} is registered to another uploader ({existing.uploader})")


def _change(
    ctx: Context, conn: Connection, existing: FileRecord, updated: FileRecord,
    reason: TermsReason,
) -> FileRecord:
    """Store new terms and their history row together; the same terms write nothing."""
    if updated.terms == existing.terms:
        return existing
    files_rows.update_terms(conn, updated)
    terms_rows.record_changes(
        conn, [(existing.file_hash, reason, existing.terms, updated.terms)], ctx.clock())
    _open_payables(ctx, conn, [updated])
    return updated


def term_history(ledger: LedgerStore, file: object) -> list[TermChange]:
    """Every change of a registered file's owner, price, size, cap or referrer, oldest first."""
    fh = file_hash(file)
    with ledger.read() as conn:
        _existing(conn, fh)
        return terms_rows.history(conn, fh)


def get_file(ctx: Context, file: object) -> FileRecord:
    """A registered file."""
    fh = file_hash(file)
    with ctx.ledger.read() as conn:
        found = files_rows.get_file(conn, fh)
    if found is None:
        raise UnknownFile(f"no file is registered as {fh.hex()}")
    return found


def _catalog_records(rows: Iterable[object]) -> list[FileRecord]:
    records = []
    for n, row in enumerate(rows):
        if isinstance(row, tuple) and len(row) in (3, 4):
            row = CatalogRow(*row)
        if not isinstance(row, CatalogRow):
            raise InvalidInput(f"catalog row {n} must be (file hash, uploader, price msat[, size])")
        records.append(row.record())
    return records


def import_catalog(ctx: Context, rows: Iterable[object]) -> ImportReport:
    """Register a legacy catalog of (file hash, uploader, fixed price msat[, size]) rows.

    Idempotent: a row for a file already registered to the same uploader is
    left unchanged (prices set since are kept); a row naming another
    uploader is reported as a conflict and skipped. Every row is validated
    first: one malformed row refuses the import and nothing is written.
    """
    records = _catalog_records(rows)
    with ctx.ledger.write() as conn:
        known = files_rows.get_files(conn, [r.file_hash for r in records])
        new: dict[bytes, FileRecord] = {}
        unchanged, conflicts = 0, []
        for rec in records:
            owner = known.get(rec.file_hash) or new.get(rec.file_hash)
            if owner is None:
                new[rec.file_hash] = rec
            elif owner.uploader == rec.uploader:
                unchanged += 1
            else:
                conflicts.append(f"{rec.hex}: registered to {owner.uploader}, not {rec.uploader}")
        now = ctx.clock()
        files_rows.insert_files(conn, list(new.values()), now)
        terms_rows.record_changes(
            conn, [(r.file_hash, TermsReason.IMPORTED, None, r.terms) for r in new.values()], now)
        _open_payables(ctx, conn, new.values())
    return ImportReport(len(new), unchanged, tuple(conflicts))
