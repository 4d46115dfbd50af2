"""The authenticator: keys by hash, revocation within the cache time, failures counted."""

from __future__ import annotations

import asyncio

import pytest

from bitcache import errors as e
from bitcache.serve import keys
from bitcache.serve.auth import Authenticator, bearer, client_of
from bitcache.serve.ratelimit import FailureLimiter
from bitcache.store.ledger import LedgerStore


def test_a_revoked_key_stops_within_the_cache_time(db_url: str) -> None:
    ledger = LedgerStore.open(db_url)
    now = [100.0]
    auth = Authenticator(ledger, FailureLimiter(5, 60.0, clock=lambda: now[0]),
                         cache_seconds=2.0, clock=lambda: now[0])
    made = keys.create_key(ledger, ["storage", "uploader:carol"], "t", 0)
    header = f"Bearer {made.key}"
    try:
        principal = asyncio.run(auth.authenticate(header, "c"))
        assert principal.key_id == made.key_id
        assert principal.scopes == {keys.STORAGE, keys.uploader("carol")}
        principal.require(keys.uploader("carol"))
        with pytest.raises(e.ScopeDenied):
            principal.require(keys.OPERATOR, keys.uploader("dave"))
        keys.revoke_key(ledger, made.key_id, 1)
        now[0] += 1.9
        assert asyncio.run(auth.authenticate(header, "c")).key_id == made.key_id
        now[0] += 0.1
        with pytest.raises(e.AuthenticationFailed):
            asyncio.run(auth.authenticate(header, "c"))
    finally:
        ledger.close()


def test_headers_and_clients() -> None:
    assert bearer("Bearer  abc ") == "abc" and bearer("bearer abc") == "abc"
    for bad in (None, "", "Basic abc", "Bearer "):
        with pytest.raises(e.AuthenticationFailed):
            bearer(bad)
    assert client_of("127.0.0.1", {"x-real-ip": "203.0.113.9"}, True) == "203.0.113.9"
    assert client_of("198.51.100.1", {"x-real-ip": "203.0.113.9"}, True) == "198.51.100.1"
    assert client_of("127.0.0.1", {"x-real-ip": "203.0.113.9"}, False) == "127.0.0.1"
    assert client_of(None, {}, True) == "unknown"
