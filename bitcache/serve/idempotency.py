"""``Idempotency-Key`` on money-moving POSTs, as Stripe and the IETF draft use it.

The first request with a key (per API key) is run and its answer kept; the
same key again with the same method, path and body answers that kept answer
(``Idempotent-Replayed: true``) and runs nothing; the same key with another
request is refused (422). A second request arriving while the first still
runs is refused with 409 and ``Retry-After``; a claim older than ``lease``
seconds belongs to a process that died, and the next retry runs the request
again — safe, because the ledger keys every money move by the same key.

Answers of 5xx (the database or chain failed) are not kept: a retry runs
again. Refusals that the request itself caused (402, 404, 409…) are kept, so
a refused payment is retried with a new key once its cause is fixed.

The body's fingerprint is taken over its canonical JSON (sorted keys, no
spaces), so a client that re-serialises the same body is not refused.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from bitcache.core.entries import idempotency_key
from bitcache.errors import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    RequestInProgress,
)
from bitcache.store import serve as serve_rows
from bitcache.store.ledger import LedgerStore

MAX_KEY = 100
HEADER = "idempotency-key"


@dataclass(frozen=True, slots=True)
class Answer:
    """A kept answer: status and JSON body."""

    status: int
    body: str


def check_header(value: str | None) -> str:
    """The Idempotency-Key header's value (1-100 printable ASCII characters)."""
    if value is None:
        raise InvalidIdempotencyKey("this request moves money: send an Idempotency-Key header")
    if len(value) > MAX_KEY:
        raise InvalidIdempotencyKey(f"the Idempotency-Key is at most {MAX_KEY} characters")
    if not (value.isascii() and value.isprintable()):  # other bytes arrive as Latin-1 text
        raise InvalidIdempotencyKey(
            f"the Idempotency-Key must be 1-{MAX_KEY} printable ASCII characters")
    return idempotency_key(value)


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    """What makes two requests the same: method, path, and the body's canonical JSON."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(b"\n".join((method.encode(), path.encode(), canonical))).digest()


class IdempotentRequests:
    """The claims and kept answers of money-moving requests, on the ledger's database."""

    def __init__(self, ledger: LedgerStore, *, lease: float = 30.0,
                 clock: Callable[[], float] = time.time):
        self.ledger, self.lease, self._clock = ledger, lease, clock

    def begin(self, key_id: str, key: str, print_: bytes) -> Answer | None:
        """Claim ``key`` for a new request (None), or the kept answer of the same request."""
        now = int(self._clock() * 1_000_000)
        with self.ledger.write() as conn:
            found = serve_rows.request_by_key(conn, key_id, key)
            outcome = None if found is None else self._decide(found, print_, now)
            if outcome is None:
                serve_rows.start_request(conn, key_id, key, print_, now)
        if isinstance(outcome, Exception):  # raised outside: the claim transaction is clean
            raise outcome
        return outcome

    def _decide(self, found: serve_rows.StoredRequest, print_: bytes,
                now: int) -> Answer | Exception | None:
        """A kept answer, a refusal, or None to run the request (again)."""
        if found.fingerprint != print_:
            return IdempotencyKeyReused(
                "this Idempotency-Key was used with another request: use a new key")
        if found.status is not None:
            return Answer(found.status, found.body or "")
        if now - found.started_at < self.lease * 1_000_000:
            return RequestInProgress(
                "a request with this Idempotency-Key is still running: retry shortly")
        return None

    def finish(self, key_id: str, key: str, answer: Answer) -> None:
        """Keep a request's answer (5xx answers are dropped: a retry runs again)."""
        with self.ledger.write() as conn:
            if answer.status >= 500:
                serve_rows.drop_request(conn, key_id, key)
            else:
                serve_rows.finish_request(conn, key_id, key, answer.status, answer.body)
