"""Signed download links: who may fetch which file until when, under one link id.

In the spirit of nginx's ``secure_link`` and S3's presigned URLs, a link is
a path and four query parameters::

    /files/<sha256 hex>?d=<downloader>&e=<expiry, unix seconds>&l=<link id>&s=<signature>

``s`` is HMAC-SHA256, keyed with the service's link secret, over the file,
the downloader, the expiry and the link id, base64url without padding. Only
the service that holds the secret can make one; changing any part breaks
the signature. The link id (16 random bytes) is the idempotency key of the
link's one charge: a retry of the same link within its lifetime is served
without a new charge; after its expiry the link is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlencode

from bitcache.core.files import party_id
from bitcache.errors import InvalidInput, LinkExpired, LinkInvalid

SECRET_BYTES = 32
MAX_TTL_SECONDS = 7 * 24 * 3600
_DOMAIN = b"bitcache-link-v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LINK_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_SIG = re.compile(r"[A-Za-z0-9_-]{43}")
_EXPIRY = re.compile(r"[0-9]{1,12}")
_PARAMS = frozenset({"d", "e", "l", "s"})


def link_params(query: bytes) -> dict[str, str]:
    """The link's parameters (``d``, ``e``, ``l``, ``s``) of a raw query string.

    Read as :func:`urllib.parse.parse_qsl` would (``+`` and ``%XX`` decoded,
    the last of repeated parameters wins) but only for the four names a link
    has, without building the whole query: this runs once per download.
    """
    found: dict[str, str] = {}
    for part in query.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if name in _PARAMS:
            found[name] = unquote_plus(value) if "%" in value or "+" in value else value
    return found


@dataclass(frozen=True, slots=True)
class Link:
    """What a link grants: one charged download of ``file`` by ``downloader`` until ``expires``."""

    file: str
    downloader: str
    expires: int
    link_id: str

    @property
    def charge_key(self) -> str:
        """The event id of the link's one charge."""
        return f"link:{self.link_id}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class LinkSigner:
    """Makes and checks links with one secret."""

    def __init__(self, secret: bytes):
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise InvalidInput("a link secret must be at least 16 bytes")
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)  # keyed once, copied per link

    def __repr__(self) -> str:
        return "LinkSigner(<secret>)"

    def signature(self, link: Link) -> str:
        """The signature of a link."""
        message = b"\n".join((_DOMAIN, link.file.encode(), link.downloader.encode(),
                              str(link.expires).encode(), link.link_id.encode()))
        mac = self._mac.copy()  # the keyed state: a third of the cost of keying anew
        mac.update(message)
        return _b64(mac.digest())

    def make(self, file: str, downloader: str, ttl_seconds: int, now: int,
             token: Callable[[int], bytes] = secrets.token_bytes) -> Link:
        """A new link, valid for ``ttl_seconds`` from ``now`` (unix seconds)."""
        if not _HEX64.fullmatch(file):
            raise InvalidInput("a link's file is a SHA-256 in 64 lowercase hex digits")
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not (
                1 <= ttl_seconds <= MAX_TTL_SECONDS):
            raise InvalidInput(f"a link lives 1 to {MAX_TTL_SECONDS} seconds, "
                               f"got {ttl_seconds!r}")
        return Link(file, party_id(downloader, "downloader id"), now + ttl_seconds,
                    _b64(token(16)))

    def query(self, link: Link) -> str:
        """The query string that carries a link."""
        return urlencode({"d": link.downloader, "e": link.expires, "l": link.link_id,
                          "s": self.signature(link)})

    def verify(self, file: str, params: Mapping[str, str], now: int) -> Link:
        """The link a request carries: LinkInvalid if forged or malformed, LinkExpired if old."""
        downloader, expires = params.get("d", ""), params.get("e", "")
        link_id, sig = params.get("l", ""), params.get("s", "")
        if not (_HEX64.fullmatch(file) and _EXPIRY.fullmatch(expires)
                and _LINK_ID.fullmatch(link_id) and _SIG.fullmatch(sig) and downloader):
            raise LinkInvalid("the download link is malformed")
        link = Link(file, downloader, int(expires), link_id)
        if not hmac.compare_digest(self.signature(link), sig):
            raise LinkInvalid("the download link's signature does not verify")
        if now >= link.expires:
            raise LinkExpired("the download link has expired: ask for a new one")
        return link
