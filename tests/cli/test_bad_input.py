"""Every command, fed bad input, prints the documented ``error:`` line and exit code.

No traceback, nothing half-written on standard output: a human gets one
``error: <ErrorClass>: <message>`` line on standard error; with ``--json``,
standard output is exactly one JSON document ``{"ok": false, ...}``. Each
error class and its exit code must appear in the error table of
docs/cli.md.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bitcache.cli import NodeConfig, app
from bitcache.config.render import toml_value
from bitcache.core.accounts import payable
from bitcache.store.ledger import LedgerStore

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
KEY_HEX = "ab" * 32

Setup = Callable[[Path, Path, pytest.MonkeyPatch], None]


def _nothing(node: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No preparation."""


def _config(text: str, name: str = "bitcache.toml") -> Setup:
    """Replace the node's configuration by ``text`` (as ``config.json``: a node made
    before bitcache.toml)."""

    def write(node: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        if name == "config.json":
            (node / "bitcache.toml").unlink()
        (node / name).write_text(text)

    return write


def _edit_config(section: str, **changes: object) -> Setup:
    """Set keys of one section of bitcache.toml (a value None removes the key)."""

    def edit(node: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        path = node / "bitcache.toml"
        raw = tomllib.loads(path.read_text())
        raw.setdefault(section, {}).update(changes)
        path.write_text(dump_toml(raw))

    return edit


def _esplora_nope(node: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A testnet4 node on an Esplora server whose URL is not a URL."""
    _edit_config("node", network="testnet4")(node, tmp, monkeypatch)
    _edit_config("chain", backend="esplora", url="nope", path=None)(node, tmp, monkeypatch)


def dump_toml(raw: dict[str, dict[str, object]]) -> str:
    """Tables of plain values as TOML text (the keys with a value None left out)."""
    return "\n".join(
        f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()
                                if v is not None)
        for name, table in raw.items()
    )


def _remove(name: str) -> Setup:
    def remove(node: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        (node / name).unlink()

    return remove


def _carol_account(node: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = LedgerStore.open(NodeConfig.load(node).db)
    ledger.open_account(payable("carol"))
    ledger.close()


def _busy_current_folder(node: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("notes.txt").write_text("mine\n")


def _no_kernel(node: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As if installed without the `kernel` extra: py-bitcoinkernel cannot be imported."""
    monkeypatch.setitem(sys.modules, "pbk", None)
    for module in ("bitcache.chain.kernel", "bitcache.chain.regtest", "bitcache.demo"):
        monkeypatch.delitem(sys.modules, module, raising=False)


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]
    error: str
    code: int = 2
    setup: Setup = _nothing
    env: dict[str, str] = field(default_factory=dict)
    unchanged: tuple[str, ...] = ()  # paths (formatted) that must not exist afterwards


NEW = ["--home", "{tmp}/new"]
RPC = ["init", *NEW, "--chain", "rpc"]
NOWHERE = ["--home", "{tmp}/nowhere"]
BROKEN = "{"
EMPTY = "{}"
#: A TOML file that lacks what init writes, and one that is not TOML.
TOML_EMPTY = ""
TOML_BROKEN = "[node"

CASES = [
    Case("init over a node", ["init", "--network", "regtest", "--chain", "regtest"],
         "InvalidInput"),
    Case("init: esplora without a URL", ["init", *NEW, "--chain", "esplora"], "InvalidInput",
         unchanged=("{tmp}/new",)),
    Case("init: a chain URL without a scheme", [*RPC, "--chain-url", "127.0.0.1:48332"],
         "InvalidInput", unchanged=("{tmp}/new",)),
    Case("init: a chain URL with a password", [*RPC, "--chain-url", "http://u:hunter2@h"],
         "InvalidInput", unchanged=("{tmp}/new",)),
    Case("init: an RPC user without a password file", [*RPC, "--rpc-user", "alice"],
         "InvalidInput", unchanged=("{tmp}/new",)),
    Case("init: a missing RPC password file",
         [*RPC, "--rpc-user", "alice", "--rpc-password-file", "{tmp}/nope"], "InvalidInput",
         unchanged=("{tmp}/new",)),
    Case("init: credentials for esplora",
         ["init", *NEW, "--chain", "esplora", "--chain-url", "http://h", "--rpc-user", "a"],
         "InvalidInput", unchanged=("{tmp}/new",)),
    Case("init: zero confirmations", ["init", *NEW, "--confirmations", "0"], "InvalidInput",
         unchanged=("{tmp}/new",)),
    Case("init: more confirmations than a node takes",
         ["init", *NEW, "--confirmations", "99999999999999999999"], "InvalidInput",
         unchanged=("{tmp}/new",)),
    Case("init: a malformed database URL", ["init", *NEW, "--db", "sqlite//x"], "InvalidInput",
         unchanged=("{tmp}/new",)),
    Case("init: mainnet", ["init", *NEW, "--network", "mainnet"], "MainnetRefused",
         unchanged=("{tmp}/new",)),
    Case("init: a database that cannot be created",
         ["init", *NEW, "--network", "regtest", "--chain", "regtest",
          "--db", "sqlite:///{tmp}/no-such-folder/ledger.sqlite"], "StoreError", 3,
         unchanged=("{tmp}/new",)),
    Case("init: no kernel extra", ["init", *NEW, "--network", "regtest", "--chain", "regtest"],
         "MissingExtra", setup=_no_kernel, unchanged=("{tmp}/new",)),
    Case("demo in a node folder", ["demo", "--folder", "{node}", "--downloads", "1"],
         "InvalidInput"),
    Case("demo in a busy current folder", ["demo", "--folder", ".", "--downloads", "1"],
         "InvalidInput", setup=_busy_current_folder),
    Case("demo: negative downloads", ["demo", "--folder", "{tmp}/d", "--downloads", "-1"],
         "InvalidPolicy", unchanged=("{tmp}/d",)),
    Case("demo: no kernel extra", ["demo", "--folder", "{tmp}/d", "--downloads", "1"],
         "MissingExtra", setup=_no_kernel, unchanged=("{tmp}/d",)),
    Case("db upgrade without a node", ["db", "upgrade", *NOWHERE], "InvalidConfig"),
    Case("balance without a node", ["balance", "equity:operator", *NOWHERE], "InvalidConfig"),
    Case("earnings without a node", ["earnings", "carol", *NOWHERE], "InvalidConfig"),
    Case("verify-journal without a node", ["verify-journal", *NOWHERE], "InvalidConfig"),
    Case("export without a node", ["export", "{tmp}/x.csv", *NOWHERE], "InvalidConfig",
         unchanged=("{tmp}/x.csv",)),
    Case("balance of a database file that does not exist",
         ["balance", "equity:operator", "--db", "sqlite:///{tmp}/missing.sqlite"],
         "InvalidInput", unchanged=("{tmp}/missing.sqlite",)),
    Case("balance: a node path too long for the system", ["balance", "x", "--home", "n" * 5000],
         "InvalidInput"),
    Case("balance: a malformed account", ["balance", "equity operator"], "InvalidAccountName"),
    Case("earnings: a negative time", ["earnings", "carol", "--since", "-1"], "InvalidInput"),
    *[
        Case(f"{command[0]} with {name} {text!r}", command, "InvalidConfig",
             setup=_config(text, name))
        for name, texts in (("config.json", (BROKEN, EMPTY, "[]")),
                            ("bitcache.toml", (TOML_BROKEN, TOML_EMPTY, "[x]")))
        for text in texts
        for command in (["deposit-address", "bob"], ["settle"], ["reconcile"],
                        ["balance", "equity:operator"],
                        ["statement", "carol", "--out", "{tmp}/s.json"])
    ],
    Case("settle: confirmations edited to zero", ["settle"], "InvalidConfig",
         setup=_edit_config("deposits", confirmations=0)),
    Case("settle: confirmations edited past the limit", ["settle"], "InvalidConfig",
         setup=_edit_config("deposits", confirmations=10**20)),
    Case("deposit-address: a malformed URL in bitcache.toml", ["deposit-address", "bob"],
         "InvalidConfig",
         setup=_esplora_nope),
    Case("deposit-address: a malformed name", ["deposit-address", "bad name!"],
         "InvalidAccountName"),
    Case("deposit-address: no kernel extra", ["deposit-address", "bob"], "MissingExtra",
         setup=_no_kernel),
    Case("settle without wallet.seed", ["settle"], "InvalidConfig",
         setup=_remove("wallet.seed")),
    Case("settle with a wrong passphrase", ["settle"], "WrongPassphrase",
         env={"BITCACHE_PASSPHRASE": "wrong"}),
    Case("reconcile --ledger-only of a missing database",
         ["reconcile", "--ledger-only", "--db", "sqlite:///{tmp}/missing.sqlite"],
         "InvalidInput", unchanged=("{tmp}/missing.sqlite",)),
    *[
        Case(f"{command[0]} without a node, before a passphrase", [*command, *NOWHERE],
             "InvalidConfig", env={"BITCACHE_PASSPHRASE": ""}, unchanged=("{tmp}/nowhere",))
        for command in (["pubkey"], ["statement", "carol", "--out", "{tmp}/s.json"])
    ],
    Case("statement without platform.key", ["statement", "carol", "--out", "{tmp}/s.json"],
         "InvalidInput", setup=_remove("platform.key"), unchanged=("{tmp}/s.json",)),
    Case("statement into a missing folder",
         ["statement", "carol", "--out", "{tmp}/no-such-folder/s.json"], "InvalidInput",
         setup=_carol_account),
    Case("statement: an unknown uploader", ["statement", "nobody", "--out", "{tmp}/s.json"],
         "UnknownAccount", unchanged=("{tmp}/s.json",)),
    Case("verify a missing statement", ["verify", "{tmp}/nope.json", "--public-key", KEY_HEX],
         "InvalidInput"),
    Case("verify a folder", ["verify", "{tmp}", "--public-key", KEY_HEX], "InvalidInput"),
    Case("verify with a malformed key", ["verify", "{tmp}/nope.json", "--public-key", "zz"],
         "InvalidInput"),
    Case("serve: a port out of range", ["serve", "--files", "{tmp}", "--port", "70000"],
         "InvalidInput"),
    Case("serve: a port of zero", ["serve", "--files", "{tmp}", "--port", "0"], "InvalidInput"),
    Case("serve: a host that does not resolve",
         ["serve", "--files", "{tmp}", "--host", "no-such-host.invalid"], "InvalidInput"),
    Case("settlement abandon: an id past the column range",
         ["settlement", "abandon", "99999999999999999999", "--reason", "x"], "InvalidInput"),
    Case("settlement abandon: an unknown settlement",
         ["settlement", "abandon", "7", "--reason", "x"], "UnknownEntry"),
    Case("deposits reverse: a malformed outpoint", ["deposits", "reverse", "zz:0", "--force"],
         "InvalidInput"),
    Case("deposits acknowledge: an output index past 2^32",
         ["deposits", "acknowledge", f"{KEY_HEX}:4294967296", "--note", "x"], "InvalidInput"),
    Case("shortfall: an amount past 21M BTC",
         ["shortfall", "asset:wallet", str(10**26), "--key", "k", "--memo", "m"],
         "InvalidAmount"),
    Case("export into a missing folder", ["export", "{tmp}/no-such-folder/x.csv"],
         "InvalidInput"),
    Case("export: an unknown format", ["export", "{tmp}/x.xml", "--format", "xml"],
         "InvalidInput", unchanged=("{tmp}/x.xml",)),
    Case("export failing after it started", ["export", "{tmp}/x.csv", "--start", "-1"],
         "InvalidInput", unchanged=("{tmp}/x.csv",)),
    Case("export - failing after it started", ["export", "-", "--format", "json",
                                               "--start", "-1"], "InvalidInput"),
]


def _documented() -> dict[str, int]:
    """``{error class: exit code}`` from the error table of docs/cli.md."""
    table: dict[str, int] = {}
    for line in DOCS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`") and cells[1].isdigit():
            for name in re.findall(r"`(\w+)`", cells[0]):
                table[name] = int(cells[1])
    return table


def _run(case: Case, node: Path, as_json: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    tmp = node.parent
    case.setup(node, tmp, monkeypatch)
    args = [a.format(tmp=tmp, node=node) for a in case.args]
    return CliRunner().invoke(app, [*args, "--json"] if as_json else args, env=case.env)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_prints_the_documented_error_line(
    case: Case, node: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(case, node, False, monkeypatch)
    assert isinstance(result.exception, SystemExit), result.output  # type: ignore[attr-defined]
    assert result.exit_code == case.code, result.output  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    lines = result.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith(f"error: {case.error}: "), lines
    assert "hunter2" not in result.output  # type: ignore[attr-defined]
    for path in case.unchanged:
        assert not Path(path.format(tmp=node.parent, node=node)).exists()
    assert _documented().get(case.error) == case.code, f"{case.error} not in docs/cli.md"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_with_json_prints_one_json_document(
    case: Case, node: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(case, node, True, monkeypatch)
    assert isinstance(result.exception, SystemExit), result.output  # type: ignore[attr-defined]
    assert result.exit_code == case.code, result.output  # type: ignore[attr-defined]
    document = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert document["ok"] is False and document["error"] == case.error
    assert document["message"] and "Traceback" not in result.output  # type: ignore[attr-defined]
