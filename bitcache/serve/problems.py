"""Errors as RFC 9457 problem details (``application/problem+json``), leaking nothing.

Every refusal answers ``{"type", "title", "status", "detail"}`` plus the
members its type defines. ``type`` is ``/problems/<slug>``; the service
describes each type at that path. ``detail`` is written here from what the
caller sent or may know — never the text of an internal error, which may
name another party's account or a file's owner. Only bad input repeats the
error's message: it speaks of the caller's own input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from starlette.responses import Response

from bitcache import errors as e

MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True, slots=True)
class ProblemType:
    """A kind of refusal: its slug, HTTP status, title and what it means."""

    slug: str
    status: int
    title: str
    about: str


_TYPES = (
    ProblemType("bad-request", 400, "The request is malformed",
                "A parameter, header or body member is missing or invalid; nothing was done."),
    ProblemType("unauthorized", 401, "Authentication required",
                "No API key, a malformed one, or one that is unknown or revoked."),
    ProblemType("insufficient-funds", 402, "Payment required",
                "The downloader's balance does not cover the price. The answer gives the price, "
                "the available balance, the missing amount, the downloader's deposit address "
                "and a BIP21 bitcoin: URI for the missing amount."),
    ProblemType("forbidden", 403, "Not allowed for this key",
                "The API key has no scope that allows this request."),
    ProblemType("link-invalid", 403, "Invalid download link",
                "The download link is malformed or its signature does not verify."),
    ProblemType("download-cap-reached", 403, "Download cap reached",
                "The file's uploader limited its downloads and the limit is reached."),
    ProblemType("unknown-file", 404, "Unknown file", "No file is registered under that hash."),
    ProblemType("file-missing", 404, "File not available",
                "The file is registered but the host has no copy of it; nothing was charged."),
    ProblemType("unknown-transfer", 404, "Unknown transfer", "No transfer has that id."),
    ProblemType("unknown-party", 404, "Unknown party",
                "No account exists yet for that uploader or downloader."),
    ProblemType("not-found", 404, "Not found", "No endpoint has that path."),
    ProblemType("method-not-allowed", 405, "Method not allowed",
                "The endpoint does not accept that method."),
    ProblemType("ownership-conflict", 409, "Registered to another uploader",
                "The file is registered to another uploader."),
    ProblemType("file-not-held", 409, "File not held",
                "The file is not under a hold, so it cannot be released or refunded."),
    ProblemType("transfer-closed", 409, "Transfer closed",
                "The transfer was completed, cancelled, or has expired."),
    ProblemType("event-conflict", 409, "Event id used for another event",
                "The event id was used before for another event."),
    ProblemType("link-used", 409, "Link used for other bytes",
                "The link's one charge paid for other bytes of the file: ask for a new link."),
    ProblemType("request-in-progress", 409, "Request in progress",
                "The first request with this Idempotency-Key is still running; retry later."),
    ProblemType("ledger-refused", 409, "Refused by the books",
                "The ledger refused the request."),
    ProblemType("link-expired", 410, "Download link expired",
                "The download link's lifetime is over: ask for a new one."),
    ProblemType("body-too-large", 413, "Content too large",
                "The request body is over the service's limit of 1 MiB; nothing was done."),
    ProblemType("range-not-satisfiable", 416, "Range not satisfiable",
                "The Range header is malformed or asks for no byte of the file."),
    ProblemType("idempotency-key-reused", 422, "Idempotency-Key reused",
                "The Idempotency-Key was sent before with another method, path or body."),
    ProblemType("too-many-failures", 429, "Too many failed authentications",
                "Too many failed authentications from this client; wait Retry-After seconds."),
    ProblemType("file-held", 451, "Unavailable for legal reasons",
                "The file is under a takedown hold."),
    ProblemType("internal", 500, "Internal error", "An unexpected error; nothing to retry."),
    ProblemType("outcome-unknown", 503, "Outcome unknown",
                "The database connection was lost after the charge was sent, so it may or may "
                "not have been made. Retry the same request (the same Idempotency-Key, or the "
                "same download link) after Retry-After seconds: it is answered as made once, "
                "never charged twice."),
    ProblemType("unavailable", 503, "Service unavailable",
                "The database or the chain backend failed, or the service was started without "
                "a part the request needs; retry later."),
)
TYPES: dict[str, ProblemType] = {t.slug: t for t in _TYPES}


@dataclass(frozen=True, slots=True)
class Problem:
    """One refusal to send: its type, detail, extra members and headers."""

    slug: str
    detail: str
    extra: dict[str, object] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return TYPES[self.slug].status

    def body(self) -> dict[str, object]:
        kind = TYPES[self.slug]
        return {"type": f"/problems/{kind.slug}", "title": kind.title, "status": kind.status,
                "detail": self.detail, **self.extra}

    def response(self) -> Response:
        """The problem+json answer."""
        return Response(json.dumps(self.body()), status_code=self.status,
                        media_type=MEDIA_TYPE, headers=self.headers)


# Each error class (most specific first) and the problem it becomes. None: its detail is the
# error's own message (bad input describes the caller's own input).
_MAP: tuple[tuple[type[e.BitcacheError], str, str | None], ...] = (
    (e.TooManyFailures, "too-many-failures", "too many failed authentications; retry later"),
    (e.AuthenticationFailed, "unauthorized", None),
    (e.ScopeDenied, "forbidden", None),
    (e.LinkExpired, "link-expired", "the download link has expired: ask for a new one"),
    (e.LinkInvalid, "link-invalid", "the download link is malformed or forged"),
    (e.LinkUsed, "link-used", None),
    (e.RangeNotSatisfiable, "range-not-satisfiable", None),
    (e.BodyTooLarge, "body-too-large", None),
    (e.FileMissing, "file-missing", "the host has no copy of this file; nothing was charged"),
    (e.IdempotencyKeyReused, "idempotency-key-reused", None),
    (e.RequestInProgress, "request-in-progress", None),
    (e.ServiceUnavailable, "unavailable", None),
    # the service lacks what the request needs (a fiat price and no rate provider): not
    # the caller's input
    (e.InvalidPolicy, "unavailable", None),
    (e.InvalidInput, "bad-request", None),
    (e.InsufficientFunds, "insufficient-funds", "the balance does not cover the price"),
    (e.UnknownFile, "unknown-file", "no file is registered under this hash"),
    (e.FileOwnershipConflict, "ownership-conflict", "the file is registered to another "
                                                     "uploader"),
    (e.DownloadCapReached, "download-cap-reached", "the file's download cap is reached"),
    (e.FileHeld, "file-held", "the file is under a takedown hold"),
    (e.FileNotHeld, "file-not-held", "the file is not under a hold"),
    (e.PendingStateError, "transfer-closed", "the transfer was completed, cancelled or "
                                             "has expired"),
    (e.UnknownEntry, "unknown-transfer", "no transfer has this id"),
    (e.UnknownAccount, "unknown-party", "no account exists yet for this party"),
    (e.IdempotencyConflict, "event-conflict", "the event id was used for another event"),
    (e.LedgerError, "ledger-refused", "the ledger refused the request"),
    (e.OutcomeUnknown, "outcome-unknown", "the database connection was lost after the "
                                          "charge was sent: retry the same request"),
    (e.StoreError, "unavailable", "the database failed; retry later"),
    (e.ChainError, "unavailable", "the chain backend failed; retry later"),
)


def problem_for(exc: e.BitcacheError) -> Problem:
    """The problem a bitcache error answers."""
    for cls, slug, detail in _MAP:
        if isinstance(exc, cls):
            return Problem(slug, str(exc) if detail is None else detail,
                           headers=_headers(exc, slug))
    return Problem("internal", "an unexpected error")


def _headers(exc: e.BitcacheError, slug: str) -> dict[str, str]:
    if isinstance(exc, e.TooManyFailures):
        return {"Retry-After": str(exc.retry_after)}
    if slug == "unauthorized":
        return {"WWW-Authenticate": 'Bearer realm="bitcache"'}
    if slug in ("request-in-progress", "unavailable", "outcome-unknown"):
        return {"Retry-After": "1"}
    return {}


def problem_schema() -> dict[str, object]:
    """The JSON schema of every problem body."""
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"},
            "status": {"type": "integer"}, "detail": {"type": "string"},
            "price_msat": {"type": "integer"}, "available_msat": {"type": "integer"},
            "missing_msat": {"type": "integer"}, "deposit_address": {"type": "string"},
            "payment_uri": {"type": "string"},
        },
    }
