"""The demo: a day of downloads on the embedded default (SQLite in a working folder).

It opens a ledger in ``demo-data/``, funds downloaders from the operator's
equity, posts a realistic day of downloads in batches (each one balanced
entry: downloader -> uploader share + platform fee, tagged with the file
hash, split by largest remainder), then prints balances and the trial
balance. Randomness comes from a seeded generator, so a run is repeatable.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bitcache.core.accounts import OPERATOR_EQUITY, PLATFORM_REVENUE, payable, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.filehash import FileHash
from bitcache.core.splits import split_bps
from bitcache.store.database import sqlite_url
from bitcache.store.ledger import LedgerStore

PLATFORM_FEE_BPS = 1_500


@dataclass(frozen=True)
class DemoConfig:
    """Size of the simulated day."""

    folder: Path = Path("demo-data")
    downloads: int = 100_000
    downloaders: int = 2_000
    uploaders: int = 50
    files: int = 400
    batch: int = 1_000
    seed: int = 7


@dataclass(frozen=True)
class DemoResult:
    """What the demo did, for printing and for tests."""

    downloads: int
    refused: int
    entries: int
    trial_balance: int
    platform_msat: int
    uploaders_msat: int
    chain_ok: bool
    db_path: Path


def _catalog(cfg: DemoConfig, rng: random.Random) -> list[tuple[FileHash, str, int]]:
    files = []
    for i in range(cfg.files):
        digest = FileHash(hashlib.sha256(f"demo-file-{i}".encode()).digest())
        uploader = f"u{rng.randrange(cfg.uploaders):03d}"
        price = rng.choice([250, 1_000, 2_500, 10_000, 42_000])
        files.append((digest, uploader, price))
    return files


def _download(key: str, downloader: str, file: tuple[FileHash, str, int]) -> EntryRequest:
    digest, uploader, price = file
    fee, share = split_bps(price, [PLATFORM_FEE_BPS])
    legs = (
        Posting(prepaid(downloader), price, digest),
        Posting(payable(uploader), -share, digest),
        Posting(PLATFORM_REVENUE, -fee, digest),
    )
    return EntryRequest(key, legs, memo="download")


def _open_fresh(cfg: DemoConfig) -> LedgerStore:
    if cfg.folder.exists():
        shutil.rmtree(cfg.folder)
    cfg.folder.mkdir(parents=True)
    return LedgerStore.open(sqlite_url(cfg.folder / "ledger.sqlite"))


def _fund(store: LedgerStore, cfg: DemoConfig, rng: random.Random) -> None:
    store.open_account(OPERATOR_EQUITY)
    store.open_account(PLATFORM_REVENUE)
    for u in range(cfg.uploaders):
        store.open_account(payable(f"u{u:03d}"))
    requests = []
    for d in range(cfg.downloaders):
        name = prepaid(f"d{d:04d}")
        store.open_account(name)
        amount = rng.randrange(20, 400) * 10_000
        legs = (Posting(OPERATOR_EQUITY, amount), Posting(name, -amount))
        requests.append(EntryRequest(f"demo:fund:{d}", legs, memo="promotional credit"))
    store.record_many(requests, atomic=True)


def run_ledger_day(cfg: DemoConfig, progress: Callable[[int], None] | None = None) -> DemoResult:
    """Simulate the day; ``progress(n)`` is called after each batch of ``n`` downloads."""
    rng = random.Random(cfg.seed)
    store = _open_fresh(cfg)
    _fund(store, cfg, rng)
    files = _catalog(cfg, rng)
    weights = [1 / (rank + 1) for rank in range(len(files))]  # a few popular files
    refused = 0
    for start in range(0, cfg.downloads, cfg.batch):
        count = min(cfg.batch, cfg.downloads - start)
        picks = rng.choices(files, weights=weights, k=count)
        batch = [
            _download(f"demo:dl:{start + i}", f"d{rng.randrange(cfg.downloaders):04d}", f)
            for i, f in enumerate(picks)
        ]
        refused += store.record_many(batch).refused
        if progress:
            progress(count)
    balances = store.balances()
    result = DemoResult(
        downloads=cfg.downloads - refused,
        refused=refused,
        entries=store.head()[0],
        trial_balance=store.trial_balance(),
        platform_msat=-balances[PLATFORM_REVENUE].posted,
        uploaders_msat=-sum(
            b.posted for n, b in balances.items() if n.startswith("liability:payable:")
        ),
        chain_ok=store.verify().ok,
        db_path=cfg.folder / "ledger.sqlite",
    )
    store.close()
    return result
