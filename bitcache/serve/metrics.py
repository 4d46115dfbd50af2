"""``GET /metrics``: Prometheus' text format, for an operator key (or anyone, if told).

By default a scraper must send an API key with the ``operator`` scope
(``Authorization: Bearer …``; Prometheus' ``authorization`` scrape option):
the figures name endpoints and reveal the volume of business. With
``bitcache serve --public-metrics`` the path needs no key, for a scraper on
a private network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bitcache.errors import BitcacheError
from bitcache.serve.auth import client_of
from bitcache.serve.keys import OPERATOR
from bitcache.serve.problems import problem_for
from bitcache.services.gauges import node_metrics

if TYPE_CHECKING:
    from bitcache.serve.service import Service


async def metrics(request: Request) -> Response:
    """This process's instruments and the ledger's gauges."""
    service: Service = request.app.state.service
    try:
        if not service.options.public_metrics:
            peer = request.client.host if request.client else None
            client = client_of(peer, request.headers, service.trust_proxy)
            principal = await service.auth.authenticate(
                request.headers.get("authorization"), client
            )
            principal.require(OPERATOR)
        body = await run_in_threadpool(node_metrics, service.ledger)
    except BitcacheError as exc:
        return problem_for(exc).response()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
