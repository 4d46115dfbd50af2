"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, in the Stripe manner.

Each delivery carries ``Bitcache-Signature: t=<unix seconds>,v1=<hex>``
where ``<hex>`` is HMAC-SHA256 keyed by the shared webhook secret over the
bytes ``<t>.<body>``. A receiver recomputes it over the raw body it got,
compares in constant time, and rejects a timestamp older than its
tolerance (default five minutes), so a captured delivery cannot be
replayed later. The event id in the body lets it drop a duplicate inside
the tolerance. Pure: the clock comes in as an argument.
"""

from __future__ import annotations

import hashlib
import hmac

from bitcache.errors import InvalidInput, SignatureInvalid

HEADER = "Bitcache-Signature"
SCHEME = "v1"
#: Seconds a receiver accepts a signature after its timestamp (and before, for clock skew).
DEFAULT_TOLERANCE_S = 300
#: Shortest secret accepted (bytes).
MIN_SECRET_BYTES = 16


def check_secret(secret: bytes) -> bytes:
    """``secret`` if it is long enough to key the HMAC; InvalidInput otherwise."""
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise InvalidInput(f"the webhook secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Bitcache-Signature`` header value of ``body`` sent at ``timestamp`` (seconds)."""
    return f"t={timestamp},{SCHEME}={_mac(check_secret(secret), timestamp, body)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME and value:
            macs.append(value)
    if timestamp is None or not macs:
        raise SignatureInvalid(f"malformed {HEADER} header: expected t=<seconds>,{SCHEME}=<hex>")
    return timestamp, macs


def verify(
    secret: bytes, header: str, body: bytes, now: int, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> int:
    """Check a delivery's signature; its timestamp, or SignatureInvalid saying why not."""
    timestamp, macs = _parse(header)
    if abs(now - timestamp) > tolerance_s:
        raise SignatureInvalid(
            f"signature timestamp {timestamp} is {now - timestamp} s from now "
            f"(tolerance {tolerance_s} s): a replay, or a clock out of step"
        )
    expected = _mac(check_secret(secret), timestamp, body)
    if not any(hmac.compare_digest(expected, mac) for mac in macs):
        raise SignatureInvalid("the signature does not match the body and the secret")
    return timestamp
