"""The authenticated no-op: checks a key and answers its scopes (and measures the HTTP floor)."""

from __future__ import annotations

from bitcache.serve.endpoint import Call, Endpoint, Reply
from bitcache.serve.views import TEXT


async def ping(call: Call) -> Reply:
    assert call.principal is not None
    return Reply({"key_id": call.principal.key_id,
                  "scopes": sorted(str(s) for s in call.principal.scopes)})


ENDPOINTS = (
    Endpoint("GET", "/v1/ping", "Check an API key: its id and scopes", ping, ("*",),
             reply={"type": "object", "properties": {"key_id": TEXT,
                                                     "scopes": {"type": "array"}}}),
)
