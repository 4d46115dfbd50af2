"""Statements disclose an entry's typed metadata when its hash covers it; format 2 still verifies.

The vector ``statement_v2.json`` was issued by bitcache before entries had
metadata: charges whose facts were only in their memo.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.errors import StatementInvalid
from bitcache.hooks import Hooks
from bitcache.services import statements as service
from bitcache.statements.statement import LineKind
from bitcache.statements.verify import verify_statement
from tests.hooks.conftest import FILE, FILE2, SIZE, make_hooks
from tests.statements.conftest import START, Clock

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VECTOR = Path(__file__).parent.parent / "vectors" / "statement_v2.json"
Doc = dict[str, Any]


@pytest.fixture
def charged(db_url: str) -> Iterator[Hooks]:
    """Carol's files downloaded whole, metered at a fiat price, and by a completed transfer."""
    from bitcache.core.pricing import PriceRule

    hooks = make_hooks(db_url, Clock())
    hooks.register_file(FILE, "carol", PriceRule.fixed(9_999), size=SIZE, referrer="dave")
    hooks.register_file(FILE2, "carol", PriceRule.fiat(3, "USD"), size=SIZE)
    hooks.credit_deposit("bob", 10**9, "tx1")
    hooks.download(FILE, "bob", "ev1")
    hooks.download(FILE2, "bob", "ev2", bytes_served=SIZE // 3)
    hooks.complete_transfer(hooks.begin_transfer(FILE2, "bob", "t1"), SIZE // 2)
    yield hooks
    hooks.close()


def _issue(hooks: Hooks) -> bytes:
    return service.issue_statement(hooks.ledger, "carol", START, START + 10**12, KEY,
                                   platform="example", clock=Clock())


def _public() -> bytes:
    return KEY.public_key().public_bytes_raw()


def test_a_statement_of_charges_discloses_their_metadata_and_verifies(charged: Hooks) -> None:
    document = _issue(charged)
    doc = json.loads(document)
    assert doc["format"] == "bitcache-statement/3"
    metas = [line["entry"].get("meta") for line in doc["lines"]]
    assert len(metas) == 3 and all(m and m.startswith("charge/1;") for m in metas)
    lines = verify_statement(document, _public()).statement.lines
    assert [line.facts.kind for line in lines] == [LineKind.DOWNLOAD] * 3
    assert [line.entry.meta for line in lines] == [
        charged.ledger.entry(line.entry.id).meta for line in lines]


def _meta_bytes(entry: Doc) -> None:
    entry["meta"] = entry["meta"].replace("bytes=-", "bytes=1")


def _meta_dropped(entry: Doc) -> None:
    del entry["meta"]


def _meta_garbled(entry: Doc) -> None:
    entry["meta"] = "parts=upr"


@pytest.mark.parametrize("change, message", [
    (_meta_bytes, "does not hash to its entry hash"),
    (_meta_dropped, "does not hash to its entry hash"),
    (_meta_garbled, "meta: entry metadata"),
])
def test_changed_metadata_fails_naming_the_entry(
    charged: Hooks, change: Callable[[Doc], None], message: str
) -> None:
    doc = json.loads(_issue(charged))
    change(doc["lines"][0]["entry"])
    with pytest.raises(StatementInvalid, match=message) as caught:
        verify_statement(json.dumps(doc).encode(), _public())
    assert caught.value.line == 1


def test_a_format_2_statement_issued_before_metadata_still_verifies() -> None:
    vector = json.loads(VECTOR.read_text())
    assert json.loads(vector["document"])["format"] == "bitcache-statement/2"
    verified = verify_statement(vector["document"].encode(), bytes.fromhex(vector["public_key"]))
    assert [line.facts.kind for line in verified.statement.lines] == [LineKind.DOWNLOAD] * 3
    assert all(line.entry.meta is None for line in verified.statement.lines)


def test_a_format_2_statement_may_not_carry_metadata() -> None:
    vector = json.loads(VECTOR.read_text())
    doc = json.loads(vector["document"])
    doc["lines"][0]["entry"]["meta"] = "charge/1;parts=upr;bytes=-;size=-;rate=-"
    with pytest.raises(StatementInvalid, match="unexpected \\['meta'\\]"):
        verify_statement(json.dumps(doc).encode(), bytes.fromhex(vector["public_key"]))
