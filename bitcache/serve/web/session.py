"""Web sessions and CSRF tokens: cookies signed with a secret of the node.

A session cookie reads ``<key id>.<expiry s>.<mac>``, the MAC an HMAC-SHA256
over the key id, the expiry and the stored hash of the API key that logged
in. Every request looks the key up again (through the authenticator's
short cache), so a revoked key closes its sessions within seconds, and a
key made anew under the same id cannot reuse an old cookie. The cookie is
HttpOnly, SameSite=Strict, and Secure when the page came over https.

CSRF: a random ``bitcache_csrf`` cookie (HttpOnly, SameSite=Strict) is set
on the first page; every form carries ``HMAC(secret, cookie)`` in a hidden
field, and a POST is refused unless the field matches the cookie and any
``Origin`` header names this site (double-submit, signed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from bitcache.serve.auth import Authenticator, Principal

SESSION_COOKIE = "bitcache_session"
CSRF_COOKIE = "bitcache_csrf"
SESSION_SECONDS = 8 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def login_link(key: str, base: str = "") -> str:
    """The login link of a key: the key rides in the fragment, never sent to the server."""
    return f"{base.rstrip('/')}/web/login#key={key}"


def is_https(request: Request, trust_proxy: bool) -> bool:
    """Whether the browser reached us over https (directly, or through the proxy)."""
    if request.url.scheme == "https":
        return True
    return trust_proxy and request.headers.get("x-forwarded-proto", "").lower() == "https"


@dataclass(frozen=True)
class Sessions:
    """Issues and checks session cookies and CSRF tokens."""

    secret: bytes
    auth: Authenticator
    trust_proxy: bool = True
    seconds: int = SESSION_SECONDS
    clock: Callable[[], float] = time.time

    @classmethod
    def from_link_secret(cls, link_secret: bytes, auth: Authenticator,
                         trust_proxy: bool = True) -> Sessions:
        """Sessions keyed by a secret derived from the node's link secret."""
        derived = hmac.new(link_secret, b"bitcache web sessions v1", hashlib.sha256).digest()
        return cls(derived, auth, trust_proxy)

    def _mac(self, *parts: bytes) -> str:
        return _b64(hmac.new(self.secret, b"|".join(parts), hashlib.sha256).digest())

    def cookie_value(self, key_id: str, key_hash: bytes) -> str:
        """A session for the key, valid for ``seconds``."""
        expires = str(int(self.clock()) + self.seconds)
        mac = self._mac(b"session", key_id.encode(), expires.encode(), key_hash)
        return f"{key_id}.{expires}.{mac}"

    async def principal(self, request: Request) -> Principal | None:
        """The logged-in key of a request, or None (no cookie, expired, revoked, forged)."""
        value = request.cookies.get(SESSION_COOKIE, "")
        parts = value.split(".")
        if len(parts) != 3 or not parts[1].isdigit() or len(parts[0]) != 12:
            return None
        key_id, expires, mac = parts
        if int(expires) < self.clock():
            return None
        stored, scopes = await self.auth.lookup(key_id)
        if stored is None or stored.revoked_at is not None:
            return None
        expected = self._mac(b"session", key_id.encode(), expires.encode(), stored.key_hash)
        if not hmac.compare_digest(expected, mac):
            return None
        return Principal(key_id, scopes)

    def set_session(self, response: Response, request: Request, value: str) -> None:
        response.set_cookie(SESSION_COOKIE, value, max_age=self.seconds, path="/web",
                            httponly=True, samesite="strict",
                            secure=is_https(request, self.trust_proxy))

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/web", httponly=True, samesite="strict")

    # -- CSRF ------------------------------------------------------------------

    def csrf_cookie(self, request: Request) -> tuple[str, bool]:
        """The request's CSRF cookie, or a new one (and whether it is new)."""
        value = request.cookies.get(CSRF_COOKIE, "")
        if len(value) == 43:
            return value, False
        return _b64(secrets.token_bytes(32)), True

    def csrf_token(self, cookie: str) -> str:
        """The form token that goes with a CSRF cookie."""
        return self._mac(b"csrf", cookie.encode())

    def set_csrf(self, response: Response, request: Request, cookie: str) -> None:
        response.set_cookie(CSRF_COOKIE, cookie, path="/web", httponly=True, samesite="strict",
                            secure=is_https(request, self.trust_proxy))

    def csrf_ok(self, request: Request, token: object) -> bool:
        """A POST's form token matches its CSRF cookie, and its Origin (if any) is ours."""
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            forwarded = request.headers.get("x-forwarded-proto")
            if not (self.trust_proxy and forwarded
                    and origin == f"{forwarded}://{request.url.netloc}"):
                return False
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if len(cookie) != 43 or not isinstance(token, str):
            return False
        return hmac.compare_digest(self.csrf_token(cookie), token)
