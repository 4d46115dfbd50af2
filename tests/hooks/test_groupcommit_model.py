"""Concurrent callers through the group commit answer exactly as the same calls made one by one.

The model is the sequential path: the same calls, in the same order, each
alone in its own transaction (``FlushPolicy(max_batch=1)``) on a second
database. Callers reach the group commit from threads or asyncio tasks in a
known order (``tests/hooks/arrivals.py``) and are flushed together, several
flushes when ``max_batch`` is small. Every answer — receipt or refusal —,
every balance, every download counter and the journal's head hash must be
the same. The calls mix downloads (whole and partial, over the size, unknown
files, a capped file, replays and key conflicts), deposits, promotional
credit, tips, two-step transfers (begun, completed, cancelled, with made-up
reservation ids too), and holds and releases. Both engines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitcache.asynchooks import AsyncHooks
from bitcache.core.pricing import PriceRule
from bitcache.hooks import FlushPolicy, Hooks
from tests.hooks.arrivals import answer_of, in_tasks, in_threads, same_answer
from tests.hooks.conftest import SIZE, make_hooks
from tests.ledger.conftest import Clock

FILES = [hashlib.sha256(f"model file {i}".encode()).hexdigest() for i in range(4)]
UNKNOWN = hashlib.sha256(b"never registered").hexdigest()
PEOPLE = ["d0", "d1", "d2"]
KEYS = [f"k{i}" for i in range(4)]

Op = tuple[Any, ...]

files = st.sampled_from([*FILES, UNKNOWN])
people = st.sampled_from(PEOPLE)
keys = st.sampled_from(KEYS)
amounts = st.integers(1, 6_000)
served = st.one_of(st.none(), st.integers(0, SIZE + 10))

DOWNLOADS = st.tuples(st.just("download"), files, people, keys, served)
WHOLE = st.tuples(st.just("download"), files, people, keys, st.none())
OPS = st.one_of(  # downloads drawn about half the time
    DOWNLOADS, WHOLE, DOWNLOADS, WHOLE, DOWNLOADS, WHOLE, DOWNLOADS, WHOLE,
    st.tuples(st.just("deposit"), people, amounts, keys),
    st.tuples(st.just("promo"), people, amounts, keys),
    st.tuples(st.just("tip"), files, people, amounts, keys),
    st.tuples(st.just("begin"), files, people, keys),
    st.tuples(st.just("complete"), st.integers(1, 40), st.integers(0, SIZE)),
    st.tuples(st.just("cancel"), st.integers(1, 40)),
    st.tuples(st.just("hold"), st.sampled_from(FILES), keys),
    st.tuples(st.just("release"), st.sampled_from(FILES), keys),
)
ROUNDS = st.lists(
    st.tuples(st.sampled_from(["threads", "asyncio"]), st.lists(OPS, min_size=2, max_size=12)),
    min_size=1, max_size=3)


def _setup(hooks: Hooks) -> None:
    hooks.register_file(FILES[0], "u0", PriceRule.fixed(1_000), size=SIZE)
    hooks.register_file(FILES[1], "u1", PriceRule.fixed(2_500), size=SIZE, cap=3,
                        referrer="r1")
    hooks.register_file(FILES[2], "u2", PriceRule.per_gib(900_000_000), size=SIZE)
    hooks.register_file(FILES[3], "u0", PriceRule.free(), size=SIZE)
    for person in PEOPLE[:2]:
        hooks.promo_credit(person, 5_000, f"start-{person}")


def sync_call(hooks: Hooks, op: Op) -> Callable[[], object]:
    kind, *args = op
    if kind == "download":
        file, who, key, size = args
        return lambda: hooks.download(file, who, key, bytes_served=size)
    if kind in ("deposit", "promo"):
        who, amount, key = args
        fn = hooks.credit_deposit if kind == "deposit" else hooks.promo_credit
        return lambda: fn(who, amount, key)
    if kind == "tip":
        return lambda: hooks.tip(*args)
    if kind == "begin":
        return lambda: hooks.begin_transfer(*args)
    if kind == "complete":
        return lambda: hooks.complete_transfer(*args)
    if kind == "cancel":
        return lambda: hooks.cancel_transfer(*args)
    return lambda: getattr(hooks, kind)(*args)


def async_call(hooks: AsyncHooks, op: Op) -> Callable[[], Awaitable[object]]:
    kind, *args = op
    if kind == "download":
        file, who, key, size = args
        return lambda: hooks.download(file, who, key, bytes_served=size)
    names = {"deposit": "credit_deposit", "promo": "promo_credit", "begin": "begin_transfer",
             "complete": "complete_transfer", "cancel": "cancel_transfer"}
    method = getattr(hooks, names.get(kind, kind))
    return lambda: method(*args)  # type: ignore[no-any-return]


def _state(hooks: Hooks) -> tuple[object, ...]:
    balances = hooks.ledger.balances()
    downloads = [hooks.file(f).downloads for f in FILES]
    return balances, downloads, hooks.ledger.head()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rounds=ROUNDS, max_batch=st.sampled_from([2, 3, 1_000]))
def test_concurrent_callers_answer_as_the_sequential_model(
    make_db_url: Callable[[], str], rounds: list[tuple[str, list[Op]]], max_batch: int
) -> None:
    clock = Clock()
    grouped = make_hooks(make_db_url(), clock, flush=FlushPolicy(max_batch=max_batch))
    model = make_hooks(make_db_url(), clock, flush=FlushPolicy(max_batch=1))
    try:
        _setup(grouped)
        _setup(model)
        for mode, ops in rounds:
            if mode == "threads":
                got = in_threads(grouped, [sync_call(grouped, op) for op in ops])
            else:
                aio = AsyncHooks(grouped)
                got = in_tasks(grouped, [async_call(aio, op) for op in ops])
            want = [answer_of(sync_call(model, op)) for op in ops]
            for op, g, w in zip(ops, got, want, strict=True):
                assert same_answer(g, w), f"{op}: group commit {g!r}, alone {w!r}"
            assert _state(grouped) == _state(model)
        assert grouped.group.stats().largest > 1 or all(len(ops) < 2 for _, ops in rounds)
        assert grouped.ledger.verify().ok
        assert grouped.ledger.trial_balance() == 0
    finally:
        grouped.close()
        model.close()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rounds=st.lists(st.lists(OPS, min_size=1, max_size=12), min_size=1, max_size=4))
def test_charge_now_answers_as_the_sequential_model(
    make_db_url: Callable[[], str], rounds: list[list[Op]]
) -> None:
    """A caller that gathers its own batches (the service's charging process): each round's
    downloads go through ``charge_now`` as one flush, the other calls through the hooks, and
    every answer and the books match each call made alone in order."""
    from bitcache.services.charging import DownloadRequest, check_request

    clock = Clock()
    gathered = make_hooks(make_db_url(), clock)
    model = make_hooks(make_db_url(), clock, flush=FlushPolicy(max_batch=1))
    try:
        _setup(gathered)
        _setup(model)
        for ops in rounds:
            downloads = [op for op in ops if op[0] == "download"]
            for op in ops:
                if op[0] != "download":
                    assert same_answer(answer_of(sync_call(gathered, op)),
                                       answer_of(sync_call(model, op)))
            events = [check_request(DownloadRequest(f, who, key, size))
                      for _, f, who, key, size in downloads]
            got = gathered.group.charge_now(events)
            want = [answer_of(sync_call(model, op)) for op in downloads]
            for op, g, w in zip(downloads, got, want, strict=True):
                assert same_answer(g, w), f"{op}: charge_now {g!r}, alone {w!r}"
            assert _state(gathered) == _state(model)
        assert gathered.ledger.verify().ok
        assert gathered.ledger.trial_balance() == 0
    finally:
        gathered.close()
        model.close()
