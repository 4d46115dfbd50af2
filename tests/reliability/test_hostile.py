"""Hostile input to the CLI, and regressions of the hooks: a typed error, nothing written.

Each CLI example runs a command with malformed, oversized, unicode or
injection-shaped arguments and database URLs; the database must be exactly
as it was (a full ``iterdump`` of the SQLite file before and after). The
property test over every entry point of ``Hooks`` and ``LedgerStore`` on
both engines is ``test_hostile_api.py``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bitcache.cli import app
from bitcache.core.pricing import PriceRule
from bitcache.errors import BitcacheError
from bitcache.hooks import Hooks
from bitcache.store.database import sqlite_url
from tests.reliability.conftest import scale

FILE = hashlib.sha256(b"hostile file").hexdigest()
INJECTIONS = [
    "'; DROP TABLE entries; --", "\" OR 1=1 --", "\x00", "a\x00b", "x" * 10_000, "", " ",
    "bob ", "ünïcødé", "🙂", "\u202e", "liability:prepaid:bob", "../../etc/passwd", "%s%n",
    "{0}", "NaN", "-1", "1e309", "0x10", "\n", "\ud800", FILE.upper(), FILE[:-1], FILE + "0",
]


def dump(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return "\n".join(conn.iterdump())


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hooks, Path, int]]:
    path = tmp_path_factory.mktemp("hostile") / "db.sqlite"
    hooks = Hooks.open(sqlite_url(path))
    hooks.register_file(FILE, "carol", PriceRule.fixed(5_000), size=1_000)
    hooks.credit_deposit("bob", 10**9, "dep-bob")
    transfer = hooks.begin_transfer(FILE, "bob", "xfer-1")
    assert transfer.pending_id is not None
    yield hooks, path, transfer.pending_id
    hooks.close()


# --- the CLI ---------------------------------------------------------------------------

# Lone surrogates included: they are what invalid UTF-8 in argv becomes.
CLI_TEXT = st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=30))
BAD_URLS = [
    "'; DROP TABLE entries; --", "", "\x00", "sqlite:///" + "x" * 10_000, "mysql://x/y",
    "postgresql+psycopg://nobody@127.0.0.1:1/none", "sqlite:////no/such/folder/db.sqlite",
    "sqlite:///:memory:", "http://127.0.0.1/", "sqlite://", "🙂://",
]


def _commands(db: str, text: str, url: str, number: str) -> list[list[str]]:
    return [
        ["balance", text, "--db", db, "--json"],
        ["balance", text, "--db", db, "--prefix", "--json"],
        ["balance", "revenue:platform", "--db", url, "--json"],
        ["earnings", text, "--db", db, "--json"],
        ["earnings", "carol", "--db", db, "--since", number, "--json"],
        ["verify-journal", "--db", url, "--json"],
        ["db", "upgrade", "--db", url, "--json"],
        ["export", "-", "--db", db, "--format", text, "--json"],
    ]


def _check_cli(result: Any, args: list[str]) -> None:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args[:2]} crashed: {result.exception!r}")
    assert result.exit_code in (0, 1, 2, 3), f"{args[:2]} exit {result.exit_code}"
    if result.exit_code in (2, 3) and "--json" in args and result.stdout.strip():
        answer = json.loads(result.stdout.strip().splitlines()[-1])
        assert answer["ok"] is False and answer["error"], answer


@settings(max_examples=scale(60, 600), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=CLI_TEXT, url=st.sampled_from(BAD_URLS),
       number=st.sampled_from(["-1", "0", str(2**64), "1e3", "abc", "", "-" + "9" * 40]),
       which=st.integers(0, 7))
def test_cli_commands_answer_hostile_input_with_an_exit_code_and_write_nothing(
    shop: tuple[Hooks, Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    text: str, url: str, number: str, which: int,
) -> None:
    _, path, _ = shop
    monkeypatch.chdir(tmp_path)
    args = _commands(sqlite_url(path), text, url, number)[which]
    before = dump(path)
    result = CliRunner().invoke(app, args)
    _check_cli(result, args)
    assert dump(path) == before


def test_balance_of_a_lone_surrogate_is_refused(
    shop: tuple[Hooks, Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path, _ = shop
    monkeypatch.chdir(tmp_path)
    args = ["balance", "\ud800", "--db", sqlite_url(path), "--json"]
    _check_cli(CliRunner().invoke(app, args), args)


def test_export_with_a_start_below_64_bits_is_refused(
    shop: tuple[Hooks, Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path, _ = shop
    monkeypatch.chdir(tmp_path)
    args = ["export", "-", "--db", sqlite_url(path), "--start", "-" + "9" * 40, "--json"]
    _check_cli(CliRunner().invoke(app, args), args)


def test_the_dump_sees_a_write(shop: tuple[Hooks, Path, int]) -> None:
    """The comparison the tests above rely on notices a one-row change."""
    hooks, path, _ = shop
    before = dump(path)
    hooks.promo_credit("dave", 1, "promo-dump-check")
    assert dump(path) != before




@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("balance", (2**63,)),
        ("balance", ([],)),
        ("complete_transfer", (None, 1)),
        ("cancel_transfer", (2**63,)),
        ("download_batch", (2**63,)),
        ("import_catalog", (7,)),
        ("earnings", ("carol",)),
    ],
)
def test_regressions_found_by_the_hostile_run(
    shop: tuple[Hooks, Path, int], method: str, args: tuple[object, ...]
) -> None:
    """Each of these raised a bare OverflowError, TypeError or AssertionError."""
    hooks, path, _ = shop
    before = dump(path)
    kwargs = {"since": 2**64} if method == "earnings" else {}
    with pytest.raises(BitcacheError):
        getattr(hooks, method)(*args, **kwargs)
    assert dump(path) == before


def test_a_database_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    """Regression: LedgerStore.open(migrate=False) leaked sqlite3's OperationalError."""
    from bitcache.errors import StoreError
    from bitcache.store.ledger import LedgerStore

    with pytest.raises(StoreError):
        LedgerStore.open(sqlite_url(tmp_path / "no" / "such" / "folder.sqlite"), migrate=False)
