"""Authenticating API requests: ``Authorization: Bearer bck_…``, scopes, failure limits.

A request's key is looked up by its public id and compared by hash in
constant time (:func:`bitcache.serve.keys.matches`). Stored keys are cached
for ``cache_seconds`` (2 s by default), so a key revoked from the command
line stops working within that time in every server process. Nothing here
logs or repeats a presented key: errors say only that the key is missing,
malformed or not valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from bitcache.errors import AuthenticationFailed, ScopeDenied
from bitcache.serve import keys
from bitcache.serve.keys import Scope
from bitcache.serve.ratelimit import FailureLimiter
from bitcache.store.ledger import LedgerStore
from bitcache.store.serve import StoredKey

_CACHE_MAX = 10_000
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an authenticated request comes from: a key id and its scopes."""

    key_id: str
    scopes: frozenset[Scope]

    def require(self, *allowed: Scope) -> None:
        """Refuse (``ScopeDenied``) unless the key holds one of ``allowed``."""
        if self.scopes.isdisjoint(allowed):
            wanted = " or ".join(str(s) for s in allowed)
            raise ScopeDenied(f"this request needs a key with the scope {wanted}")


def bearer(authorization: str | None) -> str:
    """The key of an ``Authorization: Bearer <key>`` header."""
    if not authorization:
        raise AuthenticationFailed("an API key is required: Authorization: Bearer <key>")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationFailed("the Authorization header must be: Bearer <key>")
    return value.strip()


def client_of(peer: str | None, headers: Mapping[str, str], trust_proxy: bool) -> str:
    """The client a request counts against: the peer, or nginx's ``X-Real-IP`` from loopback."""
    host = peer or "unknown"
    forwarded = headers.get("x-real-ip")
    if trust_proxy and forwarded and host in _LOOPBACK:
        return forwarded.strip()[:64]
    return host


class Authenticator:
    """Turns a request's Authorization header into a :class:`Principal`. Thread-safe enough:
    the cache is a dict replaced entry by entry."""

    def __init__(self, ledger: LedgerStore, limiter: FailureLimiter, *,
                 cache_seconds: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.ledger, self.limiter = ledger, limiter
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, StoredKey | None, frozenset[Scope]]] = {}

    async def authenticate(self, authorization: str | None, client: str) -> Principal:
        """The request's principal; AuthenticationFailed or TooManyFailures otherwise."""
        self.limiter.check(client)
        key = bearer(authorization)
        try:
            key_id = keys.key_id_of(key)
            stored, scopes = await self._stored(key_id)
            if not keys.matches(key, stored):
                raise AuthenticationFailed("the API key is not valid (unknown or revoked)")
        except AuthenticationFailed:
            self.limiter.failed(client)
            raise
        return Principal(key_id, scopes)

    async def lookup(self, key_id: str) -> tuple[StoredKey | None, frozenset[Scope]]:
        """The stored key with this id and its scopes (cached like every other look-up)."""
        return await self._stored(key_id)

    async def _stored(self, key_id: str) -> tuple[StoredKey | None, frozenset[Scope]]:
        """The stored key and its parsed scopes, from the cache while it is fresh."""
        now = self._clock()
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1], cached[2]
        stored = await run_in_threadpool(keys.load_key, self.ledger, key_id)
        scopes = frozenset() if stored is None else frozenset(
            Scope.parse(s) for s in stored.scopes)
        if len(self._cache) >= _CACHE_MAX:
            self._cache = {}
        self._cache[key_id] = (now, stored, scopes)
        return stored, scopes
