"""Hostile input to the hooks: a typed refusal, and not one row written (both engines)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from bitcache.core.accounts import prepaid
from bitcache.core.checks import INT64_MAX
from bitcache.core.entries import posting
from bitcache.core.files import HoldPolicy
from bitcache.core.pricing import FixedRateProvider, PriceRule, SplitPolicy
from bitcache.errors import InvalidAmount, InvalidInput, InvalidPolicy
from bitcache.hooks import Hooks, TransferReceipt
from tests.hooks.conftest import FILE, FILE2, SIZE, setup_file
from tests.ledger.conftest import Clock, all_rows


def _refused(hooks: Hooks, error: type[Exception], call: Callable[[], object]) -> None:
    """``call`` raises ``error`` and leaves every table as it was."""
    before = all_rows(hooks.ledger)
    with pytest.raises(error):
        call()
    assert all_rows(hooks.ledger) == before


@pytest.fixture
def transfer(hooks: Hooks) -> TransferReceipt:
    setup_file(hooks)
    hooks.credit_deposit("bob", 30_000, "tx1")
    return hooks.begin_transfer(FILE, "bob", "t1")


@pytest.mark.parametrize("now", ["now", "", "abc", 1e30, False, Decimal(2**70), 2**70, -5])
def test_expire_transfers_refuses_a_now_that_is_not_a_timestamp(
    hooks: Hooks, transfer: TransferReceipt, now: object
) -> None:
    """Before, a text ``now`` voided every reservation and the transfer could not complete."""
    _refused(hooks, InvalidInput, lambda: hooks.expire_transfers(now))  # type: ignore[arg-type]
    assert hooks.complete_transfer(transfer, SIZE).price_msat == transfer.reserved_msat


@pytest.mark.parametrize(("option", "value", "error"), [
    ("splits", "x", InvalidPolicy),
    ("splits", {"platform_bps": 1}, InvalidPolicy),
    ("rates", 5, InvalidPolicy),
    ("rates", {"USD": 1}, InvalidPolicy),
    ("hold_policy", "refuse", InvalidPolicy),
    ("clock", 5, InvalidPolicy),
    ("transfer_ttl_us", 2**63, InvalidPolicy),
    ("transfer_ttl_us", True, InvalidPolicy),
    ("transfer_ttl_us", 1.5, InvalidPolicy),
])
def test_bad_options_are_refused_when_the_hooks_are_built(
    hooks: Hooks, option: str, value: object, error: type[Exception]
) -> None:
    _refused(hooks, error, lambda: Hooks(hooks.ledger, **{option: value}))  # type: ignore[arg-type]


def test_good_options_are_taken(hooks: Hooks) -> None:
    built = Hooks(hooks.ledger, splits=SplitPolicy(0, 0), rates=FixedRateProvider({"EUR": 1}),
                  hold_policy=HoldPolicy.REFUSE, clock=Clock(), transfer_ttl_us=INT64_MAX)
    assert built.ctx.splits == SplitPolicy(0, 0) and built.ctx.transfer_ttl_us == INT64_MAX


@pytest.mark.parametrize("ledger", [None, "sqlite:///x.sqlite", 5])
def test_the_ledger_must_be_a_ledger_store(ledger: object) -> None:
    with pytest.raises(InvalidInput):
        Hooks(ledger)  # type: ignore[arg-type]


@pytest.mark.parametrize("ttl_us", [2**63, 2**64, INT64_MAX])
def test_a_time_to_live_past_64_bits_is_refused(hooks: Hooks, ttl_us: int) -> None:
    """The reservation would expire after the largest timestamp a column holds."""
    setup_file(hooks)
    hooks.credit_deposit("bob", 30_000, "tx1")
    _refused(hooks, InvalidPolicy,
             lambda: hooks.begin_transfer(FILE, "bob", "t1", ttl_us=ttl_us))
    assert hooks.file(FILE).downloads == 0


@pytest.mark.parametrize(("key", "memo"), [
    ("xfer:other", ""),
    ("xfer:other", "parts=up"),
    ("xfer:other", "parts=upr; size=10"),
    ("xfer:other", "parts=uu; size=10"),
    ("xfer:other", "parts=up; size=ten"),
    ("other", "parts=up; size=10"),
])
def test_a_pending_entry_that_is_not_a_transfer_is_refused(
    hooks: Hooks, transfer: TransferReceipt, key: str, memo: str
) -> None:
    """Before, complete_transfer raised KeyError: 'size' on a reservation without a size."""
    legs = [posting(prepaid("bob"), 100, FILE), posting("revenue:platform", -10, FILE),
            posting("liability:payable:carol", -90, FILE)]
    pending = hooks.ledger.pending(key, legs, memo=memo)
    _refused(hooks, InvalidInput, lambda: hooks.complete_transfer(pending.id, 1))
    _refused(hooks, InvalidInput, lambda: hooks.cancel_transfer(pending.id))
    assert hooks.complete_transfer(transfer, SIZE).price_msat == transfer.reserved_msat


@pytest.mark.parametrize("served", [[], -1, 1.5, None, SIZE * 2**40])
def test_bytes_served_are_checked_for_a_free_file_too(hooks: Hooks, served: object) -> None:
    """Found by the fuzz: a free file's transfer (no reservation) took any bytes_served."""
    hooks.register_file(FILE2, "carol", PriceRule.free(), size=SIZE)
    free = hooks.begin_transfer(FILE2, "bob", "t-free")
    assert free.pending_id is None
    _refused(hooks, InvalidAmount, lambda: hooks.complete_transfer(free, served))  # type: ignore[arg-type]
    assert hooks.complete_transfer(free, SIZE).price_msat == 0
