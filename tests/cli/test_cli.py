"""The command line: init, addresses, reconcile, statements, export, exit codes."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from bitcache.chain import regtest
from bitcache.chain.mempool import RelayPolicy
from bitcache.cli import (
    EXIT_BACKEND,
    EXIT_CHECK_FAILED,
    EXIT_REFUSED,
    EXIT_STALLED,
    NodeConfig,
    app,
)
from bitcache.core.accounts import OPERATOR_EQUITY, PLATFORM_REVENUE, payable, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.errors import ChainUnavailable
from bitcache.services.deposits import DepositService
from bitcache.services.settlement import SettlementService
from bitcache.store.ledger import LedgerStore
from bitcache.wallet.seedbox import decrypt_mnemonic

PASS = "correct horse battery staple"
FILE = hashlib.sha256(b"a file").digest()


def _json(runner: CliRunner, args: list[str], code: int = 0) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def _book_downloads(home: Path, count: int = 5) -> LedgerStore:
    ledger = LedgerStore.open(NodeConfig.load(home).db)
    for name in (OPERATOR_EQUITY, PLATFORM_REVENUE, prepaid("bob"), payable("carol")):
        ledger.open_account(name)
    ledger.post("promo:bob", [Posting(OPERATOR_EQUITY, 100_000), Posting(prepaid("bob"), -100_000)])
    ledger.record_many([
        EntryRequest(f"dl:{i}", (Posting(prepaid("bob"), 1_000, FILE),  # type: ignore[arg-type]
                                 Posting(payable("carol"), -900, FILE),  # type: ignore[arg-type]
                                 Posting(PLATFORM_REVENUE, -100, FILE)))  # type: ignore[arg-type]
        for i in range(count)
    ], atomic=True)
    return ledger


def test_init_seals_the_seed_and_never_prints_the_mnemonic(
    home: Path, runner: CliRunner, tmp_path: Path
) -> None:
    seed = home / "wallet.seed"
    assert (seed.stat().st_mode & 0o777) == 0o600
    mnemonic = decrypt_mnemonic(seed.read_bytes(), PASS)
    assert len(mnemonic.split()) == 24
    cfg = NodeConfig.load(home)
    assert cfg.network == "regtest" and cfg.account_xpub.startswith("vpub")
    again = runner.invoke(app, ["init", "--network", "regtest", "--chain", "regtest"])
    assert again.exit_code == EXIT_REFUSED
    assert "refusing to overwrite" in again.output
    other = tmp_path / "other"
    shown = runner.invoke(app, ["init", "--home", str(other), "--network", "regtest",
                                "--chain", "regtest"])
    assert shown.exit_code == 0
    words = decrypt_mnemonic((other / "wallet.seed").read_bytes(), PASS).split()
    assert " ".join(words[:3]) not in shown.output and "back up" in shown.output


def test_mainnet_and_mismatched_chains_are_refused(runner: CliRunner, tmp_path: Path) -> None:
    for args in (["--network", "mainnet"], ["--network", "testnet4", "--chain", "regtest"]):
        result = runner.invoke(app, ["init", "--home", str(tmp_path / "x"), *args, "--json"],
                               env={"BITCACHE_PASSPHRASE": PASS})
        assert result.exit_code == EXIT_REFUSED, result.output
        assert json.loads(result.stdout)["ok"] is False
    assert not (tmp_path / "x" / "wallet.seed").exists()


def test_deposit_address_is_stable(home: Path, runner: CliRunner) -> None:
    first = _json(runner, ["deposit-address", "bob"])
    assert str(first["address"]).startswith("bcrt1q")
    assert _json(runner, ["deposit-address", "bob"]) == first
    assert _json(runner, ["deposit-address", "bad name!"], EXIT_REFUSED)["ok"] is False


def test_reconcile_passes_then_names_a_tampered_row(home: Path, runner: CliRunner) -> None:
    ledger = _book_downloads(home)
    report = _json(runner, ["reconcile"])
    assert report["ok"] is True and report["entries"] == 6
    checks = report["checks"]
    assert isinstance(checks, dict) and checks["wallet"]["ok"] is True
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER trg_postings_no_update")
        conn.execute(text("UPDATE postings SET amount = 901 WHERE entry_id = 3 AND n = 0"))
    report = _json(runner, ["reconcile"], EXIT_CHECK_FAILED)
    named = {(d["check"], d["subject"]) for d in report["discrepancies"]}  # type: ignore[index, union-attr]
    assert ("hash_chain", "entry 3") in named and ("entry_balance", "entry 3") in named
    human = runner.invoke(app, ["reconcile"])
    assert human.exit_code == EXIT_CHECK_FAILED and "discrepancies" in human.output
    assert _json(runner, ["verify-journal", "--db", NodeConfig.load(home).db],
                 EXIT_CHECK_FAILED)["first_broken"] == 3


def test_statement_verifies_offline_and_a_tampered_line_fails(
    home: Path, runner: CliRunner, tmp_path: Path
) -> None:
    _book_downloads(home, count=3)
    out = tmp_path / "carol.json"
    issued = _json(runner, ["statement", "carol", "--out", str(out)])
    assert issued["earned_msat"] == 2_700
    other = _json(runner, ["init", "--home", str(tmp_path / "n2"), "--network", "regtest",
                           "--chain", "regtest"])
    public = str(other["platform_public_key"])  # another platform's key
    key = _json(runner, ["verify", str(out), "--public-key", _public_key(home)])
    assert key["ok"] is True and key["earned_msat"] == 2_700
    wrong = _json(runner, ["verify", str(out), "--public-key", public], EXIT_CHECK_FAILED)
    assert wrong["ok"] is False
    doc = json.loads(out.read_bytes())
    doc["lines"][1]["amount_msat"] = 9_000
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(doc))
    failed = _json(runner, ["verify", str(bad), "--public-key", _public_key(home)],
                   EXIT_CHECK_FAILED)
    assert failed["line"] == 2 and "amount" in str(failed["reason"])


def _public_key(home: Path) -> str:
    from bitcache.wallet.platformkey import load_platform_key, public_key_hex

    return public_key_hex(load_platform_key(home / "platform.key", passphrase=PASS))


def test_export_csv_and_json(home: Path, runner: CliRunner, tmp_path: Path) -> None:
    _book_downloads(home, count=4)
    db = NodeConfig.load(home).db
    out = tmp_path / "entries.csv"
    assert _json(runner, ["export", str(out), "--db", db])["entries"] == 5
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 + 4 * 3
    assert sum(int(r["amount_msat"]) for r in rows) == 0
    assert rows[-1]["file_hash"] == FILE.hex()
    js = tmp_path / "entries.json"
    _json(runner, ["export", str(js), "--db", db, "--format", "json", "--start", "2"])
    entries = json.loads(js.read_text())
    assert [e["id"] for e in entries] == [2, 3, 4, 5]
    assert _json(runner, ["export", str(js), "--db", db, "--format", "xml"], EXIT_REFUSED)


def test_balance_earnings_and_settle(home: Path, runner: CliRunner) -> None:
    _book_downloads(home, count=2)
    db = NodeConfig.load(home).db
    balances = _json(runner, ["balance", "liability:payable:", "--prefix", "--db", db])
    assert balances == {payable("carol"): {"posted": -1_800, "pending_debits": 0,
                                           "pending_credits": 0}}
    earned = _json(runner, ["earnings", "carol", "--db", db])
    assert earned["total_msat"] == 1_800
    cycle = _json(runner, ["settle"])
    assert cycle["created"] == [] and cycle["notes"]
    assert _json(runner, ["balance", "liability:payable:nobody", "--db", db], EXIT_REFUSED)


def _funded_node_owing_carol(home: Path) -> None:
    """A mature coinbase on the funding address, and 50,000 sat owed to carol."""
    cfg = NodeConfig.load(home)
    ledger = LedgerStore.open(cfg.db)
    watch = cfg.watch_only()
    with cfg.chain_backend() as chain:
        DepositService(ledger, watch, chain).funding_address()
        chain.mine(1, to_script=watch.receive_key(0).script_pubkey)  # type: ignore[attr-defined]
        chain.mine(100)  # type: ignore[attr-defined]
        carol = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
        SettlementService(ledger, chain, watch).register_payout_address("carol", carol)
    for name in (OPERATOR_EQUITY, payable("carol")):
        ledger.open_account(name)
    ledger.post("earn:carol", [Posting(OPERATOR_EQUITY, 50_000_000),
                               Posting(payable("carol"), -50_000_000)])
    ledger.close()


def test_settle_says_a_refused_broadcast_and_reconcile_names_it(
    home: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _funded_node_owing_carol(home)
    strict = RelayPolicy(min_relay_sat_kvb=5_000)  # the node's floor is above our 1 sat/vB
    monkeypatch.setattr(regtest, "RelayPolicy", lambda: strict)
    # the node reports the default floor but enforces the strict one (its mempool filled up
    # after it was asked), so the batch is planned below what it now accepts
    monkeypatch.setattr(regtest.RegtestChain, "relay_floor",
                        lambda self: RelayPolicy().min_relay_sat_kvb)
    result = runner.invoke(app, ["settle"])
    said = " ".join(result.output.split())
    assert result.exit_code == EXIT_STALLED, result.output
    assert "planned and sent" not in said and "settlement 1: planned, now signed" in said
    assert "broadcast refused" in said and "min relay fee not met" in said
    again = _json(runner, ["settle"], EXIT_STALLED)
    assert again["created"] == [] and again["advanced"] == [{"settlement": 1, "state": "signed"}]
    [stall] = again["stalled"]  # type: ignore[misc]
    assert stall["kind"] == "broadcast_refused" and "min relay fee not met" in stall["detail"]
    checked = _json(runner, ["reconcile"], EXIT_CHECK_FAILED)
    assert checked["checks"]["settlements"]["ok"] is False  # type: ignore[index]
    [finding] = [d for d in checked["discrepancies"]  # type: ignore[attr-defined]
                 if d["check"] == "settlements"]
    assert finding["subject"] == "settlement 1" and "min relay fee not met" in finding["detail"]
    monkeypatch.setattr(regtest, "RelayPolicy", RelayPolicy)  # a node that takes it
    moved = _json(runner, ["settle"])
    assert moved["advanced"] == [{"settlement": 1, "state": "broadcast"}]
    assert moved["stalled"] == []
    checked = _json(runner, ["reconcile"])
    assert checked["ok"] is True and checked["checks"]["settlements"] == {  # type: ignore[index]
        "ok": True, "found": 0, "note": "stall limit 144 blocks"}


def test_settle_exits_3_when_a_broadcast_does_not_reach_the_backend(
    home: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _funded_node_owing_carol(home)

    def unreachable(self: object, raw: bytes) -> str:
        raise ChainUnavailable("esplora POST /tx: timed out after 4 attempts")

    monkeypatch.setattr(regtest.RegtestChain, "broadcast", unreachable)
    data = _json(runner, ["settle"], EXIT_BACKEND)
    assert data["created_states"] == [{"settlement": 1, "state": "signed"}]
    [stall] = data["stalled"]  # type: ignore[misc]
    assert stall["kind"] == "broadcast_failed" and "timed out" in stall["detail"]
    assert _json(runner, ["reconcile"])["ok"] is True  # retried by the next cycle, not a finding
