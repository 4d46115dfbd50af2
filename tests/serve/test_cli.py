"""`bitcache keys create|list|revoke` and the refusals of `bitcache serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bitcache.cli import app
from bitcache.serve import keys
from bitcache.store.ledger import LedgerStore
from tests.cli import ISO_UTC
from tests.serve.stack import BITCACHE, free_port, init_node


def _run(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_keys_are_shown_once_listed_without_their_secret_and_revoked(db_url: str) -> None:
    runner = CliRunner()
    assert _run(runner, "db", "upgrade", "--db", db_url)[0] == 0
    code, out = _run(runner, "keys", "create", "--db", db_url, "--scope", "storage",
                     "--scope", "downloader:bob", "--label", "web", "--json")
    assert code == 0
    made = json.loads(out)
    assert made["key"].startswith(f"bck_{made['key_id']}_")
    assert made["scopes"] == ["storage", "downloader:bob"]
    code, listed = _run(runner, "keys", "list", "--db", db_url, "--json")
    assert code == 0 and made["key"] not in listed
    secret = made["key"].rsplit("_", 1)[1]
    assert secret not in listed
    [row] = json.loads(listed)
    assert (row["key_id"], row["label"], row["revoked_at"]) == (made["key_id"], "web", None)
    ledger = LedgerStore.open(db_url)
    try:
        stored = keys.load_key(ledger, made["key_id"])
        assert stored is not None and stored.key_hash == keys.key_hash(made["key"])
        assert keys.matches(made["key"], stored)
        assert _run(runner, "keys", "revoke", made["key_id"], "--db", db_url)[0] == 0
        assert not keys.matches(made["key"], keys.load_key(ledger, made["key_id"]))
    finally:
        ledger.close()
    [revoked] = json.loads(_run(runner, "keys", "list", "--db", db_url, "--json")[1])
    assert ISO_UTC.match(revoked["created_at"]) and ISO_UTC.match(revoked["revoked_at"])


def test_bad_scopes_unknown_keys_and_a_missing_node_exit_2(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert _run(runner, "db", "upgrade", "--db", db_url)[0] == 0
    assert _run(runner, "keys", "create", "--db", db_url, "--scope", "admin")[0] == 2
    assert _run(runner, "keys", "create", "--db", db_url, "--scope", "uploader:")[0] == 2
    assert _run(runner, "keys", "revoke", "0123456789ab", "--db", db_url)[0] == 2
    assert _run(runner, "keys", "revoke", "nothex", "--db", db_url)[0] == 2
    assert _run(runner, "serve", "--home", str(tmp_path / "none"), "--files",
                str(tmp_path))[0] == 2


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli-node") / "node"
    init_node(home)
    return home


@pytest.mark.parametrize("args, says", [
    (["--port", "70000"], "--port 70000 is not a TCP port"),
    (["--port", "0"], "--port 0 is not a TCP port"),
    (["--host", "nosuch.invalid"], "--host 'nosuch.invalid' is not an address"),
    (["--host", "192.0.2.1"], "cannot listen on 192.0.2.1:"),
    (["--link-base", "files"], "the link base 'files' must be a path"),
    (["--accel-prefix", "/_files"], "the accel prefix '/_files' must be a path"),
    (["--key-cache-seconds", "-1"], "the key cache lasts 0 to 3600 seconds"),
    (["--hold-policy", "maybe"], "--hold-policy is redirect or refuse"),
    (["--retry-seconds", "-3"], "--retry-seconds (serve.retry_seconds) is 0 (no retry) to 3600"),
    (["--retry-seconds", "nan"], "--retry-seconds (serve.retry_seconds) is 0 (no retry) to 3600"),
])
def test_bad_serve_options_are_refused_in_one_line_before_anything_is_written(
        node: Path, tmp_path: Path, args: list[str], says: str) -> None:
    done = subprocess.run([BITCACHE, "serve", "--files", str(tmp_path), *args],
                          env={**os.environ, "BITCACHE_HOME": str(node)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: Invalid") and says in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (node / "serve.secret").exists()


def test_a_port_in_use_is_refused(node: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([BITCACHE, "serve", "--files", str(tmp_path), "--port", str(port)],
                              env={**os.environ, "BITCACHE_HOME": str(node)},
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr


def test_serve_reads_the_node_folder_from_bitcache_home(tmp_path: Path) -> None:
    missing = tmp_path / "not-a-node"
    done = subprocess.run([BITCACHE, "serve", "--files", str(tmp_path)],
                          env={**os.environ, "BITCACHE_HOME": str(missing)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and f"{missing}/" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_help_names_where_its_defaults_come_from() -> None:
    done = subprocess.run([BITCACHE, "serve", "--help"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0
    assert "serve section of the node's bitcache.toml" in done.stdout
    assert "``" not in done.stdout  # no markup eaten by the help renderer


def test_serve_never_makes_an_empty_database_in_place_of_a_missing_one(
        node: Path, tmp_path: Path) -> None:
    gone = tmp_path / "moved.sqlite"
    done = subprocess.run([BITCACHE, "serve", "--files", str(tmp_path), "--port",
                           str(free_port()), "--db", f"sqlite:///{gone}"],
                          env={**os.environ, "BITCACHE_HOME": str(node)}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"error: InvalidInput: no database at {gone}" in done.stderr
    assert not gone.exists() and not (node / "serve.secret").exists()


def test_serve_starts_with_a_collector_sized_for_the_requests_in_flight(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The start-up objects are frozen out of the collector, and the young generation holds
    more than the objects of a full flush of requests in flight (the default, 700, ran the
    collector every few requests for nothing: they are freed by reference counts)."""
    import gc

    import uvicorn

    from bitcache.serve.collector import GC_YOUNG_THRESHOLD

    home = tmp_path / "node"
    init_node(home)
    seen: dict[str, object] = {}

    def started(app_: object, **options: object) -> None:
        seen.update(threshold=gc.get_threshold(), frozen=gc.get_freeze_count())

    monkeypatch.setattr(uvicorn, "run", started)
    before = gc.get_threshold()
    try:
        code, _ = _run(CliRunner(), "serve", "--home", str(home), "--files", str(tmp_path),
                       "--port", str(free_port()))
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
    assert code == 0 and seen, seen
    assert seen["threshold"] == (GC_YOUNG_THRESHOLD, *before[1:])
    assert GC_YOUNG_THRESHOLD >= 64 * 100  # 64 requests in flight, ~100 objects each
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 0
