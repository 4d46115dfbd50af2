"""The file registry's use cases: register, transfer ownership, import a legacy catalog.

The first registration of a file owns it. Registering it again by the same
uploader with the same terms changes nothing; with other terms (price, cap,
referrer, size) it updates them — the owner's price change. Registering it
by another uploader is a :class:`~bitcache.errors.FileOwnershipConflict`
unless the platform transfers it with :func:`transfer_ownership`. Earnings
already credited stay with the uploader who earned them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sqlalchemy import Connection

from bitcache.core.accounts import PLATFORM_REVENUE, default_spec, payable
from bitcache.core.filehash import file_hash
from bitcache.core.files import CatalogRow, FileRecord, ImportReport, party_id
from bitcache.errors import FileOwnershipConflict, InvalidInput, UnknownFile
from bitcache.services.context import Context
from bitcache.store import files as store


def _open_payables(ctx: Context, conn: Connection, records: Iterable[FileRecord]) -> None:
    names = {PLATFORM_REVENUE}
    for rec in records:
        names.add(payable(rec.uploader))
        if rec.referrer is not None:
            names.add(payable(rec.referrer))
    ctx.ledger.open_accounts_in(conn, [default_spec(n) for n in sorted(names)])


def register_file(ctx: Context, rec: FileRecord) -> FileRecord:
    """Register a validated :class:`FileRecord` (see :func:`bitcache.core.files.new_file`)."""
    with ctx.ledger.write() as conn:
        existing = store.get_file(conn, rec.file_hash)
        if existing is None:
            store.insert_files(conn, [rec], ctx.clock())
            _open_payables(ctx, conn, [rec])
            return rec
        if existing.uploader != rec.uploader:
            raise FileOwnershipConflict(
                f"file {rec.hex} is registered to another uploader ({existing.uploader})")
        if existing.same_terms(rec):
            return existing
        if rec.cap is not None and rec.cap < existing.downloads:
            raise InvalidInput(
                f"cap {rec.cap} is below the {existing.downloads} downloads already counted")
        updated = dataclasses.replace(
            rec, downloads=existing.downloads, held=existing.held, hold_key=existing.hold_key)
        store.update_terms(conn, updated)
        _open_payables(ctx, conn, [updated])
        return updated


def transfer_ownership(ctx: Context, file: object, new_uploader: object) -> FileRecord:
    """The platform gives a file to another uploader (idempotent)."""
    fh = file_hash(file)
    owner = party_id(new_uploader, "uploader id")
    with ctx.ledger.write() as conn:
        existing = store.get_file(conn, fh)
        if existing is None:
            raise UnknownFile(f"no file is registered as {fh.hex()}")
        if existing.uploader == owner:
            return existing
        if existing.referrer == owner:
            raise InvalidInput("the new owner is the file's referrer; a file cannot refer itself")
        updated = dataclasses.replace(existing, uploader=owner)
        store.update_terms(conn, updated)
        _open_payables(ctx, conn, [updated])
        return updated


def get_file(ctx: Context, file: object) -> FileRecord:
    """A registered file."""
    fh = file_hash(file)
    with ctx.ledger.read() as conn:
        found = store.get_file(conn, fh)
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
        known = store.get_files(conn, [r.file_hash for r in records])
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
        store.insert_files(conn, list(new.values()), ctx.clock())
        _open_payables(ctx, conn, new.values())
    return ImportReport(len(new), unchanged, tuple(conflicts))
