"""The pages' parts without a browser: next payout, books by family, charts, sessions,
money over time."""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from bitcache.core.accounts import payable
from bitcache.core.balances import Balance
from bitcache.core.pricing import PriceRule
from bitcache.hooks import Hooks
from bitcache.serve.web.charts import bar_chart
from bitcache.serve.web.session import SESSION_COOKIE, Sessions
from bitcache.services.overview import HOUR_US, Period, Series, families, next_payout
from bitcache.settlement.payouts import PayoutPolicy
from bitcache.store import files as files_rows
from bitcache.store import timeline as timeline_rows
from bitcache.store.database import sqlite_url
from bitcache.store.serve import StoredKey
from bitcache.store.timeline import Flow, Side

POLICY = PayoutPolicy(min_payout_sat=5_000)
DAY = Period.DAY.value


def test_next_payout_says_why_none() -> None:
    none = next_payout(9_000_000, None, 0, POLICY)
    assert not none.due and "no payout address" in none.reason
    short = next_payout(1_234_567, "bcrt1q…", 0, POLICY)
    assert not short.due and "3,766 sat more to go" in short.reason  # ceil(3,765.433)
    flying = next_payout(10, "bcrt1q…", 7_000, POLICY)
    assert "7,000 msat is already on its way" in flying.reason
    due = next_payout(5_000_000, "bcrt1q…", 0, POLICY)
    assert due.due and due.amount_msat == 5_000_000


def test_books_are_summed_by_family_on_their_normal_side() -> None:
    books = families({
        "asset:wallet": Balance(10_000, 0, 2_000),
        "liability:payable:a": Balance(-3_000, 500, 0),
        "liability:payable:b": Balance(-4_000, 0, 0),
        "revenue:platform": Balance(-3_000),
    })
    by_name = {f.name: f for f in books}
    assert [f.name for f in books] == ["asset:wallet", "liability:payable:*", "revenue:platform"]
    assert by_name["liability:payable:*"].accounts == 2
    assert by_name["liability:payable:*"].balance_msat == 7_000
    assert by_name["liability:payable:*"].reserved_msat == 500
    assert by_name["asset:wallet"].balance_msat == 10_000
    assert by_name["asset:wallet"].reserved_msat == 2_000


def test_chart_bars_scale_to_the_largest_period_and_fill_gaps() -> None:
    chart = bar_chart([Series("earned", ((0, 4_000_000), (3 * DAY, 1_000_000)))], Period.DAY)
    assert len(chart.rows) == 4  # days 0..3, the empty ones shown as zero
    heights = [b.h for b in chart.bars]
    assert heights[0] == chart.baseline - chart.bars[0].y
    assert heights[3] == heights[0] // 4 and heights[1] == heights[2] == 0
    assert chart.rows[1][1] == ("0",) and chart.rows[0][1] == ("4,000",)
    assert bar_chart([Series("x", ())], Period.DAY).empty


class _Keys:
    """The authenticator's look-up, over a dict of stored keys."""

    def __init__(self) -> None:
        self.stored: dict[str, StoredKey] = {}

    async def lookup(self, key_id: str) -> tuple[StoredKey | None, frozenset[Any]]:
        return self.stored.get(key_id), frozenset()


def _request(cookie: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/web/operator", "headers": [
        (b"cookie", f"{SESSION_COOKIE}={cookie}".encode())], "query_string": b""})


def test_session_cookies_are_bound_to_the_key_and_expire() -> None:
    keys, now = _Keys(), [1_000.0]
    keys.stored["0123456789ab"] = StoredKey("0123456789ab", b"h" * 32, ("operator",), "", 0,
                                            None)
    sessions = Sessions(b"s" * 32, keys, clock=lambda: now[0])  # type: ignore[arg-type]
    cookie = sessions.cookie_value("0123456789ab", b"h" * 32)

    def principal(value: str) -> object:
        # in a thread of its own: Playwright's sync API keeps a loop in the main thread
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, sessions.principal(_request(value))).result()

    assert principal(cookie) is not None
    key_id, expires, mac = cookie.split(".")
    assert principal(f"{key_id}.{int(expires) + 99}.{mac}") is None  # longer life: forged
    assert principal(f"ba9876543210.{expires}.{mac}") is None
    assert principal(f"{key_id}.{expires}.{mac[:-2]}AA") is None
    keys.stored[key_id] = StoredKey(key_id, b"n" * 32, ("operator",), "", 0, None)
    assert principal(cookie) is None  # a key made anew under the id
    keys.stored[key_id] = StoredKey(key_id, b"h" * 32, ("operator",), "", 0, 5)
    assert principal(cookie) is None  # revoked
    keys.stored[key_id] = StoredKey(key_id, b"h" * 32, ("operator",), "", 0, None)
    now[0] += sessions.seconds + 1
    assert principal(cookie) is None  # expired


def test_money_over_time_matches_the_earnings_of_each_period(tmp_path: Path) -> None:
    clock = [10 * DAY + 5 * HOUR_US]
    hooks = Hooks.open(sqlite_url(tmp_path / "l.sqlite"), clock=lambda: clock[0])
    try:
        files = [hashlib.sha256(bytes([i])).hexdigest() for i in range(2)]
        for fh, price in zip(files, (3_000, 7_000), strict=True):
            hooks.register_file(fh, "carol", PriceRule.fixed(price))
        hooks.credit_deposit("dave", 1_000_000, "dep")
        for day, count in ((0, 3), (2, 1)):
            clock[0] = (10 + day) * DAY + 7 * HOUR_US
            for n in range(count):
                hooks.download(files[n % 2], "dave", f"dl-{day}-{n}")
        with hooks.ledger.read() as conn:
            ids = [files_rows.account_id(conn, payable("carol"))]
            found = timeline_rows.flow_by_period(
                conn, Flow([i for i in ids if i is not None], Side.CREDITS, files_only=True),
                DAY)
        assert [t for t, _ in found] == [10 * DAY, 12 * DAY]
        for start, msat in found:
            rows = hooks.earnings("carol", since=start, until=start + DAY)
            assert msat == sum(r.msat for r in rows) > 0
    finally:
        hooks.close()


@pytest.mark.parametrize("name,expected", [("hour", Period.HOUR), ("week", Period.WEEK),
                                           ("<b>", Period.DAY), (None, Period.DAY)])
def test_chart_periods_by_name(name: str | None, expected: Period) -> None:
    assert Period.named(name, Period.DAY) is expected


def test_dashboard_warns_of_a_settlement_not_moving_and_links_testnet_txids() -> None:
    from bitcache.network import Network
    from bitcache.serve.web.explorer import tx_url
    from bitcache.serve.web.pages import environment
    from bitcache.services.overview import OperatorOverview, SettlementRow
    from bitcache.settlement.stalls import Stall, StallKind
    from bitcache.settlement.states import SettlementState

    txid = "cd" * 32
    stall = Stall(7, SettlementState.BROADCAST, StallKind.BROADCAST_REFUSED, 100,
                  "broadcast refused since height 100: min relay fee not met <x>")
    rows = (SettlementRow(7, SettlementState.BROADCAST, txid, 2, 9_000, 150, 160, 0, stall),
            SettlementRow(6, SettlementState.FINAL, "ef" * 32, 1, 5_000, 120, 300, 6, None))
    view = OperatorOverview((), (), Period.DAY, rows, 0, 260)
    html = environment().get_template("operator.html").render(
        csrf="t", principal=None, home=None, view=view, charts=[], periods=list(Period),
        explorer=lambda t: tx_url(Network.TESTNET4, t), reconcile=None)
    warning = html.split('id="stall-warning"')[1].split("</div>")[0]
    assert "Not moving: settlement 7 (broadcast)" in warning
    assert "min relay fee not met &lt;x&gt;" in warning  # escaped
    assert html.count('class="stalled"') == 1
    assert f'href="https://mempool.space/testnet4/tx/{txid}"' in html
    assert tx_url(Network.REGTEST, txid) is None
    assert tx_url(Network.SIGNET, txid) == f"https://mempool.space/signet/tx/{txid}"
