"""One table of endpoints drives routing, checks and /openapi.json alike.

An :class:`Endpoint` declares its method, path, the scopes that may call
it (``uploader:{uploader}`` binds to the path parameter), its path, query
and body schemas, its success status and reply schema, and whether it moves
money. :func:`route` wraps its handler with everything the table promises:
authentication and scopes, schema checks, the ``Idempotency-Key`` of a
money-moving POST, and problem+json for every refusal. Handlers hold no
HTTP detail: they take a :class:`Call` and return a :class:`Reply`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bitcache.errors import BitcacheError, BodyTooLarge
from bitcache.serve import idempotency
from bitcache.serve.auth import Principal, client_of
from bitcache.serve.idempotency import Answer
from bitcache.serve.keys import Scope
from bitcache.serve.problems import MEDIA_TYPE, Problem, problem_for
from bitcache.serve.schema import MAX_BODY, Schema, check, parse_body, parse_query

if TYPE_CHECKING:
    from bitcache.serve.service import Service

log = logging.getLogger("bitcache.serve")


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer: a JSON document, or a problem."""

    body: Mapping[str, Any] | list[Any]
    status: int = 200
    problem: Problem | None = None
    raw: bytes | None = None  # a document sent as it is (a signed statement)

    @classmethod
    def of(cls, problem: Problem) -> Reply:
        return cls(problem.body(), problem.status, problem)


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets: the service, the caller, and the checked parameters and body."""

    service: Service
    principal: Principal | None
    path: Mapping[str, Any]
    query: Mapping[str, Any]
    body: Mapping[str, Any]
    event: str = ""  # the ledger event id of a money-moving call

    @property
    def key_id(self) -> str:
        assert self.principal is not None
        return self.principal.key_id


Handler = Callable[[Call], Awaitable[Reply]]

#: The scopes of an endpoint any valid key may call.
ANY_KEY = ("*",)


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of the service, as /openapi.json describes it."""

    method: str
    path: str
    summary: str
    handler: Handler
    scopes: tuple[str, ...] = ()  # empty: no API key (public, or a signed link)
    params: Mapping[str, Schema] = field(default_factory=dict)
    query: Mapping[str, Schema] = field(default_factory=dict)
    body: Schema | None = None
    ok: int = 200
    reply: Schema = field(default_factory=lambda: {"type": "object"})
    refusals: tuple[int, ...] = ()
    moves_money: bool = False

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def statuses(self) -> tuple[int, ...]:
        """Every status the endpoint can answer."""
        common = (400, 401, 403, 413, 429, 503) if self.scopes else (400, 413, 503)
        money = (409, 422) if self.moves_money else ()
        return tuple(sorted({self.ok, *common, *money, *self.refusals}))


def _allowed(endpoint: Endpoint, path: Mapping[str, Any]) -> tuple[Scope, ...]:
    return tuple(Scope.parse(s.format(**path)) for s in endpoint.scopes)


async def _authorize(endpoint: Endpoint, service: Service, request: Request,
                     path: Mapping[str, Any]) -> Principal | None:
    if not endpoint.scopes:
        return None
    peer = request.client.host if request.client else None
    client = client_of(peer, request.headers, service.trust_proxy)
    principal = await service.auth.authenticate(request.headers.get("authorization"), client)
    if endpoint.scopes != ANY_KEY:
        principal.require(*_allowed(endpoint, path))
    return principal


def _checked_path(endpoint: Endpoint, request: Request) -> dict[str, Any]:
    path: dict[str, Any] = {}
    for name, text in request.path_params.items():
        schema = endpoint.params[name]
        value: Any = text
        if schema.get("type") == "integer":
            value = parse_query({name: text}, {name: schema}, "path parameter")[name]
        check(value, schema, name)
        path[name] = value
    return path


def _response(reply: Reply | Answer) -> Response:
    if isinstance(reply, Answer):
        media = MEDIA_TYPE if reply.status >= 400 else "application/json"
        return Response(reply.body, reply.status, media_type=media,
                        headers={"Idempotent-Replayed": "true"})
    if reply.problem is not None:
        return reply.problem.response()
    if reply.raw is not None:
        return Response(reply.raw, reply.status, media_type="application/json")
    return Response(json.dumps(reply.body), reply.status, media_type="application/json")


def route(endpoint: Endpoint, service: Service) -> Route:
    """The Starlette route of an endpoint."""

    async def run(request: Request) -> Response:
        try:
            return await _run(endpoint, service, request)
        except BitcacheError as exc:
            return problem_for(exc).response()

    return Route(endpoint.path, run, methods=[endpoint.method], name=endpoint.name)


async def _run(endpoint: Endpoint, service: Service, request: Request) -> Response:
    path = _checked_path(endpoint, request)
    principal = await _authorize(endpoint, service, request, path)
    query = parse_query(request.query_params, endpoint.query)
    raw = await read_body(request)
    body = parse_body(raw, endpoint.body) if endpoint.body is not None else {}
    call = Call(service, principal, path, query, body)
    if not endpoint.moves_money:
        return _response(await _handle(endpoint, call))
    assert principal is not None
    key = idempotency.check_header(request.headers.get(idempotency.HEADER))
    stamp = idempotency.fingerprint(endpoint.method, request.url.path, raw)
    kept = await run_in_threadpool(service.requests.begin, principal.key_id, key, stamp)
    if kept is not None:
        return _response(kept)
    call = Call(service, principal, path, query, body, f"{principal.key_id}:{key}")
    reply = await _handle(endpoint, call)
    answer = Answer(reply.status, json.dumps(reply.body))
    await run_in_threadpool(service.requests.finish, principal.key_id, key, answer)
    return _response(reply)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request's body, refused (``BodyTooLarge``, 413) as soon as it is known to pass
    ``limit`` bytes: by its Content-Length, or while it arrives — never held whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body ({declared} bytes) is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _handle(endpoint: Endpoint, call: Call) -> Reply:
    """The handler's reply; refusals become problem replies (kept like any answer)."""
    try:
        return await endpoint.handler(call)
    except BitcacheError as exc:
        return Reply.of(problem_for(exc))
    except Exception:
        log.exception("%s failed", endpoint.name)
        return Reply.of(Problem("internal", "an unexpected error"))
