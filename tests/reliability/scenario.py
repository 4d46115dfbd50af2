"""The shop of the reliability tests: three files, three uploaders (one a referrer), downloaders.

Downloaders are funded by promotional credit (not against ``asset:wallet``),
so the books' wallet keeps matching the regtest wallet's coins while
settlement pays the uploaders out.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bitcache.core.pricing import PriceRule, SplitPolicy
from bitcache.errors import BitcacheError
from bitcache.hooks import DownloadReceipt, DownloadRequest, Hooks
from tests.reliability.checks import Catalog, Charge
from tests.reliability.workers import Order

FILES = {
    hashlib.sha256(b"reliability file 0").hexdigest(): ("u0", 200_000, None),
    hashlib.sha256(b"reliability file 1").hexdigest(): ("u1", 150_000, "u2"),
    hashlib.sha256(b"reliability file 2").hexdigest(): ("u2", 333_333, None),
}
UPLOADERS = ("u0", "u1", "u2")
SIZE = 1_000_000

CATALOG = Catalog(
    prices={f: price for f, (_, price, _) in FILES.items()},
    uploaders={f: u for f, (u, _, _) in FILES.items()},
    referrers={f: r for f, (_, _, r) in FILES.items()},
    splits=SplitPolicy(),
)


def register(hooks: Hooks) -> None:
    for f, (uploader, price, referrer) in FILES.items():
        hooks.register_file(f, uploader, PriceRule.fixed(price), size=SIZE, referrer=referrer)


def fund(hooks: Hooks, downloaders: dict[str, int]) -> None:
    for d, amount in downloaders.items():
        hooks.promo_credit(d, amount, f"fund-{d}")


def orders(rng: random.Random, tag: str, n: int, downloaders: Sequence[str]) -> tuple[Order, ...]:
    files = list(FILES)
    return tuple(
        Order(f"{tag}-{i}", rng.choice(downloaders), rng.choice(files)) for i in range(n)
    )


@dataclass
class Model:
    """Charges acknowledged (or settled by a retry) so far: each key once."""

    funded: dict[str, int]
    charges: dict[str, Charge] = field(default_factory=dict)

    def add(self, order: Order) -> None:
        assert order.key not in self.charges, f"{order.key} charged twice in the model"
        self.charges[order.key] = Charge(
            order.key, order.downloader, order.file, CATALOG.prices[order.file]
        )

    def downloads(self) -> Counter[str]:
        return Counter(c.file for c in self.charges.values())


def retry(hooks: Hooks, batch: Sequence[Order], acked: Iterable[str]) -> list[DownloadReceipt]:
    """Charge ``batch`` again: acknowledged keys must replay; every order ends up charged."""
    answers = hooks.download_batch([DownloadRequest(o.file, o.downloader, o.key) for o in batch])
    acked = set(acked)
    out = []
    for order, answer in zip(batch, answers, strict=True):
        assert not isinstance(answer, BitcacheError), f"{order.key} refused on retry: {answer!r}"
        if order.key in acked:
            assert answer.replayed, f"acknowledged {order.key} was charged again"
        out.append(answer)
    return out
