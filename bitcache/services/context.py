"""What every service needs: the ledger, the split and hold policies, rates and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bitcache.clock import now_us
from bitcache.core.checks import INT64_MAX, strict_int
from bitcache.core.entries import MAX_KEY_LENGTH, idempotency_key
from bitcache.core.files import HoldPolicy
from bitcache.core.pricing import RateProvider, SplitPolicy
from bitcache.errors import InvalidIdempotencyKey, InvalidInput, InvalidPolicy
from bitcache.store.ledger import LedgerStore

#: A reservation of a two-step transfer lives this long by default (15 minutes, µs).
DEFAULT_TRANSFER_TTL_US = 15 * 60 * 1_000_000
#: Room left in a ledger key for the operation prefix (``dl:``, ``refund:…:n``).
_PREFIX_ROOM = 20
MAX_EVENT_KEY = MAX_KEY_LENGTH - _PREFIX_ROOM



@dataclass(frozen=True)
class Context:
    """The configuration a service call runs with."""

    ledger: LedgerStore
    splits: SplitPolicy = field(default_factory=SplitPolicy)
    rates: RateProvider | None = None
    hold_policy: HoldPolicy = HoldPolicy.REDIRECT
    clock: Callable[[], int] = now_us
    transfer_ttl_us: int = DEFAULT_TRANSFER_TTL_US

    def __post_init__(self) -> None:
        """Refuse options of the wrong kind now, rather than fail on first use."""
        if not isinstance(self.ledger, LedgerStore):
            raise InvalidInput(f"ledger must be a LedgerStore, got {type(self.ledger).__name__}")
        if not isinstance(self.splits, SplitPolicy):
            raise InvalidPolicy(f"splits must be a SplitPolicy, got {type(self.splits).__name__}")
        if self.rates is not None and not callable(getattr(self.rates, "rate", None)):
            raise InvalidPolicy("rates must be a RateProvider (with a rate method), "
                                f"got {type(self.rates).__name__}")
        if not isinstance(self.hold_policy, HoldPolicy):
            raise InvalidPolicy(f"hold_policy must be a HoldPolicy, got {self.hold_policy!r}")
        if not callable(self.clock):
            raise InvalidPolicy(f"clock must be callable, got {type(self.clock).__name__}")
        strict_int(self.transfer_ttl_us, "transfer_ttl_us", 1, INT64_MAX, error=InvalidPolicy)


def event_key(prefix: str, key: object) -> str:
    """The ledger key of an event: an operation prefix and the caller's event id.

    The prefix keeps one event id from colliding across operations (a tip
    and a download may share an id). Event ids are 1-180 printable ASCII
    characters without surrounding spaces; anything else is refused with that
    rule in the message.
    """
    if (
        isinstance(key, str)
        and 0 < len(key) <= MAX_EVENT_KEY
        and key.isascii()
        and key.isprintable()
        and key == key.strip()
    ):
        return prefix + idempotency_key(key)
    what = f"{key[:40]!r} ({len(key)} characters)" if isinstance(key, str) else type(key).__name__
    raise InvalidIdempotencyKey(
        f"event id must be 1-{MAX_EVENT_KEY} printable ASCII characters without "
        f"surrounding spaces, got {what}"
    )
