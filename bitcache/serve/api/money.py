"""Endpoints that charge: downloads (one, a batch, two-step), tips, promotional credit, links."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from bitcache.errors import BitcacheError, InsufficientFunds
from bitcache.hooks import DownloadRequest
from bitcache.serve.endpoint import Call, Endpoint, Reply
from bitcache.serve.links import MAX_TTL_SECONDS
from bitcache.serve.payment import payment_problem
from bitcache.serve.problems import Problem, problem_for
from bitcache.serve.schema import HEX64, MSAT, PARTY, obj
from bitcache.serve.views import (
    DOWNLOAD,
    INT,
    MOVE,
    TEXT,
    TRANSFER,
    download_view,
    move_view,
    transfer_view,
)
from bitcache.services.receipts import DownloadReceipt

BYTES = {"type": "integer", "minimum": 0, "maximum": 2**50}
TTL = {"type": "integer", "minimum": 1, "maximum": MAX_TTL_SECONDS}
DOWNLOAD_BODY = obj({"file": HEX64, "downloader": PARTY}, {"bytes_served": BYTES})
BATCH_MAX = 1_000


async def _refusal(call: Call, exc: BitcacheError, downloader: str) -> Problem:
    """The problem of a refused charge: a 402 names where to pay."""
    if isinstance(exc, InsufficientFunds):
        address = await run_in_threadpool(call.service.addresses.address, downloader)
        return payment_problem(exc, address)
    return problem_for(exc)


async def download(call: Call) -> Reply:
    b = call.body
    try:
        receipt = await call.service.money.download(
            b["file"], b["downloader"], call.event, bytes_served=b.get("bytes_served"))
    except InsufficientFunds as exc:
        return Reply.of(await _refusal(call, exc, b["downloader"]))
    return Reply(download_view(receipt))


async def download_batch(call: Call) -> Reply:
    items = call.body["downloads"]
    requests = [DownloadRequest(d["file"], d["downloader"], f"{call.event}#{i}",
                                d.get("bytes_served")) for i, d in enumerate(items)]
    answers = await call.service.money.download_batch(requests)
    results: list[dict[str, Any]] = []
    for item, answer in zip(items, answers, strict=True):
        if isinstance(answer, DownloadReceipt):
            results.append(download_view(answer))
        else:
            results.append((await _refusal(call, answer, item["downloader"])).body())
    return Reply({"results": results})


async def begin_transfer(call: Call) -> Reply:
    b = call.body
    ttl = b.get("ttl_seconds")
    receipt = await call.service.money.begin_transfer(
        b["file"], b["downloader"], call.event,
        ttl_us=None if ttl is None else ttl * 1_000_000)
    return Reply(transfer_view(receipt))


async def complete_transfer(call: Call) -> Reply:
    receipt = await call.service.money.complete_transfer(call.path["transfer"],
                                                         call.body["bytes_served"])
    return Reply(download_view(receipt))


async def cancel_transfer(call: Call) -> Reply:
    return Reply(move_view(await call.service.money.cancel_transfer(call.path["transfer"])))


async def tip(call: Call) -> Reply:
    b = call.body
    try:
        receipt = await call.service.money.tip(b["file"], b["tipper"], b["amount_msat"],
                                               call.event)
    except InsufficientFunds as exc:
        return Reply.of(await _refusal(call, exc, b["tipper"]))
    return Reply(move_view(receipt))


async def credit(call: Call) -> Reply:
    receipt = await call.service.money.promo_credit(call.path["downloader"],
                                                    call.body["amount_msat"], call.event)
    return Reply(move_view(receipt))


async def make_link(call: Call) -> Reply:
    """A signed link to a registered file (a mistyped hash is 404 now, not at the download)."""
    service, b = call.service, call.body
    await run_in_threadpool(service.hooks.file, b["file"])  # UnknownFile: 404
    link = service.signer.make(b["file"], b["downloader"],
                               b.get("ttl_seconds", service.options.link_ttl),
                               int(service.clock()))
    path = f"{service.options.link_base.rstrip('/')}/{link.file}?{service.signer.query(link)}"
    return Reply({"link_id": link.link_id, "file": link.file, "downloader": link.downloader,
                  "expires_at": link.expires, "url": path}, 201)


TRANSFER_PARAM = {"transfer": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}
LINK = {"type": "object", "properties": {"link_id": TEXT, "file": HEX64, "downloader": PARTY,
                                         "expires_at": INT, "url": TEXT}}

ENDPOINTS = (
    Endpoint("POST", "/v1/downloads", "Charge one download (402 names where to pay)",
             download, ("storage",), body=DOWNLOAD_BODY, reply=DOWNLOAD,
             refusals=(402, 404, 451), moves_money=True),
    Endpoint("POST", "/v1/downloads/batch", "Charge many downloads in one transaction",
             download_batch, ("storage",),
             body=obj({"downloads": {"type": "array", "items": DOWNLOAD_BODY, "minItems": 1,
                                     "maxItems": BATCH_MAX}}),
             reply={"type": "object", "properties": {"results": {"type": "array"}}},
             moves_money=True),
    Endpoint("POST", "/v1/transfers", "Reserve a download's price until its bytes are known",
             begin_transfer, ("storage",),
             body=obj({"file": HEX64, "downloader": PARTY}, {"ttl_seconds": TTL}),
             reply=TRANSFER, refusals=(402, 404, 451), moves_money=True),
    Endpoint("POST", "/v1/transfers/{transfer}/complete", "Charge the bytes served",
             complete_transfer, ("storage",), params=TRANSFER_PARAM,
             body=obj({"bytes_served": BYTES}), reply=DOWNLOAD, refusals=(404,),
             moves_money=True),
    Endpoint("POST", "/v1/transfers/{transfer}/cancel", "Release a reservation",
             cancel_transfer, ("storage",), params=TRANSFER_PARAM, body=obj({}),
             reply=MOVE, refusals=(404,), moves_money=True),
    Endpoint("POST", "/v1/tips", "Tip a file's uploader from the tipper's balance", tip,
             ("storage",), body=obj({"file": HEX64, "tipper": PARTY, "amount_msat": MSAT}),
             reply=MOVE, refusals=(402, 404), moves_money=True),
    Endpoint("POST", "/v1/downloaders/{downloader}/credits",
             "Promotional credit to a downloader", credit, ("operator",),
             params={"downloader": PARTY}, body=obj({"amount_msat": MSAT}), reply=MOVE,
             moves_money=True),
    Endpoint("POST", "/v1/links", "A signed, expiring download link (one link, one charge)",
             make_link, ("storage",),
             body=obj({"file": HEX64, "downloader": PARTY}, {"ttl_seconds": TTL}),
             ok=201, reply=LINK, refusals=(404,)),
)
