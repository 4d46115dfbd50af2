"""The JSON form of what the hooks and services answer, and the schemas that describe it.

Views show amounts in msat (integers) and leave out ledger account names:
a receipt says what was charged and split, not which accounts moved.
"""

from __future__ import annotations

from typing import Any

from bitcache.core.files import FileRecord
from bitcache.core.pricing import PriceKind, PriceRule
from bitcache.errors import InvalidInput
from bitcache.serve.schema import HEX64, PARTY, nullable, obj
from bitcache.services.earnings import FileEarnings
from bitcache.services.receipts import DownloadReceipt, MoveReceipt, TransferReceipt
from bitcache.settlement.model import Settlement
from bitcache.store.settlement import PayoutAddress

INT = {"type": "integer"}
TEXT = {"type": "string"}
BOOL = {"type": "boolean"}

PRICE = obj({"kind": {"type": "string", "enum": [k.value for k in PriceKind]}},
            {"amount": {"type": "integer", "minimum": 0, "maximum": 100_000_000_000},
             "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}})


def price_rule(body: dict[str, Any]) -> PriceRule:
    """A price member (``{"kind": "fixed", "amount": 2000}``) as a rule."""
    kind = PriceKind(body["kind"])
    if kind is PriceKind.FREE:
        if body.get("amount", 0) != 0 or "currency" in body:
            raise InvalidInput("a free price has no amount or currency")
        return PriceRule.free()
    if "amount" not in body:
        raise InvalidInput(f"a {kind.value} price needs an amount")
    if kind is PriceKind.FIAT:
        return PriceRule.fiat(body["amount"], body.get("currency", ""))
    if "currency" in body:
        raise InvalidInput(f"a {kind.value} price has no currency")
    return PriceRule(kind, body["amount"])


def price_view(rule: PriceRule) -> dict[str, Any]:
    view: dict[str, Any] = {"kind": rule.kind.value, "amount": rule.amount}
    if rule.currency is not None:
        view["currency"] = rule.currency
    return view


FILE = {"type": "object", "properties": {
    "file": HEX64, "uploader": PARTY, "price": PRICE, "size": nullable(INT),
    "cap": nullable(INT), "referrer": nullable(PARTY), "downloads": INT, "held": BOOL}}


def file_view(rec: FileRecord) -> dict[str, Any]:
    return {"file": rec.hex, "uploader": rec.uploader, "price": price_view(rec.price),
            "size": rec.size, "cap": rec.cap, "referrer": rec.referrer,
            "downloads": rec.downloads, "held": rec.held}


DOWNLOAD = {"type": "object", "properties": {
    "entry_id": nullable(INT), "file": HEX64, "downloader": PARTY, "price_msat": INT,
    "uploader_msat": INT, "platform_msat": INT, "referrer_msat": INT,
    "balance_after_msat": INT, "replayed": BOOL}}


def download_view(r: DownloadReceipt) -> dict[str, Any]:
    return {"entry_id": r.entry_id, "file": r.file_hash, "downloader": r.downloader,
            "price_msat": r.price_msat, "uploader_msat": r.uploader_msat,
            "platform_msat": r.platform_msat, "referrer_msat": r.referrer_msat,
            "balance_after_msat": r.balance_after_msat, "replayed": r.replayed}


TRANSFER = {"type": "object", "properties": {
    "transfer_id": nullable(INT), "file": HEX64, "downloader": PARTY, "reserved_msat": INT,
    "expires_at": nullable(INT), "replayed": BOOL}}


def transfer_view(r: TransferReceipt) -> dict[str, Any]:
    return {"transfer_id": r.pending_id, "file": r.file_hash, "downloader": r.downloader,
            "reserved_msat": r.reserved_msat, "expires_at": r.expires_at,
            "replayed": r.replayed}


MOVE = {"type": "object", "properties": {
    "entry_ids": {"type": "array", "items": INT}, "amount_msat": INT, "replayed": BOOL}}


def move_view(r: MoveReceipt | None) -> dict[str, Any]:
    if r is None:
        return {"entry_ids": [], "amount_msat": 0, "replayed": False}
    return {"entry_ids": list(r.entry_ids), "amount_msat": r.amount_msat,
            "replayed": r.replayed}


EARNINGS = {"type": "object", "properties": {"uploader": PARTY, "files": {
    "type": "array", "items": {"type": "object", "properties": {
        "file": HEX64, "downloads": INT, "msat": INT}}}}}


def earnings_view(uploader: str, rows: list[FileEarnings]) -> dict[str, Any]:
    return {"uploader": uploader, "files": [
        {"file": r.hex, "downloads": r.downloads, "msat": r.msat} for r in rows]}


PAYOUT_ADDRESS = {"type": "object", "properties": {
    "uploader": PARTY, "address": TEXT, "script_type": TEXT, "since": INT}}


def payout_view(p: PayoutAddress) -> dict[str, Any]:
    return {"uploader": p.uploader, "address": p.address, "script_type": p.script_type.value,
            "since": p.created_at}


SETTLEMENTS = {"type": "object", "properties": {"settlements": {
    "type": "array", "items": {"type": "object"}}}}


def settlement_view(s: Settlement) -> dict[str, Any]:
    latest = s.latest
    return {"id": s.id, "state": s.state.value, "created_height": s.created_height,
            "broadcast_height": s.broadcast_height, "confirmations": s.confirmations,
            "txid": None if latest is None else latest.txid, "payees": len(s.payouts),
            "payout_sat": sum(p.payout_sat for p in s.payouts), "attempts": s.attempts}
