"""A file's terms change only when a call says so, and every change is in its history."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError

from bitcache.asynchooks import AsyncHooks
from bitcache.core.filehash import file_hash
from bitcache.core.files import FileTerms
from bitcache.core.pricing import MAX_PRICE_MSAT, PriceRule
from bitcache.core.terms import KEEP, TermChange, TermsReason, replay
from bitcache.errors import (
    DownloadCapReached,
    FileOwnershipConflict,
    InvalidAccountName,
    InvalidAmount,
    InvalidInput,
    UnknownFile,
)
from bitcache.hooks import Hooks
from bitcache.store.database import _alembic_config, make_engine, upgrade
from tests.hooks.conftest import FILE, FILE2, SIZE, make_hooks, snapshot
from tests.ledger.conftest import Clock


def _history(hooks: Hooks, file: str = FILE) -> list[tuple[str, FileTerms | None, FileTerms]]:
    return [(c.reason.value, c.old, c.new) for c in hooks.term_history(file)]


def test_a_reupload_without_cap_or_referrer_keeps_them(hooks: Hooks) -> None:
    """Regression: re-registering without cap= and referrer= removed both."""
    hooks.register_file(FILE, "carol", PriceRule.fixed(10_000), size=SIZE, cap=2, referrer="dave")
    again = hooks.register_file(FILE, "carol", PriceRule.fixed(10_000), size=SIZE)
    assert (again.cap, again.referrer) == (2, "dave")
    assert (hooks.file(FILE).cap, hooks.file(FILE).referrer) == (2, "dave")
    hooks.credit_deposit("bob", 100_000, "dep")
    receipt = hooks.download(FILE, "bob", "ev-1")
    assert receipt.referrer_msat == 500  # the referrer still gets its 5 %
    hooks.download(FILE, "bob", "ev-2")
    with pytest.raises(DownloadCapReached):
        hooks.download(FILE, "bob", "ev-3")
    assert len(hooks.term_history(FILE)) == 1  # the re-upload changed nothing


def test_a_reupload_through_async_hooks_keeps_its_terms_too(hooks: Hooks) -> None:
    """Regression: ``AsyncHooks.register_file`` defaulted cap and referrer to None, so an
    ASGI server's re-upload removed both; it keeps them, and offers the explicit change."""
    aio = AsyncHooks(hooks)

    async def run() -> None:
        await aio.register_file(FILE, "carol", PriceRule.fixed(10_000), size=SIZE, cap=2,
                                referrer="dave")
        again = await aio.register_file(FILE, "carol", PriceRule.fixed(10_000), size=SIZE)
        assert (again.cap, again.referrer) == (2, "dave")
        changed = await aio.update_terms(FILE, "carol", cap=None)
        assert (changed.cap, changed.referrer) == (None, "dave")
        assert [c.new.cap for c in await aio.term_history(FILE)] == [2, None]

    asyncio.run(run())
    assert (hooks.file(FILE).cap, hooks.file(FILE).referrer) == (None, "dave")


def test_a_reupload_may_leave_out_the_price_too(hooks: Hooks) -> None:
    hooks.register_file(FILE, "carol", PriceRule.fixed(700), size=SIZE)
    assert hooks.register_file(FILE, "carol", size=SIZE).price == PriceRule.fixed(700)
    with pytest.raises(InvalidInput, match="first registration of a file needs a price"):
        hooks.register_file(FILE2, "carol", size=SIZE)
    with pytest.raises(UnknownFile):
        hooks.file(FILE2)


def test_terms_change_only_when_given_and_none_removes(hooks: Hooks, clock: Clock) -> None:
    first = hooks.register_file(FILE, "carol", PriceRule.fixed(100), size=SIZE, cap=5,
                                referrer="dave")
    clock.now += 10
    priced = hooks.update_terms(FILE, "carol", price=PriceRule.fixed(250))
    assert priced.terms == dataclasses.replace(first.terms, price=PriceRule.fixed(250))
    clock.now += 10
    uncapped = hooks.update_terms(FILE, "carol", cap=None)
    assert (uncapped.cap, uncapped.referrer, uncapped.price.amount) == (None, "dave", 250)
    clock.now += 10
    cleared = hooks.register_file(FILE, "carol", referrer=None)
    assert (cleared.cap, cleared.referrer, cleared.price.amount) == (None, None, 250)
    assert hooks.file(FILE) == cleared
    changes = hooks.term_history(FILE)
    assert [(c.reason, c.changed) for c in changes] == [
        (TermsReason.REGISTERED, ("uploader", "price", "size", "cap", "referrer")),
        (TermsReason.UPDATED, ("price",)),
        (TermsReason.UPDATED, ("cap",)),
        (TermsReason.UPDATED, ("referrer",)),
    ]
    start = clock.now - 30
    assert [c.changed_at for c in changes] == [start, start + 10, start + 20, start + 30]
    assert [c.old for c in changes[1:]] == [c.new for c in changes[:-1]]
    assert replay(changes) == cleared.terms


def test_an_ownership_transfer_and_an_import_are_recorded(hooks: Hooks) -> None:
    hooks.import_catalog([(FILE, "carol", 1_500, SIZE)])
    hooks.import_catalog([(FILE, "carol", 9_999, SIZE)])  # unchanged: prices set since are kept
    hooks.transfer_ownership(FILE, "erin")
    hooks.transfer_ownership(FILE, "erin")  # idempotent
    carol = FileTerms("carol", PriceRule.fixed(1_500), SIZE)
    erin = dataclasses.replace(carol, uploader="erin")
    assert _history(hooks) == [("imported", None, carol), ("transferred", carol, erin)]
    with pytest.raises(FileOwnershipConflict):
        hooks.update_terms(FILE, "carol", price=PriceRule.fixed(1))
    with pytest.raises(UnknownFile):
        hooks.term_history(FILE2)


def test_retries_and_unchanged_terms_write_nothing(hooks: Hooks) -> None:
    hooks.register_file(FILE, "carol", PriceRule.fixed(100), cap=3)
    for _ in range(2):
        hooks.register_file(FILE, "carol", PriceRule.fixed(200))
        hooks.update_terms(FILE, "carol", cap=3)
        hooks.update_terms(FILE, "carol")
    assert [c.reason for c in hooks.term_history(FILE)] == [
        TermsReason.REGISTERED, TermsReason.UPDATED]


BAD_UPDATES: list[tuple[str, type[Exception], Callable[[Hooks], object]]] = [
    ("cap below downloads", InvalidInput, lambda h: h.update_terms(FILE, "carol", cap=1)),
    ("zero cap", InvalidAmount, lambda h: h.update_terms(FILE, "carol", cap=0)),
    ("float cap", InvalidAmount, lambda h: h.update_terms(FILE, "carol", cap=2.0)),  # type: ignore[arg-type]
    ("self referrer", InvalidInput, lambda h: h.update_terms(FILE, "carol", referrer="carol")),
    ("bad referrer", InvalidAccountName, lambda h: h.register_file(FILE, "carol", referrer="a b")),
    ("per-GiB without size", InvalidInput,
     lambda h: h.update_terms(FILE, "carol", price=PriceRule.per_gib(5), size=None)),
    ("per-GiB past the price bound", InvalidAmount,  # every download would be refused
     lambda h: h.update_terms(FILE, "carol", price=PriceRule.per_gib(MAX_PRICE_MSAT),
                              size=2 * 2**30)),
    ("price not a rule", InvalidInput, lambda h: h.update_terms(FILE, "carol", price=5)),  # type: ignore[arg-type]
    ("None price", InvalidInput, lambda h: h.register_file(FILE, "carol", None)),  # type: ignore[arg-type]
    ("another owner", FileOwnershipConflict,
     lambda h: h.update_terms(FILE, "mallory", cap=None)),
    ("unknown file", UnknownFile, lambda h: h.update_terms(FILE2, "carol", cap=None)),
    ("transfer to the referrer", InvalidInput, lambda h: h.transfer_ownership(FILE, "dave")),
]


@pytest.mark.parametrize(("name", "error", "call"), BAD_UPDATES, ids=[c[0] for c in BAD_UPDATES])
def test_a_refused_change_writes_nothing(
    hooks: Hooks, name: str, error: type[Exception], call: Callable[[Hooks], object]
) -> None:
    hooks.register_file(FILE, "carol", PriceRule.fixed(10), size=SIZE, referrer="dave")
    hooks.credit_deposit("bob", 1_000, "dep")
    hooks.download(FILE, "bob", "a")
    hooks.download(FILE, "bob", "b")
    before, file_before, history = snapshot(hooks), hooks.file(FILE), hooks.term_history(FILE)
    with pytest.raises(error):
        call(hooks)
    assert (snapshot(hooks), hooks.file(FILE), hooks.term_history(FILE)) == (
        before, file_before, history)


@pytest.mark.parametrize("statement", ["UPDATE file_term_changes SET new_cap = 1",
                                       "DELETE FROM file_term_changes"])
def test_the_history_is_append_only_in_the_database(hooks: Hooks, statement: str) -> None:
    hooks.register_file(FILE, "carol", PriceRule.fixed(10), cap=5)
    with pytest.raises(DBAPIError, match="append-only"), hooks.ledger.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert len(hooks.term_history(FILE)) == 1


def test_files_registered_before_the_history_get_their_terms_recorded(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0003_file_terms@-1")
        conn.execute(sa.text(
            "INSERT INTO files (file_hash, uploader, price_kind, price_amount, size, "
            "download_cap, referrer, downloads, held, registered_at) VALUES "
            "(:fh, 'carol', 'fixed', 70, 9, 4, 'dave', 1, :no, 5)"),
            {"fh": bytes.fromhex(FILE), "no": False})
    upgrade(engine)
    engine.dispose()
    hooks = make_hooks(db_url, Clock())
    try:
        (change,) = hooks.term_history(FILE)
        assert (change.reason, change.old) == (TermsReason.RECORDED, None)
        assert change.new == hooks.file(FILE).terms == FileTerms(
            "carol", PriceRule.fixed(70), 9, 4, "dave")
        hooks.register_file(FILE, "carol", size=10)
        assert replay(hooks.term_history(FILE)) == hooks.file(FILE).terms
    finally:
        hooks.close()


_A = FileTerms("carol", PriceRule.fixed(1))
_B = dataclasses.replace(_A, cap=3)
_START = TermChange(1, file_hash(FILE), 10, TermsReason.REGISTERED, None, _A)
_CAPPED = TermChange(2, file_hash(FILE), 11, TermsReason.UPDATED, _A, _B)
BROKEN = {
    "a gap": [_START, dataclasses.replace(_CAPPED, old=_B)],
    "no start": [_CAPPED],
    "two starts": [_START, dataclasses.replace(_CAPPED, old=None, reason=TermsReason.IMPORTED)],
    "out of order": [dataclasses.replace(_START, seq=3), _CAPPED],
    "another file": [_START, dataclasses.replace(_CAPPED, file_hash=file_hash(FILE2))],
}


def test_replay_folds_a_chain_of_changes() -> None:
    assert replay([]) is None and replay([_START]) == _A and replay([_START, _CAPPED]) == _B


@pytest.mark.parametrize("name", list(BROKEN))
def test_replay_refuses_a_history_that_is_not_one_chain(name: str) -> None:
    with pytest.raises(InvalidInput):
        replay(BROKEN[name])


# --- property: any sequence of calls leaves the terms of a simple model ----------------------

PARTIES = ["carol", "dave", "ref"]
PRICES = st.sampled_from([KEEP, PriceRule.fixed(1), PriceRule.fixed(3), PriceRule.per_gib(2**30)])
SIZES = st.sampled_from([KEEP, None, 1_000])
CAPS = st.sampled_from([KEEP, None, 1, 2, 4])
REFERRERS = st.sampled_from([KEEP, None, *PARTIES])
TERMS = st.fixed_dictionaries({"price": PRICES, "size": SIZES, "cap": CAPS, "referrer": REFERRERS})
CALLS: st.SearchStrategy[tuple[str, str, dict[str, Any]]] = st.one_of(
    st.tuples(st.just("register"), st.sampled_from(PARTIES), TERMS),
    st.tuples(st.just("update"), st.sampled_from(PARTIES), TERMS),
    st.tuples(st.just("transfer"), st.sampled_from(PARTIES), st.just({})),
    st.tuples(st.just("download"), st.just(""), st.just({})),
)


@dataclasses.dataclass
class Model:
    """What the terms should be: a dict of the five terms and a download count."""

    terms: dict[str, Any] | None = None
    downloads: int = 0
    changes: list[tuple[TermsReason, dict[str, Any] | None, dict[str, Any]]] = dataclasses.field(
        default_factory=list)

    def _set(self, new: dict[str, Any], reason: TermsReason) -> type[Exception] | None:
        if new["price"] is KEEP:
            return InvalidInput
        if new["price"].kind.value == "per_gib" and new["size"] is None:
            return InvalidInput
        if new["referrer"] == new["uploader"]:
            return InvalidInput
        if new["cap"] is not None and new["cap"] < self.downloads:
            return InvalidInput
        if new != self.terms:
            self.changes.append((reason, self.terms, new))
            self.terms = new
        return None

    def apply(self, op: str, party: str, given: dict[str, Any]) -> type[Exception] | None:
        if op == "register" and self.terms is None:
            fresh = {"uploader": party, "size": None, "cap": None, "referrer": None}
            return self._set({**fresh, **{k: v for k, v in given.items()
                                          if v is not KEEP or k == "price"}},
                             TermsReason.REGISTERED)
        if self.terms is None:
            return UnknownFile
        if op in ("register", "update"):
            if party != self.terms["uploader"]:
                return FileOwnershipConflict
            kept = {k: v for k, v in given.items() if v is not KEEP}
            return self._set({**self.terms, **kept}, TermsReason.UPDATED)
        if op == "transfer":
            if party == self.terms["referrer"]:
                return InvalidInput
            return self._set({**self.terms, "uploader": party}, TermsReason.TRANSFERRED)
        if self.terms["cap"] is not None and self.downloads >= self.terms["cap"]:
            return DownloadCapReached
        self.downloads += 1
        return None


def _terms(t: dict[str, Any] | None) -> FileTerms | None:
    return None if t is None else FileTerms(t["uploader"], t["price"], t["size"], t["cap"],
                                            t["referrer"])


def _run(hooks: Hooks, file: str, key: str, op: str, party: str, given: dict[str, Any]) -> object:
    if op == "register":
        return hooks.register_file(file, party, **given)
    if op == "update":
        return hooks.update_terms(file, party, **given)
    if op == "transfer":
        return hooks.transfer_ownership(file, party)
    return hooks.download(file, "bob", key)


_FILES = itertools.count()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(calls=st.lists(CALLS, min_size=1, max_size=12))
def test_any_sequence_of_calls_leaves_the_terms_of_a_simple_model(
    hooks: Hooks, clock: Clock, calls: list[tuple[str, str, dict[str, Any]]]
) -> None:
    n = next(_FILES)
    file = hashlib.sha256(f"property file {n}".encode()).hexdigest()
    hooks.credit_deposit("bob", 10**9, f"dep-{n}")
    model = Model()
    for i, (op, party, terms) in enumerate(calls):
        clock.now += 1
        expected = model.apply(op, party, terms)
        if expected is None:
            _run(hooks, file, f"{n}-{i}", op, party, terms)
        else:
            with pytest.raises(expected):
                _run(hooks, file, f"{n}-{i}", op, party, terms)
        if model.terms is not None:
            rec = hooks.file(file)
            assert (rec.terms, rec.downloads) == (_terms(model.terms), model.downloads)
    if model.terms is None:
        return
    history = hooks.term_history(file)
    assert [(c.reason, c.old, c.new) for c in history] == [
        (reason, _terms(old), _terms(new)) for reason, old, new in model.changes]
    assert replay(history) == hooks.file(file).terms
    assert all(a.changed_at <= b.changed_at for a, b in itertools.pairwise(history))
