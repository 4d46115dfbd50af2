"""Reading and checking a statement document (the verifier's side of :mod:`statement`).

Everything in a document is untrusted input: each field is type-checked,
every disclosed entry is re-hashed, every line is compared with the posting
it names, and every proof is walked to the signed root. Failures raise
:class:`~bitcache.errors.StatementInvalid` naming the line (``.line``) or
field at fault. Pure: no clock, no database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bitcache.core.accounts import payable
from bitcache.core.checks import INT64_MAX, INT64_MIN, is_int
from bitcache.core.entries import Entry, EntryKind, EntryRequest, Posting, content_hash
from bitcache.core.entrymeta import EntryMeta, decode_meta
from bitcache.core.filehash import FileHash
from bitcache.core.journal import chain_hash
from bitcache.core.payoutmemo import split_adds_up
from bitcache.core.terms import TermChange, change_from_json
from bitcache.errors import InvalidInput, InvalidMetadata, StatementInvalid
from bitcache.statements import merkle
from bitcache.statements.statement import (
    FORMAT,
    READABLE_FORMATS,
    LineFacts,
    LineKind,
    Statement,
    StatementLine,
    classify,
)
from bitcache.statements.treehead import SignedTreeHead

_TOP = frozenset(
    {"format", "platform", "uploader", "account", "period", "tree_head", "lines", "terms",
     "files", "payouts", "totals", "signature"}
)
_LINE = frozenset(
    {"n", "kind", "amount_msat", "downloads", "file_hash", "txid", "received_sat",
     "fee_share_msat", "posting", "entry", "proof"}
)
_ENTRY = frozenset(
    {"id", "key", "kind", "ref", "expires_at", "memo", "recorded_at", "prev_hash", "entry_hash",
     "postings"}
)
_ENTRY_META = _ENTRY | {"meta"}
_POSTING = frozenset({"account", "amount", "file_hash"})


def public_key(value: Ed25519PublicKey | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from the key object or its 32 raw bytes."""
    if isinstance(value, Ed25519PublicKey):
        return value
    if isinstance(value, bytes) and len(value) == 32:
        return Ed25519PublicKey.from_public_bytes(value)
    raise InvalidInput("the platform's public key must be an Ed25519 key or its 32 raw bytes")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return out


def _no_float(text: str) -> object:
    raise ValueError(f"non-integer number {text[:20]} (amounts are integers of msat)")


def load_document(document: bytes) -> dict[str, object]:
    """Parse a statement document: JSON, no floats, no duplicate keys, an object."""
    if not isinstance(document, bytes | bytearray):
        raise InvalidInput("a statement document is bytes")
    try:
        doc = json.loads(
            bytes(document).decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_float,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StatementInvalid(f"the statement is not a valid JSON document: {exc}") from exc
    if not isinstance(doc, dict):
        raise StatementInvalid("the statement must be a JSON object")
    return doc


@dataclass(frozen=True, slots=True)
class _Fields:
    """Typed access to one JSON object of the document, with errors naming it."""

    obj: Mapping[str, object]
    where: str
    line: int | None = None

    @classmethod
    def of(
        cls, value: object, where: str, keys: frozenset[str], line: int | None = None
    ) -> _Fields:
        if not isinstance(value, Mapping):
            raise StatementInvalid(f"{where} must be a JSON object", line=line)
        if set(value) != keys:
            missing, extra = sorted(keys - set(value)), sorted(set(value) - keys)
            raise StatementInvalid(f"{where}: missing {missing}, unexpected {extra}", line=line)
        return cls(value, where, line)

    def fail(self, message: str) -> StatementInvalid:
        return StatementInvalid(f"{self.where}: {message}", line=self.line)

    def num(self, key: str) -> int:
        value = self.obj[key]
        if not is_int(value) or not INT64_MIN <= value <= INT64_MAX:
            raise self.fail(f"{key} must be a 64-bit integer")
        return value

    def opt_num(self, key: str) -> int | None:
        return None if self.obj[key] is None else self.num(key)

    def text(self, key: str) -> str:
        value = self.obj[key]
        if not isinstance(value, str):
            raise self.fail(f"{key} must be text")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self.obj[key] is None else self.text(key)

    def hex(self, key: str, size: int = 32) -> bytes:
        return _hex(self.obj[key], size, lambda: self.fail(f"{key} must be {size} bytes of hex"))

    def opt_hex(self, key: str) -> bytes | None:
        return None if self.obj[key] is None else self.hex(key)

    def seq(self, key: str) -> Sequence[object]:
        value = self.obj[key]
        if not isinstance(value, list):
            raise self.fail(f"{key} must be a list")
        return value


def _hex(value: object, size: int, error: object) -> bytes:
    if isinstance(value, str) and len(value) == 2 * size and value == value.lower():
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    assert callable(error)
    raise error()


def signature_bytes(value: object) -> bytes:
    """The 64-byte signature of the document, from its hex."""
    return _hex(value, 64, lambda: StatementInvalid("signature must be 64 bytes of hex"))


@dataclass(frozen=True, slots=True)
class _Context:
    account: str
    start: int
    end: int
    head: SignedTreeHead
    meta_allowed: bool  # entries of version 3 documents may carry typed metadata


def read_statement(doc: Mapping[str, object], key: Ed25519PublicKey) -> Statement:
    """The statement in ``doc``, with its tree head's signature and every line checked."""
    top = _Fields.of(doc, "statement", _TOP)
    if top.obj["format"] not in READABLE_FORMATS:
        raise top.fail(f"format must be {FORMAT!r} (or an earlier readable one), got "
                       f"{str(top.obj['format'])[:40]!r}")
    uploader = top.text("uploader")
    try:
        account = payable(uploader)
    except InvalidInput as exc:
        raise top.fail(f"uploader {uploader[:80]!r} is not a valid uploader name") from exc
    if top.text("account") != account:
        raise top.fail(f"account must be {account}")
    period = _Fields.of(top.obj["period"], "period", frozenset({"start", "end"}))
    start, end = period.num("start"), period.num("end")
    if start >= end:
        raise period.fail("start must be before end")
    head = SignedTreeHead.from_json(top.obj["tree_head"]).verify(key)
    opening = _Fields.of(top.obj["totals"], "totals", _TOTALS).num("opening_msat")
    ctx = _Context(account, start, end, head, top.obj["format"] == FORMAT)
    lines = tuple(_read_line(i, raw, ctx) for i, raw in enumerate(top.seq("lines"), 1))
    _check_order(lines, account)
    terms = _read_terms(top.seq("terms"), uploader, start, end)
    return Statement(top.text("platform"), uploader, start, end, opening, head, lines, terms)


_TOTALS = frozenset({"earned_msat", "paid_msat", "adjusted_msat", "opening_msat", "closing_msat"})


def _read_line(n: int, raw: object, ctx: _Context) -> StatementLine:
    f = _Fields.of(raw, f"line {n}", _LINE, line=n)
    if f.num("n") != n:
        raise f.fail(f"is numbered {f.obj['n']}: lines are numbered 1, 2, 3… in order "
                     "(a line was removed, added or moved)")
    raw_entry = f.obj["entry"]
    keys = _ENTRY_META if ctx.meta_allowed and isinstance(raw_entry, Mapping) and (
        "meta" in raw_entry) else _ENTRY
    entry = _read_entry(_Fields.of(raw_entry, f"line {n} entry", keys, line=n))
    g = _Fields(f.obj, f"line {n} (entry {entry.id})", n)
    index = g.num("posting")
    if not 0 <= index < len(entry.postings) or entry.postings[index].account != ctx.account:
        raise g.fail(f"posting {index} of the entry is not a posting to {ctx.account}")
    actual = classify(entry, index)
    if actual is None:
        raise g.fail(f"a {entry.kind.value} entry moves no posted money and is not a line")
    stated = _stated_facts(g)
    _check_split(g, stated)
    _compare(g, stated, actual)
    if not ctx.start <= entry.recorded_at < ctx.end:
        raise g.fail(f"the entry was recorded at {entry.recorded_at}, outside the period")
    if entry.id > ctx.head.tree_size:
        raise g.fail(f"the entry is not under the tree head of size {ctx.head.tree_size}")
    proof = tuple(_hex(h, 32, lambda: g.fail("proof hashes must be 32 bytes of hex"))
                  for h in g.seq("proof"))
    leaf = merkle.leaf_hash(entry.entry_hash)
    if not merkle.verify_inclusion(
        leaf, entry.id - 1, ctx.head.tree_size, proof, ctx.head.root_hash
    ):
        raise g.fail("the inclusion proof does not lead from the entry hash to the signed "
                     "tree head's root: the entry is not in the journal the platform signed")
    return StatementLine(entry, index, actual, proof)


def _stated_facts(f: _Fields) -> LineFacts:
    try:
        kind = LineKind(f.obj["kind"])
    except ValueError as exc:
        raise f.fail(f"kind {f.obj['kind']!r} is not one of the line kinds") from exc
    file = f.opt_hex("file_hash")
    return LineFacts(
        kind, f.num("amount_msat"), f.num("downloads"),
        None if file is None else FileHash(file), f.opt_text("txid"),
        f.opt_num("received_sat"), f.opt_num("fee_share_msat"),
    )


def _check_split(f: _Fields, stated: LineFacts) -> None:
    """A payout's sats received on chain and fee share add up to what it debited."""
    if stated.kind is not LineKind.PAYOUT:
        return
    received, share = stated.received_sat, stated.fee_share_msat
    if (received is not None and received < 0) or (share is not None and share < 0):
        raise f.fail("received_sat and fee_share_msat cannot be negative")
    if not split_adds_up(-stated.amount_msat, received, share):
        raise f.fail(
            f"received_sat {received} and fee_share_msat {share} do not add up to the "
            f"{-stated.amount_msat} msat the payout debited (received × 1000 + fee share)"
        )


def _shown(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, LineKind):
        return value.value
    return repr(value)


def _compare(f: _Fields, stated: LineFacts, actual: LineFacts) -> None:
    for name in ("kind", "amount_msat", "downloads", "file_hash", "txid", "received_sat",
                 "fee_share_msat"):
        said, real = getattr(stated, name), getattr(actual, name)
        if said != real:
            raise f.fail(
                f"{name} says {_shown(said)} but the journal entry's posting means {_shown(real)}"
            )


def _read_posting(f: _Fields) -> Posting:
    file = f.opt_hex("file_hash")
    return Posting(f.text("account"), f.num("amount"), None if file is None else FileHash(file))


def _read_entry(f: _Fields) -> Entry:
    try:
        kind = EntryKind(f.obj["kind"])
    except ValueError as exc:
        raise f.fail(f"kind {f.obj['kind']!r} is not an entry kind") from exc
    entry_id, recorded_at = f.num("id"), f.num("recorded_at")
    if entry_id < 1:
        raise f.fail("id must be positive")
    postings = tuple(
        _read_posting(_Fields.of(p, f"{f.where} posting {i}", _POSTING, line=f.line))
        for i, p in enumerate(f.seq("postings"))
    )
    key, memo = f.text("key"), f.text("memo")
    ref, expires = f.opt_num("ref"), f.opt_num("expires_at")
    meta = _read_meta(f) if "meta" in f.obj else None
    content = content_hash(EntryRequest(key, postings, kind, ref, expires, memo, meta))
    prev, stated = f.hex("prev_hash"), f.hex("entry_hash")
    if chain_hash(content, entry_id, recorded_at, prev) != stated:
        raise f.fail(
            f"entry {entry_id} does not hash to its entry hash: its postings, memo, key or "
            "place in the journal were altered"
        )
    return Entry(entry_id, key, kind, postings, ref, expires, memo, recorded_at, content, prev,
                 stated, meta, 1 if meta is None else 2)


def _read_meta(f: _Fields) -> EntryMeta:
    try:
        return decode_meta(f.obj["meta"])
    except InvalidMetadata as exc:
        raise f.fail(f"meta: {exc}") from exc


def _check_order(lines: Sequence[StatementLine], account: str) -> None:
    """Lines in journal order, no repeats, and every posting to the account listed."""
    last = (0, -1)
    listed: dict[int, set[int]] = {}
    for n, line in enumerate(lines, 1):
        here = (line.entry.id, line.posting)
        if here <= last:
            raise StatementInvalid(
                f"line {n} (entry {line.entry.id}): lines must follow journal order without "
                "repeats", line=n,
            )
        last = here
        listed.setdefault(line.entry.id, set()).add(line.posting)
    for line in lines:
        on_account = {i for i, p in enumerate(line.entry.postings) if p.account == account}
        if on_account != listed[line.entry.id]:
            raise StatementInvalid(
                f"entry {line.entry.id} has postings to {account} that no line lists "
                "(a line was removed)"
            )


def _read_terms(
    items: Sequence[object], uploader: str, start: int, end: int
) -> tuple[TermChange, ...]:
    """The term changes listed: well formed, in the period, about the uploader, in order."""
    changes: list[TermChange] = []
    for n, raw in enumerate(items, 1):
        try:
            change = change_from_json(raw)
        except InvalidInput as exc:
            raise StatementInvalid(f"terms item {n}: {exc}") from exc
        if not start <= change.changed_at < end:
            raise StatementInvalid(
                f"terms item {n}: changed at {change.changed_at}, outside the period")
        sides = [change.new] if change.old is None else [change.old, change.new]
        if not any(uploader in (t.uploader, t.referrer) for t in sides):
            raise StatementInvalid(
                f"terms item {n}: file {change.hex} is neither owned nor referred by {uploader}")
        if changes and change.seq <= changes[-1].seq:
            raise StatementInvalid(f"terms item {n}: changes must be listed in order")
        changes.append(change)
    return tuple(changes)


def check_summary(doc: Mapping[str, object], derived: Mapping[str, object]) -> None:
    """The stated files, payouts and totals equal what the lines add up to."""
    for name in ("files", "payouts"):
        stated, real = doc.get(name), derived[name]
        if stated != real:
            raise StatementInvalid(f"{name}: {_first_difference(stated, real)}")
    totals = _Fields.of(doc.get("totals"), "totals", _TOTALS)
    real_totals = derived["totals"]
    assert isinstance(real_totals, Mapping)
    for key in sorted(_TOTALS):
        if totals.num(key) != real_totals[key]:
            raise totals.fail(
                f"{key} says {totals.obj[key]} but the lines add up to {real_totals[key]}"
            )


def _first_difference(stated: object, real: object) -> str:
    if not isinstance(stated, list) or not isinstance(real, list):
        return "must be a list"
    for i, (a, b) in enumerate(zip(stated, real, strict=False)):
        if a != b:
            return f"item {i + 1} says {json.dumps(a)} but the lines give {json.dumps(b)}"
    return f"the statement lists {len(stated)} items, the lines give {len(real)}"
