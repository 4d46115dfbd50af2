"""Hostile input to every public hooks entry point and to the CLI: a typed error, nothing written.

Each example calls one entry point with one argument replaced by a malformed,
oversized, negative, unicode or injection-shaped value (the others valid).
A refusal must be a BitcacheError (never a bare ValueError, KeyError,
TypeError or driver error) and leave every table exactly as it was (a full
``iterdump`` of the SQLite file before and after). A call that succeeds must
not have taken a float or a bool for a number or a name, and the schema must
still be whole.
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
from bitcache.hooks import DownloadRequest, Hooks
from bitcache.store.database import sqlite_url
from tests.reliability.conftest import scale

FILE = hashlib.sha256(b"hostile file").hexdigest()
INJECTIONS = [
    "'; DROP TABLE entries; --", "\" OR 1=1 --", "\x00", "a\x00b", "x" * 10_000, "", " ",
    "bob ", "ünïcødé", "🙂", "\u202e", "liability:prepaid:bob", "../../etc/passwd", "%s%n",
    "{0}", "NaN", "-1", "1e309", "0x10", "\n", "\ud800", FILE.upper(), FILE[:-1], FILE + "0",
]
HUGE = [2**63, 2**63 - 1, 2**64, -(2**63) - 1, 10**30, -1, 0, -(10**30)]
HOSTILE = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.sampled_from(HUGE),
    st.integers(),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


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


# Each entry point: its valid arguments (positional, keyword) by name, in call order.
CALLS: dict[str, dict[str, Any]] = {
    "register_file": {"file": FILE, "uploader": "carol", "price": PriceRule.fixed(5_000),
                      "size": 1_000, "cap": None, "referrer": None},
    "transfer_ownership": {"file": FILE, "new_uploader": "carol"},
    "import_catalog": {"rows": [(FILE, "carol", 5_000, 1_000)]},
    "file": {"file": FILE},
    "download": {"file": FILE, "downloader": "bob", "key": "ev-1", "bytes_served": None},
    "download_batch": {"requests": [DownloadRequest(FILE, "bob", "ev-1")]},
    "begin_transfer": {"file": FILE, "downloader": "bob", "key": "xfer-1", "ttl_us": None},
    "complete_transfer": {"transfer": "PENDING", "bytes_served": 500},
    "cancel_transfer": {"transfer": "PENDING"},
    "credit_deposit": {"downloader": "bob", "amount_msat": 1_000, "key": "dep-1"},
    "promo_credit": {"downloader": "bob", "amount_msat": 1_000, "key": "promo-1"},
    "tip": {"file": FILE, "tipper": "bob", "amount_msat": 1_000, "key": "tip-1"},
    "hold": {"file": FILE, "key": "hold-1"},
    "release": {"file": FILE, "key": "release-1"},
    "refund": {"file": FILE, "key": "refund-1"},
    "balance": {"account": "liability:prepaid:bob"},
    "prepaid_balance": {"downloader": "bob"},
    "earnings": {"uploader": "carol", "since": None, "until": None},
    "top_files": {"limit": 10, "since": None, "until": None},
}
KEYWORD = {"size", "cap", "referrer", "bytes_served", "ttl_us", "since", "until"}


def _call(hooks: Hooks, method: str, args: dict[str, Any]) -> object:
    positional = [v for k, v in args.items() if k not in KEYWORD]
    keywords = {k: v for k, v in args.items() if k in KEYWORD}
    return getattr(hooks, method)(*positional, **keywords)


def _hostile_args(data: st.DataObject, pending: int) -> tuple[str, dict[str, Any], str, Any]:
    method = data.draw(st.sampled_from(sorted(CALLS)), label="method")
    args = {k: (pending if v == "PENDING" else v) for k, v in CALLS[method].items()}
    slot = data.draw(st.sampled_from(sorted(args)), label="argument")
    value = data.draw(HOSTILE, label="value")
    if method == "download_batch" and data.draw(st.booleans(), label="inside a request"):
        field = data.draw(st.sampled_from(["file", "downloader", "key", "bytes_served"]))
        request: dict[str, Any] = {
            "file": FILE, "downloader": "bob", "key": "ev-1", "bytes_served": None}
        request[field] = value
        value = [DownloadRequest(**request)]
    args[slot] = value
    return method, args, slot, value


@settings(max_examples=scale(300, 3_000), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_hook_refuses_hostile_input_with_a_typed_error_and_writes_nothing(
    shop: tuple[Hooks, Path, int], data: st.DataObject
) -> None:
    hooks, path, pending = shop
    method, args, slot, value = _hostile_args(data, pending)
    before = dump(path)
    try:
        _call(hooks, method, args)
    except BitcacheError:
        assert dump(path) == before, f"{method}({slot}={value!r}) was refused but wrote"
        return
    except Exception as exc:
        raise AssertionError(
            f"{method}({slot}={value!r}) raised {type(exc).__name__}: {exc}") from exc
    assert not isinstance(value, float | bool), f"{method} accepted {slot}={value!r}"
    assert dump(path).count("CREATE TABLE") == before.count("CREATE TABLE")
    assert hooks.ledger.trial_balance() == 0


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
