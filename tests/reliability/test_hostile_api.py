"""Arbitrary values of every type to every public entry point of Hooks, AsyncHooks and LedgerStore.

On SQLite and PostgreSQL, each example calls one entry point — a method of
``Hooks``, ``AsyncHooks`` or ``LedgerStore``, or the ``Hooks`` or
``AsyncHooks`` constructor — with each
argument either a plausible value (a registered file, a funded downloader, a
fresh key, an open reservation's id) or anything at all: None, bools, huge
and negative ints, floats, Decimals, Fractions, complex numbers, text with
lone surrogates and NUL, bytes, containers, objects nobody expects, and the
domain types (postings, requests, receipts, catalog rows, account specs)
holding any of those. The entry points are read from the classes, so a new
public method fails this test until it is given argument strategies here.

A call may succeed or be refused. A refusal must be a ``BitcacheError``
(never a TypeError, KeyError, OverflowError, UnicodeEncodeError or driver
error) and leave every row of every table as it was. A call that succeeds
must not have taken a float, bool or text for a number, or a non-text for a
name or key, and the books still balance.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bitcache.asynchooks import AsyncHooks
from bitcache.core.accounts import AccountKind, AccountSpec
from bitcache.core.checks import is_int
from bitcache.core.entries import EntryKind, EntryRequest, Posting, posting
from bitcache.core.files import CatalogRow, HoldPolicy
from bitcache.core.money import MAX_MSAT
from bitcache.core.pricing import FixedRateProvider, PriceRule
from bitcache.errors import BitcacheError
from bitcache.hooks import DownloadRequest, Hooks, TransferReceipt
from bitcache.retry import RetryPolicy
from bitcache.services.groupcommit import FlushPolicy
from bitcache.store.ledger import LedgerStore
from tests.hooks.conftest import FILE, FILE2, RATES, SIZE, SPLITS, make_hooks
from tests.ledger.conftest import Clock, all_rows
from tests.reliability.conftest import scale

UNKNOWN_FILE = "ef" * 32
PARTIES = ["bob", "carol", "dave", "erin"]
ACCOUNTS = [
    "liability:prepaid:bob", "liability:payable:carol", "revenue:platform", "equity:operator",
    "asset:wallet", "asset:cash", "expense:promotions", f"liability:held:{FILE}",
]
HUGE = [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 2**70, 10**30, -(10**30),
        MAX_MSAT, MAX_MSAT + 1, -1, 0]
INJECTIONS = ["'; DROP TABLE entries; --", "\x00", "a\x00b", "\ud800", "x\udfff", "", " ",
              "x" * 600, "🙂", "\u202e", "liability:prepaid:bob", "%s", "NaN", "1e309", "now"]

# -- anything at all -----------------------------------------------------------------------


class Opaque:
    """An object of a type no entry point expects."""


TEXT = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"]), st.just("\x00")),
               max_size=20)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(HUGE),
    st.floats(), st.decimals(), st.fractions(), st.complex_numbers(max_magnitude=1e9),
    TEXT, st.sampled_from(INJECTIONS), st.binary(max_size=40),
    st.binary(min_size=32, max_size=32).map(bytearray),
    st.sampled_from([Opaque(), Ellipsis, HTTPStatus.OK, range(3), int, float("nan"),
                     HoldPolicy.REFUSE, EntryKind.PENDING, AccountKind.ASSET]),
)
ANY = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=3), inner, max_size=2)),
    max_leaves=3,
)


def near(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A plausible value two times in three, anything the third (for fields of objects)."""
    return st.one_of(valid, valid, ANY)


# -- plausible values, and domain objects holding anything -----------------------------------

FILES = st.sampled_from([FILE, FILE2, UNKNOWN_FILE, FILE.upper(), bytes.fromhex(FILE)])
PARTY = st.sampled_from(PARTIES)
ACCOUNT = st.sampled_from(ACCOUNTS)
KEY = st.text(string.ascii_letters + string.digits + ":-", min_size=1, max_size=12)
AMOUNT = st.one_of(st.integers(-5, 10**10), st.sampled_from(HUGE))
ENTRY_ID = st.one_of(st.integers(-1, 30), st.sampled_from(HUGE))
TIME = st.one_of(st.integers(0, 2**63 - 1), st.sampled_from(HUGE))
SMALL = st.one_of(st.integers(-1, SIZE + 1), st.sampled_from(HUGE))
MEMO = st.one_of(st.text(max_size=20), TEXT)


@st.composite
def balanced(draw: st.DrawFn) -> list[Posting]:
    """Two or three postings that sum to zero, over the usual accounts."""
    a, b, c = (draw(ACCOUNT) for _ in range(3))
    x = draw(st.integers(1, 10**9))
    if draw(st.booleans()):
        return [posting(a, x), posting(b, -x)]
    y = draw(st.integers(1, 10**9))
    return [posting(a, x + y), posting(b, -x), posting(c, -y)]


POSTING = st.builds(Posting, near(ACCOUNT), near(AMOUNT), near(FILES.map(
    lambda f: f if isinstance(f, bytes) else None)))
POSTINGS = near(st.one_of(balanced(), st.lists(POSTING, max_size=3)))
ENTRY_REQUEST = st.builds(
    EntryRequest, near(KEY), near(st.one_of(balanced().map(tuple), st.tuples(POSTING, POSTING))),
    near(st.sampled_from(EntryKind)), near(st.one_of(st.none(), ENTRY_ID)),
    near(st.one_of(st.none(), TIME)), near(MEMO),
)
DOWNLOAD_REQUEST = st.builds(DownloadRequest, near(FILES), near(PARTY), near(KEY),
                             near(st.one_of(st.none(), SMALL)))
TRANSFER_RECEIPT = st.builds(TransferReceipt, near(KEY), near(st.one_of(st.none(), ENTRY_ID)),
                             near(FILES), near(PARTY), near(AMOUNT), near(TIME))
CATALOG_ROW = st.one_of(
    st.builds(CatalogRow, near(FILES), near(PARTY), near(AMOUNT), near(st.none() | SMALL)),
    st.tuples(near(FILES), near(PARTY), near(AMOUNT)),
)
ACCOUNT_SPEC = st.builds(AccountSpec, near(ACCOUNT), near(st.sampled_from(AccountKind)),
                         near(st.booleans()))
PRICE = st.one_of(st.integers(0, 10**6).map(PriceRule.fixed), st.just(PriceRule.free()),
                  st.integers(0, 10**6).map(PriceRule.per_gib),
                  st.sampled_from([PriceRule.fiat(100, "USD"), PriceRule.fiat(5, "EUR")]))
DOMAIN = st.one_of(POSTING, ENTRY_REQUEST, DOWNLOAD_REQUEST, TRANSFER_RECEIPT, CATALOG_ROW,
                   ACCOUNT_SPEC, PRICE)
HOSTILE = st.one_of(ANY, DOMAIN)


@dataclass
class World:
    """A ledger with a registered file, funded downloaders, an open transfer and entries."""

    hooks: Hooks
    ledger: LedgerStore
    transfer: TransferReceipt

    @property
    def async_hooks(self) -> AsyncHooks:
        """Awaitable hooks over the same ``Hooks`` (they hold no state of their own)."""
        return AsyncHooks(self.hooks)


def _arguments(world: World) -> dict[str, st.SearchStrategy[Any]]:
    """The plausible values of each parameter, by ``method.name`` or by ``name``."""
    pending = st.one_of(st.just(world.transfer.pending_id), ENTRY_ID)
    return {
        "file": FILES, "uploader": PARTY, "new_uploader": PARTY, "downloader": PARTY,
        "tipper": PARTY, "referrer": st.none() | PARTY, "price": PRICE,
        "size": st.none() | SMALL, "cap": st.none() | SMALL, "bytes_served": SMALL,
        "ttl_us": st.none() | TIME, "amount_msat": AMOUNT, "key": KEY, "account": ACCOUNT,
        "rows": st.lists(CATALOG_ROW, max_size=3),
        "download_batch.requests": st.lists(DOWNLOAD_REQUEST, max_size=3),
        "record_many.requests": st.lists(ENTRY_REQUEST, max_size=3),
        "transfer": st.one_of(st.just(world.transfer), TRANSFER_RECEIPT, pending),
        "now": st.none() | TIME, "since": st.none() | TIME, "until": st.none() | TIME,
        "limit": SMALL, "name": ACCOUNT, "limited": st.sampled_from([None, True, False]),
        "prefix": st.sampled_from(["", "liability:", "asset:wallet"]), "entry_id": pending,
        "pending_id": pending, "start": ENTRY_ID, "request": ENTRY_REQUEST,
        "postings": st.one_of(st.none(), POSTINGS), "memo": MEMO, "expires_at": st.none() | TIME,
        "atomic": st.booleans(), "open_accounts": st.lists(ACCOUNT_SPEC, max_size=2),
        "ledger": st.just(world.ledger), "splits": st.sampled_from([None, SPLITS]),
        "rates": st.sampled_from([None, RATES, FixedRateProvider({"EUR": 3})]),
        "hold_policy": st.sampled_from(HoldPolicy), "clock": st.sampled_from([None, Clock()]),
        "transfer_ttl_us": TIME, "hooks": st.just(world.hooks),
        "deadline_s": st.sampled_from([None, 30.0, 5]),
        "retry": st.sampled_from([None, RetryPolicy()]),
        "flush": st.sampled_from([None, FlushPolicy(), FlushPolicy(max_batch=1)]),
    }


NUMBERS = {"size", "cap", "bytes_served", "ttl_us", "amount_msat", "now", "since", "until",
           "limit", "entry_id", "pending_id", "start", "expires_at", "transfer_ttl_us"}
NAMES = {"uploader", "new_uploader", "downloader", "tipper", "referrer", "key", "account",
         "name", "prefix", "memo"}
#: Public methods that are not entry points for a caller's values, and why.
NOT_ENTRY_POINTS = {
    "close": "releases connections", "open": "opens a database URL (the CLI's concern)",
    "write": "yields a write transaction", "read": "yields a read transaction",
    "record_many_in": "runs inside a transaction a service holds",
    "open_accounts_in": "runs inside a transaction a service holds",
    "entry_in": "takes a connection", "batch_writer": "takes a connection",
    "account_id": "takes a connection", "names": "takes a connection",
}


def entry_points(cls: type) -> list[str]:
    """The public methods of ``cls`` a caller passes values to (and ``__init__``)."""
    names = [n for n, v in vars(cls).items()
             if not n.startswith("_") and callable(v) and n not in NOT_ENTRY_POINTS]
    return sorted(names) + (["__init__"] if cls in (Hooks, AsyncHooks) else [])


def _parameters(cls: type, method: str) -> list[inspect.Parameter]:
    function = cls.__init__ if method == "__init__" else getattr(cls, method)
    return [p for p in inspect.signature(function).parameters.values() if p.name != "self"]


def _draw_call(data: st.DataObject, world: World, cls: type
               ) -> tuple[str, Callable[..., Any], dict[str, Any], dict[str, Any]]:
    """One entry point, with plausible arguments except for up to two drawn from anything."""
    method = data.draw(st.sampled_from(entry_points(cls)), label="method")
    params = _parameters(cls, method)
    names = [p.name for p in params]
    hostile = data.draw(st.sets(st.sampled_from(names), max_size=2) if names else st.just(set()),
                        label="hostile")
    plausible = _arguments(world)
    positional: dict[str, Any] = {}
    keywords: dict[str, Any] = {}
    for p in params:
        if p.name not in hostile and p.default is not p.empty and data.draw(st.booleans()):
            continue  # left to its default
        valid = plausible.get(f"{method}.{p.name}", plausible.get(p.name))
        assert valid is not None, f"{cls.__name__}.{method}: no strategy for {p.name!r}"
        value = data.draw(HOSTILE if p.name in hostile else valid, label=p.name)
        (keywords if p.kind is p.KEYWORD_ONLY else positional)[p.name] = value
    target = {Hooks: world.hooks, AsyncHooks: world.async_hooks}.get(cls, world.ledger)
    function = cls if method == "__init__" else getattr(target, method)
    return method, function, positional, keywords


def _taken_rightly(name: str, value: object) -> bool:
    """Whether a call that succeeded may have taken ``value`` for parameter ``name``."""
    if name in NUMBERS:
        return value is None or is_int(value)
    if name in NAMES:
        return value is None or isinstance(value, str)
    if name == "limited":
        return value is None or isinstance(value, bool)
    return True


def _call(world: World, method: str, function: Callable[..., Any], positional: dict[str, Any],
          keywords: dict[str, Any]) -> None:
    shown = f"{method}({positional!r}, {keywords!r})"
    before = all_rows(world.ledger)
    try:
        result = function(*positional.values(), **keywords)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        if isinstance(result, Iterator):
            list(itertools.islice(result, 3))
        if isinstance(result, Hooks):
            result.group.close()  # a constructed Hooks shares the world's ledger: keep it open
    except BitcacheError as exc:
        event(f"{method}: {type(exc).__name__}")
        assert all_rows(world.ledger) == before, f"{shown} was refused but wrote"
        return
    except Exception as exc:
        raise AssertionError(f"{shown} raised {type(exc).__name__}: {exc}") from exc
    event(f"{method}: ok")
    for name, value in {**positional, **keywords}.items():
        assert _taken_rightly(name, value), f"{shown} accepted {name}={value!r}"
    assert world.ledger.trial_balance() == 0


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    hooks = make_hooks(db_url, Clock())
    hooks.register_file(FILE, "carol", PriceRule.fixed(5_000), size=SIZE, referrer="dave")
    hooks.register_file(FILE2, "erin", PriceRule.per_gib(10**9), size=SIZE)
    for who in ("bob", "dave"):
        hooks.credit_deposit(who, 10**9, f"dep-{who}")
    hooks.download(FILE, "bob", "dl-1")
    transfer = hooks.begin_transfer(FILE, "bob", "xfer-1")
    hooks.ledger.open_account("asset:cash")
    hooks.ledger.open_account("equity:operator")
    hooks.ledger.post("cash-1", [posting("asset:cash", 10**6), posting("equity:operator", -10**6)])
    yield World(hooks, hooks.ledger, transfer)
    hooks.close()


FUZZ = settings(max_examples=scale(100, 3_000), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(data=st.data())
def test_every_hooks_entry_point_refuses_anything_with_a_typed_error_and_writes_nothing(
    world: World, data: st.DataObject
) -> None:
    _call(world, *_draw_call(data, world, Hooks))


@FUZZ
@given(data=st.data())
def test_every_async_hooks_entry_point_refuses_anything_with_a_typed_error_and_writes_nothing(
    world: World, data: st.DataObject
) -> None:
    _call(world, *_draw_call(data, world, AsyncHooks))


@FUZZ
@given(data=st.data())
def test_every_ledger_entry_point_refuses_anything_with_a_typed_error_and_writes_nothing(
    world: World, data: st.DataObject
) -> None:
    _call(world, *_draw_call(data, world, LedgerStore))


def test_every_public_method_is_fuzzed_or_named_as_not_an_entry_point() -> None:
    """Each parameter of each entry point has a strategy (drawn calls would fail otherwise)."""
    placeholder = TransferReceipt("k", 1, FILE, "bob", 1, None)
    plausible = _arguments(World(None, None, placeholder))  # type: ignore[arg-type]
    for cls in (Hooks, AsyncHooks, LedgerStore):
        for method in entry_points(cls):
            missing = [p.name for p in _parameters(cls, method)
                       if f"{method}.{p.name}" not in plausible and p.name not in plausible]
            assert not missing, f"{cls.__name__}.{method}: no strategy for {missing}"
    assert {"expire_pending", "entry_by_key", "record_many", "post_pending"} <= set(
        entry_points(LedgerStore))
    assert {"expire_transfers", "complete_transfer", "__init__"} <= set(entry_points(Hooks))
    assert "sync" in entry_points(LedgerStore)
    public = {n for cls in (Hooks, AsyncHooks, LedgerStore) for n in vars(cls)}
    assert not set(NOT_ENTRY_POINTS) - public, "a method named above no longer exists"


def test_async_hooks_offer_every_call_of_hooks() -> None:
    """An ASGI server can do with ``AsyncHooks`` what a threaded one does with ``Hooks``."""
    assert set(entry_points(Hooks)) <= set(entry_points(AsyncHooks))


def test_the_snapshot_sees_a_write(world: World) -> None:
    """The comparison the tests above rely on notices one new row."""
    before = all_rows(world.ledger)
    world.hooks.promo_credit("erin", 1, "promo-snapshot")
    assert all_rows(world.ledger) != before

