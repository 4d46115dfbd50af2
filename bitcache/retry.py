"""Opt-in retry of keyed calls through a database outage: backoff with jitter, and a deadline.

Every hook that moves money takes an idempotency key, so calling it again
with the same key is exactly-once: a write that committed answers its
original receipt (``replayed``), one that did not is made now. That makes
retrying safe after any :class:`~bitcache.errors.StoreUnavailable` — a lost
connection during a failover, a read-only standby, a deadline that passed,
even :class:`~bitcache.errors.OutcomeUnknown`. :func:`call_with_retry`
retries such a call with exponential backoff and full jitter until the
policy's deadline; each attempt runs under its own per-call deadline
(:mod:`bitcache.store.deadline`), so a frozen primary costs one attempt,
not the whole budget. Refusals (``InsufficientFunds``…) and permanent store
errors are raised at once. :func:`call_with_retry_async` is the same loop
for :class:`~bitcache.asynchooks.AsyncHooks`: its waits are ``asyncio.sleep``,
so a retrying call never blocks the event loop.

When the deadline passes, the last error is raised — as ``OutcomeUnknown``
if any attempt's outcome was unknown, since that attempt may have
committed: the caller must then retry with the same key later, or look the
key up.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from bitcache.errors import InvalidPolicy, OutcomeUnknown, StoreUnavailable
from bitcache.store.deadline import deadline

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to keep trying a keyed call, and how to space the attempts.

    ``deadline_s``: the whole call, attempts and waits included (the prototype
    failovers took 2.5–10 s; 20 s covers them with room). ``attempt_s``: each
    attempt's own deadline. Waits start at ``first_delay_s`` and double up to
    ``max_delay_s``; each wait is drawn uniformly below that (full jitter), so
    many workers retrying together spread out.
    """

    deadline_s: float = 20.0
    attempt_s: float = 5.0
    first_delay_s: float = 0.05
    max_delay_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("deadline_s", "attempt_s", "first_delay_s", "max_delay_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidPolicy(f"RetryPolicy.{name} must be a number of seconds")
            if not (math.isfinite(value) and 0 < value <= 3600):
                raise InvalidPolicy(f"RetryPolicy.{name} must be above 0 and at most 3600 s")
        if self.first_delay_s > self.max_delay_s:
            raise InvalidPolicy("RetryPolicy.first_delay_s must not exceed max_delay_s")

    def backoff(self, attempt: int, draw: float) -> float:
        """The wait before attempt ``attempt + 1`` (0-based), ``draw`` in [0, 1)."""
        ceiling = min(self.max_delay_s, self.first_delay_s * 2.0 ** min(attempt, 30))
        return draw * ceiling


class _Attempts:
    """The bookkeeping of one retried call: its deadline, the attempts made, and whether
    any attempt's outcome was unknown (shared by the sync and the asyncio loops)."""

    __slots__ = ("clock", "draw", "ends", "policy", "tries", "unknown")

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float],
                 draw: Callable[[], float]):
        self.policy, self.clock, self.draw = policy, clock, draw
        self.ends = clock() + policy.deadline_s
        self.unknown: OutcomeUnknown | None = None
        self.tries = 0

    def budget(self) -> float:
        """The next attempt's own deadline: ``attempt_s``, or less near the end."""
        return max(0.001, min(self.policy.attempt_s, self.ends - self.clock()))

    def failed(self, exc: StoreUnavailable) -> float:
        """The wait before the next attempt, or raise when it would end past the deadline."""
        if isinstance(exc, OutcomeUnknown):
            self.unknown = exc
        wait = self.policy.backoff(self.tries, self.draw())
        self.tries += 1
        if self.ends - self.clock() <= wait:
            _give_up(exc, self.unknown, self.tries, self.policy)
        return wait


def call_with_retry(
    policy: RetryPolicy,
    attempt: Callable[[float], T],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    draw: Callable[[], float] = random.random,
) -> T:
    """``attempt(seconds)`` until it returns, retried on ``StoreUnavailable`` until the deadline.

    ``seconds`` is the attempt's own deadline: ``policy.attempt_s``, or
    less near the end of the policy's deadline.
    """
    attempts = _Attempts(policy, clock, draw)
    while True:
        try:
            return attempt(attempts.budget())
        except StoreUnavailable as exc:
            sleep(attempts.failed(exc))


async def call_with_retry_async(
    policy: RetryPolicy,
    attempt: Callable[[float], Awaitable[T]],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    draw: Callable[[], float] = random.random,
) -> T:
    """:func:`call_with_retry` for asyncio: ``await attempt(seconds)``, and the waits between
    attempts are ``asyncio.sleep`` (the event loop serves other tasks meanwhile)."""
    attempts = _Attempts(policy, clock, draw)
    while True:
        try:
            return await attempt(attempts.budget())
        except StoreUnavailable as exc:
            await sleep(attempts.failed(exc))


def _give_up(
    last: StoreUnavailable, unknown: OutcomeUnknown | None, tries: int, policy: RetryPolicy
) -> NoReturn:
    """Raise the error the caller must see after the last attempt."""
    if unknown is None or last is unknown:
        raise last
    raise OutcomeUnknown(
        f"gave up after {tries} attempts in {policy.deadline_s:g} s; an earlier attempt's "
        f"outcome is unknown ({unknown}); retry with the same key"
    ) from last


def retrying(
    policy: RetryPolicy | None, call_deadline_s: float | None, fn: Callable[[], T]
) -> T:
    """``fn()`` under a per-call deadline, retried by ``policy`` (once when None)."""
    if policy is None:
        with deadline(call_deadline_s):
            return fn()

    def attempt(seconds: float) -> T:
        limit = seconds if call_deadline_s is None else min(seconds, call_deadline_s)
        with deadline(limit):
            return fn()

    return call_with_retry(policy, attempt)


async def retrying_async(
    policy: RetryPolicy | None, call_deadline_s: float | None, fn: Callable[[], Awaitable[T]]
) -> T:
    """``await fn()``, retried by ``policy``; once when None (then ``fn`` is bounded by
    the deadline of the database work it waits for, not here).

    Each attempt's wait is bounded by its deadline: past it the attempt raises
    ``OutcomeUnknown``, since the request may be queued or in flight and may
    still commit (the retry, with the same key, replays it then).
    """
    if policy is None:
        return await fn()

    def attempt(seconds: float) -> Awaitable[T]:
        limit = seconds if call_deadline_s is None else min(seconds, call_deadline_s)
        return _within(limit, fn)

    return await call_with_retry_async(policy, attempt)


async def _within(seconds: float, fn: Callable[[], Awaitable[T]]) -> T:
    """``await fn()`` bounded by ``seconds``. ``wait_for`` (a task per attempt), not the
    cheaper ``asyncio.timeout``: the task starts a loop turn later, so the charges of one
    turn queue for the group commit together; without it the service's flushes took 42
    charges instead of 56 and its CPU per gated charge rose 150 → 205 µs
    (docs/benchmarks.md, "Concurrent charging")."""
    try:
        return await asyncio.wait_for(fn(), seconds)
    except TimeoutError:
        raise OutcomeUnknown(
            f"no answer within the call's deadline of {seconds:g} s; the request may still "
            "commit: retry with the same key") from None
