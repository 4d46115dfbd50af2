"""The operator's commands: payout and funding addresses, settlements, deposits, holds, the
platform key and the embedded chain, each with --json, ISO 8601 UTC times and typed refusals
that write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bitcache.cli import EXIT_REFUSED, app
from bitcache.config import load
from bitcache.core.accounts import OPERATOR_EQUITY, default_spec, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.pricing import PriceRule
from bitcache.hooks import Hooks
from bitcache.network import Network
from bitcache.wallet.addresses import address_for_script
from tests.cli import ISO_UTC
from tests.cli.test_recovery import SPENT, deep_reorg, deposit, ledger_of, run, spend_and_earn
from tests.settlement.support import payee_address

CAROL = payee_address("carol")[0]
FILE = "ab" * 32


def refused(runner: CliRunner, args: list[str], error: str) -> None:
    """The command exits 2 with ``error``: one JSON document, or one line on stderr."""
    assert run(runner, args, EXIT_REFUSED)["error"] == error, args
    human = runner.invoke(app, args)
    assert human.exit_code == EXIT_REFUSED and human.stdout == ""
    assert human.stderr.startswith(f"error: {error}: ") and human.stderr.count("\n") == 1


def test_payout_addresses_are_set_listed_and_kept_in_history(
    home: Path, runner: CliRunner
) -> None:
    other = payee_address("carol", "p2tr")[0]
    made = run(runner, ["payout-address", "set", "carol", CAROL])
    assert made["address"] == CAROL and made["script_type"] == "p2wpkh"
    assert ISO_UTC.match(str(made["since"]))
    run(runner, ["payout-address", "set", "dave", payee_address("dave")[0]])
    run(runner, ["payout-address", "set", "carol", other])
    listed = run(runner, ["payout-address", "list"])["payout_addresses"]
    assert [(p["uploader"], p["address"]) for p in listed] == [  # type: ignore[union-attr]
        ("carol", other), ("dave", payee_address("dave")[0])]
    history = run(runner, ["payout-address", "list", "carol"])["payout_addresses"]
    assert [p["address"] for p in history] == [CAROL, other]  # type: ignore[union-attr]
    human = runner.invoke(app, ["payout-address", "list"])
    assert human.exit_code == 0 and other in human.stdout


@pytest.mark.parametrize(("args", "error"), [
    (["payout-address", "set", "carol", "nope"], "InvalidAddress"),
    (["payout-address", "set", "carol", address_for_script(payee_address("x")[1],
                                                           Network.SIGNET)],
     "AddressNetworkMismatch"),
    (["payout-address", "set", "bad name!", CAROL], "InvalidAccountName"),
    (["settlements", "show", "99"], "UnknownEntry"),
    (["settlements", "list", "--state", "lost"], "InvalidInput"),
    (["deposits", "list", "--status", "maybe"], "InvalidInput"),
    (["regtest", "mine", "0"], "InvalidInput"),
    (["regtest", "mine", "1", "--to", "nope"], "InvalidAddress"),
])
def test_bad_input_is_refused_and_nothing_is_written(
    home: Path, runner: CliRunner, args: list[str], error: str
) -> None:
    ledger = ledger_of(home)
    before = ledger.head()
    refused(runner, args, error)
    assert ledger.head() == before
    assert run(runner, ["payout-address", "list"])["payout_addresses"] == []


def test_funding_address_is_the_operators_and_stays_the_same(
    home: Path, runner: CliRunner
) -> None:
    first = run(runner, ["funding-address"])
    assert first["account"] == "equity:operator"
    assert run(runner, ["funding-address"]) == first
    assert first["address"] != run(runner, ["deposit-address", "bob"])["address"]
    human = runner.invoke(app, ["funding-address"])
    assert human.stdout.strip() == first["address"]


def test_deposits_are_listed_waiting_then_credited(home: Path, runner: CliRunner) -> None:
    address = str(run(runner, ["deposit-address", "bob"])["address"])
    mined = run(runner, ["regtest", "mine", "1", "--to", address])
    assert mined["tip_height"] == 1 and len(mined["blocks"]) == 1  # type: ignore[arg-type]
    [waiting] = run(runner, ["deposits", "list"])["deposits"]  # type: ignore[misc]
    assert waiting["status"] == "waiting" and waiting["confirmations"] == 1
    assert waiting["account"] == "liability:prepaid:bob" and waiting["credited_at"] is None
    run(runner, ["regtest", "mine", "2"])
    assert run(runner, ["deposits", "list", "--status", "credited"])["deposits"] == []
    assert run(runner, ["settle", "--no-anchor"])["deposits_credited"] == 1
    [credited] = run(runner, ["deposits", "list"])["deposits"]  # type: ignore[misc]
    assert credited["status"] == "credited" and credited["outpoint"] == waiting["outpoint"]
    assert credited["block_height"] == 1 and ISO_UTC.match(credited["credited_at"])
    assert run(runner, ["deposits", "list", "--status", "waiting"])["deposits"] == []


def test_settlements_are_listed_shown_and_abandoned(home: Path, runner: CliRunner) -> None:
    _, conflict = deposit(home, runner)
    run(runner, ["settle"])
    spend_and_earn(home)
    [sid] = run(runner, ["settle", "--no-anchor"])["created"]  # type: ignore[misc]
    [row] = run(runner, ["settlements", "list"])["settlements"]  # type: ignore[misc]
    assert row["id"] == sid and row["state"] == "broadcast" and row["payees"] == 1
    assert ISO_UTC.match(row["created_at"]) and ISO_UTC.match(row["updated_at"])
    shown = run(runner, ["settlements", "show", str(sid)])
    [payout] = shown["payouts"]  # type: ignore[misc]
    assert payout["uploader"] == "carol" and payout["address"] == CAROL
    [version] = shown["versions"]  # type: ignore[misc]
    assert version["txid"] == row["txid"] and shown["payout_sat"] == payout["payout_sat"]
    assert shown["inputs"] and shown["state"] == "broadcast"
    # In the mempool: abandoning it is refused under either name, and nothing changes.
    for name in ("settlements", "settlement"):
        refusal = run(runner, [name, "abandon", str(sid), "--reason", "x"], EXIT_REFUSED)
        assert refusal["error"] == "InvalidTransition"
    deep_reorg(home, conflict)  # its input is double-spent: it can never confirm
    done = run(runner, ["settlements", "abandon", str(sid), "--reason", "input reorged"])
    assert done["state"] == "void" and done["payees"] == ["carol"]
    assert run(runner, ["settlements", "list"])["settlements"] == []  # none in flight
    [void] = run(runner, ["settlements", "list", "--state", "void"])["settlements"]  # type: ignore[misc]
    assert void["id"] == sid and "input reorged" in void["reason"]
    assert [s["id"] for s in run(runner, ["settlements", "list", "--all"])["settlements"]  # type: ignore[union-attr]
            ] == [sid]
    human = runner.invoke(app, ["settlements", "show", str(sid)])
    assert human.exit_code == 0 and "state: void" in human.stdout


def test_settle_follows_the_configured_payout_policy(
    home: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    deposit(home, runner)
    run(runner, ["settle"])
    spend_and_earn(home)  # carol is owed SPENT msat
    monkeypatch.setenv("BITCACHE_PAYOUT_MIN_PAYOUT_SAT", str(SPENT // 1000 + 1))
    held_back = run(runner, ["settle", "--no-anchor"])
    assert held_back["created"] == [] and held_back["skipped"] == 1
    monkeypatch.setenv("BITCACHE_PAYOUT_MIN_PAYOUT_SAT", str(SPENT // 1000 - 1_000))
    assert len(run(runner, ["settle", "--no-anchor"])["created"]) == 1  # type: ignore[arg-type]


def test_holds_are_listed_with_what_they_keep(home: Path, runner: CliRunner) -> None:
    assert run(runner, ["holds", "list"])["holds"] == []
    hooks = Hooks.open(load(home).db)
    try:
        hooks.ledger.record_many(  # bob's credit, booked by hand (no deposit needed here)
            [EntryRequest("fund:bob", (Posting(OPERATOR_EQUITY, 50_000),
                                       Posting(prepaid("bob"), -50_000)))],
            atomic=True,
            open_accounts=[default_spec(OPERATOR_EQUITY), default_spec(prepaid("bob"))],
        )
        hooks.register_file(FILE, "carol", PriceRule.fixed(7_000))
        earned = hooks.download(FILE, "bob", "dl-1").uploader_msat
        hooks.hold(FILE, "takedown-1")
    finally:
        hooks.close()
    [held] = run(runner, ["holds", "list"])["holds"]  # type: ignore[misc]
    assert held["file"] == FILE and held["uploader"] == "carol"
    assert 0 < earned == held["held_msat"] and ISO_UTC.match(held["since"])
    human = runner.invoke(app, ["holds", "list"])
    assert human.exit_code == 0 and FILE in human.stdout


def test_holds_list_and_the_operator_queries_on_each_engine(
    db_url: str, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """holds list --db on SQLite and PostgreSQL; the time queries answer there too."""
    from bitcache.store import deposits as deposits_rows
    from bitcache.store import settlement as settlement_rows

    monkeypatch.delenv("BITCACHE_HOME", raising=False)
    hooks = Hooks.open(db_url)
    try:
        hooks.ledger.record_many(
            [EntryRequest("fund:bob", (Posting(OPERATOR_EQUITY, 50_000),
                                       Posting(prepaid("bob"), -50_000)))],
            atomic=True,
            open_accounts=[default_spec(OPERATOR_EQUITY), default_spec(prepaid("bob"))],
        )
        hooks.register_file(FILE, "carol", PriceRule.fixed(7_000))
        hooks.register_file("cd" * 32, "dave", PriceRule.fixed(7_000))
        earned = hooks.download(FILE, "bob", "dl-1").uploader_msat
        hooks.hold(FILE, "takedown-1")
        with hooks.ledger.read() as conn:
            assert settlement_rows.settlement_times(conn, [1, 2]) == {}
            assert deposits_rows.credit_times(conn) == {}
    finally:
        hooks.close()
    [held] = run(runner, ["holds", "list", "--db", db_url])["holds"]  # type: ignore[misc]
    assert (held["file"], held["held_msat"]) == (FILE, earned)


def test_pubkey_prints_the_platform_key_init_printed(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BITCACHE_PASSPHRASE", "pw")
    made = run(runner, ["init", "--home", str(tmp_path / "n"), "--network", "regtest",
                        "--chain", "regtest"])
    monkeypatch.setenv("BITCACHE_HOME", str(tmp_path / "n"))
    assert run(runner, ["pubkey"])["platform_public_key"] == made["platform_public_key"]
    assert runner.invoke(app, ["pubkey"]).stdout.strip() == made["platform_public_key"]
    monkeypatch.setenv("BITCACHE_PASSPHRASE", "wrong")
    refused(runner, ["pubkey"], "WrongPassphrase")


def test_regtest_mine_is_refused_on_another_chain(home: Path, runner: CliRunner) -> None:
    path = home / "bitcache.toml"
    text = path.read_text().replace('network = "regtest"', 'network = "signet"')
    text = text.replace('backend = "regtest"', 'backend = "esplora"')
    text = text.replace('url = ""', 'url = "http://127.0.0.1:9/api"')
    path.write_text(text.replace('path = "chain"\n', ""))
    assert load(home).chain.backend == "esplora"
    refused(runner, ["regtest", "mine", "1"], "InvalidInput")
