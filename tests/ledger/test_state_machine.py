"""A Hypothesis state machine drives the ledger against a simple in-memory model.

Rules: fund, post, pending, post-pending (whole or part), void, expire,
reverse, retry with the same key, retry with a conflicting key. After every
step: each entry sums to zero, all balances sum to zero, no limited account
is below zero, the store's balances equal the model's, the hash chain
verifies. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bitcache.core.entries import EntryKind, EntryRequest, Posting, posting
from bitcache.errors import IdempotencyConflict, InsufficientFunds, LedgerError
from bitcache.store.ledger import LedgerStore
from tests.ledger.conftest import Clock

DOWNLOADERS = ["liability:prepaid:d1", "liability:prepaid:d2"]
UPLOADERS = ["liability:payable:u1", "liability:payable:u2"]
PLATFORM = "revenue:platform"
OPERATOR = "equity:operator"
LIMITED = set(DOWNLOADERS + UPLOADERS)
ALL = [*DOWNLOADERS, *UPLOADERS, PLATFORM, OPERATOR]


@dataclass
class Model:
    """Balances as (posted, pending debits, pending credits), the plain way."""

    posted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ALL, 0))
    pdebit: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ALL, 0))
    pcredit: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ALL, 0))
    open_pending: dict[int, tuple[tuple[Posting, ...], int | None]] = field(default_factory=dict)
    reversible: dict[int, tuple[Posting, ...]] = field(default_factory=dict)
    requests: dict[str, tuple[EntryRequest, int]] = field(default_factory=dict)

    def available(self, name: str) -> int:
        return -self.posted[name] - self.pdebit[name]

    def allows(self, moves: list[tuple[str, int, str]]) -> bool:
        """Would these (account, amount, how) moves keep limited accounts >= 0?"""
        posted, pdebit = dict(self.posted), dict(self.pdebit)
        for name, amount, how in moves:
            if how == "post":
                posted[name] += amount
            elif how == "reserve" and amount > 0:
                pdebit[name] += amount
            elif how == "release" and amount > 0:
                pdebit[name] -= amount
        return all(
            -posted[n] - pdebit[n] >= 0 or -posted[n] - pdebit[n] >= self.available(n)
            for n in LIMITED
        )

    def apply(self, moves: list[tuple[str, int, str]]) -> None:
        for name, amount, how in moves:
            if how == "post":
                self.posted[name] += amount
            elif how == "reserve":
                if amount > 0:
                    self.pdebit[name] += amount
                else:
                    self.pcredit[name] -= amount
            elif amount > 0:
                self.pdebit[name] -= amount
            else:
                self.pcredit[name] += amount


def _download(d: str, u: str, price: int, fee: int) -> tuple[Posting, ...]:
    return (posting(d, price), posting(u, -(price - fee)), posting(PLATFORM, -fee))


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, make_url: Callable[[], str]) -> None:
        super().__init__()
        self.clock = Clock()
        self.store = LedgerStore.open(make_url(), clock=self.clock)
        self.model = Model()
        self.n = 0

    @initialize()
    def open_accounts(self) -> None:
        for name in ALL:
            self.store.open_account(name)

    def teardown(self) -> None:
        self.store.close()

    def _key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def _record(self, req: EntryRequest, moves: list[tuple[str, int, str]]) -> int | None:
        expected_ok = self.model.allows(moves)
        try:
            entry = self.store.record(req)
        except InsufficientFunds:
            assert not expected_ok, f"store refused {req} that the model allows"
            return None
        assert expected_ok, f"store accepted {req} that overdraws in the model"
        self.model.apply(moves)
        self.model.requests[req.key] = (req, entry.id)
        return entry.id

    @rule(who=st.sampled_from(DOWNLOADERS + UPLOADERS), amount=st.integers(1, 5_000))
    def fund(self, who: str, amount: int) -> None:
        legs = (posting(OPERATOR, amount), posting(who, -amount))
        eid = self._record(
            EntryRequest(self._key(), legs), [(p.account, p.amount, "post") for p in legs]
        )
        assert eid is not None
        self.model.reversible[eid] = legs

    @rule(
        d=st.sampled_from(DOWNLOADERS),
        u=st.sampled_from(UPLOADERS),
        price=st.integers(1, 3_000),
        fee_pct=st.integers(0, 100),
    )
    def download(self, d: str, u: str, price: int, fee_pct: int) -> None:
        fee = price * fee_pct // 100
        if fee in (0, price):
            fee = 0 if price == 1 else max(1, min(fee, price - 1))
        if price - fee <= 0 or fee <= 0:
            legs = (posting(d, price), posting(u, -price))
        else:
            legs = _download(d, u, price, fee)
        eid = self._record(
            EntryRequest(self._key(), legs), [(p.account, p.amount, "post") for p in legs]
        )
        if eid is not None:
            self.model.reversible[eid] = legs

    @rule(
        d=st.sampled_from(DOWNLOADERS),
        u=st.sampled_from(UPLOADERS),
        price=st.integers(2, 3_000),
        ttl=st.none() | st.integers(1, 100),
    )
    def pending(self, d: str, u: str, price: int, ttl: int | None) -> None:
        legs = (posting(d, price), posting(u, -price))
        expires = None if ttl is None else self.clock.now + ttl
        req = EntryRequest(self._key(), legs, EntryKind.PENDING, None, expires)
        eid = self._record(req, [(p.account, p.amount, "reserve") for p in legs])
        if eid is not None:
            self.model.open_pending[eid] = (legs, expires)

    @precondition(lambda self: self.model.open_pending)
    @rule(data=st.data(), part=st.integers(1, 100))
    def post_pending(self, data: st.DataObject, part: int) -> None:
        eid = data.draw(st.sampled_from(sorted(self.model.open_pending)))
        legs, expires = self.model.open_pending[eid]
        if expires is not None and self.clock.now >= expires:
            return
        amount = max(1, legs[0].amount * part // 100)
        done = (posting(legs[0].account, amount), posting(legs[1].account, -amount))
        moves = [(p.account, p.amount, "release") for p in legs]
        moves += [(p.account, p.amount, "post") for p in done]
        new = self._record(EntryRequest(self._key(), done, EntryKind.POST_PENDING, eid), moves)
        assert new is not None
        del self.model.open_pending[eid]
        self.model.reversible[new] = done

    @precondition(lambda self: self.model.open_pending)
    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(sorted(self.model.open_pending)))
        legs, _ = self.model.open_pending.pop(eid)
        self.store.void_pending(eid, self._key())
        self.model.apply([(p.account, p.amount, "release") for p in legs])

    @rule(step=st.integers(1, 60))
    def expire(self, step: int) -> None:
        self.clock.now += step
        due = sorted(
            eid
            for eid, (_, exp) in self.model.open_pending.items()
            if exp is not None and exp <= self.clock.now
        )
        voided = self.store.expire_pending()
        assert sorted(e.ref for e in voided if e.ref is not None) == due
        for eid in due:
            legs, _ = self.model.open_pending.pop(eid)
            self.model.apply([(p.account, p.amount, "release") for p in legs])

    @precondition(lambda self: self.model.reversible)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        eid = data.draw(st.sampled_from(sorted(self.model.reversible)))
        legs = self.model.reversible[eid]
        moves = [(p.account, -p.amount, "post") for p in legs]
        req = EntryRequest(
            self._key(),
            tuple(Posting(p.account, -p.amount, p.file_hash) for p in legs),
            EntryKind.REVERSAL,
            eid,
        )
        if self._record(req, moves) is not None:
            del self.model.reversible[eid]

    @precondition(lambda self: self.model.requests)
    @rule(data=st.data())
    def retry_same(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model.requests)))
        req, eid = self.model.requests[key]
        head = self.store.head()
        assert self.store.record(req).id == eid
        assert self.store.head() == head

    @precondition(lambda self: self.model.requests)
    @rule(data=st.data())
    def retry_conflicting(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model.requests)))
        other = EntryRequest(key, (posting(OPERATOR, 7), posting(PLATFORM, -7)), memo="other")
        head = self.store.head()
        try:
            self.store.record(other)
        except IdempotencyConflict:
            pass
        except LedgerError as exc:  # pragma: no cover - shows what went wrong
            raise AssertionError(f"expected a conflict, got {exc!r}") from exc
        else:
            raise AssertionError("a conflicting retry was accepted")
        assert self.store.head() == head

    @invariant()
    def books_balance(self) -> None:
        assert self.store.trial_balance() == 0
        balances = self.store.balances()
        for name in ALL:
            b = balances[name]
            assert (b.posted, b.pending_debits, b.pending_credits) == (
                self.model.posted[name],
                self.model.pdebit[name],
                self.model.pcredit[name],
            ), name
            if name in LIMITED:
                assert b.available(False) >= 0
        with self.store.read() as conn:
            bad = conn.exec_driver_sql(
                "SELECT entry_id FROM postings GROUP BY entry_id "
                "HAVING sum(amount) <> 0 OR count(*) < 2"
            ).fetchall()
        assert bad == []
        assert self.store.verify().ok


def test_ledger_state_machine(make_db_url: Callable[[], str], engine_name: str) -> None:
    examples = 25 if engine_name == "sqlite" else 12
    run_state_machine_as_test(
        lambda: LedgerMachine(make_db_url),
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


@pytest.mark.parametrize("amount", [1, 10**15])
def test_model_allows_agrees_on_a_plain_overdraft(amount: int) -> None:
    """The model itself refuses an overdraft (so the machine's agreement means something)."""
    model = Model()
    assert not model.allows([(DOWNLOADERS[0], amount, "post")])
    assert model.allows([(DOWNLOADERS[0], -amount, "post")])
