"""bitcache.toml: written by init, read back whole, every bad key named, the environment's
overrides, a node made with config.json, and ``bitcache config show|check|migrate``."""

from __future__ import annotations

import json
import os
import socket
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bitcache.cli import EXIT_BACKEND, EXIT_CHECK_FAILED, EXIT_REFUSED, app
from bitcache.config import NodeConfig, load, to_toml
from bitcache.config.render import toml_value
from bitcache.errors import InvalidConfig
from bitcache.settlement.payouts import FeePayer
from tests.cli.test_bad_input import dump_toml

runner = CliRunner()


def invoke(*args: str, code: int = 0, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run a command with --json; its exit code checked, its one JSON document returned."""
    result = runner.invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == code, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def edit(node: Path, section: str, **changes: object) -> None:
    path = node / "bitcache.toml"
    raw = tomllib.loads(path.read_text())
    raw.setdefault(section, {}).update(changes)
    path.write_text(dump_toml(raw))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_init_writes_every_key_and_reading_it_back_gives_the_same_config(node: Path) -> None:
    text = (node / "bitcache.toml").read_text()
    raw = tomllib.loads(text)
    assert set(raw) == {"node", "database", "chain", "deposits", "settlement", "payout",
                        "splits", "holds", "serve", "logging", "events", "metrics"}
    assert raw["database"]["url"] == "sqlite:///ledger.sqlite"  # relative to the folder
    assert "# gap_limit =" in text  # an unset key is shown, commented out
    cfg = load(node, environ={})
    assert load(node, environ={}) == cfg
    (node / "bitcache.toml").write_text(to_toml(cfg))  # written again: the same file
    assert (node / "bitcache.toml").read_text() == text
    assert (node / "bitcache.toml").stat().st_mode & 0o777 == 0o600


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_a_text_value_reads_back_as_written(value: str) -> None:
    assert tomllib.loads(f"k = {toml_value(value)}")["k"] == value


def test_sections_become_the_library_objects(node: Path) -> None:
    edit(node, "payout", fee_payer="platform", min_payout_sat=5_000)
    edit(node, "settlement", max_in_flight=4, min_input_confirmations=6)
    edit(node, "splits", platform_bps=2_000, referrer_bps=0)
    edit(node, "holds", policy="refuse")
    cfg = load(node, environ={})
    settlement = cfg.settlement_config()
    assert settlement.payout.fee_payer is FeePayer.PLATFORM
    assert settlement.payout.min_payout_sat == 5_000
    assert (settlement.max_in_flight, settlement.min_input_confirmations) == (4, 6)
    assert settlement.confirmations == cfg.deposits.confirmations == 3  # defaults to deposits'
    assert cfg.split_policy().platform_bps == 2_000
    assert cfg.hooks_options()["hold_policy"].value == "refuse"


@pytest.mark.parametrize(("section", "key", "value", "expected"), [
    ("settlement", "min_input_confirmations", "x", 'expected an integer from 1 to 1000, got "x"'),
    ("settlement", "min_input_confirmations", 0, "expected an integer from 1 to 1000, got 0"),
    ("settlement", "anchor", "yes", 'expected true or false, got "yes"'),
    ("deposits", "confirmations", True, "expected an integer from 1 to 1000, got true"),
    ("payout", "fee_payer", "nobody", 'expected one of "uploader", "platform"'),
    ("splits", "platform_bps", 10_001, "expected an integer from 0 to 10000"),
    ("serve", "port", 70_000, "expected an integer from 1 to 65535"),
    ("serve", "key_cache_seconds", -1, "expected a number of seconds from 0 to 3600"),
    ("serve", "retry_seconds", 3601, "expected a number of seconds from 0 to 3600"),
    ("logging", "format", "xml", 'expected one of "text", "json", got "xml"'),
    ("logging", "level", "loud", 'expected one of "debug", "info", "warning", "error"'),
    ("events", "webhook_urls", ["ftp://x"], "expected a list of http:// or https:// URLs"),
    ("events", "max_attempts", 0, "expected an integer ≥ 1, got 0"),
    ("metrics", "textfile", 5, "expected a path, got 5"),
    ("settlement", "max_inflight", 2, "unknown key"),
    ("chain", "rpc_password", "hunter2", "unknown key"),
])
def test_a_bad_value_is_refused_naming_its_key(
    node: Path, section: str, key: str, value: object, expected: str
) -> None:
    edit(node, section, **{key: value})
    failed = invoke("config", "show", code=EXIT_REFUSED)
    assert failed["error"] == "InvalidConfig"
    message = str(failed["message"])
    assert message.startswith(f"{section}.{key}: ") and expected in message, message
    assert str(node / "bitcache.toml") in message
    human = runner.invoke(app, ["deposit-address", "bob"])  # every command refuses it
    assert human.exit_code == EXIT_REFUSED and human.stdout == ""
    assert human.stderr.startswith(f"error: InvalidConfig: {section}.{key}: ")
    assert len(human.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("section", "changes", "key"), [
    ("payout", {"fee_floor_sat_per_kvb": 5_000, "fee_ceiling_sat_per_kvb": 2_000}, "payout"),
    ("splits", {"platform_bps": 6_000, "referrer_bps": 5_000}, "splits"),
    ("node", {"network": "mainnet"}, "node.network"),
    ("chain", {"backend": "rpc"}, "chain.backend"),  # rpc on a regtest network
    ("database", {"url": "::nonsense"}, "database.url"),
])
def test_values_that_disagree_are_refused_naming_the_section(
    node: Path, section: str, changes: dict[str, object], key: str
) -> None:
    edit(node, section, **changes)
    with pytest.raises(InvalidConfig) as caught:
        load(node, environ={})
    assert caught.value.key == key and str(caught.value).startswith(f"{key}")


def test_unknown_sections_and_missing_keys_are_named(node: Path) -> None:
    edit(node, "payouts", min_payout_sat=1)
    with pytest.raises(InvalidConfig, match=r"^payouts: unknown section"):
        load(node, environ={})
    (node / "bitcache.toml").write_text('[node]\nnetwork = "regtest"\n')
    with pytest.raises(InvalidConfig, match=r"^node.account_xpub: missing"):
        load(node, environ={})
    (node / "bitcache.toml").write_text('[node\n')
    with pytest.raises(InvalidConfig, match="is not valid TOML"):
        load(node, environ={})


def test_the_environment_overrides_the_file(node: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BITCACHE_SETTLEMENT_MAX_IN_FLIGHT", "3")
    monkeypatch.setenv("BITCACHE_SETTLEMENT_ANCHOR", "off")
    monkeypatch.setenv("BITCACHE_EVENTS_WEBHOOK_URLS", "https://a.example/h, http://b.example")
    monkeypatch.setenv("BITCACHE_DEPOSITS_GAP_LIMIT", "")  # empty: as if unset
    shown = invoke("config", "show")
    config = shown["config"]
    assert config["settlement"]["max_in_flight"] == 3  # type: ignore[index]
    assert config["settlement"]["anchor"] is False  # type: ignore[index]
    assert config["events"]["webhook_urls"] == [  # type: ignore[index]
        "https://a.example/h", "http://b.example"]
    assert config["deposits"]["gap_limit"] is None  # type: ignore[index]
    assert shown["overridden"] == ["BITCACHE_EVENTS_WEBHOOK_URLS", "BITCACHE_SETTLEMENT_ANCHOR",
                                   "BITCACHE_SETTLEMENT_MAX_IN_FLIGHT"]
    assert load(node).settlement_config().max_in_flight == 3
    assert "max_in_flight = 1" in (node / "bitcache.toml").read_text()  # the file is as it was


def test_the_database_url_from_the_environment_is_the_one_used(
    node: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "other.sqlite"
    monkeypatch.setenv("BITCACHE_DATABASE_URL", f"sqlite:///{elsewhere}")
    failed = invoke("balance", "equity:operator", code=EXIT_REFUSED)
    assert str(elsewhere) in str(failed["message"])  # it looked there, and created nothing
    assert not elsewhere.exists()


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("BITCACHE_SETTLEMENT_MAX_IN_FLIGHT", "many", "settlement.max_in_flight"),
    ("BITCACHE_SETTLEMENT_ANCHOR", "perhaps", "settlement.anchor"),
    ("BITCACHE_SETTLEMENT_MAX_INFLIGHT", "2", "BITCACHE_SETTLEMENT_MAX_INFLIGHT"),
    ("BITCACHE_SERVE_PORT", "0", "serve.port"),
])
def test_a_bad_environment_value_names_the_variable(
    node: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    failed = invoke("config", "show", code=EXIT_REFUSED)
    message = str(failed["message"])
    assert failed["error"] == "InvalidConfig" and message.startswith(named)
    assert variable in message


def test_show_masks_the_database_password(node: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BITCACHE_DATABASE_URL", "postgresql+psycopg://ops:s3cret@db.example/x")
    shown = invoke("config", "show")
    assert "s3cret" not in json.dumps(shown)
    assert shown["config"]["database"]["url"] == (  # type: ignore[index]
        "postgresql+psycopg://ops:***@db.example/x")
    human = runner.invoke(app, ["config", "show"])
    assert human.exit_code == 0 and "s3cret" not in human.output
    assert 'url = "postgresql+psycopg://ops:***@db.example/x"' in human.output
    assert f"# {node / 'bitcache.toml'}, overridden by BITCACHE_DATABASE_URL" in human.output


def test_check_passes_on_a_good_node_and_names_what_fails(
    node: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = invoke("config", "check")
    assert good["ok"] is True
    assert [c["check"] for c in good["checks"]] == [  # type: ignore[union-attr]
        "config", "wallet.seed", "platform.key", "database", "chain"]
    (node / "wallet.seed").rename(node / "wallet.seed.away")
    missing = invoke("config", "check", code=EXIT_CHECK_FAILED)
    failed = [c for c in missing["checks"] if not c["ok"]]  # type: ignore[union-attr]
    assert [c["check"] for c in failed] == ["wallet.seed"]
    (node / "wallet.seed.away").rename(node / "wallet.seed")
    edit(node, "serve", files="no-such-folder")
    failed_files = invoke("config", "check", code=EXIT_CHECK_FAILED)["checks"]
    assert [c["check"] for c in failed_files if not c["ok"]] == ["serve.files"]  # type: ignore[union-attr]


def test_check_exits_3_when_the_database_or_the_chain_does_not_answer(
    node: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("BITCACHE_DATABASE_URL",
                       f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=2")
    down = invoke("config", "check", code=EXIT_BACKEND)
    assert [c["check"] for c in down["checks"] if not c["ok"]] == ["database"]  # type: ignore[union-attr]
    monkeypatch.delenv("BITCACHE_DATABASE_URL")
    edit(node, "node", network="signet")
    edit(node, "chain", backend="esplora", url=f"http://127.0.0.1:{port}/api", path=None)
    away = invoke("config", "check", code=EXIT_BACKEND)
    [chain] = [c for c in away["checks"] if not c["ok"]]  # type: ignore[union-attr]
    assert chain["check"] == "chain" and "ChainUnavailable" in chain["detail"]


def test_check_refuses_an_invalid_file_with_exit_2(node: Path) -> None:
    edit(node, "deposits", confirmations=0)
    failed = invoke("config", "check", code=EXIT_REFUSED)
    assert str(failed["message"]).startswith(
        "deposits.confirmations: expected an integer from 1 to 1000")


def _legacy(node: Path) -> dict[str, object]:
    """Turn the node into one made before bitcache.toml: its config.json, as init wrote it."""
    cfg = load(node, environ={})
    legacy: dict[str, object] = {
        "network": cfg.network, "db": "sqlite:///ledger.sqlite",
        "chain": {"kind": "regtest", "path": "chain"}, "account_xpub": cfg.account_xpub,
        "confirmations": 3,
    }
    (node / "bitcache.toml").unlink()
    (node / "config.json").write_text(json.dumps(legacy, indent=2))
    return legacy


def test_a_node_with_config_json_keeps_working_and_migrates(
    node: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = load(node, environ={})
    _legacy(node)
    assert invoke("config", "show")["source"] == str(node / "config.json")
    address = invoke("deposit-address", "bob")["address"]
    old = load(node, environ={})
    assert old.sections() == before.sections()  # the same node, read from config.json
    monkeypatch.setenv("BITCACHE_SETTLEMENT_MAX_IN_FLIGHT", "7")  # not written by migrate
    done = invoke("config", "migrate")
    assert done["written"] == str(node / "bitcache.toml")
    assert not (node / "config.json").exists() and (node / "config.json.migrated").exists()
    monkeypatch.delenv("BITCACHE_SETTLEMENT_MAX_IN_FLIGHT")
    assert load(node).sections() == before.sections()
    assert invoke("deposit-address", "bob")["address"] == address  # the same ledger
    again = invoke("config", "migrate", code=EXIT_REFUSED)
    assert "migrated already" in str(again["message"])


def test_migrate_refuses_a_bad_config_json_and_writes_nothing(node: Path) -> None:
    legacy = _legacy(node)
    legacy["confirmations"] = 0
    (node / "config.json").write_text(json.dumps(legacy))
    failed = invoke("config", "migrate", code=EXIT_REFUSED)
    assert str(failed["message"]).startswith("deposits.confirmations:")
    assert sorted(p.name for p in node.iterdir() if "config" in p.name or ".toml" in p.name
                  ) == ["config.json"]


def test_init_refuses_a_folder_holding_a_config_json(elsewhere: Path) -> None:
    folder = elsewhere / "old"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    failed = invoke("init", "--home", str(folder), "--network", "regtest", "--chain", "regtest",
                    code=EXIT_REFUSED)
    assert "config.json exists" in str(failed["message"])
    assert sorted(os.listdir(folder)) == ["config.json"]


def test_a_storage_server_reads_the_same_configuration(node: Path) -> None:
    from bitcache.hooks import Hooks

    edit(node, "holds", policy="refuse")
    cfg = NodeConfig.load(node)
    hooks = Hooks.open(cfg.db, **cfg.hooks_options())
    try:
        assert hooks.ctx.hold_policy.value == "refuse"
    finally:
        hooks.close()


def test_every_key_and_command_is_documented() -> None:
    """operations.md has a row for every key; cli.md names every command and group."""
    from bitcache.config.sections import SECTIONS, keys_of

    docs = Path(__file__).resolve().parents[2] / "docs"
    operations, cli = (docs / "operations.md").read_text(), (docs / "cli.md").read_text()
    for section, cls in SECTIONS.items():
        for name in keys_of(cls):
            assert f"| `{section}.{name}` |" in operations, f"{section}.{name}"
    for group in app.registered_groups:
        for command in group.typer_instance.registered_commands:
            name = command.name or (command.callback.__name__ if command.callback else "")
            assert f"`{group.name} {name}" in cli, f"{group.name} {name}"
    for command in app.registered_commands:
        name = command.name or (command.callback.__name__ if command.callback else "")
        assert f"| `{name}" in cli, name


def test_deposit_scanning_follows_the_configured_gap_limit(
    node: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BITCACHE_DEPOSITS_GAP_LIMIT", "1")  # no funded address yet: none
    assert invoke("deposit-address", "bob", code=EXIT_REFUSED)["error"] == "GapLimitExceeded"
    monkeypatch.delenv("BITCACHE_DEPOSITS_GAP_LIMIT")
    assert str(invoke("deposit-address", "bob")["address"]).startswith("bcrt1")


def test_serve_takes_its_folder_from_the_configuration(node: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["serve"])  # neither --files nor serve.files
    assert missing.exit_code == EXIT_REFUSED and "serve.files" in missing.stderr
    edit(node, "serve", files="no-such-folder")
    wrong = runner.invoke(app, ["serve"])
    assert wrong.exit_code == EXIT_REFUSED
    assert f"{node / 'no-such-folder'} is not a folder" in " ".join(wrong.stderr.split())


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)
@given(
    port=st.integers(1, 65_535),
    seconds=st.floats(0, 3600, allow_nan=False, allow_infinity=False),
    anchor=st.booleans(),
    urls=st.lists(st.from_regex(r"https://[a-z]{1,10}\.example/[a-z0-9_-]{0,10}",
                                fullmatch=True), max_size=3),
    name=st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/."),
                 min_size=1, max_size=20),
    gap=st.none() | st.integers(1, 10**6),
)
def test_any_valid_configuration_reads_back_as_written(
    node: Path, port: int, seconds: float, anchor: bool, urls: list[str], name: str,
    gap: int | None,
) -> None:
    cfg = load(node, environ={})
    changed = replace(
        cfg,
        serve=replace(cfg.serve, port=port, key_cache_seconds=seconds),
        settlement=replace(cfg.settlement, anchor=anchor),
        events=replace(cfg.events, webhook_urls=tuple(urls)),
        metrics=replace(cfg.metrics, textfile=str(node / name)),
        deposits=replace(cfg.deposits, gap_limit=gap),
    )
    (node / "bitcache.toml").write_text(to_toml(changed))
    assert load(node, environ={}) == changed


def test_a_tilde_of_no_user_is_a_plain_relative_path(tmp_path: Path) -> None:
    """Found by the round-trip property: `~Ĕ` raised RuntimeError from pathlib."""
    from bitcache.config.paths import absolute

    assert absolute(Path("~Ĕ/x.key"), tmp_path) == tmp_path / "~Ĕ" / "x.key"
    assert absolute(Path("~/x.key"), tmp_path) == Path.home() / "x.key"
