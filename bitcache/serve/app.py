"""The ASGI application of ``bitcache serve``: the routes over a :class:`Service`.

:func:`create_app` routes every endpoint of :mod:`bitcache.serve.api` plus the
public ones: ``/health``, ``/openapi.json`` and ``/problems/<slug>``, the web
pages under ``/web`` (:mod:`bitcache.serve.web`), and ``/metrics``
(:mod:`bitcache.serve.metrics`). The service's parts are in
:mod:`bitcache.serve.service`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from bitcache.errors import BitcacheError
from bitcache.serve.api import ENDPOINTS
from bitcache.serve.charger import ChargedByProcess
from bitcache.serve.delivery import delivering
from bitcache.serve.endpoint import log, route
from bitcache.serve.metrics import metrics
from bitcache.serve.openapi import openapi_document
from bitcache.serve.problems import TYPES, Problem, problem_for
from bitcache.serve.service import Service
from bitcache.serve.web import web_routes


def health_checks(service: Service) -> dict[str, Any]:
    """The database and the chain backend, each ``{"ok": …}`` (blocking); and the charging
    process, when the service has one (``ok`` null while downloads are charged here)."""
    checks: dict[str, Any] = {}
    try:
        with service.ledger.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        checks["database"] = {"ok": True}
    except BitcacheError:
        checks["database"] = {"ok": False, "note": "the database does not answer"}
    if isinstance(service.money, ChargedByProcess):  # informative: never a 503 by itself
        charger = service.money.charger
        checks["charging_process"] = {"ok": True, "pid": charger.pid} if charger.ready else {
            "ok": None, "note": "not running: downloads are charged in the HTTP process"}
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
    if code == 405:  # with the methods the path takes (Allow, as RFC 9110 requires)
        allow = dict(getattr(exc, "headers", None) or {})
        return Problem("method-not-allowed", "the endpoint does not accept that method",
                       headers={k: v for k, v in allow.items() if k.lower() == "allow"}
                       ).response()
    if code == 404:
        return Problem("not-found", "no endpoint has that path").response()
    return Problem("bad-request", "the request could not be read").response()


GATE_PREFIX = "/v1/gate/"


class GateFirst:
    """The download gate ahead of the router: nginx asks it for every download, so a
    ``GET`` or ``HEAD`` of ``/v1/gate/<file>`` goes straight to the gate's handler, which
    answers every outcome itself (a problem for any error). Anything else — another
    method (405 with Allow), a path the route does not match, the lifespan — goes to the
    application, which routes it as before; the gate's route stays there too, for the
    API description. Skipping the router and its two exception layers saves about a
    tenth of a gated download's CPU (docs/serve.md, "Figures")."""

    def __init__(self, app: Starlette, gate: Callable[[Request], Awaitable[Response]]):
        self.app, self._gate = app, gate

    def __getattr__(self, name: str) -> Any:
        """The application's attributes (``state``, ``routes``, ``router`` …), so the
        service's app reads as the Starlette application it wraps."""
        if name == "app":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path = scope["path"]
            file = path[len(GATE_PREFIX):]
            if path.startswith(GATE_PREFIX) and file and "/" not in file and not scope.get(
                    "root_path"):
                scope["path_params"] = {"file": file}
                response = await self._gate(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(service: Service) -> GateFirst:
    """The ASGI app over a service: the gate first, then the routes."""
    document = json.dumps(openapi_document(ENDPOINTS))

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def gate(request: Request) -> Response:
        try:
            return await service.gate(request)
        except BitcacheError as exc:
            return problem_for(exc).response()
        except Exception:  # answered as every endpoint answers it: a problem, logged
            log.exception("the download gate failed")
            return Problem("internal", "an unexpected error").response()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        async with delivering(service.node.webhooks, service.node.deliver_every_s):
            yield
        await service.close()

    routes = [Route("/health", health, methods=["GET"]),
              Route("/openapi.json", openapi, methods=["GET"]),
              Route("/problems/{slug}", problem_type, methods=["GET"]),
              Route("/metrics", metrics, methods=["GET"]),
              Route(GATE_PREFIX + "{file}", gate, methods=["GET"]),
              *(route(e, service) for e in ENDPOINTS),
              Mount("/web", routes=web_routes(service))]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.state.service = service
    return GateFirst(app, gate)
