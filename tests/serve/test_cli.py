"""`bitcache keys create|list|revoke` and the refusals of `bitcache serve`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bitcache.cli import app
from bitcache.serve import keys
from bitcache.store.ledger import LedgerStore
from tests.cli import ISO_UTC


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
