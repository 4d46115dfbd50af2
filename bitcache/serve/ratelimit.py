"""Failed authentications counted per client, so a key or a link cannot be guessed at speed.

Each client (its address, see :func:`bitcache.serve.auth.client_of`) may
fail ``limit`` times in any ``window`` seconds. Past that, every attempt
from it — right or wrong — is refused with ``TooManyFailures`` until the
oldest failure leaves the window, so a guess that happens to be right is
not confirmed either. Memory is bounded: at most ``max_clients`` clients
are tracked, the least recently failed forgotten first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from bitcache.errors import InvalidPolicy, TooManyFailures


class FailureLimiter:
    """Counts authentication failures per client over a sliding window. Thread-safe."""

    def __init__(self, limit: int = 20, window: float = 60.0, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidPolicy(f"the failure limit must be a positive int, got {limit!r}")
        if not 0 < window <= 86_400:
            raise InvalidPolicy(f"the failure window must be 0-86400 seconds, got {window!r}")
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Raise ``TooManyFailures`` if the client is over its limit."""
        if not self._failures:  # the common case: nobody is failing
            return
        with self._lock:
            recent = self._recent(client, self._clock())
            if recent is not None and len(recent) >= self.limit:
                wait = recent[0] + self.window - self._clock()
                raise TooManyFailures(
                    "too many failed authentications from this client; try again later",
                    retry_after=max(1, math.ceil(wait)))

    def failed(self, client: str) -> None:
        """Count one failure of the client."""
        with self._lock:
            now = self._clock()
            recent = self._recent(client, now)
            if recent is None:
                recent = self._failures[client] = deque()
                while len(self._failures) > self.max_clients:
                    self._failures.popitem(last=False)
            self._failures.move_to_end(client)
            recent.append(now)
            while len(recent) > self.limit:
                recent.popleft()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        recent = self._failures.get(client)
        if recent is None:
            return None
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if not recent:
            del self._failures[client]
            return None
        return recent
