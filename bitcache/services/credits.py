"""Money into prepaid accounts, and tips: one balanced entry each.

* deposit (the deposit flow, or an operator crediting a deposit by hand)::

      asset:wallet                    +amount
      liability:prepaid:<downloader>  -amount

* promotional credit, paid by the platform::

      expense:promotions              +amount
      liability:prepaid:<downloader>  -amount

* tip to a file's uploader (no platform fee; under a hold it follows the
  hold policy like a download)::

      liability:prepaid:<tipper>      +amount   (tagged with the file)
      liability:payable:<uploader>    -amount   (or liability:held:<file>)

The prepaid account is opened on first credit.
"""

from __future__ import annotations

from sqlalchemy import Connection

from bitcache.core.accounts import WALLET, AccountSpec, default_spec, prepaid
from bitcache.core.entries import Entry, EntryRequest, Posting
from bitcache.core.filehash import file_hash
from bitcache.core.files import party_id
from bitcache.core.money import msat
from bitcache.core.pricing import MAX_PRICE_MSAT
from bitcache.errors import IdempotencyConflict, InsufficientFunds, InvalidAmount, UnknownFile
from bitcache.services.charging import credited_account
from bitcache.services.context import Context, event_key
from bitcache.services.receipts import MoveReceipt, move_receipt
from bitcache.store import files as files_rows
from bitcache.store import rows

PROMOTIONS = "expense:promotions"


def deposit_request(
    downloader: str, amount_msat: int, key: str
) -> tuple[EntryRequest, list[AccountSpec]]:
    """The entry crediting a deposit, and the accounts to open with it.

    For a deposit flow that writes its own rows in the same transaction:
    ``ledger.record_many_in(conn, [request], atomic=True, open_accounts=specs)``.
    """
    account = prepaid(party_id(downloader, "downloader id"))
    amount = msat(amount_msat)
    request = EntryRequest(event_key("deposit:", key),
                           (Posting(WALLET, amount), Posting(account, -amount)), memo="deposit")
    return request, [default_spec(WALLET), default_spec(account)]


def _record(ctx: Context, request: EntryRequest, specs: list[AccountSpec]) -> MoveReceipt:
    with ctx.ledger.write() as conn:
        replayed = request.key in rows.entry_ids_by_keys(conn, [request.key])
        done = ctx.ledger.record_many_in(conn, [request], atomic=True, open_accounts=specs)
        return move_receipt(request.key, done.entries(), replayed=replayed)


def credit_deposit(ctx: Context, downloader: str, amount_msat: int, key: str) -> MoveReceipt:
    """Credit a confirmed deposit to a downloader's prepaid account (once per key)."""
    request, specs = deposit_request(downloader, amount_msat, key)
    return _record(ctx, request, specs)


def promo_credit(ctx: Context, downloader: str, amount_msat: int, key: str) -> MoveReceipt:
    """Give a downloader promotional credit paid by the platform (once per key)."""
    account = prepaid(party_id(downloader, "downloader id"))
    amount = msat(amount_msat)
    request = EntryRequest(event_key("promo:", key),
                           (Posting(PROMOTIONS, amount), Posting(account, -amount)),
                           memo="promotional credit")
    return _record(ctx, request, [default_spec(PROMOTIONS), default_spec(account)])


def _tip_replay(ctx: Context, conn: Connection, key: str, payer: Posting) -> Entry | None:
    found = rows.entry_ids_by_keys(conn, [key]).get(key)
    if found is None:
        return None
    entry = ctx.ledger.entry_in(conn, found[0])
    if entry is None or entry.postings[0] != payer:
        raise IdempotencyConflict(f"key {key!r} was used by entry {found[0]} for another event")
    return entry


def tip(ctx: Context, file: object, tipper: str, amount_msat: int, key: str) -> MoveReceipt:
    """Move ``amount_msat`` from a downloader's prepaid balance to a file's uploader."""
    fh = file_hash(file)
    account = prepaid(party_id(tipper, "tipper id"))
    amount = msat(amount_msat)
    if amount > MAX_PRICE_MSAT:
        raise InvalidAmount(f"a tip may be at most {MAX_PRICE_MSAT} msat, got {amount}")
    ledger_key = event_key("tip:", key)
    payer = Posting(account, amount, fh)
    with ctx.ledger.write() as conn:
        prior = _tip_replay(ctx, conn, ledger_key, payer)
        if prior is not None:
            return move_receipt(ledger_key, [prior], replayed=True)
        rec = files_rows.get_file(conn, fh)
        if rec is None:
            raise UnknownFile(f"no file is registered as {fh.hex()}")
        credited = credited_account(ctx, rec)
        have = files_rows.available(conn, [account]).get(account, 0)
        if have < amount:
            raise InsufficientFunds(f"{account} has {have} msat available, the tip is {amount}",
                                    account=account, available=have, needed=amount - have)
        request = EntryRequest(ledger_key, (payer, Posting(credited, -amount, fh)), memo="tip")
        done = ctx.ledger.record_many_in(conn, [request], atomic=True,
                                         open_accounts=[default_spec(credited)])
        return move_receipt(ledger_key, done.entries(), replayed=False)
