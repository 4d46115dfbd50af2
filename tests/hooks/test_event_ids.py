"""Event ids are what hooks.md says: 1-180 printable ASCII characters, no surrounding spaces."""

from __future__ import annotations

import pytest

from bitcache.errors import InvalidIdempotencyKey
from bitcache.hooks import Hooks
from tests.hooks.conftest import setup_file, snapshot

REFUSED = [
    "",
    "k" * 181,
    "clé",  # printable, but not ASCII
    "日本",
    "a\tb",
    " padded",
    "padded ",
    "\ud800",
]


@pytest.mark.parametrize("key", REFUSED, ids=repr)
def test_a_key_outside_the_documented_rule_is_refused_naming_the_rule(
    hooks: Hooks, key: str
) -> None:
    file = setup_file(hooks, price=1_000)
    hooks.credit_deposit("bob", 50_000, "tx1")
    before, head = snapshot(hooks), hooks.ledger.head()
    for call in (
        lambda: hooks.download(file, "bob", key),
        lambda: hooks.tip(file, "bob", 1_000, key),
        lambda: hooks.credit_deposit("bob", 1_000, key),
    ):
        with pytest.raises(InvalidIdempotencyKey, match="1-180 printable ASCII"):
            call()
    assert snapshot(hooks) == before and hooks.ledger.head() == head


@pytest.mark.parametrize("key", ["k", "k" * 180, "~!#$%&'()*+,-./:;<=>?@[]^_`{|}", "a b"])
def test_every_key_inside_the_rule_is_taken(hooks: Hooks, key: str) -> None:
    file = setup_file(hooks, price=1_000)
    hooks.credit_deposit("bob", 50_000, "tx1")
    receipt = hooks.download(file, "bob", key)
    assert hooks.download(file, "bob", key).entry_id == receipt.entry_id
