"""The file registry: ownership, idempotent registration, legacy import, and bad input."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bitcache.core.files import CatalogRow
from bitcache.core.pricing import PriceRule
from bitcache.errors import (
    FileOwnershipConflict,
    IdempotencyConflict,
    InvalidAccountName,
    InvalidAmount,
    InvalidFileHash,
    InvalidIdempotencyKey,
    InvalidInput,
    UnknownEntry,
    UnknownFile,
)
from bitcache.hooks import DownloadRequest, Hooks
from tests.hooks.conftest import FILE, FILE2, SIZE, setup_file, snapshot


def test_registration_is_owned_by_the_first_uploader(hooks: Hooks) -> None:
    first = hooks.register_file(FILE, "carol", PriceRule.fixed(100), size=SIZE)
    assert hooks.register_file(FILE.upper(), "carol", PriceRule.fixed(100), size=SIZE) == first
    with pytest.raises(FileOwnershipConflict):
        hooks.register_file(FILE, "mallory", PriceRule.fixed(1), size=SIZE)
    changed = hooks.register_file(FILE, "carol", PriceRule.fixed(200), size=SIZE)
    assert changed.price == PriceRule.fixed(200) and hooks.file(FILE).price.amount == 200
    moved = hooks.transfer_ownership(FILE, "erin")
    assert moved.uploader == "erin" and hooks.file(FILE).uploader == "erin"
    hooks.register_file(FILE, "erin", PriceRule.fixed(200), size=SIZE)
    with pytest.raises(UnknownFile):
        hooks.transfer_ownership(FILE2, "erin")


def test_legacy_catalog_import_is_idempotent_and_reports_conflicts(hooks: Hooks) -> None:
    hooks.register_file(FILE2, "mallory", PriceRule.fixed(1))
    rows = [CatalogRow(FILE, "carol", 1_500), (FILE2, "carol", 700), ("cd" * 32, "dave", 0, 10)]
    report = hooks.import_catalog(rows)
    assert report.created == 2 and report.unchanged == 0 and len(report.conflicts) == 1
    assert FILE2 in report.conflicts[0]
    again = hooks.import_catalog(rows)
    assert again.created == 0 and again.unchanged == 2 and len(again.conflicts) == 1
    assert hooks.file(FILE).price == PriceRule.fixed(1_500)
    assert hooks.file(FILE2).uploader == "mallory"
    before = hooks.top_files()
    with pytest.raises(InvalidFileHash):
        hooks.import_catalog([("ef" * 32, "erin", 1), ("zz", "erin", 1)])
    with pytest.raises(UnknownFile):
        hooks.file("ef" * 32)  # the valid first row was not written either
    assert hooks.top_files() == before


BAD_CALLS: list[tuple[str, type[Exception], Callable[[Hooks], object]]] = [
    ("short hash", InvalidFileHash, lambda h: h.download("ab" * 31, "bob", "k")),
    ("non-hex hash", InvalidFileHash, lambda h: h.download("zz" * 32, "bob", "k")),
    ("hash as int", InvalidFileHash, lambda h: h.download(5, "bob", "k")),  # type: ignore[arg-type]
    ("unicode id", InvalidAccountName, lambda h: h.download(FILE, "bøb", "k")),
    ("id with colon", InvalidAccountName, lambda h: h.download(FILE, "a:b", "k")),
    ("oversized id", InvalidAccountName, lambda h: h.download(FILE, "b" * 129, "k")),
    ("empty key", InvalidIdempotencyKey, lambda h: h.download(FILE, "bob", "")),
    ("unicode key", InvalidIdempotencyKey, lambda h: h.download(FILE, "bob", "clé\u200b")),
    ("oversized key", InvalidIdempotencyKey, lambda h: h.download(FILE, "bob", "k" * 181)),
    ("control key", InvalidIdempotencyKey, lambda h: h.download(FILE, "bob", "a\nb")),
    ("negative bytes", InvalidAmount, lambda h: h.download(FILE, "bob", "k", bytes_served=-1)),
    ("bytes above size", InvalidAmount,
     lambda h: h.download(FILE, "bob", "k", bytes_served=SIZE + 1)),
    ("bytes above size in a batch", InvalidAmount, lambda h: h.download_batch(
        [DownloadRequest(FILE, "bob", "k1"), DownloadRequest(FILE, "bob", "k2", SIZE + 1)])),
    ("batch of junk", InvalidInput, lambda h: h.download_batch(["x"])),  # type: ignore[list-item]
    ("negative price", InvalidAmount,
     lambda h: h.register_file(FILE2, "carol", PriceRule(PriceRule.fixed(1).kind, -5))),
    ("price not a rule", InvalidInput, lambda h: h.register_file(FILE2, "carol", 5)),  # type: ignore[arg-type]
    ("per-GiB without size", InvalidInput,
     lambda h: h.register_file(FILE2, "carol", PriceRule.per_gib(5))),
    ("negative size", InvalidAmount,
     lambda h: h.register_file(FILE2, "carol", PriceRule.fixed(5), size=-1)),
    ("zero cap", InvalidAmount,
     lambda h: h.register_file(FILE2, "carol", PriceRule.fixed(5), cap=0)),
    ("self referrer", InvalidInput,
     lambda h: h.register_file(FILE2, "carol", PriceRule.fixed(5), referrer="carol")),
    ("negative deposit", InvalidAmount, lambda h: h.credit_deposit("bob", -1, "d")),
    ("float deposit", InvalidAmount, lambda h: h.credit_deposit("bob", 1.0, "d")),  # type: ignore[arg-type]
    ("absurd tip", InvalidAmount, lambda h: h.tip(FILE, "bob", 10**12, "t")),
    ("unknown transfer", UnknownEntry, lambda h: h.complete_transfer(999, 1)),
    ("not a transfer", InvalidInput, lambda h: h.complete_transfer(1, 1)),
    ("transfer id as text", InvalidInput, lambda h: h.cancel_transfer("1")),  # type: ignore[arg-type]
    ("retried deposit, other amount", IdempotencyConflict,
     lambda h: h.credit_deposit("bob", 50_001, "tx1")),
]


@pytest.mark.parametrize(("name", "error", "call"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_input_is_a_typed_error_and_writes_nothing(
    hooks: Hooks, name: str, error: type[Exception], call: Callable[[Hooks], object]
) -> None:
    setup_file(hooks)
    hooks.credit_deposit("bob", 50_000, "tx1")
    before, head, file_before = snapshot(hooks), hooks.ledger.head(), hooks.file(FILE)
    with pytest.raises(error):
        call(hooks)
    assert snapshot(hooks) == before and hooks.ledger.head() == head
    assert hooks.file(FILE) == file_before
    with pytest.raises(UnknownFile):
        hooks.file(FILE2)
