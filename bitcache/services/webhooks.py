"""Webhook delivery of the outbox's events: at least once, in id order, signed.

Each configured URL is an endpoint with a cursor (the last event id it
accepted, :mod:`bitcache.store.outbox`). A delivery pass sends every
endpoint the events after its cursor, one POST per event, in id order, and
moves the cursor after each 2xx answer. The first failure (a connection
error, a timeout, a status not 2xx) stops that endpoint for this pass: its
attempt count goes up and the next attempt is put off by an exponential
backoff (``base_delay_s`` doubled per attempt, at most ``max_delay_s``),
both persisted, so a pass run by cron an hour later knows where it was.
After ``max_attempts`` failures in a row the endpoint is given up on until
an operator redelivers (``bitcache events redeliver ID``), which moves its
cursor back to before ``ID`` and resets the count.

One run at a time sends to an endpoint: a run holds the endpoint's lease
(renewed at each event, ``lease_s``) and a run that finds it held reports
the endpoint ``busy``; a run that lost its lease (it stalled longer than the
lease) stops without moving the cursor. A crash between a receiver's 2xx
and the cursor's commit sends that event again: receivers must drop
duplicates by event id. Every POST is signed
(:mod:`bitcache.events.signing`). Network calls are never made inside a
database transaction.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bitcache.clock import iso_utc
from bitcache.core.checks import is_int
from bitcache.errors import InvalidInput, InvalidPolicy
from bitcache.events.signing import HEADER, check_secret, sign
from bitcache.store import outbox
from bitcache.store.ledger import LedgerStore
from bitcache.store.outbox import Endpoint, StoredEvent

log = logging.getLogger(__name__)

US = 1_000_000


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard delivery tries: attempts before giving up, the backoff, the HTTP timeout."""

    max_attempts: int = 10
    base_delay_s: int = 10
    max_delay_s: int = 3600
    timeout_s: float = 10.0
    batch: int = 100
    #: how long a run's hold on an endpoint lasts without news (renewed at each event)
    lease_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("max_attempts", "base_delay_s", "max_delay_s", "batch"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise InvalidPolicy(f"{name} must be a whole number >= 1, got {value!r}")
        for name in ("timeout_s", "lease_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidPolicy(f"{name} must be a positive number, got {value!r}")
        if self.lease_s <= 2 * self.timeout_s:
            raise InvalidPolicy("lease_s must be more than twice timeout_s")

    def delay_s(self, attempts: int) -> int:
        """Seconds to wait after the ``attempts``-th failure in a row."""
        return int(min(self.base_delay_s * 2 ** min(attempts - 1, 40), self.max_delay_s))


@dataclass(frozen=True, slots=True)
class EndpointReport:
    """What a pass did for one endpoint.

    ``status``: ``caught_up`` (nothing left to send), ``failed`` (an event
    was refused this pass; retried after ``next_attempt_at``), ``waiting``
    (backing off from an earlier failure), ``given_up`` (``max_attempts``
    reached; an operator must redeliver), ``busy`` (another delivery run
    holds the endpoint's lease and is sending to it) or ``stopped`` (the
    pass was told to stop; the rest goes next time).
    """

    url: str
    status: str
    delivered: int
    cursor: int
    attempts: int
    next_attempt_at: int
    error: str


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host and no user name or password."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"a webhook URL must be http:// or https:// with a host, got {url!r}")
    if parts.username or parts.password:
        raise InvalidInput("a webhook URL must not carry a user name or password")
    if len(url) > 500:
        raise InvalidInput("a webhook URL is at most 500 characters")
    return url


def shown(url: str) -> str:
    """A URL fit for a log line: scheme, host, port and path (no query: it may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def envelope(event: StoredEvent) -> dict[str, Any]:
    """What a delivery's body holds: the event's id, type, subject, time and data."""
    return {
        "id": event.id,
        "type": event.kind,
        "subject": event.subject,
        "created": iso_utc(event.created_at),
        "data": event.data,
    }


def body_of(event: StoredEvent) -> bytes:
    return json.dumps(envelope(event), sort_keys=True, separators=(",", ":")).encode()


class Webhooks:
    """Delivers the outbox to ``urls``, signed with ``secret``."""

    def __init__(
        self,
        ledger: LedgerStore,
        urls: Sequence[str],
        secret: bytes,
        policy: DeliveryPolicy | None = None,
        *,
        clock: Callable[[], int] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.ledger = ledger
        self.urls = tuple(check_url(u) for u in urls)
        if len(set(self.urls)) != len(self.urls):
            raise InvalidInput("a webhook URL is listed twice")
        self._secret = check_secret(secret)
        self.policy = policy or DeliveryPolicy()
        self._clock = clock or _now_us
        self._owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._client = httpx.Client(
            timeout=self.policy.timeout_s, follow_redirects=False, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Webhooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- delivering -------------------------------------------------------------

    def deliver(self, stop: threading.Event | None = None) -> list[EndpointReport]:
        """One pass over every endpoint (see the module docstring); ``stop``, once set,
        ends the pass after the event being sent (a service shutting down)."""
        self._stop = stop or threading.Event()
        return [self._endpoint(url) for url in self.urls]

    def _lease_until(self) -> int:
        return self._clock() + int(self.policy.lease_s * US)

    def _endpoint(self, url: str) -> EndpointReport:
        """Deliver to ``url`` under its lease (another run holding it: ``busy``)."""
        with self.ledger.write() as conn:
            now = self._clock()
            ep = outbox.endpoint(conn, url, now)
            held = outbox.claim(conn, url, self._owner, self._lease_until(), now)
        if not held:
            return _report(ep, "busy", 0)
        try:
            return self._send_all(ep)
        finally:
            with self.ledger.write() as conn:
                outbox.release(conn, url, self._owner)

    def _send_all(self, ep: Endpoint) -> EndpointReport:
        url = ep.url
        if ep.attempts >= self.policy.max_attempts:
            return _report(ep, "given_up", 0)
        if ep.next_attempt_at > self._clock():
            return _report(ep, "waiting", 0)
        delivered = 0
        while True:
            with self.ledger.read() as conn:
                batch = outbox.events_after(conn, ep.delivered_id, self.policy.batch)
            if not batch:
                if delivered:
                    log.info("%d event(s) delivered to %s, up to event %d", delivered,
                             shown(url), ep.delivered_id,
                             extra={"endpoint": shown(url), "delivered": delivered})
                return _report(ep, "caught_up", delivered)
            for event in batch:
                if self._stop.is_set():
                    return _report(ep, "stopped", delivered)
                error = self._post(url, event)
                if error is not None:
                    return _report(self._failed(ep, event, error), "failed", delivered)
                with self.ledger.write() as conn:
                    kept = outbox.mark_delivered(
                        conn, url, event.id, self._owner, self._lease_until(), self._clock()
                    )
                if not kept:  # the lease ran out and another run took the endpoint
                    return _report(ep, "busy", delivered)
                ep = Endpoint(url, event.id, 0, 0, "")
                delivered += 1

    def _post(self, url: str, event: StoredEvent) -> str | None:
        """POST one event; None when the endpoint answered 2xx, else what went wrong."""
        body = body_of(event)
        headers = {
            HEADER: sign(self._secret, self._clock() // US, body),
            "Content-Type": "application/json",
            "Bitcache-Event-Id": str(event.id),
            "Bitcache-Event-Type": event.kind,
            "User-Agent": "bitcache-webhooks",
        }
        try:
            answer = self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:  # kept and logged: the URL's query may hold a token
            return f"{type(exc).__name__}: {exc}".replace(url, shown(url))
        if not 200 <= answer.status_code < 300:
            return f"HTTP {answer.status_code}"
        log.debug(
            "event %d (%s) delivered to %s", event.id, event.kind, shown(url),
            extra={"event_id": event.id, "event_kind": event.kind, "endpoint": shown(url)},
        )
        return None

    def _failed(self, ep: Endpoint, event: StoredEvent, error: str) -> Endpoint:
        attempts = ep.attempts + 1
        now = self._clock()
        later = now + self.policy.delay_s(attempts) * US
        with self.ledger.write() as conn:
            outbox.mark_failed(conn, ep.url, error, later, self._owner, now)
        log.warning(
            "event %d (%s) not delivered to %s (attempt %d): %s",
            event.id, event.kind, shown(ep.url), attempts, error,
            extra={"event_id": event.id, "endpoint": shown(ep.url), "attempts": attempts},
        )
        return Endpoint(ep.url, ep.delivered_id, attempts, later, error)

    # -- operator actions ----------------------------------------------------------

    def redeliver(self, event_id: int) -> list[EndpointReport]:
        """Send event ``event_id`` and every later one again, in order, to every endpoint
        (a given-up endpoint starts trying again); then run a delivery pass."""
        with self.ledger.write() as conn:
            outbox.event(conn, event_id)  # UnknownEvent if there is none
            now = self._clock()
            for url in self.urls:
                outbox.endpoint(conn, url, now)
                outbox.rewind(conn, url, event_id - 1, now)
        log.info("events from %d on to be delivered again", event_id)
        return self.deliver()


def _report(ep: Endpoint, status: str, delivered: int) -> EndpointReport:
    return EndpointReport(
        ep.url, status, delivered, ep.delivered_id, ep.attempts, ep.next_attempt_at,
        ep.last_error,
    )

