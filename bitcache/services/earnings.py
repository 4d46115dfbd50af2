"""Earnings queries: an account's earnings per file over a period, and the top files.

Both read the postings through their ``(account_id, entry_id)`` index,
starting from the earning accounts, and join entries for the period
(``recorded_at`` in µs, ``[since, until)``). Earnings are the credits of
download charges (one-step and completed transfers) and tips; hold moves
are not earnings.
"""

from __future__ import annotations

from bitcache.core.accounts import payable
from bitcache.core.checks import is_int, timestamp_us
from bitcache.core.files import party_id
from bitcache.errors import InvalidInput
from bitcache.services.context import Context
from bitcache.store import files as files_rows
from bitcache.store.files import FileEarnings

__all__ = ["FileEarnings", "file_earnings", "top_files"]


def _period(since: int | None, until: int | None) -> None:
    for name, value in (("since", since), ("until", until)):
        if value is not None:
            timestamp_us(value, name)
    if since is not None and until is not None and until < since:
        raise InvalidInput(f"the period ends before it starts: until {until} < since {since}")


def file_earnings(
    ctx: Context, party: str, *, since: int | None = None, until: int | None = None
) -> list[FileEarnings]:
    """Per file, the downloads and msat that credited an uploader's (or referrer's) payable."""
    account = payable(party_id(party, "uploader id"))
    _period(since, until)
    with ctx.ledger.read() as conn:
        found = files_rows.account_id(conn, account)
        ids = [] if found is None else [found]
        return files_rows.earnings(conn, ids, since=since, until=until)


def top_files(
    ctx: Context, limit: int = 10, *, since: int | None = None, until: int | None = None
) -> list[FileEarnings]:
    """The files that earned their uploaders, referrers and held accounts the most."""
    if not is_int(limit) or not 1 <= limit <= 10_000:
        raise InvalidInput(f"limit must be an int from 1 to 10000, got {limit!r}")
    _period(since, until)
    with ctx.ledger.read() as conn:
        ids = files_rows.account_ids_with_prefix(conn, "liability:payable:")
        ids += files_rows.account_ids_with_prefix(conn, "liability:held:")
        return files_rows.earnings(conn, ids, since=since, until=until, limit=limit)
