"""A small journal with every kind of statement line, on each database engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.core.entries import Posting, posting
from bitcache.store.ledger import LedgerStore

START = 1_700_000_000_000_000
STEP = 1_000_000
FILE_A = "aa" * 32
FILE_B = "bb" * 32
FILE_D = "dd" * 32
TXID = "7f" * 32
CAROL = "liability:payable:carol"
DAVE = "liability:payable:dave"
ALICE = "liability:prepaid:alice"
ACCOUNTS = (ALICE, CAROL, DAVE, "revenue:platform", "asset:wallet", "liability:settling",
            f"liability:held:{FILE_A}")


class Clock:
    """A clock that advances one second per reading: entries get distinct, replayable times."""

    def __init__(self, start: int = START) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += STEP
        return self.now


def download(file: str, uploader: str = CAROL, price: int = 1_000) -> list[Posting]:
    """A download charge: the downloader pays, 80% to the uploader, 20% to the platform."""
    share = price * 8 // 10
    return [posting(ALICE, price, file), posting(uploader, -share, file),
            posting("revenue:platform", share - price, file)]


@dataclass
class Journal:
    store: LedgerStore
    key: Ed25519PrivateKey
    period: tuple[int, int]


def build_history(store: LedgerStore, rewrite_at: int | None = None) -> None:
    """Funding, downloads, a reversal, a hold, a payout; ``rewrite_at`` changes one download."""
    for name in ACCOUNTS:
        store.open_account(name)
    store.post("fund", [posting("asset:wallet", 10_000_000), posting(ALICE, -10_000_000)])
    store.post("before", download(FILE_A))  # before the period: the opening balance
    for i, file in enumerate([FILE_A, FILE_B, FILE_A, FILE_A, FILE_B]):
        price = 2_000 if i == rewrite_at else 1_000
        store.post(f"dl-{i}", download(file, price=price))
    store.post("dl-dave", download(FILE_D, uploader=DAVE))
    wrong = store.post("dl-wrong", download(FILE_B))
    store.reverse(wrong.id, "undo-wrong", memo="refund")
    store.post("hold", [posting(CAROL, 100, FILE_A), posting(f"liability:held:{FILE_A}", -100,
                                                               FILE_A)], memo="takedown hold")
    reserve = store.pending("pay-1", [posting(CAROL, 3_000), posting("liability:settling", -3_000)],
                            memo="payout reservation")
    store.post_pending(reserve.id, "pay-1-final", memo=f"payout {TXID}")


@pytest.fixture
def journal(db_url: str) -> Iterator[Journal]:
    store = LedgerStore.open(db_url, clock=Clock())
    build_history(store)
    period = (START + 2 * STEP + 1, START + 10_000 * STEP)  # after "fund" and "before"
    yield Journal(store, Ed25519PrivateKey.from_private_bytes(bytes(range(32))), period)
    store.close()
