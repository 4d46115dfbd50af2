"""HTTP transport shared by the Bitcoin Core RPC and Esplora adapters.

One place decides what a failed exchange means, so both adapters agree:

* timeouts, refused connections and transient server answers (5xx, and
  whatever else the adapter's ``transient`` predicate says) are retried with
  exponential backoff, then raise :class:`~bitcache.errors.ChainUnavailable`;
* HTTP 429 is retried after the server's ``Retry-After`` (seconds, or an
  HTTP date read against the response's own ``Date`` header), then raises
  :class:`~bitcache.errors.RateLimited`; a ``Retry-After`` longer than
  ``max_retry_after`` raises at once rather than blocking the caller;
* HTTP 401/403 raise :class:`~bitcache.errors.ChainAuthFailed` at once;
* every other answer is handed back for the adapter to read.

Sleeping and jitter are passed in (``sleep``, ``jitter``) so tests run
without waiting and see the exact delays.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Self

import httpx

from bitcache.core.checks import is_hex_digest, is_int
from bitcache.core.money import SAT_PER_BTC
from bitcache.errors import (
    ChainAuthFailed,
    ChainError,
    ChainProtocolError,
    ChainUnavailable,
    InvalidInput,
    InvalidPolicy,
    RateLimited,
)
from bitcache.network import Network
from bitcache.telemetry.metrics import CHAIN_ERRORS

log = logging.getLogger(__name__)

#: HTTP statuses worth another try: the server is overloaded or restarting.
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})

Sleep = Callable[[float], None]
Jitter = Callable[[float], float]


def full_jitter(delay: float) -> float:
    """AWS "full jitter": a uniform delay in [0, delay], so clients spread out."""
    return random.uniform(0.0, delay)


def no_jitter(delay: float) -> float:
    """The nominal delay itself (deterministic; for tests)."""
    return delay


def default_transient(response: httpx.Response) -> bool:
    """Retry on 5xx answers that mean "try again later"."""
    return response.status_code in TRANSIENT_STATUSES


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to retry, and how long to wait between tries.

    The n-th retry waits ``jitter(min(max_delay, base_delay * 2**n))``.
    """

    retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    jitter: Jitter = full_jitter

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based)."""
        return max(0.0, self.jitter(min(self.max_delay, self.base_delay * 2**attempt)))


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, error: ChainUnavailable, delay: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay = delay


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    """The start of a response body, for error messages."""
    text = response.text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` delay in seconds, or None when absent or unreadable.

    An HTTP-date is measured against the response's own ``Date`` header, so no
    local clock is read; without ``Date`` it cannot be used and is ignored.
    """
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        until = _utc(parsedate_to_datetime(value))
        now = _utc(parsedate_to_datetime(response.headers["date"]))
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return max(0.0, (until - now).total_seconds())


def _utc(moment: datetime) -> datetime:
    """HTTP dates are GMT; a date parsed without a zone is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_json(response: httpx.Response, what: str) -> Any:
    """Decode a JSON body with every non-integer number as an exact Decimal."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ChainProtocolError(
            f"{what}: response is not JSON (HTTP {response.status_code}): {_snippet(response)!r}"
        ) from exc


class HttpTransport:
    """A synchronous httpx client with bitcache's retry and error rules."""

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        timeout: float,
        policy: RetryPolicy,
        sleep: Sleep,
        auth: Callable[[], tuple[str, str] | None] | None = None,
        transient: Callable[[httpx.Response], bool] = default_transient,
        auth_hint: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if timeout <= 0 or policy.retries < 0:
            raise InvalidPolicy(
                f"{label}: timeout must be positive and retries >= 0, "
                f"got timeout={timeout}, retries={policy.retries}"
            )
        self.base_url = base_url.rstrip("/")
        self.label = label
        self.timeout = timeout
        self.policy = policy
        self._sleep = sleep
        self._auth = auth
        self._transient = transient
        self._auth_hint = auth_hint
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), headers=dict(headers or {}))

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request, retrying transient failures; return the final answer.

        A final failure is counted in ``bitcache_chain_errors`` and logged."""
        try:
            return self._request(method, path, content, headers, timeout)
        except ChainError as exc:
            backend = self.label.split(" ", 1)[0]
            CHAIN_ERRORS.labels(backend, type(exc).__name__).inc()
            log.warning("%s: %s %s failed: %s", backend, method, path, exc,
                        extra={"backend": backend, "error": type(exc).__name__})
            raise

    def _request(
        self,
        method: str,
        path: str,
        content: bytes | str | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> httpx.Response:
        attempts = self.policy.retries + 1
        for attempt in range(attempts):
            try:
                return self._attempt(method, path, content, headers, timeout)
            except _Retry as retry:
                if attempt == attempts - 1:
                    raise retry.error from retry.__cause__
                delay = retry.delay if retry.delay is not None else self.policy.backoff(attempt)
                self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _attempt(
        self,
        method: str,
        path: str,
        content: bytes | str | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> httpx.Response:
        """One exchange; raises _Retry for a transient failure, a ChainError for a final one."""
        url = self.base_url + path
        auth = self._auth() if self._auth is not None else None
        try:
            response = self._client.request(
                method,
                url,
                content=content,
                headers=dict(headers or {}),
                auth=auth,
                timeout=httpx.Timeout(timeout or self.timeout),
            )
        except httpx.TimeoutException as exc:
            raise _Retry(ChainUnavailable(f"{self.label}: timed out ({method} {path})")) from exc
        except httpx.TransportError as exc:
            raise _Retry(
                ChainUnavailable(f"{self.label}: cannot reach {self.base_url}: {exc}")
            ) from exc
        return self._judge(response, method, path)

    def _judge(self, response: httpx.Response, method: str, path: str) -> httpx.Response:
        """Classify an answer: hand it back, retry it, or raise."""
        status = response.status_code
        if status in (401, 403):
            hint = f"; {self._auth_hint}" if self._auth_hint else ""
            raise ChainAuthFailed(
                f"{self.label}: authentication refused (HTTP {status}) for {method} {path}{hint}"
            )
        if status == 429:
            return self._rate_limited(response, method, path)
        if self._transient(response):
            raise _Retry(
                ChainUnavailable(
                    f"{self.label}: HTTP {status} for {method} {path} after retries: "
                    f"{_snippet(response)!r}"
                )
            )
        return response

    def _rate_limited(self, response: httpx.Response, method: str, path: str) -> httpx.Response:
        """HTTP 429: wait as told (or back off), unless told to wait too long."""
        wait = retry_after_seconds(response)
        error = RateLimited(
            f"{self.label}: rate limited (HTTP 429) for {method} {path}"
            + (f"; server asks to retry after {wait:g} s" if wait is not None else "")
        )
        if wait is not None and wait > self.policy.max_retry_after:
            raise error
        raise _Retry(error, delay=wait)


# --- reading answers ---------------------------------------------------------

def check_hash(value: str, what: str = "txid") -> str:
    """A caller's txid or block hash, validated and lowercased (InvalidInput if not 64 hex)."""
    if not isinstance(value, str) or not is_hex_digest(value.lower()):
        raise InvalidInput(f"{what} must be 64 hex characters, got {value!r}")
    return value.lower()


def check_base_url(url: str, what: str) -> str:
    """A backend's base URL: ``http`` or ``https``, a host, a port in range (else InvalidInput).

    A URL that carries a user name or password is never repeated in the message.
    """
    shown = "" if "@" in str(url) else f" {url!r}"
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, TypeError) as exc:
        detail = f": {exc}" if shown else ""
        raise InvalidInput(f"{what}{shown} is not a URL{detail}") from exc
    host_ok = bool(parsed.host) and "%" not in parsed.host
    if parsed.scheme not in ("http", "https") or not host_ok:
        raise InvalidInput(f"{what}{shown} must be an http:// or https:// URL with a host")
    if port is not None and not 0 < port < 65_536:
        raise InvalidInput(f"{what}{shown} has port {port}, outside 1-65535")
    return str(url)


def field(obj: Any, key: str, kind: type[Any] | tuple[type[Any], ...], what: str) -> Any:
    """``obj[key]`` checked against ``kind``; ChainProtocolError when missing or mistyped."""
    if not isinstance(obj, dict):
        raise ChainProtocolError(f"{what}: expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise ChainProtocolError(f"{what}: field {key!r} is missing")
    value = obj[key]
    if isinstance(value, bool) and kind in (int, Decimal, (int, Decimal)):
        raise ChainProtocolError(f"{what}: field {key!r} is a boolean, not a number")
    if not isinstance(value, kind):
        raise ChainProtocolError(f"{what}: field {key!r} has type {type(value).__name__}")
    return value


def answer_hash(value: Any, what: str) -> str:
    """A txid or block hash in a backend's answer (ChainProtocolError if malformed)."""
    if not is_hex_digest(value):
        raise ChainProtocolError(f"{what}: expected 64 lowercase hex characters, got {value!r}")
    return value


def answer_height(value: Any, what: str) -> int:
    """A block height in a backend's answer: a non-negative int."""
    if not is_int(value) or value < 0:
        raise ChainProtocolError(f"{what}: expected a block height, got {value!r}")
    return value


def _number(value: Any, what: str) -> Decimal:
    """A non-negative, finite JSON number as an exact Decimal."""
    if not (is_int(value) or isinstance(value, Decimal)):
        raise ChainProtocolError(f"{what}: expected a number, got {value!r}")
    number = Decimal(value)
    if not number.is_finite() or number < 0:
        raise ChainProtocolError(f"{what}: expected a non-negative number, got {value!r}")
    return number


def btc_to_sat(value: Any, what: str) -> int:
    """A BTC amount (JSON number) to whole sats, exactly; sub-sat digits are garbage."""
    sats = _number(value, what) * SAT_PER_BTC
    if sats != sats.to_integral_value():
        raise ChainProtocolError(f"{what}: {value} BTC is not a whole number of sats")
    return int(sats)


def rate_to_sat_per_kvb(value: Any, scale: int, what: str) -> int:
    """A fee rate times ``scale`` to integer sat/kvB, rounded up (never underpay).

    ``scale`` is 100_000_000 for Core's BTC/kvB and 1000 for Esplora's sat/vB.
    """
    rate = _number(value, what) * scale
    return int(rate.to_integral_value(rounding=ROUND_CEILING))


class HttpBackend:
    """What the HTTP chain adapters share: their network and their connections' lifetime."""

    _network: Network
    _http: HttpTransport

    @property
    def network(self) -> Network:
        return self._network

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
