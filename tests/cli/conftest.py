"""Command-line fixtures: a regtest node folder made once by ``bitcache init`` and copied.

Every test that takes ``node`` runs from an empty current folder of its own
(``elsewhere``), with ``BITCACHE_HOME`` pointing at its copy of the node, so
a command that reads or writes the current folder instead of the node's is
caught. The fake chain servers of ``tests/chain/fakes`` are imported as the
top-level package ``fakes``, as the chain tests do.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bitcache.cli import app

PASS = "correct horse battery staple"

_CHAIN_TESTS = str(Path(__file__).resolve().parents[1] / "chain")
if _CHAIN_TESTS not in sys.path:
    sys.path.insert(0, _CHAIN_TESTS)


@pytest.fixture(scope="session")
def template_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regtest node folder, made once (scrypt is slow on purpose)."""
    folder = tmp_path_factory.mktemp("template") / "node"
    result = CliRunner().invoke(
        app,
        ["init", "--home", str(folder), "--network", "regtest", "--chain", "regtest"],
        env={"BITCACHE_PASSPHRASE": PASS, "BITCACHE_DB": None, "BITCACHE_HOME": None},
    )
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder, away from any node folder."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("BITCACHE_DB", raising=False)
    monkeypatch.delenv("BITCACHE_HOME", raising=False)
    monkeypatch.setenv("BITCACHE_PASSPHRASE", PASS)
    return folder


@pytest.fixture
def node(
    template_node: Path, tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """This test's copy of the node folder, named by BITCACHE_HOME."""
    folder = tmp_path / "node"
    shutil.copytree(template_node, folder)
    monkeypatch.setenv("BITCACHE_HOME", str(folder))
    return folder


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def home(tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A regtest node folder of this test's own, made by `bitcache init` (BITCACHE_HOME)."""
    monkeypatch.setenv("BITCACHE_PASSPHRASE", PASS)
    folder = tmp_path / "node"
    monkeypatch.setenv("BITCACHE_HOME", str(folder))
    result = runner.invoke(app, ["init", "--network", "regtest", "--chain", "regtest"])
    assert result.exit_code == 0, result.output
    return folder
