"""File endpoints: register, read, change terms, transfer ownership, hold, release, refund."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from bitcache.core.pricing import PriceKind
from bitcache.core.terms import KEEP
from bitcache.errors import InvalidInput
from bitcache.serve.endpoint import Call, Endpoint, Reply
from bitcache.serve.schema import HEX64, PARTY, nullable, obj
from bitcache.serve.views import FILE, MOVE, PRICE, file_view, move_view, price_rule

SIZE = {"type": "integer", "minimum": 0, "maximum": 2**50}
CAP = {"type": "integer", "minimum": 1, "maximum": 2**62}
TERMS = {"price": PRICE, "size": nullable(SIZE), "cap": nullable(CAP),
         "referrer": nullable(PARTY)}
FILE_PARAM = {"file": HEX64}


def _terms(call: Call) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body, and the terms it gives; those it leaves out are kept (null removes cap or
    referrer). A fiat price needs a rate provider, which the service has not: refused here
    rather than at every download of the file."""
    body = dict(call.body)
    terms: dict[str, Any] = {name: body.get(name, KEEP) for name in ("size", "cap", "referrer")}
    terms["price"] = price_rule(body["price"]) if "price" in body else KEEP
    if (terms["price"] is not KEEP and terms["price"].kind is PriceKind.FIAT
            and call.service.hooks.ctx.rates is None):
        raise InvalidInput("a fiat price needs a rate provider, which bitcache serve has not: "
                           "price the file in msat (fixed or per_gib)")
    return body, terms


async def register(call: Call) -> Reply:
    body, terms = _terms(call)
    rec = await run_in_threadpool(
        lambda: call.service.hooks.register_file(body["file"], body["uploader"], **terms))
    return Reply(file_view(rec))


async def read(call: Call) -> Reply:
    rec = await run_in_threadpool(call.service.hooks.file, call.path["file"])
    return Reply(file_view(rec))


async def update(call: Call) -> Reply:
    body, terms = _terms(call)
    rec = await run_in_threadpool(
        lambda: call.service.hooks.update_terms(call.path["file"], body["uploader"], **terms))
    return Reply(file_view(rec))


async def give(call: Call) -> Reply:
    rec = await run_in_threadpool(call.service.hooks.transfer_ownership, call.path["file"],
                                  call.body["uploader"])
    return Reply(file_view(rec))


async def hold(call: Call) -> Reply:
    return Reply(move_view(await call.service.money.hold(call.path["file"], call.event)))


async def release(call: Call) -> Reply:
    return Reply(move_view(await call.service.money.release(call.path["file"], call.event)))


async def refund(call: Call) -> Reply:
    return Reply(move_view(await call.service.money.refund(call.path["file"], call.event)))


def _hold_move(verb: str, handler: Any, about: str) -> Endpoint:
    return Endpoint("POST", f"/v1/files/{{file}}/{verb}", about, handler, ("operator",),
                    params=FILE_PARAM, body=obj({}), reply=MOVE, refusals=(404, 409, 451),
                    moves_money=True)


ENDPOINTS = (
    Endpoint("POST", "/v1/files", "Register a file by its SHA-256 (idempotent for its owner)",
             register, ("storage",), body=obj({"file": HEX64, "uploader": PARTY}, TERMS),
             reply=FILE, refusals=(409,)),
    Endpoint("GET", "/v1/files/{file}", "A registered file's terms and counters", read,
             ("storage", "operator"), params=FILE_PARAM, reply=FILE, refusals=(404,)),
    Endpoint("PATCH", "/v1/files/{file}", "The owner changes terms (those left out are kept)",
             update, ("storage",), params=FILE_PARAM, body=obj({"uploader": PARTY}, TERMS),
             reply=FILE, refusals=(404, 409)),
    Endpoint("POST", "/v1/files/{file}/owner", "The platform gives a file to another uploader",
             give, ("operator",), params=FILE_PARAM, body=obj({"uploader": PARTY}),
             reply=FILE, refusals=(404,)),
    _hold_move("hold", hold, "Takedown hold: the file's unpaid earnings are frozen"),
    _hold_move("release", release, "Lift a hold in the uploader's favour"),
    _hold_move("refund", refund, "Lift a hold by refunding the file's downloaders"),
)
