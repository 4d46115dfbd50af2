"""``bitcache events`` and ``bitcache metrics`` as an operator runs them: --json, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bitcache.cli import app
from bitcache.store import outbox
from bitcache.store.ledger import LedgerStore
from tests.events.receiver import receiver

SECRET = "webhook-secret-for-the-cli-test"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def with_section(text: str, name: str, values: dict[str, object]) -> str:
    """``text`` (a ``bitcache.toml``) with its ``[name]`` section replaced by ``values``."""
    kept, inside = [], False
    for line in text.splitlines():
        if line.startswith("["):
            inside = line.strip() == f"[{name}]"
        if not inside:
            kept.append(line)
    kept += ["", f"[{name}]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    return "\n".join(kept) + "\n"


def configure(node: Path, **events: object) -> None:
    """Set the ``[events]`` section of the node's ``bitcache.toml``."""
    path = node / "bitcache.toml"
    path.write_text(with_section(path.read_text(encoding="utf-8"), "events", events))


def write_events(node: Path, n: int) -> None:
    ledger = LedgerStore.open(f"sqlite:///{node / 'ledger.sqlite'}")
    try:
        with ledger.write() as conn:
            for i in range(n):
                outbox.append(conn, "payout.final", f"settlement:{i}", {"n": i}, 1_000_000 * i)
    finally:
        ledger.close()


def test_deliver_and_list_report_every_endpoint_in_json(node: Path) -> None:
    (node / "hook.secret").write_text(SECRET + "\n")
    write_events(node, 3)
    with receiver(fail_first=0) as (url, got):
        configure(node, webhook_urls=[url], webhook_secret_file="hook.secret")
        code, out = run("events", "deliver", "--json")
        assert code == 0, out
        (report,) = json.loads(out)["endpoints"]
        assert (report["status"], report["delivered"], report["cursor"]) == ("caught_up", 3, 3)
        assert len(got.accepted()) == 3
    code, out = run("events", "list", "--json", "--limit", "2")
    listing = json.loads(out)
    assert code == 0 and [e["id"] for e in listing["events"]] == [2, 3]
    assert listing["events"][0]["created"] == "1970-01-01T00:00:01Z"
    assert listing["endpoints"][0]["delivered_id"] == 3 and listing["last_id"] == 3


def test_a_failing_endpoint_exits_3_then_4_once_given_up_and_redeliver_starts_it(
    node: Path,
) -> None:
    (node / "hook.secret").write_text(SECRET)
    write_events(node, 2)
    with receiver(fail_first=100) as (url, got):
        configure(node, webhook_urls=[url], webhook_secret_file="hook.secret", max_attempts=1)
        code, out = run("events", "deliver", "--json")
        (report,) = json.loads(out)["endpoints"]
        assert code == 3 and report["status"] == "failed" and report["error"] == "HTTP 503"
        assert report["next_attempt_at"].endswith("Z")
        code, out = run("events", "deliver", "--json")
        assert code == 4 and json.loads(out)["endpoints"][0]["status"] == "given_up"
        got.fail_first = 0
        code, out = run("events", "redeliver", "1", "--json")
        assert code == 0 and json.loads(out)["endpoints"][0]["delivered"] == 2
        code, out = run("events", "redeliver", "9", "--json")
        assert code == 2 and json.loads(out)["error"] == "UnknownEvent"


@pytest.mark.parametrize(
    ("events", "named"),
    [
        ({}, "webhook_urls"),
        ({"webhook_urls": "http://x"}, "webhook_urls"),
        ({"webhook_urls": ["http://user:pw@x/h"]}, "user name or password"),
        ({"webhook_urls": ["http://x/h"]}, "webhook_secret_file"),
        ({"webhook_urls": ["http://x/h"], "webhook_secret_file": "s", "max_attempts": 0},
         "max_attempts"),
        ({"webhook_urls": ["http://x/h"], "webhook_secret_file": "s", "retries": 3}, "retries"),
    ],
)
def test_bad_event_settings_are_refused_naming_the_key(
    node: Path, events: dict[str, object], named: str
) -> None:
    configure(node, **events)
    code, out = run("events", "deliver", "--json")
    answer = json.loads(out)
    assert code == 2 and answer["error"] == "InvalidConfig" and named in answer["message"]


def test_metrics_writes_the_ledger_gauges_to_a_textfile(node: Path, tmp_path: Path) -> None:
    write_events(node, 2)
    target = tmp_path / "bitcache.prom"
    code, out = run("metrics", "--no-chain", "--textfile", str(target))
    assert code == 0, out
    text = target.read_text()
    assert 'bitcache_settlements{state="final"} 0.0' in text
    assert "bitcache_events 2.0" in text and "bitcache_charges_total" not in text
