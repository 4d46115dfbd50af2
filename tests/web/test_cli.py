"""`bitcache keys create --login-url` and the refusals of `bitcache demo-web`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bitcache.cli import app


def test_a_key_can_come_with_its_login_link(db_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade", "--db", db_url]).exit_code == 0
    made = runner.invoke(app, ["keys", "create", "--db", db_url, "--scope", "uploader:u7",
                               "--login-url", "https://files.example/", "--json"])
    assert made.exit_code == 0
    doc = json.loads(made.stdout)
    assert doc["login_link"] == f"https://files.example/web/login#key={doc['key']}"
    plain = runner.invoke(app, ["keys", "create", "--db", db_url, "--scope", "operator",
                                "--login-url", "http://127.0.0.1:8470"])
    key, link = plain.stdout.split()
    assert link == f"http://127.0.0.1:8470/web/login#key={key}"
    without = runner.invoke(app, ["keys", "create", "--db", db_url, "--scope", "operator"])
    assert "/web/login" not in without.stdout


def test_demo_web_refuses_a_folder_the_demo_did_not_finish(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["demo-web", "--folder", str(tmp_path)])
    assert result.exit_code == 2
    assert "run the demo first" in result.output
    assert not list(tmp_path.iterdir())  # nothing was made there
