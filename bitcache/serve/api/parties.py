"""Reads and settings of one party: a downloader's balance and deposit address, an uploader's
payout address, earnings and signed statement."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from bitcache.clock import now_us
from bitcache.errors import ServiceUnavailable
from bitcache.serve.endpoint import Call, Endpoint, Reply
from bitcache.serve.problems import Problem
from bitcache.serve.schema import PARTY, obj
from bitcache.serve.views import (
    EARNINGS,
    INT,
    PAYOUT_ADDRESS,
    TEXT,
    earnings_view,
    payout_view,
)

DOWNLOADER = {"downloader": PARTY}
UPLOADER = {"uploader": PARTY}
TIME = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1,
        "description": "µs since the Unix epoch"}
PERIOD = {"since": TIME, "until": TIME}


async def balance(call: Call) -> Reply:
    who = call.path["downloader"]
    available = await run_in_threadpool(call.service.hooks.prepaid_balance, who)
    return Reply({"downloader": who, "available_msat": available})


async def deposit_address(call: Call) -> Reply:
    who = call.path["downloader"]
    if not call.service.addresses.available:
        raise ServiceUnavailable("the service was started without the wallet's public key")
    address = await run_in_threadpool(call.service.addresses.address, who)
    if address is None:
        raise ServiceUnavailable("no deposit address can be handed out now (gap limit)")
    return Reply({"downloader": who, "address": address, "uri": f"bitcoin:{address}"})


async def payout_address(call: Call) -> Reply:
    settlement = call.service.settlement()
    found = await run_in_threadpool(settlement.payout_address, call.path["uploader"])
    if found is None:
        return Reply.of(Problem("not-found", "the uploader has no payout address"))
    return Reply(payout_view(found))


async def set_payout_address(call: Call) -> Reply:
    settlement = call.service.settlement()
    record = await run_in_threadpool(settlement.register_payout_address,
                                     call.path["uploader"], call.body["address"])
    return Reply(payout_view(record))


async def earnings(call: Call) -> Reply:
    who = call.path["uploader"]
    rows = await run_in_threadpool(lambda: call.service.hooks.earnings(
        who, since=call.query.get("since"), until=call.query.get("until")))
    return Reply(earnings_view(who, rows))


async def statement(call: Call) -> Reply:
    service = call.service
    key = service.node.platform_key
    if key is None:
        raise ServiceUnavailable("statements need the platform key: start the service with "
                                 "the passphrase")
    from bitcache.services.statements import issue_statement

    until = call.query.get("until", now_us() + 1)
    document = await run_in_threadpool(lambda: issue_statement(
        service.ledger, call.path["uploader"], call.query.get("since", 0), until, key,
        platform=service.node.platform_name))
    return Reply({}, raw=document)


READERS_D = ("storage", "operator", "downloader:{downloader}")
READERS_U = ("storage", "operator", "uploader:{uploader}")

ENDPOINTS = (
    Endpoint("GET", "/v1/downloaders/{downloader}/balance", "A downloader's available msat",
             balance, READERS_D, params=DOWNLOADER,
             reply={"type": "object", "properties": {"downloader": PARTY,
                                                     "available_msat": INT}}),
    Endpoint("GET", "/v1/downloaders/{downloader}/deposit-address",
             "A downloader's deposit address (the same for ever)", deposit_address, READERS_D,
             params=DOWNLOADER,
             reply={"type": "object", "properties": {"downloader": PARTY, "address": TEXT,
                                                     "uri": TEXT}}),
    Endpoint("GET", "/v1/uploaders/{uploader}/payout-address", "An uploader's payout address",
             payout_address, READERS_U, params=UPLOADER, reply=PAYOUT_ADDRESS,
             refusals=(404,)),
    Endpoint("PUT", "/v1/uploaders/{uploader}/payout-address",
             "Set an uploader's payout address (future payouts)", set_payout_address,
             ("storage", "operator"), params=UPLOADER,
             body=obj({"address": {"type": "string", "minLength": 1, "maxLength": 120}}),
             reply=PAYOUT_ADDRESS),
    Endpoint("GET", "/v1/uploaders/{uploader}/earnings", "Downloads and msat per file",
             earnings, READERS_U, params=UPLOADER, query=PERIOD, reply=EARNINGS),
    Endpoint("GET", "/v1/uploaders/{uploader}/statement",
             "The uploader's signed statement for a period", statement, READERS_U,
             params=UPLOADER, query=PERIOD, reply={"type": "object"}, refusals=(404,)),
)
