"""Operator endpoints: settlements in flight and the reconcile report."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from bitcache.serve.endpoint import Call, Endpoint, Reply
from bitcache.serve.views import SETTLEMENTS, settlement_view


async def settlements(call: Call) -> Reply:
    service = call.service.settlement()
    found = await run_in_threadpool(service.settlements)
    return Reply({"settlements": [settlement_view(s) for s in found]})


async def reconcile(call: Call) -> Reply:
    from bitcache.reconciliation.checks import reconcile as run

    service = call.service
    wallet, opener = service.need_chain()

    def report() -> dict[str, Any]:
        with opener() as chain:
            return run(service.ledger, chain=chain, wallet=wallet,
                       confirmations=service.node.confirmations).to_json()

    return Reply(await run_in_threadpool(report))


ENDPOINTS = (
    Endpoint("GET", "/v1/operator/settlements", "Settlements in flight", settlements,
             ("operator",), reply=SETTLEMENTS),
    Endpoint("GET", "/v1/operator/reconcile",
             "Reconcile the books, the journal and the wallet against the chain", reconcile,
             ("operator",), reply={"type": "object", "properties": {"ok": {"type": "boolean"}}}),
)
