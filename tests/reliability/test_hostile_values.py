"""Arbitrary values to every pure public callable exported from ``bitcache``.

The exported names that take a caller's values without a database or a chain
(money parsing, file hashes, postings, splits, outpoints, policies, tree
heads, statements, addresses, keys) are called with any values of any type:
each call returns or raises a ``BitcacheError`` subclass, never a
TypeError, ValueError, OverflowError or a library's own exception. The
names are read from ``bitcache``'s exports, so a new export fails this test
until it is fuzzed here or named with the reason it is not.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bitcache
from bitcache import _EXPORTS
from bitcache.errors import BitcacheError
from tests.reliability.conftest import scale
from tests.reliability.test_hostile_api import HOSTILE

#: Exported callables a caller passes values to, with no database or chain.
PURE = (
    "AccountSpec", "EntryMeta", "FileHash", "OutPoint", "PayoutPolicy", "Posting", "RetryPolicy",
    "SettlementConfig", "SignedTreeHead", "TermsUpdate", "address_for_script", "anchor_payload",
    "file_hash", "format_btc", "format_sats", "generate_mnemonic", "msat", "msat_to_sats_floor",
    "network", "parse_address", "parse_anchor", "parse_btc", "parse_public_key", "parse_sats",
    "posting", "public_key_hex", "replay", "sats_to_msat", "split_bps", "split_by_weights",
    "verify_consistency", "verify_statement",
)
#: The other exported callables, and why they are not fuzzed here.
NOT_HERE = {
    **dict.fromkeys(
        ("AccountKind", "EntryKind", "FeePayer", "Keep", "Check", "SettlementState",
         "TermsReason", "Network"), "an enum"),
    **dict.fromkeys(
        ("Balance", "Entry", "FileRecord", "FileTerms", "ChainReport", "TxStatus", "Tip",
         "OutSpend", "Utxo", "TermChange", "Adjustment", "CheckResult", "Discrepancy",
         "ReconcileReport", "WalletView", "ScanReport", "CycleReport", "VerifiedStatement",
         "BatchResult", "DerivedKey", "PayoutScript", "EntryRequest", "Msat", "Sat"),
        "a result or value type the library builds (a caller's request is checked where it "
        "is used: EntryRequest by the LedgerStore fuzz)"),
    "ChainBackend": "a protocol",
    **dict.fromkeys(
        ("LedgerStore", "reconcile", "term_history", "consistency_proof", "issue_statement",
         "tree_head", "DepositService", "SettlementService"),
        "needs a database (LedgerStore: test_hostile_api.py)"),
    "HDWallet": "built by its from_* constructors, from a seed",
    **dict.fromkeys(("seal", "decrypt_mnemonic", "load_platform_key", "save_platform_key"),
                    "runs scrypt on each call: the wallet and key tests feed it bad input"),
    "load_public_key": "reads a file path (parse_public_key is fuzzed)",
    "generate_platform_key": "takes no value",
}


def _exported_callables() -> set[str]:
    names = {n for ns in _EXPORTS.values() for n in ns} | {"network", "Network"}
    return {n for n in names if callable(getattr(bitcache, n))}


def _arity(fn: Callable[..., Any]) -> tuple[int, int]:
    """How many positional arguments ``fn`` needs, and takes at most."""
    try:
        params = inspect.signature(fn).parameters.values()
    except ValueError:
        return 1, 1
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    needed = [p for p in positional if p.default is p.empty]
    return len(needed), len(positional)


def test_every_exported_callable_is_fuzzed_or_named() -> None:
    exported = _exported_callables()
    assert not exported - set(PURE) - set(NOT_HERE), "exported, neither fuzzed nor named"
    assert not (set(PURE) | set(NOT_HERE)) - exported, "named here, no longer exported"


@settings(max_examples=scale(400, 5_000), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_pure_export_refuses_anything_with_a_typed_error(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(PURE), label="name")
    fn = getattr(bitcache, name)
    low, high = _arity(fn)
    count = data.draw(st.integers(low, max(low, high)), label="count")
    args = [data.draw(HOSTILE, label=f"arg{i}") for i in range(count)]
    try:
        fn(*args)
    except BitcacheError:
        return
    except Exception as exc:
        raise AssertionError(f"{name}(*{args!r}) raised {type(exc).__name__}: {exc}") from exc
