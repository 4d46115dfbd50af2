"""/openapi.json: OpenAPI 3.1, built from the same endpoint table that routes and checks.

Each operation lists its scopes, its parameters (``Idempotency-Key`` on
money-moving POSTs), its body schema and every status it can answer;
refusals are ``application/problem+json`` (the ``Problem`` schema).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bitcache.serve.endpoint import ANY_KEY, Call, Endpoint, Reply
from bitcache.serve.problems import MEDIA_TYPE, TYPES, problem_schema
from bitcache.serve.schema import HEX64, PARTY, Schema
from bitcache.serve.views import TEXT

VERSION = "1"


async def _documented_only(call: Call) -> Reply:  # pragma: no cover - routed by the app
    raise NotImplementedError


GATE_QUERY: dict[str, Schema] = {
    "d": PARTY,
    "e": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999},
    "l": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$"},
    "s": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
}

#: The routes outside the JSON API, described here so /openapi.json covers every endpoint.
PUBLIC = (
    Endpoint("GET", "/health", "The database and the chain backend answer (200) or not (503)",
             _documented_only, reply={"type": "object", "properties": {
                 "ok": {"type": "boolean"}, "checks": {"type": "object"}}}, refusals=(503,)),
    Endpoint("GET", "/openapi.json", "This document", _documented_only),
    Endpoint("GET", "/problems/{slug}", "What a problem type means", _documented_only,
             params={"slug": {"type": "string", "enum": sorted(TYPES)}},
             reply={"type": "object", "properties": {"type": TEXT, "title": TEXT,
                                                     "about": TEXT}}, refusals=(404,)),
    Endpoint("GET", "/metrics",
             "Prometheus metrics in the text format (an operator key, unless the service "
             "runs with --public-metrics)", _documented_only, scopes=("operator",),
             reply={"type": "string"}),
    Endpoint("GET", "/v1/gate/{file}",
             "The download gate behind nginx: checks a signed link, charges it once, and "
             "answers X-Accel-Redirect to the file (an empty 200), or a problem",
             _documented_only, params={"file": HEX64}, query=GATE_QUERY,
             reply={"type": "string", "maxLength": 0},
             refusals=(402, 403, 404, 409, 410, 416, 429, 451)),
)


def _parameters(ep: Endpoint) -> list[dict[str, Any]]:
    params = [{"name": n, "in": "path", "required": True, "schema": s}
              for n, s in ep.params.items()]
    required = ep.path == "/v1/gate/{file}"
    params += [{"name": n, "in": "query", "required": required, "schema": s}
               for n, s in ep.query.items()]
    if ep.moves_money:
        params.append({"name": "Idempotency-Key", "in": "header", "required": True,
                       "description": "the same key and body answer the first answer again",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 100,
                                  "pattern": "^[!-~]([ -~]*[!-~])?$"}})
    if required:
        params.append({"name": "Range", "in": "header", "required": False,
                       "schema": {"type": "string"}})
    return params


#: The success media type of the routes that do not answer JSON.
_MEDIA = {"/v1/gate/{file}": "application/octet-stream", "/metrics": "text/plain"}


def _responses(ep: Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in ep.statuses():
        if status == ep.ok:
            media = _MEDIA.get(ep.path, "application/json")
            out[str(status)] = {"description": "the answer",
                                "content": {media: {"schema": ep.reply}}}
        else:
            out[str(status)] = {"description": "a refusal", "content": {
                MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    return out


def _operation(ep: Endpoint) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": ep.name.replace(" ", "").replace("/", "_"),
                          "summary": ep.summary, "parameters": _parameters(ep),
                          "responses": _responses(ep)}
    if ep.scopes:
        who = "any valid API key" if ep.scopes == ANY_KEY else ", ".join(ep.scopes)
        op["description"] = f"Scopes: {who}."
        op["security"] = [{"bearer": []}]
    if ep.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": ep.body}}}
    return op


def openapi_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """The OpenAPI document of the service."""
    paths: dict[str, dict[str, Any]] = {}
    for ep in (*PUBLIC, *endpoints):
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
    return {
        "openapi": "3.1.0",
        "info": {"title": "bitcache serve", "version": VERSION,
                 "description": "Pay file uploaders in bitcoin: the storage server's API and "
                                "the download gate."},
        "paths": paths,
        "components": {
            "schemas": {"Problem": problem_schema()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "bck_<id>_<secret>"}},
        },
    }
