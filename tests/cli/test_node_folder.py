"""The node folder as an operator meets it: found from anywhere, made all-or-nothing.

Every command finds the node's database through ``BITCACHE_HOME`` (or its
config), from any current folder, and leaves that folder alone; paths in
``bitcache.toml`` are relative to the node folder; ``init`` leaves nothing
behind when a step fails and keeps Bitcoin Core credentials by path only;
output off a terminal never breaks a value; the demo never clears a folder
it did not make.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.fake_core import FakeCore
from fakes.state import ChainState
from typer.testing import CliRunner

import bitcache
from bitcache.cli import NodeConfig, app
from bitcache.core.accounts import OPERATOR_EQUITY, PLATFORM_REVENUE, payable, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.demo import DEMO_MARKER, prepare_folder
from bitcache.errors import InvalidInput
from bitcache.network import Network
from bitcache.store.ledger import LedgerStore
from tests.cli.conftest import PASS

FILE = hashlib.sha256(b"a file").digest()
RPC_AUTH = ("alice", "s3cret-pw")


def _invoke(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _book(node: Path, downloads: int = 3) -> None:
    """Downloads booked in the node's ledger: bob pays carol 900 msat each."""
    ledger = LedgerStore.open(NodeConfig.load(node).db)
    for name in (OPERATOR_EQUITY, PLATFORM_REVENUE, prepaid("bob"), payable("carol")):
        ledger.open_account(name)
    ledger.post("promo:bob", [Posting(OPERATOR_EQUITY, 50_000), Posting(prepaid("bob"), -50_000)])
    ledger.record_many([
        EntryRequest(f"dl:{i}", (Posting(prepaid("bob"), 1_000, FILE),  # type: ignore[arg-type]
                                 Posting(payable("carol"), -900, FILE),  # type: ignore[arg-type]
                                 Posting(PLATFORM_REVENUE, -100, FILE)))  # type: ignore[arg-type]
        for i in range(downloads)
    ], atomic=True)
    ledger.close()


def test_every_ledger_command_reads_the_node_database_from_anywhere(
    node: Path, elsewhere: Path
) -> None:
    _book(node, downloads=3)
    assert _invoke("db", "upgrade") == {"ok": True}
    carol = _invoke("balance", payable("carol"))
    assert carol[payable("carol")] == {"posted": -2_700, "pending_debits": 0,
                                       "pending_credits": 0}
    assert _invoke("earnings", "carol")["total_msat"] == 2_700
    journal = _invoke("verify-journal")
    assert journal["ok"] is True and journal["entries"] == 4
    assert _invoke("export", "entries.csv")["entries"] == 4
    rows = list(csv.DictReader((elsewhere / "entries.csv").open()))
    assert len(rows) == 2 + 3 * 3
    assert sorted(p.name for p in elsewhere.iterdir()) == ["entries.csv"]  # no stray ledger


def test_config_paths_are_relative_to_the_node_folder(elsewhere: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["init", "--home", "node", "--network", "regtest",
                                      "--chain", "regtest"])
    assert result.exit_code == 0, result.output
    made = elsewhere / "node"
    stored = tomllib.loads((made / "bitcache.toml").read_text())
    assert stored["database"]["url"] == "sqlite:///ledger.sqlite"
    assert stored["chain"]["path"] == "chain"
    moved = tmp_path / "restored" / "node"  # the folder restored elsewhere from a backup
    shutil.move(made, moved)
    other = tmp_path / "other"
    other.mkdir()
    first = _invoke("deposit-address", "bob", "--home", str(moved))
    assert list(elsewhere.iterdir()) == []
    assert NodeConfig.load(moved).db == f"sqlite:///{moved / 'ledger.sqlite'}"
    shutil.move(moved, other / "node")
    again = _invoke("deposit-address", "bob", "--home", str(other / "node"))
    assert again == first  # the same ledger followed the folder
    assert list(elsewhere.iterdir()) == []


def test_init_leaves_nothing_behind_when_the_database_step_fails(
    elsewhere: Path, tmp_path: Path
) -> None:
    home = tmp_path / "deep" / "node"
    result = CliRunner().invoke(app, [
        "init", "--home", str(home), "--network", "regtest", "--chain", "regtest",
        "--db", f"sqlite:///{tmp_path / 'no-such-folder' / 'x.sqlite'}",
    ])
    assert result.exit_code == 3, result.output
    assert not (tmp_path / "deep").exists()


def test_init_removes_what_it_made_when_a_later_step_fails(
    elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "node"
    home.mkdir()
    (home / "README").write_text("the operator's own notes\n")

    def broken() -> None:
        raise InvalidInput("no entropy today")

    monkeypatch.setattr("bitcache.wallet.platformkey.generate_platform_key", broken)
    result = CliRunner().invoke(app, ["init", "--home", str(home), "--network", "regtest",
                                      "--chain", "regtest"])
    assert result.exit_code == 2 and "no entropy today" in result.output
    assert sorted(p.name for p in home.iterdir()) == ["README"]  # seed and ledger removed


@pytest.fixture
def core() -> Iterator[FakeCore]:
    state = ChainState(Network.SIGNET)
    state.mine(7)
    server = FakeCore(state, chain="signet", auth=RPC_AUTH).start()
    yield server
    server.stop()


def test_init_keeps_bitcoin_core_credentials_by_path(
    elsewhere: Path, tmp_path: Path, core: FakeCore
) -> None:
    secret = tmp_path / "rpcpassword"
    secret.write_text(RPC_AUTH[1] + "\n")
    home = tmp_path / "node"
    _invoke("init", "--home", str(home), "--network", "signet", "--chain", "rpc",
            "--chain-url", core.url, "--rpc-user", RPC_AUTH[0], "--rpc-password-file",
            "../rpcpassword")
    text = (home / "bitcache.toml").read_text()
    assert RPC_AUTH[1] not in text and (home / "bitcache.toml").stat().st_mode & 0o777 == 0o600
    assert tomllib.loads(text)["chain"]["rpc_password_file"] == str(secret)
    with NodeConfig.load(home).chain_backend() as chain:
        assert chain.tip().height == 7  # the fake node checks the user and password
    cookie = tmp_path / ".cookie"
    cookie.write_text(":".join(RPC_AUTH))
    other = tmp_path / "node2"
    _invoke("init", "--home", str(other), "--network", "signet", "--chain", "rpc",
            "--chain-url", core.url, "--rpc-cookie-file", str(cookie))
    with NodeConfig.load(other).chain_backend() as chain:
        assert chain.tip().height == 7


def test_output_off_a_terminal_never_breaks_a_value(elsewhere: Path) -> None:
    result = CliRunner().invoke(app, ["init", "--home", "node", "--network", "regtest",
                                      "--chain", "regtest"])
    assert result.exit_code == 0, result.output
    xpub = NodeConfig.load(elsewhere / "node").account_xpub
    assert f"account_xpub: {xpub}\n" in result.stdout
    ledger = LedgerStore.open(NodeConfig.load(elsewhere / "node").db)
    long_name = payable("u" + "x" * 120)
    ledger.open_account(long_name)
    ledger.close()
    table = CliRunner().invoke(app, ["balance", long_name, "--home", "node"])
    assert table.exit_code == 0 and long_name in table.stdout


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"bitcache {bitcache.__version__}\n"


def test_export_to_standard_output_is_one_document_even_when_it_fails(node: Path) -> None:
    _book(node, downloads=2)
    db = ["--db", NodeConfig.load(node).db]
    good = CliRunner().invoke(app, ["export", "-", *db, "--format", "json"])
    assert good.exit_code == 0 and [e["id"] for e in json.loads(good.stdout)] == [1, 2, 3]
    failed = CliRunner().invoke(app, ["export", "-", *db, "--format", "json", "--json",
                                      "--start", "-1"])
    assert failed.exit_code == 2 and json.loads(failed.stdout)["ok"] is False
    human = CliRunner().invoke(app, ["export", "-", *db, "--start", "-1"])
    assert human.exit_code == 2 and human.stdout == ""  # no CSV header before the error
    mixed = CliRunner().invoke(app, ["export", "-", *db, "--json"])  # CSV is not JSON
    assert mixed.exit_code == 2 and json.loads(mixed.stdout)["ok"] is False


def test_a_failed_export_leaves_the_previous_file_as_it_was(node: Path, elsewhere: Path) -> None:
    _book(node, downloads=2)
    target = elsewhere / "entries.csv"
    target.write_text("last month's export\n")
    result = CliRunner().invoke(app, ["export", str(target), "--start", "-1",
                                      "--db", NodeConfig.load(node).db])
    assert result.exit_code == 2
    assert target.read_text() == "last month's export\n"
    assert [p.name for p in elsewhere.iterdir()] == ["entries.csv"]  # no temporary file left


def test_demo_refuses_a_node_folder_and_a_busy_current_folder(
    node: Path, elsewhere: Path
) -> None:
    before = {p.name: p.read_bytes() for p in node.iterdir() if p.is_file()}
    refused = CliRunner().invoke(app, ["demo", "--folder", str(node), "--downloads", "10"])
    assert refused.exit_code == 2 and "not made by the demo" in refused.output
    assert {p.name: p.read_bytes() for p in node.iterdir() if p.is_file()} == before
    (elsewhere / "notes.txt").write_text("mine\n")
    here = CliRunner().invoke(app, ["demo", "--folder", ".", "--downloads", "10"])
    assert here.exit_code == 2 and (elsewhere / "notes.txt").read_text() == "mine\n"
    negative = CliRunner().invoke(app, ["demo", "--folder", "new", "--downloads", "-5"])
    assert negative.exit_code == 2 and not (elsewhere / "new").exists()


def test_a_demo_folder_is_cleared_of_the_demo_output_only(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    prepare_folder(folder)
    assert (folder / DEMO_MARKER).is_file()
    (folder / "chain").mkdir()
    (folder / "chain" / "blocks.dat").write_bytes(b"x")
    (folder / "ledger.sqlite").write_bytes(b"x")
    (folder / "statement-u000.json").write_text("{}")
    (folder / "mine.txt").write_text("kept\n")
    prepare_folder(folder)  # the next run
    assert sorted(p.name for p in folder.iterdir()) == [DEMO_MARKER, "mine.txt"]
    (folder / DEMO_MARKER).unlink()
    with pytest.raises(InvalidInput, match="not made by the demo"):
        prepare_folder(folder)
    assert (folder / "mine.txt").read_text() == "kept\n"


def test_passphrase_is_never_in_a_config(node: Path) -> None:
    assert PASS not in (node / "bitcache.toml").read_text()
