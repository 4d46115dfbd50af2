"""Charges written in one round trip (PostgreSQL pipeline) or in bulk, and refusals surfacing.

A batch of up to ``PIPELINE_MAX`` charges sends its rows and counters
together; a larger one loads its rows with COPY. Both must record the same
books; a write the database refuses inside the pipeline surfaces as a
``StoreError`` and leaves nothing behind. Both engines.
"""

from __future__ import annotations

from typing import Any

import pytest

from bitcache.core.pricing import PriceRule
from bitcache.errors import StoreError
from bitcache.hooks import DownloadReceipt, DownloadRequest, Hooks
from bitcache.services import charging
from bitcache.store import files as files_rows
from tests.hooks.conftest import FILE, FILE2, SIZE


@pytest.mark.parametrize("size", [3, charging.PIPELINE_MAX + 1])
def test_small_and_large_batches_record_the_same_books(hooks: Hooks, size: int) -> None:
    hooks.register_file(FILE, "carol", PriceRule.fixed(1_000), size=SIZE)
    hooks.register_file(FILE2, "dave", PriceRule.fixed(700), size=SIZE, referrer="erin")
    hooks.credit_deposit("bob", 10**9, "fund")
    answers = hooks.download_batch(
        [DownloadRequest(FILE if i % 2 else FILE2, "bob", f"k{i}") for i in range(size)])
    assert all(isinstance(a, DownloadReceipt) for a in answers)
    spent = sum(1_000 if i % 2 else 700 for i in range(size))
    assert hooks.prepaid_balance("bob") == 10**9 - spent
    assert hooks.file(FILE).downloads + hooks.file(FILE2).downloads == size
    assert hooks.ledger.verify().ok and hooks.ledger.trial_balance() == 0
    again = hooks.download_batch([DownloadRequest(FILE, "bob", "k1")])[0]
    assert isinstance(again, DownloadReceipt) and again.replayed


def test_a_write_refused_inside_the_pipeline_leaves_nothing(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks.register_file(FILE, "carol", PriceRule.fixed(1_000), size=SIZE, cap=5)
    hooks.credit_deposit("bob", 10**6, "fund")
    head = hooks.ledger.head()
    real = files_rows.add_downloads

    def past_the_cap(conn: Any, counts: dict[bytes, int]) -> None:
        real(conn, {fh: n + 100 for fh, n in counts.items()})  # the database refuses this

    monkeypatch.setattr(files_rows, "add_downloads", past_the_cap)
    with pytest.raises(StoreError):
        hooks.download_batch([DownloadRequest(FILE, "bob", f"k{i}") for i in range(3)])
    monkeypatch.undo()
    assert hooks.ledger.head() == head
    assert hooks.prepaid_balance("bob") == 10**6
    assert hooks.file(FILE).downloads == 0
    assert isinstance(hooks.download(FILE, "bob", "k0"), DownloadReceipt)  # and it goes on
    assert hooks.ledger.verify().ok
