"""The ASGI application of ``bitcache serve``: the service's parts and its routes.

:class:`Service` holds what requests use — the hooks and the money seam,
the authenticator, the kept answers of idempotent requests, the link
signer, deposit addresses, and the optional node parts (the wallet's
public key, the chain backend, the platform's signing key). :func:`create_app`
routes every endpoint of :mod:`bitcache.serve.api` plus the public ones:
``/health``, ``/openapi.json`` and ``/problems/<slug>``, and ``/metrics``
(:mod:`bitcache.serve.metrics`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bitcache.chain.protocol import ChainBackend
from bitcache.errors import BitcacheError, ServiceUnavailable
from bitcache.hooks import Hooks
from bitcache.network import Network
from bitcache.serve.auth import Authenticator
from bitcache.serve.charges import MoneyHooks, money_hooks
from bitcache.serve.gate import Gate, GateConfig
from bitcache.serve.idempotency import IdempotentRequests
from bitcache.serve.links import LinkSigner
from bitcache.serve.payment import DepositAddresses
from bitcache.serve.problems import TYPES, Problem, problem_for
from bitcache.serve.ratelimit import FailureLimiter
from bitcache.services.deposits import DepositService
from bitcache.services.settlement import SettlementService
from bitcache.wallet.keys import HDWallet

ChainOpener = Callable[[], AbstractContextManager[ChainBackend]]


@dataclass(frozen=True)
class ServeOptions:
    """How the service runs: the host's files, links, proxies and authentication limits."""

    files: Path
    link_secret: bytes
    link_base: str = "/files"
    accel_prefix: str = "/_bitcache_files/"
    trust_proxy: bool = True
    key_cache_seconds: float = 2.0
    failure_limit: int = 20
    failure_window: float = 60.0
    link_ttl: int = 3600
    #: serve /metrics without an API key (else an operator key is needed)
    public_metrics: bool = False


@dataclass(frozen=True)
class NodeParts:
    """What the node folder adds: the watch-only wallet, the chain, the platform key."""

    wallet: HDWallet | None = None
    chain: ChainOpener | None = None
    confirmations: int = 3
    platform_key: Ed25519PrivateKey | None = field(default=None, repr=False)
    platform_name: str = "bitcache"

    @property
    def network(self) -> Network | None:
        return None if self.wallet is None else self.wallet.network


class Service:
    """Everything a request may use; one per process."""

    def __init__(self, hooks: Hooks, options: ServeOptions, node: NodeParts | None = None,
                 *, clock: Callable[[], float] = time.time):
        self.hooks, self.options = hooks, options
        self.node = node or NodeParts()
        self.ledger = hooks.ledger
        self.clock = clock
        self.trust_proxy = options.trust_proxy
        self.money: MoneyHooks = money_hooks(hooks)
        self.limiter = FailureLimiter(options.failure_limit, options.failure_window)
        self.auth = Authenticator(self.ledger, self.limiter,
                                  cache_seconds=options.key_cache_seconds)
        self.requests = IdempotentRequests(self.ledger, clock=clock)
        self.signer = LinkSigner(options.link_secret)
        self.addresses = DepositAddresses(self._deposits())
        self._settlement: SettlementService | None = None
        self.gate = Gate(GateConfig(options.files, options.accel_prefix, options.trust_proxy),
                         self.signer, self.money, self.ledger, self.addresses, self.limiter,
                         clock)

    def _deposits(self) -> DepositService | None:
        node = self.node
        if node.wallet is None or node.chain is None:
            return None
        from bitcache.serve.chain import PerCallChain

        chain = PerCallChain(node.wallet.network, node.chain)
        return DepositService(self.ledger, node.wallet, chain, confirmations=node.confirmations)

    def need_chain(self) -> tuple[HDWallet, ChainOpener]:
        """The wallet and chain (ServiceUnavailable when started without them)."""
        if self.node.wallet is None or self.node.chain is None:
            raise ServiceUnavailable("the service was started without the node's wallet and "
                                     "chain backend")
        return self.node.wallet, self.node.chain

    def settlement(self) -> SettlementService:
        """The settlement service (payout addresses, settlements in flight), made once."""
        if self._settlement is None:
            wallet, opener = self.need_chain()
            from bitcache.serve.chain import PerCallChain

            self._settlement = SettlementService(self.ledger, PerCallChain(wallet.network, opener),
                                                 wallet)
        return self._settlement

    async def close(self) -> None:
        closer = getattr(self.money, "close", None)
        if closer is not None:
            result = closer()
            if result is not None:
                await result


def health_checks(service: Service) -> dict[str, Any]:
    """The database and the chain backend, each ``{"ok": …}`` (blocking)."""
    checks: dict[str, Any] = {}
    try:
        with service.ledger.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        checks["database"] = {"ok": True}
    except BitcacheError:
        checks["database"] = {"ok": False, "note": "the database does not answer"}
    if service.node.chain is None:
        checks["chain"] = {"ok": None, "note": "not configured"}
        return checks
    try:
        with service.node.chain() as chain:
            tip = chain.tip()
        checks["chain"] = {"ok": True, "height": tip.height}
    except BitcacheError:
        checks["chain"] = {"ok": False, "note": "the chain backend does not answer"}
    return checks


async def health(request: Request) -> Response:
    """200 when the database and the configured chain backend answer, 503 otherwise."""
    service: Service = request.app.state.service
    checks = await run_in_threadpool(health_checks, service)
    if all(c["ok"] is not False for c in checks.values()):
        return Response(json.dumps({"ok": True, "checks": checks}),
                        media_type="application/json")
    failed = ", ".join(n for n, c in checks.items() if c["ok"] is False)
    return Problem("unavailable", f"not answering: {failed}", {"checks": checks}).response()


async def problem_type(request: Request) -> Response:
    """What a problem type means."""
    kind = TYPES.get(request.path_params["slug"])
    if kind is None:
        return Problem("not-found", "no problem type has that name").response()
    return Response(json.dumps({"type": f"/problems/{kind.slug}", "title": kind.title,
                                "status": kind.status, "about": kind.about}),
                    media_type="application/json")


async def _http_error(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 500)
    if code == 405:
        return Problem("method-not-allowed", "the endpoint does not accept that method").response()
    if code == 404:
        return Problem("not-found", "no endpoint has that path").response()
    return Problem("bad-request", "the request could not be read").response()


def create_app(service: Service) -> Starlette:
    """The ASGI app over a service."""
    from bitcache.serve.api import ENDPOINTS
    from bitcache.serve.endpoint import route
    from bitcache.serve.metrics import metrics
    from bitcache.serve.openapi import openapi_document

    document = json.dumps(openapi_document(ENDPOINTS))

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def gate(request: Request) -> Response:
        try:
            return await service.gate(request)
        except BitcacheError as exc:
            return problem_for(exc).response()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await service.close()

    routes = [Route("/health", health, methods=["GET"]),
              Route("/openapi.json", openapi, methods=["GET"]),
              Route("/problems/{slug}", problem_type, methods=["GET"]),
              Route("/metrics", metrics, methods=["GET"]),
              Route("/v1/gate/{file}", gate, methods=["GET"]),
              *(route(e, service) for e in ENDPOINTS)]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.state.service = service
    return app
