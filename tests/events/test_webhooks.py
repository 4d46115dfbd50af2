"""Payout and deposit events: written with their state change, delivered in order, signed."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import payable
from bitcache.errors import InvalidTransition, SignatureInvalid, UnknownEvent
from bitcache.events.signing import verify
from bitcache.reconciliation.alerts import record_failure
from bitcache.reconciliation.checks import reconcile
from bitcache.services.webhooks import US, DeliveryPolicy, Webhooks
from bitcache.settlement.states import SettlementState
from bitcache.store import outbox
from bitcache.store import settlement as settlement_rows
from bitcache.store.ledger import LedgerStore
from tests.events.receiver import receiver
from tests.settlement.support import config, earn, fund_wallet, register, service

SECRET = b"whsec-test-0123456789abcdef"
EARNINGS = {"alice": 50_000_123, "bob": 20_000_999}


class Clock:
    """A clock the test moves (µs), starting now so signatures carry a real time."""

    def __init__(self) -> None:
        self.now = time.time_ns() // 1000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def any_ledger(db_url: str) -> Iterator[LedgerStore]:
    store = LedgerStore.open(db_url)
    yield store
    store.close()


@pytest.fixture
def chain(tmp_path) -> Iterator[RegtestChain]:  # type: ignore[no-untyped-def]
    c = RegtestChain.open(tmp_path / "regtest")
    yield c
    c.close()


def stored(ledger: LedgerStore) -> list[outbox.StoredEvent]:
    with ledger.read() as conn:
        return outbox.events_after(conn, 0, 10_000)


def pay_out(ledger: LedgerStore, chain: RegtestChain) -> int:
    """Fund the wallet, earn, and run cycles until the settlement is final; its id."""
    fund_wallet(chain, ledger)
    svc = service(ledger, chain, config())
    register(svc, list(EARNINGS))
    earn(ledger, EARNINGS)
    (sid,) = svc.run_cycle().created
    for _ in range(6):
        chain.mine(1)
        svc.run_cycle()
        if svc.settlement(sid).state is SettlementState.FINAL:
            return sid
    raise AssertionError(f"settlement {sid} did not reach final")


def test_a_payout_and_its_deposits_raise_their_events_in_order(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    sid = pay_out(any_ledger, chain)
    events = stored(any_ledger)
    kinds = [e.kind for e in events]
    assert kinds == [
        "deposit.credited", "deposit.credited", "payout.planned", "payout.broadcast",
        "payout.confirmed", "payout.final",
    ]
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    final = events[-1].data
    s = service(any_ledger, chain).settlement(sid)
    assert final["settlement"] == sid and final["txid"] == s.confirmed_txid
    assert final["confirmations"] == 3 and final["previous_state"] == "confirmed"
    paid = {p["uploader"]: p["amount_sat"] for p in final["payouts"]}
    assert paid == {p.uploader: p.payout_sat for p in s.payouts}
    deposit = events[0].data
    assert deposit["account"] == "equity:operator" and deposit["amount_sat"] > 0
    assert events[0].subject == f"deposit:{deposit['txid']}:{deposit['vout']}"


def test_every_event_arrives_in_order_signed_through_a_receiver_that_fails_at_first(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    clock = Clock()
    policy = DeliveryPolicy(max_attempts=10, base_delay_s=5, max_delay_s=60)
    with receiver(fail_first=2) as (url, got), Webhooks(
        any_ledger, [url], SECRET, policy, clock=clock
    ) as hooks:
        fund_wallet(chain, any_ledger)
        first = hooks.deliver()  # the deposits: refused (503)
        assert first[0].status == "failed" and first[0].attempts == 1
        svc = service(any_ledger, chain, config())
        register(svc, list(EARNINGS))
        earn(any_ledger, EARNINGS)
        svc.run_cycle()
        statuses = []
        for _ in range(8):  # events keep coming while deliveries fail, then go through
            clock.now += 120 * US  # past any backoff
            statuses.append(hooks.deliver()[0].status)
            chain.mine(1)
            svc.run_cycle()
        statuses.append(hooks.deliver()[0].status)
        events = stored(any_ledger)
    assert events[-1].kind == "payout.final"
    assert statuses[0] == "failed" and statuses[-1] == "caught_up"
    delivering = [n for n, s in enumerate(got.requests) if s[0] == 200]
    assert [s for s, _, _ in got.requests[:2]] == [503, 503]
    assert len({json.loads(got.requests[n][2])["type"] for n in delivering}) > 2
    accepted = got.accepted()
    bodies = [json.loads(body) for _, body in accepted]
    assert [b["id"] for b in bodies] == [e.id for e in events]  # all, in order, once each
    assert [b["type"] for b in bodies] == [e.kind for e in events]
    assert [b["data"] for b in bodies] == [e.data for e in events]
    for signature, body in accepted:
        verify(SECRET, signature, body, now=clock.now // US, tolerance_s=10**6)
    with pytest.raises(SignatureInvalid):
        verify(b"another secret, 16+ bytes", accepted[0][0], accepted[0][1], clock.now // US,
               10**6)


def test_a_failure_is_retried_after_a_persisted_backoff_and_given_up_after_max_attempts(
    any_ledger: LedgerStore,
) -> None:
    with any_ledger.write() as conn:
        outbox.append(conn, "payout.planned", "settlement:1", {"n": 1}, 1)
    clock = Clock()
    policy = DeliveryPolicy(max_attempts=3, base_delay_s=10, max_delay_s=15)
    with receiver(fail_first=100) as (url, got):
        with Webhooks(any_ledger, [url], SECRET, policy, clock=clock) as hooks:
            (r,) = hooks.deliver()
            assert (r.status, r.attempts, r.next_attempt_at) == ("failed", 1, clock.now + 10 * US)
        # another process (cron, an hour later) sees the persisted backoff
        with Webhooks(any_ledger, [url], SECRET, policy, clock=clock) as hooks:
            clock.now += 9 * US
            assert hooks.deliver()[0].status == "waiting"
            assert len(got.requests) == 1
            clock.now += 1 * US
            (r,) = hooks.deliver()
            assert (r.status, r.attempts, r.next_attempt_at) == ("failed", 2, clock.now + 15 * US)
            clock.now += 15 * US
            assert hooks.deliver()[0].attempts == 3
            clock.now += 3600 * US
            assert hooks.deliver()[0].status == "given_up"
            assert len(got.requests) == 3
            got.fail_first = 0
            with pytest.raises(UnknownEvent):
                hooks.redeliver(99)
            (r,) = hooks.redeliver(1)
            assert (r.status, r.delivered, r.cursor, r.attempts) == ("caught_up", 1, 1, 0)


def test_redeliver_sends_again_from_an_id_and_never_skips_ahead(any_ledger: LedgerStore) -> None:
    with any_ledger.write() as conn:
        for n in range(4):
            outbox.append(conn, "deposit.credited", f"deposit:{n}", {"n": n}, n)
    clock = Clock()
    with receiver(fail_first=0) as (url, got), Webhooks(
        any_ledger, [url], SECRET, clock=clock
    ) as hooks:
        assert hooks.deliver()[0].delivered == 4
        hooks.redeliver(3)
        ids = [json.loads(b)["id"] for _, b in got.accepted()]
        assert ids == [1, 2, 3, 4, 3, 4]
    with any_ledger.write() as conn:  # rewinding never moves a cursor forward
        outbox.rewind(conn, url, 10, 0)
        assert outbox.endpoint(conn, url, 0).delivered_id == 4


def test_an_unreachable_endpoint_does_not_hold_up_another(any_ledger: LedgerStore) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    with any_ledger.write() as conn:
        outbox.append(conn, "payout.final", "settlement:1", {}, 1)
    with receiver(fail_first=0) as (url, got), Webhooks(
        any_ledger, [dead, url], SECRET, DeliveryPolicy(timeout_s=2), clock=Clock()
    ) as hooks:
        down, up = hooks.deliver()
    assert down.status == "failed" and "ConnectError" in down.error
    assert (up.status, up.delivered) == ("caught_up", 1) and len(got.accepted()) == 1


def test_an_event_commits_with_its_state_change_or_not_at_all(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    fund_wallet(chain, any_ledger)
    svc = service(any_ledger, chain, config(max_in_flight=1))
    register(svc, list(EARNINGS))
    earn(any_ledger, EARNINGS)
    (sid,) = svc.run_cycle().created
    before = len(stored(any_ledger))
    with pytest.raises(RuntimeError), any_ledger.write() as conn:
        settlement_rows.move(conn, sid, SettlementState.BROADCAST, SettlementState.VOID, 0)
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == before + 1
        raise RuntimeError("the transaction fails after the move")
    with pytest.raises(InvalidTransition), any_ledger.write() as conn:
        settlement_rows.move(conn, sid, SettlementState.SIGNED, SettlementState.VOID, 0)
    assert len(stored(any_ledger)) == before


def test_a_failed_reconcile_is_an_event_and_a_clean_one_is_not(any_ledger: LedgerStore) -> None:
    earn(any_ledger, {"alice": 5_000})
    with any_ledger.write() as conn:  # break the books behind the ledger's back
        conn.execute(text("UPDATE accounts SET posted = posted - 5 WHERE name = :n"),
                     {"n": payable("alice")})
    clean = reconcile(any_ledger)
    assert clean.ok is False  # the tampered balance is found
    event_id = record_failure(any_ledger, clean, clock=lambda: 7)
    assert event_id is not None
    with any_ledger.read() as conn:
        found = outbox.event(conn, event_id)
    assert found.kind == "reconcile.failed" and found.created_at == 7
    assert "account_balances" in found.data["failed_checks"]
    assert any(d["check"] == "account_balances" for d in found.data["discrepancies"])
    ok = dataclasses.replace(clean, checks=(), discrepancies=())
    assert record_failure(any_ledger, ok) is None


def test_one_run_at_a_time_sends_to_an_endpoint(any_ledger: LedgerStore) -> None:
    with any_ledger.write() as conn:
        for n in range(3):
            outbox.append(conn, "payout.final", f"settlement:{n}", {"n": n}, n)
    clock = Clock()
    with receiver(fail_first=0) as (url, got), Webhooks(
        any_ledger, [url], SECRET, clock=clock
    ) as hooks:
        with any_ledger.write() as conn:  # another run holds the endpoint for a minute
            outbox.endpoint(conn, url, clock.now)
            assert outbox.claim(conn, url, "other run", clock.now + 60 * US, clock.now)
        (r,) = hooks.deliver()
        assert (r.status, r.delivered, got.requests) == ("busy", 0, [])
        with any_ledger.write() as conn:  # its mark is refused: it does not hold the lease
            assert not outbox.mark_delivered(conn, url, 3, "a third run", 0, clock.now)
            assert outbox.endpoint(conn, url, clock.now).delivered_id == 0
        clock.now += 61 * US  # the other run's lease ran out (it died)
        (r,) = hooks.deliver()
        assert (r.status, r.delivered) == ("caught_up", 3)
        with any_ledger.write() as conn:  # the lease is given back at the end of the run
            assert outbox.claim(conn, url, "other run", clock.now + 1, clock.now)


def test_serve_delivers_in_the_background_while_it_runs(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from bitcache.serve.app import create_app
    from tests.serve.conftest import make_world

    world = make_world(db_url, tmp_path)
    with world.hooks.ledger.write() as conn:
        for n in range(3):
            outbox.append(conn, "deposit.credited", f"deposit:{n}", {"n": n}, n)
    with receiver(fail_first=1) as (url, got):
        hooks = Webhooks(world.hooks.ledger, [url], SECRET,
                         DeliveryPolicy(base_delay_s=1, max_delay_s=1))
        world.service.node = dataclasses.replace(
            world.service.node, webhooks=hooks, deliver_every_s=1.0)
        async def serve_a_while() -> None:
            app = create_app(world.service)
            async with app.router.lifespan_context(app):
                deadline = time.monotonic() + 30
                while len(got.accepted()) < 3 and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)

        asyncio.run(serve_a_while())
        assert [json.loads(b)["id"] for _, b in got.accepted()] == [1, 2, 3]
        assert got.requests[0][0] == 503  # the first round failed, a later one delivered
    world.hooks.close()
