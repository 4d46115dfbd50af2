"""The browser's statement verifier against the Python one, on statements with every kind
of line (downloads, transfers, tips, referrals, reversals, holds, payouts with and without
their split), term changes, and keys and memos in any script; then on single-field
changes of those statements, which both must reject at the same line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bitcache.core.accounts import WALLET, payable
from bitcache.core.entries import Posting
from bitcache.core.pricing import PriceRule
from bitcache.errors import StatementInvalid
from bitcache.hooks import Hooks
from bitcache.services.statements import issue_statement
from bitcache.statements.verify import verify_statement
from bitcache.store.database import sqlite_url
from bitcache.wallet.platformkey import generate_platform_key
from tests.web.conftest import Pages, Site

pytestmark = pytest.mark.usefixtures("browser")

TXID = "ab" * 32
VERIFY = """async ([doc, key]) => {
  try {
    const bytes = new TextEncoder().encode(doc);
    const r = await window.bitcacheVerifyStatement(bytes, Uint8Array.from(key));
    return {ok: true, lines: r.lines, line: null, message: ""};
  } catch (e) {
    const line = e.line === undefined ? null : e.line;
    return {ok: false, lines: 0, line: line, message: e.name + ": " + e.message};
  }
}"""


def _statements(folder: Path) -> tuple[dict[str, bytes], bytes]:
    """Signed statements of three uploaders over a ledger with every kind of line."""
    key = generate_platform_key()
    hooks = Hooks.open(sqlite_url(folder / "l.sqlite"))
    try:
        files = [hashlib.sha256(f"file {i}".encode()).hexdigest() for i in range(4)]
        hooks.register_file(files[0], "carol", PriceRule.fixed(4_321))
        hooks.register_file(files[1], "carol", PriceRule.fixed(1_000), referrer="zoë-ref"
                            .replace("ë", "e"))
        hooks.register_file(files[2], "dan", PriceRule.fixed(777), size=10_000)
        hooks.register_file(files[3], "carol", PriceRule.fixed(50))
        for n, who in enumerate(("dave", "erin")):
            hooks.credit_deposit(who, 5_000_000 + n, f"dep-{who}")
        for n in range(12):
            hooks.download(files[n % 4], ("dave", "erin")[n % 2], f"dl-{n}")
        transfer = hooks.begin_transfer(files[2], "dave", "xfer-1")
        hooks.complete_transfer(transfer, 4_000)
        hooks.tip(files[0], "erin", 12_345, "tip-1")
        hooks.update_terms(files[0], "carol", price=PriceRule.fixed(5_000), cap=99)
        hooks.transfer_ownership(files[3], "dan")
        hooks.hold(files[1], "hold-1")
        hooks.release(files[1], "release-1")
        first = hooks.ledger.entry_by_key("dl:dl-0")
        if first is not None:
            hooks.ledger.reverse(first.id, "reverse-\u2603", memo="a mistaken charge \"undone\"\n")
        hooks.ledger.post("payout-split", [Posting(payable("carol"), 20_123),
                                           Posting(WALLET, -20_123)],
                          memo=f"payout {TXID} sent 20 sat, fee share 123 msat")
        hooks.ledger.post("payout-old", [Posting(payable("dan"), 500),
                                         Posting(WALLET, -500)], memo=f"payout {TXID}")
        hooks.ledger.post("adjust-\U0001d11e", [Posting(payable("carol"), -7),
                                                 Posting(WALLET, 7)], memo="\t\u00a0ajuste ☃")
        until = 2**62
        docs = {u: issue_statement(hooks.ledger, u, 0, until, key, platform="plat\u00e9forme")
                for u in ("carol", "dan", "zoe-ref")}
    finally:
        hooks.close()
    from bitcache.wallet.platformkey import public_key_hex

    return docs, bytes.fromhex(public_key_hex(key))


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path, value


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"
    return 0


def _mutations(document: bytes, limit: int) -> Iterator[tuple[str, bytes]]:
    doc = json.loads(document)
    leaves = [p for p, _ in _leaves(doc) if p != ("signature",)]
    step = max(len(leaves) // limit, 1)
    for path in leaves[::step]:
        copy = json.loads(document)
        target = copy
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = _changed(target[path[-1]])
        yield "/".join(map(str, path)), json.dumps(copy, indent=2, sort_keys=True).encode()


def _python(document: bytes, key: bytes) -> tuple[bool, int | None]:
    try:
        verify_statement(document, key)
    except StatementInvalid as exc:
        return False, exc.line
    return True, None


def test_browser_and_python_verifiers_agree(site: Site, pages: Pages, tmp_path: Path) -> None:
    docs, key = _statements(tmp_path)
    page = pages.new("verifier-agreement")
    page.goto(site.base + "/web/login")
    page.add_script_tag(url="/web/static/verify.js")
    kinds = set()
    for uploader, document in docs.items():
        lines = json.loads(document)["lines"]
        kinds |= {line["kind"] for line in lines}
        assert _python(document, key) == (True, None)
        said = page.evaluate(VERIFY, [document.decode("ascii"), list(key)])
        assert said["ok"], f"{uploader}: {said['message']}"
        assert said["lines"] == len(lines)
    assert kinds == {"download", "reversal", "payout", "adjustment"}
    assert any(json.loads(d)["terms"] for d in docs.values())
    checked = 0
    for uploader, document in docs.items():
        for where, changed in _mutations(document, 60):
            python_ok, python_line = _python(changed, key)
            said = page.evaluate(VERIFY, [changed.decode("ascii"), list(key)])
            assert not python_ok and not said["ok"], f"{uploader} {where}: {said['message']}"
            assert said["line"] == python_line, f"{uploader} {where}: {said['message']}"
            checked += 1
    assert checked > 100
