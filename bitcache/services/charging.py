"""Charging downloads: one step (one call or a batch) in one transaction, with the file's counter.

Each download is one balanced entry tagged with the file hash::

    liability:prepaid:<downloader>   +price        (debit: the downloader pays)
    liability:payable:<uploader>     -uploader     (or liability:held:<file> under a hold)
    revenue:platform                 -platform fee
    liability:payable:<referrer>     -referrer     (when the file has a referrer)

Zero parts are left out. The entry and the file's download counter commit
in the same transaction, under the ledger's writer lock, so two concurrent
downloads at the cap (or at the end of a balance) cannot both pass.

The entry's typed metadata (:class:`~bitcache.core.entrymeta.EntryMeta`,
covered by its hash) names the parts in posting order (``u`` uploader,
``p`` platform, ``r`` referrer), the bytes served of a metered download and
the fiat rate used, so a receipt can be rebuilt from the entry alone on a
retry. The memo says the same for people and is never parsed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import Connection

from bitcache.core.accounts import PLATFORM_REVENUE, AccountSpec, default_spec, held, payable
from bitcache.core.checks import is_int
from bitcache.core.entries import Entry, EntryRequest, Posting, content_hash, validate_request
from bitcache.core.entrymeta import charge_meta
from bitcache.core.filehash import FileHash, file_hash
from bitcache.core.files import FileRecord, HoldPolicy, party_id
from bitcache.core.pricing import MAX_FILE_SIZE, Split, full_price, prorate, split_price
from bitcache.errors import (
    BitcacheError,
    DownloadCapReached,
    FileHeld,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    LedgerError,
    UnknownFile,
)
from bitcache.services.context import Context, event_key
from bitcache.services.receipts import DownloadReceipt
from bitcache.store import files as files_rows
from bitcache.store.driver import pipelined
from bitcache.telemetry.metrics import BATCH_SECONDS, count_answers

log = logging.getLogger(__name__)

PREPAID = "liability:prepaid:"
#: Batches up to this many charges send their writes in one round trip (PostgreSQL).
PIPELINE_MAX = 256


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """One download to charge: the file, who downloaded it, the event id, bytes served.

    ``bytes_served`` None means the whole file; otherwise the price is
    prorated (see :mod:`bitcache.core.pricing`).
    """

    file: str | bytes
    downloader: str
    key: str
    bytes_served: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A validated download request."""

    fh: FileHash
    downloader: str
    key: str
    bytes_served: int | None

    @property
    def account(self) -> str:
        return PREPAID + self.downloader


def check_request(req: object, prefix: str = "dl:") -> Event:
    """Validate a request without touching the database."""
    if not isinstance(req, DownloadRequest):
        raise InvalidInput(f"expected a DownloadRequest, got {type(req).__name__}")
    served = req.bytes_served
    if served is not None and (
        not is_int(served) or not 0 <= served <= MAX_FILE_SIZE
    ):
        raise InvalidAmount(f"bytes served must be an int from 0 to the file size, got {served!r}")
    return Event(file_hash(req.file), party_id(req.downloader, "downloader id"),
                 event_key(prefix, req.key), served)


# -- entries and receipts ----------------------------------------------------


def charge_legs(
    fh: FileHash, payer: str, credited: str | None, referrer: str | None, split: Split
) -> tuple[tuple[Posting, ...], str]:
    """The postings of a charge (payer first) and the roles of the credit legs, in order."""
    legs = [Posting(payer, split.total, fh)]
    roles = ""
    for role, account, amount in (
        ("u", credited, split.uploader),
        ("p", PLATFORM_REVENUE, split.platform),
        ("r", referrer, split.referrer),
    ):
        if amount:
            assert account is not None
            legs.append(Posting(account, -amount, fh))
            roles += role
    return tuple(legs), roles


def split_of(entry: Entry) -> tuple[Split, dict[str, str]]:
    """The split an entry of :func:`charge_legs` made, and the account of each role."""
    roles = "" if entry.meta is None else entry.meta.parts
    amounts = {r: -p.amount for r, p in zip(roles, entry.postings[1:], strict=False)}
    accounts = {r: p.account for r, p in zip(roles, entry.postings[1:], strict=False)}
    total = entry.postings[0].amount
    return Split(total, amounts.get("p", 0), amounts.get("r", 0), amounts.get("u", 0)), accounts


def receipt(entry: Entry, balance_after: int, *, replayed: bool) -> DownloadReceipt:
    """The receipt of a charge entry (new or replayed)."""
    split, accounts = split_of(entry)
    payer = entry.postings[0]
    assert payer.file_hash is not None
    return DownloadReceipt(
        key=entry.key, entry_id=entry.id, file_hash=payer.file_hash.hex(),
        downloader=payer.account.removeprefix(PREPAID), price_msat=split.total,
        uploader_msat=split.uploader, platform_msat=split.platform,
        referrer_msat=split.referrer, credited=accounts.get("u", ""),
        balance_after_msat=-balance_after, replayed=replayed, memo=entry.memo,
    )


def same_event(entry: Entry, event: Event) -> bool:
    """Whether a recorded charge is the one ``event`` asks for (a faithful retry)."""
    payer, meta = entry.postings[0], entry.meta
    return (payer.account == event.account and payer.file_hash == event.fh
            and meta is not None and meta.bytes_served == event.bytes_served)


def credited_account(ctx: Context, rec: FileRecord) -> str:
    """Where the uploader's share of a charge goes: their payable, or the held account."""
    if rec.held:
        if ctx.hold_policy is HoldPolicy.REFUSE:
            raise FileHeld(f"file {rec.hex} is under a takedown hold")
        return held(rec.hex)
    return payable(rec.uploader)


def check_cap(rec: FileRecord, pending: int = 0) -> None:
    """Refuse when the file's download cap is reached (``pending``: admitted in this call)."""
    if rec.cap is not None and rec.downloads + pending >= rec.cap:
        raise DownloadCapReached(f"file {rec.hex} reached its cap of {rec.cap} downloads")


def credit_specs(rec: FileRecord, credited: str) -> list[AccountSpec]:
    """The accounts a charge credits, to open in its transaction."""
    names = [credited, PLATFORM_REVENUE]
    if rec.referrer is not None:
        names.append(payable(rec.referrer))
    return [_default_spec(n) for n in names]


#: An account's default spec, once per name (a frozen value: admission asks for the
#: specs of every charge's credited accounts).
_default_spec = lru_cache(maxsize=65_536)(default_spec)


# -- charge plans ----------------------------------------------------------------


def file_terms(rec: FileRecord) -> tuple[object, ...]:
    """What a charge is computed from: owner, price, size, referrer, hold (not the counter)."""
    return (rec.uploader, rec.price, rec.size, rec.referrer, rec.held)


class ChargePlan(NamedTuple):
    """A download's charge worked out from its file's terms: the price, its split, the
    validated ledger request and its content hash (no request when it is free).

    A group commit makes plans before it takes the writer lock, from the
    terms it last saw; under the lock a plan is used only if the file's terms
    are still ``terms`` — the cap and the balance are always checked there.
    """

    terms: tuple[object, ...]
    credited: str
    split: Split
    request: EntryRequest | None
    digest: bytes


def plan_charge(
    ctx: Context, event: Event, rec: FileRecord, credited: str,
    splits: dict[tuple[int, bool], Split] | None = None,
) -> ChargePlan:
    """The charge of ``event`` on file ``rec`` (price errors raise: ``InvalidInput``…)."""
    quote = full_price(rec.price, rec.size, ctx.rates)
    served = event.bytes_served
    charge = quote.msat if served is None else prorate(quote.msat, served, rec.size)
    if charge == 0:
        return ChargePlan(file_terms(rec), credited, Split(0, 0, 0, 0), None, b"")
    has_referrer = rec.referrer is not None
    split = None if splits is None else splits.get((charge, has_referrer))
    if split is None:
        split = split_price(charge, ctx.splits, has_referrer=has_referrer)
        if splits is not None:
            splits[(charge, has_referrer)] = split
    referrer = None if rec.referrer is None else payable(rec.referrer)
    legs, roles = charge_legs(event.fh, event.account, credited, referrer, split)
    meta = charge_meta(roles, served, None, quote.rate)
    request = validate_request(EntryRequest(event.key, legs, memo=meta.memo(), meta=meta))
    return ChargePlan(file_terms(rec), credited, split, request, content_hash(request))


# -- one-step downloads --------------------------------------------------------


class _Admitted(NamedTuple):
    """A charge admitted for recording: what its receipt says should the ledger record it.

    A NamedTuple, and the receipt is built once with its entry id: the batch
    path makes one per download.
    """

    position: int
    event: Event
    split: Split
    credited: str
    balance_after: int
    memo: str

    def receipt(self, entry_id: int) -> DownloadReceipt:
        split, event = self.split, self.event
        return DownloadReceipt(
            key=event.key, entry_id=entry_id, file_hash=event.fh.hex(),
            downloader=event.downloader, price_msat=split.total, uploader_msat=split.uploader,
            platform_msat=split.platform, referrer_msat=split.referrer,
            credited=self.credited if split.uploader else "",
            balance_after_msat=self.balance_after, memo=self.memo)


@dataclass(frozen=True, slots=True)
class _Replay:
    """A download whose key the ledger already holds: answered from entry ``entry_id``."""

    entry_id: int


@dataclass(frozen=True, slots=True)
class _Repeat:
    """A download whose key an earlier one of the same batch used (at ``first``), with the
    same content: answered as that one's retry."""

    first: int


#: Where a download of a batch stands: answered (receipt or refusal), a replay or a
#: repeat to resolve once the batch is recorded, or None while admitted but not recorded.
_Outcome = DownloadReceipt | BitcacheError | _Replay | _Repeat | None


class _Batch:
    """The admission of one batch of downloads inside a write transaction.

    ``isolate``: any refusal of one download, bad input included, is its
    answer alone (a group commit's members); otherwise bad input raises for
    the whole batch. ``plans``: charges planned before the lock, by position.
    """

    def __init__(self, ctx: Context, conn: Connection, events: Sequence[Event], *,
                 isolate: bool = False, plans: Sequence[ChargePlan | None] = ()):
        self.ctx, self.conn, self.events = ctx, conn, events
        self.isolate, self.plans = isolate, plans
        accounts = {e.account for e in events}  # and those the plans credit
        accounts.update(p.account for plan in plans if plan is not None and plan.request
                        for p in plan.request.postings)
        self.files, self.existing, self.balances = files_rows.charge_state(
            conn, {e.fh for e in events}, [e.key for e in events], accounts)
        self.posted = {n: (b.posted, b.pending_debits) for n, b in self.balances.items()}
        self.counts: Counter[bytes] = Counter()
        self.requests: list[EntryRequest] = []
        self.digests: list[bytes] = []
        self.admitted: list[_Admitted] = []
        self.specs: dict[str, AccountSpec] = {}
        self.first: dict[str, int] = {}
        self.split_cache: dict[tuple[int, bool], Split] = {}
        self.out: list[_Outcome] = [None] * len(events)

    def admit_all(self) -> None:
        refusals = BitcacheError if self.isolate else _REFUSALS
        for i, event in enumerate(self.events):
            try:
                self.out[i] = self._admit(i, event)
            except refusals as exc:
                self.out[i] = exc

    def _admit(self, i: int, event: Event) -> _Outcome:
        """A receipt (free), a replay, a repeat, or None (admitted) — or raise a refusal."""
        if event.key in self.first:
            return self._duplicate(event)
        self.first[event.key] = i
        if event.key in self.existing:
            return self._replay(event)
        rec = self.files.get(event.fh)
        if rec is None:
            raise UnknownFile(f"no file is registered as {event.fh.hex()}")
        plan = self.plans[i] if self.plans else None
        if plan is not None and plan.terms != file_terms(rec):
            plan = None  # the file changed since the plan was made
        credited = credited_account(self.ctx, rec) if plan is None else plan.credited
        check_cap(rec, self.counts[rec.file_hash])
        if plan is None:
            plan = plan_charge(self.ctx, event, rec, credited, self.split_cache)
        request, charge = plan.request, plan.split.total
        if request is None:
            self.counts[rec.file_hash] += 1
            return self._free(event, credited)
        posted, pending = self.posted.get(event.account, (0, 0))
        if -posted - pending < charge:
            have = max(-posted - pending, 0)
            raise InsufficientFunds(
                f"{event.account} has {have} msat available, the download costs {charge}",
                account=event.account, available=have, needed=charge - have)
        self.posted[event.account] = (posted + charge, pending)
        self.counts[rec.file_hash] += 1
        self.requests.append(request)
        self.digests.append(plan.digest)
        self.admitted.append(
            _Admitted(i, event, plan.split, credited, -(posted + charge), request.memo))
        referrer = None if rec.referrer is None else payable(rec.referrer)
        if credited not in self.specs or (referrer is not None and referrer not in self.specs):
            self.specs.update({s.name: s for s in credit_specs(rec, credited)})
        return None

    def _duplicate(self, event: Event) -> _Repeat:
        first = self.first[event.key]
        if self.events[first] != event:
            raise IdempotencyConflict(f"key {event.key!r} is used twice with other content")
        return _Repeat(first)  # resolved to the first one's answer once recorded

    def _replay(self, event: Event) -> _Replay:
        entry_id = self.existing[event.key][0]
        entry = self.ctx.ledger.entry_in(self.conn, entry_id)
        if entry is None or not same_event(entry, event):
            raise IdempotencyConflict(
                f"key {event.key!r} was used by entry {entry_id} for another download")
        return _Replay(entry_id)

    def _free(self, event: Event, credited: str) -> DownloadReceipt:
        posted, _ = self.posted.get(event.account, (0, 0))
        return DownloadReceipt(
            key=event.key, entry_id=None, file_hash=event.fh.hex(), downloader=event.downloader,
            price_msat=0, uploader_msat=0, platform_msat=0, referrer_msat=0, credited=credited,
            balance_after_msat=-posted,
        )

    def record(self) -> list[DownloadReceipt | BitcacheError]:
        """Record the admitted charges, count the downloads, and build every answer.

        The entries' rows and the counters of up to ``PIPELINE_MAX`` charges are
        sent together (one round trip on PostgreSQL, see ``pipelined``; larger
        batches load their rows with COPY); the accounts to open go first.
        """
        self.ctx.ledger.open_accounts_in(self.conn, list(self.specs.values()))
        with pipelined(self.conn, when=len(self.requests) <= PIPELINE_MAX):
            done = self.ctx.ledger.record_many_in(
                self.conn, self.requests, atomic=False, hashes=self.digests, existing={},
                balances=self.balances)
            new: dict[int, Entry] = {}
            for adm, result in zip(self.admitted, done.results, strict=True):
                if isinstance(result, Entry):
                    new[adm.position] = result
                    self.out[adm.position] = adm.receipt(result.id)
                else:
                    self.out[adm.position] = result
                    self.counts[adm.event.fh] -= 1
            files_rows.add_downloads(self.conn, {fh: n for fh, n in self.counts.items() if n > 0})
        if done.refused:  # the ledger disagreed with admission: read balances back
            after = files_rows.balances_after(self.conn, [e.id for e in new.values()])
            for i, entry in new.items():
                self.out[i] = receipt(entry, after[entry.id], replayed=False)
        return self._answers()

    def _answers(self) -> list[DownloadReceipt | BitcacheError]:
        replays = {i: v.entry_id for i, v in enumerate(self.out) if isinstance(v, _Replay)}
        after = files_rows.balances_after(self.conn, list(replays.values())) if replays else {}
        answers: list[DownloadReceipt | BitcacheError] = []
        for value in self.out:
            if isinstance(value, _Replay):
                entry = self.ctx.ledger.entry_in(self.conn, value.entry_id)
                assert entry is not None
                answers.append(receipt(entry, after[entry.id], replayed=True))
            elif isinstance(value, _Repeat):
                answers.append(_as_replay(answers[value.first]))
            else:
                assert value is not None
                answers.append(value)
        return answers


_REFUSALS = (LedgerError, UnknownFile, DownloadCapReached, FileHeld)


def _as_replay(first: DownloadReceipt | BitcacheError) -> DownloadReceipt | BitcacheError:
    if isinstance(first, DownloadReceipt) and first.entry_id is not None:
        return dataclasses.replace(first, replayed=True)
    return first


def charge_downloads(
    ctx: Context, requests: Sequence[DownloadRequest]
) -> list[DownloadReceipt | BitcacheError]:
    """Charge many downloads in one transaction and one commit; an answer per request.

    Bad input anywhere (malformed hash, bad id, bytes above the file's size,
    a price that cannot be computed) raises and writes nothing. A refusal
    (unknown file, cap reached, file held, insufficient funds, a key reused
    with other content) is returned in that request's place; the others are
    charged, each seeing the effects of those before it.
    """
    events = [check_request(r) for r in requests]
    if not events:
        return []
    started = time.perf_counter()
    with ctx.ledger.write() as conn:
        answers = charge_events_in(ctx, conn, events)
    if any(isinstance(a, DownloadReceipt) and a.replayed for a in answers):
        ctx.ledger.sync()  # a replay may answer from a group flush not yet synced
    BATCH_SECONDS.observe(time.perf_counter() - started)
    count_answers(answers)
    if log.isEnabledFor(logging.DEBUG):
        log_refusals(events, answers)
    return answers


def log_refusals(events: Sequence[Event], answers: Sequence[object]) -> None:
    """One debug line per refused download: its key, file, downloader and reason."""
    for event, answer in zip(events, answers, strict=True):
        if isinstance(answer, BitcacheError):
            log.debug(
                "download %s of %s by %s refused: %s: %s", event.key, event.fh.hex(),
                event.downloader, type(answer).__name__, answer,
                extra={"reason": type(answer).__name__, "key": event.key},
            )


def charge_events_in(
    ctx: Context, conn: Connection, events: Sequence[Event], *, isolate: bool = False,
    plans: Sequence[ChargePlan | None] = (), seen: dict[bytes, FileRecord] | None = None,
) -> list[DownloadReceipt | BitcacheError]:
    """Charge validated downloads inside the caller's write transaction (see ``_Batch``);
    ``seen`` receives the file records read under the lock (for the next plans)."""
    batch = _Batch(ctx, conn, events, isolate=isolate, plans=plans)
    if seen is not None:
        seen.update(batch.files)
    batch.admit_all()
    return batch.record()


def charge_download(ctx: Context, request: DownloadRequest) -> DownloadReceipt:
    """Charge one download, or raise its refusal (nothing written)."""
    (answer,) = charge_downloads(ctx, [request])
    if isinstance(answer, BitcacheError):
        raise answer
    return answer
