"""Verifiable earnings statements: what an uploader earned and was paid, provably.

A statement covers one uploader and one period ``[start, end)`` of entry
``recorded_at`` times (µs). It has one *line* per posting to the uploader's
``liability:payable:<uploader>`` account in a journal entry that moves
posted money (``posted``, ``post_pending``, ``reversal``; pending
reservations and voids move nothing and are not lines). Each line discloses
its whole journal entry, so a verifier recomputes the entry's hash itself,
and carries an RFC 6962 inclusion proof of that hash (leaf index = entry
id − 1) against a signed tree head over the journal. Per-file totals,
payouts and balance totals are derived from the lines and checked against
what the document states; the whole document is signed with the
platform's Ed25519 key. :func:`~bitcache.statements.verify.verify_statement`
needs only the document and the platform's public key, and names the first
line or field that fails.

How a posting reads as a line (:func:`classify`):

* ``download``   — a credit with a file hash, in a posted/post_pending entry that
  debits a downloader's ``liability:prepaid:`` account: +1 download;
* ``reversal``   — a debit with a file hash, in a reversal entry that credits a
  prepaid account back: −1 download;
* ``payout``     — a debit without a file hash, in a posted/post_pending entry whose
  memo starts with ``payout`` (``payout <txid>`` names the transaction, and
  ``payout <txid> sent <n> sat, fee share <m> msat`` also says what reached
  the uploader on chain and what paid for their output: the debit is
  ``n × 1000 + m``);
* ``adjustment`` — any other posting (holds, corrections).

A statement also lists the changes of terms (owner, price, size, cap,
referrer) of the uploader's files in the period: the platform's signed
claim, like the opening balance, since the terms history is not part of
the journal.

Pure: keys come in as arguments; nothing here reads a clock or a database.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.core.accounts import payable
from bitcache.core.entries import MOVING_KINDS, Entry, EntryKind
from bitcache.core.entrymeta import encode_meta
from bitcache.core.filehash import FileHash
from bitcache.core.payoutmemo import payout_memo, payout_split, payout_txid
from bitcache.core.terms import TermChange, change_json
from bitcache.statements.treehead import (
    SignedTreeHead,
    anchor_payload,
    parse_anchor,
    verify_consistency,
)

__all__ = [
    "FORMAT",
    "READABLE_FORMATS",
    "SIGNATURE_DOMAIN",
    "FileEarnings",
    "LineFacts",
    "LineKind",
    "PayoutLine",
    "SignedTreeHead",
    "Statement",
    "StatementLine",
    "Summary",
    "VerifiedStatement",
    "anchor_payload",
    "canonical_json",
    "classify",
    "entry_json",
    "parse_anchor",
    "payout_memo",
    "payout_split",
    "payout_txid",
    "sign_statement",
    "statement_json",
    "summarize",
    "summary_json",
    "verify_consistency",
]

FORMAT = "bitcache-statement/3"
#: Formats the verifier reads: version 3 entries may carry ``meta`` (covered by their hash).
READABLE_FORMATS = frozenset({"bitcache-statement/2", FORMAT})
#: What a statement's signature covers: this prefix, then the canonical JSON of the document.
SIGNATURE_DOMAIN = b"bitcache:statement:v1\x00"
_PREPAID = "liability:prepaid:"


class LineKind(enum.Enum):
    """What a posting to the uploader's account means to the uploader."""

    DOWNLOAD = "download"
    REVERSAL = "reversal"
    PAYOUT = "payout"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True, slots=True)
class LineFacts:
    """A line's meaning: ``amount_msat`` > 0 adds to what the platform owes the uploader.

    A payout whose entry records its split also has ``received_sat`` (the
    output value the uploader received on chain) and ``fee_share_msat``
    (their share of the network fee); both are None on other lines.
    """

    kind: LineKind
    amount_msat: int
    downloads: int
    file_hash: FileHash | None
    txid: str | None
    received_sat: int | None = None
    fee_share_msat: int | None = None


@dataclass(frozen=True, slots=True)
class StatementLine:
    """Posting number ``posting`` of the disclosed ``entry``, its meaning and its proof."""

    entry: Entry
    posting: int
    facts: LineFacts
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    """An uploader's statement for ``[start, end)`` µs, its lines proven against ``tree_head``.

    ``opening_msat`` is the uploader's posted payable balance before the
    period (the platform's claim: it is signed, not proven by the lines).
    """

    platform: str
    uploader: str
    start: int
    end: int
    opening_msat: int
    tree_head: SignedTreeHead
    lines: tuple[StatementLine, ...]
    term_changes: tuple[TermChange, ...] = ()

    @property
    def account(self) -> str:
        """The uploader's payable account."""
        return payable(self.uploader)


@dataclass(frozen=True, slots=True)
class FileEarnings:
    """Downloads (net of reversals) and msat earned by one file in the period."""

    file_hash: FileHash
    downloads: int
    earned_msat: int


@dataclass(frozen=True, slots=True)
class PayoutLine:
    """A payout: the entry that made it final, its transaction, and what it debited.

    ``amount_msat`` is what left the uploader's balance; of it,
    ``received_sat`` whole sats reached them on chain and ``fee_share_msat``
    paid for their output (None when the entry does not record the split).
    """

    entry_id: int
    txid: str | None
    amount_msat: int
    received_sat: int | None = None
    fee_share_msat: int | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """Totals derived from the lines (``net = earned − paid + adjusted``)."""

    files: tuple[FileEarnings, ...]
    payouts: tuple[PayoutLine, ...]
    earned_msat: int
    paid_msat: int
    adjusted_msat: int
    opening_msat: int
    closing_msat: int


@dataclass(frozen=True, slots=True)
class VerifiedStatement:
    """A statement whose every line, total and signature verified."""

    statement: Statement
    summary: Summary


# -- meaning of a posting ----------------------------------------------------


def _downloader_side(entry: Entry, reversal: bool) -> bool:
    """A download debits a downloader's prepaid account; its reversal credits it back."""
    return any(
        p.account.startswith(_PREPAID) and (p.amount < 0 if reversal else p.amount > 0)
        for p in entry.postings
    )


def classify(entry: Entry, index: int) -> LineFacts | None:
    """What posting ``index`` of ``entry`` means to its account's owner (None: not a line)."""
    if entry.kind not in MOVING_KINDS or not 0 <= index < len(entry.postings):
        return None
    p = entry.postings[index]
    amount = -p.amount
    reversal = entry.kind is EntryKind.REVERSAL
    if p.file_hash is not None and _downloader_side(entry, reversal):
        if p.amount < 0 and not reversal:
            return LineFacts(LineKind.DOWNLOAD, amount, 1, p.file_hash, None)
        if p.amount > 0 and reversal:
            return LineFacts(LineKind.REVERSAL, amount, -1, p.file_hash, None)
    if p.file_hash is None and p.amount > 0 and not reversal and entry.memo.startswith("payout"):
        split = payout_split(entry.memo)
        received, share = (None, None) if split is None else split
        return LineFacts(LineKind.PAYOUT, amount, 0, None, payout_txid(entry.memo), received,
                         share)
    return LineFacts(LineKind.ADJUSTMENT, amount, 0, p.file_hash, None)


def summarize(statement: Statement) -> Summary:
    """Per-file earnings, payouts and balance totals derived from the lines."""
    files: dict[bytes, tuple[int, int]] = {}
    payouts: list[PayoutLine] = []
    earned = paid = adjusted = 0
    for line in statement.lines:
        f = line.facts
        if f.kind in (LineKind.DOWNLOAD, LineKind.REVERSAL):
            assert f.file_hash is not None
            downloads, msat = files.get(f.file_hash, (0, 0))
            files[f.file_hash] = (downloads + f.downloads, msat + f.amount_msat)
            earned += f.amount_msat
        elif f.kind is LineKind.PAYOUT:
            payouts.append(PayoutLine(line.entry.id, f.txid, -f.amount_msat, f.received_sat,
                                      f.fee_share_msat))
            paid -= f.amount_msat
        else:
            adjusted += f.amount_msat
    per_file = tuple(FileEarnings(FileHash(h), d, m) for h, (d, m) in sorted(files.items()))
    closing = statement.opening_msat + earned - paid + adjusted
    return Summary(per_file, tuple(payouts), earned, paid, adjusted, statement.opening_msat,
                   closing)


# -- JSON form ---------------------------------------------------------------


def canonical_json(obj: object) -> bytes:
    """Sorted keys, no spaces, ASCII: the bytes signatures cover."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _hex_or_none(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def entry_json(entry: Entry) -> dict[str, object]:
    """A journal entry as disclosed in a statement line (enough to recompute its hash).

    ``meta`` (canonical text) appears when the entry's hash covers its metadata.
    """
    shown: dict[str, object] = {}
    if entry.content_version == 2 and entry.meta is not None:
        shown["meta"] = encode_meta(entry.meta)
    return shown | {
        "id": entry.id,
        "key": entry.key,
        "kind": entry.kind.value,
        "ref": entry.ref,
        "expires_at": entry.expires_at,
        "memo": entry.memo,
        "recorded_at": entry.recorded_at,
        "prev_hash": entry.prev_hash.hex(),
        "entry_hash": entry.entry_hash.hex(),
        "postings": [
            {"account": p.account, "amount": p.amount, "file_hash": _hex_or_none(p.file_hash)}
            for p in entry.postings
        ],
    }


def _line_json(n: int, line: StatementLine) -> dict[str, object]:
    f = line.facts
    return {
        "n": n,
        "kind": f.kind.value,
        "amount_msat": f.amount_msat,
        "downloads": f.downloads,
        "file_hash": _hex_or_none(f.file_hash),
        "txid": f.txid,
        "received_sat": f.received_sat,
        "fee_share_msat": f.fee_share_msat,
        "posting": line.posting,
        "entry": entry_json(line.entry),
        "proof": [h.hex() for h in line.proof],
    }


def summary_json(summary: Summary) -> dict[str, object]:
    """The derived part of a statement document."""
    return {
        "files": [
            {"file_hash": f.file_hash.hex(), "downloads": f.downloads, "earned_msat": f.earned_msat}
            for f in summary.files
        ],
        "payouts": [
            {"entry_id": p.entry_id, "txid": p.txid, "amount_msat": p.amount_msat,
             "received_sat": p.received_sat, "fee_share_msat": p.fee_share_msat}
            for p in summary.payouts
        ],
        "totals": {
            "earned_msat": summary.earned_msat,
            "paid_msat": summary.paid_msat,
            "adjusted_msat": summary.adjusted_msat,
            "opening_msat": summary.opening_msat,
            "closing_msat": summary.closing_msat,
        },
    }


def statement_json(statement: Statement) -> dict[str, object]:
    """The unsigned document: header, tree head, lines and derived totals."""
    return {
        "format": FORMAT,
        "platform": statement.platform,
        "uploader": statement.uploader,
        "account": statement.account,
        "period": {"start": statement.start, "end": statement.end},
        "tree_head": statement.tree_head.to_json(),
        "lines": [_line_json(i, line) for i, line in enumerate(statement.lines, 1)],
        "terms": [change_json(c) for c in statement.term_changes],
        **summary_json(summarize(statement)),
    }


def sign_statement(statement: Statement, private_key: Ed25519PrivateKey) -> bytes:
    """The signed JSON document (UTF-8, indented, sorted keys) for ``statement``."""
    doc = statement_json(statement)
    doc["signature"] = private_key.sign(SIGNATURE_DOMAIN + canonical_json(doc)).hex()
    return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode()
