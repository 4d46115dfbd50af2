"""The web pages in a real browser, over a small demo day: content, verifier, scopes, CSRF."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bitcache.core.accounts import WALLET, payable
from bitcache.core.money import MSAT_PER_SAT
from bitcache.errors import StatementInvalid
from bitcache.serve.keys import revoke_key
from bitcache.settlement.states import SettlementState
from bitcache.statements.verify import verify_statement
from bitcache.wallet.platformkey import public_key_hex
from tests.web.conftest import Pages, Site

pytestmark = pytest.mark.usefixtures("browser")


def _login(page: Any, site: Site, key: str) -> None:
    page.goto("about:blank")  # a new load: from /web/login the link would only move the hash
    page.goto(site.login_link(key))
    page.wait_for_load_state("networkidle")


def _sat(msat: int) -> str:
    return f"{msat // MSAT_PER_SAT:,} sat"


def _payees(site: Site, uploader: str) -> list[tuple[int, str, int]]:
    settling = site.site.service.settlement()
    return [(s.id, s.confirmed_txid or "", p.payout_sat)
            for s in settling.settlements(list(SettlementState)) for p in s.payouts
            if p.uploader == uploader]


def test_uploader_page_shows_the_ledgers_figures(site: Site, pages: Pages) -> None:
    page = pages.new("uploader")
    _login(page, site, site.key(f"uploader:{site.uploader}"))
    assert page.url == f"{site.base}/web/uploaders/{site.uploader}"
    ledger = site.site.service.ledger
    balance = ledger.balance(payable(site.uploader))
    available = -balance.posted - balance.pending_debits
    whole, rest = divmod(available, MSAT_PER_SAT)
    shown = f"{whole:,} sat" if rest == 0 else f"{whole:,}.{rest:03d} sat"
    assert page.inner_text("#balance") == shown
    expected_due = available >= 5_000 * MSAT_PER_SAT
    why = page.inner_text("#next-payout-why")
    assert ("next settlement cycle" in why) == expected_due
    assert ("below the minimum payout of 5,000 sat" in why) == (not expected_due)
    earnings = site.site.hooks.earnings(site.uploader)
    rows = page.locator("#top-files tbody tr")
    assert rows.count() == min(len(earnings), 10)
    first = rows.nth(0).locator("td")
    assert first.nth(0).inner_text() == earnings[0].hex
    assert first.nth(1).inner_text() == str(earnings[0].downloads)
    payouts = _payees(site, site.uploader)
    assert payouts, "the demo's statement uploader was paid"
    shown = page.locator("#payouts tbody tr")
    assert shown.count() == len(payouts)
    text = page.inner_text("#payouts")
    for _sid, txid, sat in payouts:
        assert txid in text and f"{sat:,}" in text
    assert page.locator("#payouts a").count() == 0  # regtest: no block explorer
    # the chart draws one bar per day with earnings, its height the day's share
    assert page.locator("figure.chart rect").count() >= 1
    assert page.locator("#payout-address").inner_text().startswith("bcrt1")
    page.click("#verify-server")
    page.wait_for_selector("#verify-result[data-verdict=valid]")


def test_statement_download_is_the_signed_document(site: Site, pages: Pages,
                                                   tmp_path: Path) -> None:
    page = pages.new("download")
    _login(page, site, site.key(f"uploader:{site.uploader}"))
    with page.expect_download() as info:
        page.click("#download")
    saved = tmp_path / "statement.json"
    info.value.save_as(saved)
    key = site.site.service.node.platform_key
    assert key is not None
    verified = verify_statement(saved.read_bytes(), key.public_key())
    assert verified.statement.uploader == site.uploader
    assert page.input_value("#public-key") == public_key_hex(key)


def _verify_file(page: Any, document: bytes) -> tuple[str, str]:
    page.set_input_files("#statement-file", files=[
        {"name": "statement.json", "mimeType": "application/json", "buffer": document}])
    page.wait_for_selector("#verify-result[data-verdict=valid], "
                           "#verify-result[data-verdict=invalid]")
    result = page.locator("#verify-result")
    verdict = result.get_attribute("data-verdict") or ""
    page.evaluate("document.getElementById('statement-file').value = ''")
    return verdict, result.inner_text()


def _tampered(document: bytes) -> dict[str, bytes]:
    """Ways to change a real statement, each of which the verifier must catch."""
    doc = json.loads(document)
    out = {}

    def variant(name: str, change: Any) -> None:
        copy = json.loads(json.dumps(doc))
        change(copy)
        out[name] = json.dumps(copy, indent=2).encode()

    download = next(i for i, line in enumerate(doc["lines"]) if line["kind"] == "download")
    variant("amount", lambda d: d["lines"][download].update(
        amount_msat=d["lines"][download]["amount_msat"] + 1000))
    variant("posting", lambda d: d["lines"][download]["entry"]["postings"][0].update(
        amount=d["lines"][download]["entry"]["postings"][0]["amount"] + 1))
    variant("dropped line", lambda d: d.update(lines=d["lines"][1:]))
    variant("proof", lambda d: d["lines"][download].update(
        proof=["00" * 32, *d["lines"][download]["proof"][1:]]))
    variant("closing total", lambda d: d["totals"].update(
        closing_msat=d["totals"]["closing_msat"] + 1))
    variant("platform name", lambda d: d.update(platform="someone else"))
    variant("float", lambda d: d["totals"].update(opening_msat=0.5))
    out["duplicate key"] = document.replace(b'"format"', b'"platform": "x",\n  "format"', 1)
    return out


def test_verifier_accepts_the_real_statement_and_rejects_tampered_ones(
        site: Site, pages: Pages) -> None:
    page = pages.new("verifier")
    _login(page, site, site.key(f"uploader:{site.uploader}"))
    page.click("#verify-server")
    page.wait_for_selector("#verify-result[data-verdict=valid], "
                           "#verify-result[data-verdict=invalid]")
    text = page.inner_text("#verify-result")
    assert page.get_attribute("#verify-result", "data-verdict") == "valid", text
    assert text.startswith("VERIFIED")
    document = (site.site.folder / f"statement-{site.uploader}.json").read_bytes()
    key = site.site.service.node.platform_key
    assert key is not None
    assert _verify_file(page, document)[0] == "valid"
    for name, changed in _tampered(document).items():
        with pytest.raises(StatementInvalid):  # the Python verifier agrees: it is tampered
            verify_statement(changed, key.public_key())
        verdict, said = _verify_file(page, changed)
        assert verdict == "invalid", f"{name}: {said}"
        assert said.startswith("NOT VERIFIED"), name
        assert page.locator("#verify-result.bad").count() == 1
    # another key: the real statement no longer verifies
    page.fill("#public-key", "11" * 32)
    verdict, said = _verify_file(page, document)
    assert verdict == "invalid" and "signature" in said
    page.fill("#public-key", public_key_hex(key))
    verdict, said = _verify_file(page, _tampered(document)["amount"])
    assert verdict == "invalid" and "amount_msat" in said, said


def _pay_a_deposit(site: Site, sat: int) -> str:
    """A deposit of ``sat`` to a new downloader, one block deep (below N = 3)."""
    from bitcache.chain.faucet import faucet_transaction, mature_coin

    deposits = site.site.service.deposit_service()
    assert deposits is not None
    address = deposits.deposit_address("d-web")
    script = next(a.script_pubkey for a in deposits.addresses() if a.address == address)
    coin, value = mature_coin(site.site.chain)
    site.site.chain.broadcast(faucet_transaction(coin, value, [(script, sat)]))
    site.site.chain.mine(1)
    return "liability:prepaid:d-web"


def test_operator_dashboard_shows_books_settlements_and_reconcile(site: Site,
                                                                  pages: Pages) -> None:
    account = _pay_a_deposit(site, 54_321)
    page = pages.new("operator")
    _login(page, site, site.key("operator"))
    assert page.url == f"{site.base}/web/operator"
    books = page.inner_text("#books")
    wallet = site.site.service.ledger.balance(WALLET).posted
    assert re.search(rf"asset:wallet\s+1\s+{wallet // MSAT_PER_SAT:,}", books), books
    assert "liability:payable:*\t4" in books or re.search(r"liability:payable:\*\s+4\b", books)
    settled = site.site.service.settlement().settlements(list(SettlementState))
    assert page.locator("#settlements tbody tr").count() == len(settled)
    for s in settled:
        assert (s.confirmed_txid or "") in page.inner_text("#settlements")
    assert page.locator("#stall-warning").count() == 0
    assert page.locator(".charts figure").count() == 4
    waiting = page.locator("#deposits-waiting tbody tr")
    assert waiting.count() == 1
    assert [waiting.locator("td").nth(i).inner_text() for i in (1, 2, 3)] == [
        account, "54,321", "1"]
    assert "Not run since this server started" in page.inner_text("#reconcile-result") or \
        "Last run" in page.inner_text("#reconcile-result")
    page.click("#run-reconcile")
    page.wait_for_load_state("networkidle")
    assert "the books reconcile" in page.inner_text("#reconcile-result")
    assert page.inner_text("#wallet-difference") == "0 sat"
    assert "awaiting credit" in page.inner_text("#wallet")  # the deposit, one block deep
    assert page.locator("#checks tbody tr").count() >= 10


def test_an_uploader_login_sees_its_own_page_only(site: Site, pages: Pages) -> None:
    page = pages.new("isolation")
    _login(page, site, site.key(f"uploader:{site.uploader}"))
    for path in (f"/web/uploaders/{site.other}", f"/web/uploaders/{site.other}/statement.json",
                 "/web/operator"):
        response = page.goto(site.base + path)
        assert response.status == 403, path
        assert "this login cannot see that page" in page.inner_text("#error")
    refused = page.request.post(site.base + "/web/operator/reconcile", form={"csrf": "x"})
    assert refused.status == 403
    pages.expect_console_error("403")
    response = page.goto(f"{site.base}/web/uploaders/{site.uploader}")
    assert response.status == 200


def test_logins_that_open_no_page_and_sessions_that_end(site: Site, pages: Pages) -> None:
    page = pages.new("login")
    _login(page, site, site.key("storage"))
    assert "opens no page" in page.inner_text("#login-error")
    _login(page, site, "bck_000000000000_" + "A" * 43)
    assert "not valid" in page.inner_text("#login-error")
    pages.expect_console_error("40[13]")
    assert page.goto(f"{site.base}/web/operator").url.endswith("/web/login")
    key = site.key("operator")
    _login(page, site, key)
    assert page.url.endswith("/web/operator")
    page.click("text=log out")
    page.wait_for_load_state("networkidle")
    assert page.goto(f"{site.base}/web/operator").url.endswith("/web/login")
    _login(page, site, key)
    revoke_key(site.site.service.ledger, key.split("_")[1], 1)
    page.wait_for_timeout(2_200)  # the key cache's 2 s
    assert page.goto(f"{site.base}/web/operator").url.endswith("/web/login")


def test_forms_need_their_csrf_token(site: Site, pages: Pages) -> None:
    page = pages.new("csrf")
    _login(page, site, site.key("operator"))
    token = page.input_value("input[name=csrf]")
    missing = page.request.post(site.base + "/web/operator/reconcile", form={})
    assert missing.status == 403
    forged = page.request.post(site.base + "/web/operator/reconcile", form={"csrf": "A" * 43})
    assert forged.status == 403
    other_site = page.request.post(site.base + "/web/operator/reconcile", form={"csrf": token},
                                   headers={"Origin": "http://evil.example"})
    assert other_site.status == 403
    good = page.request.post(site.base + "/web/operator/reconcile", form={"csrf": token},
                             max_redirects=0)
    assert good.status == 303


def test_pages_are_strict_about_scripts_and_escape_what_they_show(site: Site,
                                                                   pages: Pages) -> None:
    page = pages.new("headers")
    _login(page, site, site.key("operator"))
    for path in ("/web/login", "/web/operator", f"/web/uploaders/{site.uploader}"):
        response = page.goto(site.base + path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        html = page.content()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path  # no inline script
        assert " style=" not in html and "onclick" not in html.lower(), path
    cookie = next(c for c in page.context.cookies() if c["name"] == "bitcache_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    hostile = "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    response = page.goto(f"{site.base}/web/uploaders/{hostile}")
    assert response.status == 400
    assert "<img src=x onerror=alert(1)>" in page.inner_text("#error")  # shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.content()
    assert page.locator("main img").count() == 0 and dialogs == []
    pages.expect_console_error("400")


@pytest.mark.parametrize("who", ["uploader", "operator"])
def test_pages_fit_a_phone(site: Site, pages: Pages, who: str) -> None:
    page = pages.new(f"phone-{who}", width=390, height=844)
    scope = "operator" if who == "operator" else f"uploader:{site.uploader}"
    _login(page, site, site.key(scope))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
