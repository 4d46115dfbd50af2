"""Concurrent charges never overdraw and never exceed a cap (threads, both engines)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitcache.core.pricing import PriceRule
from bitcache.errors import BitcacheError, DownloadCapReached, InsufficientFunds
from bitcache.hooks import Hooks
from tests.hooks.conftest import FILE, SIZE, make_hooks
from tests.ledger.conftest import Clock


def _hammer(hooks: Hooks, calls: list[tuple[str, str]]) -> list[object]:
    def one(call: tuple[str, str]) -> object:
        try:
            return hooks.download(FILE, call[0], call[1])
        except BitcacheError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, calls))


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(2, 24), data=st.data(), price=st.integers(1, 50_000))
def test_one_downloader_covering_k_of_n_gets_exactly_k(
    make_db_url: Callable[[], str], n: int, data: st.DataObject, price: int
) -> None:
    k = data.draw(st.integers(0, n))
    hooks = make_hooks(make_db_url(), Clock())
    try:
        hooks.register_file(FILE, "carol", PriceRule.fixed(price), size=SIZE)
        if k:
            hooks.credit_deposit("bob", k * price + price - 1, "dep")
        results = _hammer(hooks, [("bob", f"ev{i}") for i in range(n)])
        refused = [r for r in results if isinstance(r, BitcacheError)]
        assert len(results) - len(refused) == k
        assert all(isinstance(r, InsufficientFunds) for r in refused)
        assert hooks.prepaid_balance("bob") == price - 1 if k else True
        assert hooks.file(FILE).downloads == k
        assert hooks.ledger.trial_balance() == 0
    finally:
        hooks.close()


def test_concurrent_downloads_at_the_cap_pass_exactly_cap_times(db_url: str) -> None:
    hooks = make_hooks(db_url, Clock())
    try:
        hooks.register_file(FILE, "carol", PriceRule.fixed(10), size=SIZE, cap=5)
        for i in range(16):
            hooks.credit_deposit(f"d{i}", 1_000, f"dep{i}")
        results = _hammer(hooks, [(f"d{i}", f"ev{i}") for i in range(16)])
        passed = [r for r in results if not isinstance(r, BitcacheError)]
        assert len(passed) == 5
        assert all(isinstance(r, DownloadCapReached) for r in results if r not in passed)
        assert hooks.file(FILE).downloads == 5
        assert -hooks.balance("liability:payable:carol").posted == 5 * 9
    finally:
        hooks.close()
