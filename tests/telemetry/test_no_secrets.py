"""No secret reaches the logs: a demo and an operator's node run with debug logs, grepped.

The secrets looked for: the demo's hot-wallet and uploader seeds, the
account's extended private key and the first private keys it derives, the
platform's signing key; on a node made by ``bitcache init``: the mnemonic,
the passphrase, an API key made by ``bitcache keys create`` and the webhook
secret. Each is looked for in several encodings, and the finder is first
shown to find every one of them in a control text (so the test can fail).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bitcache import demo
from bitcache.cli import app
from bitcache.network import Network
from bitcache.services import node as node_service
from bitcache.wallet.keys import Chain, HDWallet
from tests.cli.test_events_cli import with_section

PASS = "pass-phrase-for-the-log-test"


def forms(secret: str | bytes) -> set[str]:
    """The ways a secret could be written into a log line."""
    if isinstance(secret, str):
        return {secret}
    return {secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode()}


def leaks(text: str, secrets: dict[str, str | bytes]) -> list[str]:
    """The names of the secrets found in ``text``, in any of their forms."""
    return sorted(name for name, s in secrets.items() if any(f in text for f in forms(s)))


def wallet_secrets(w: HDWallet, prefix: str) -> dict[str, str | bytes]:
    node = w._account_node
    found: dict[str, str | bytes] = {f"{prefix} xprv": node.PrivateKey().ToExtended()}
    for chain in Chain:
        for i in range(3):
            found[f"{prefix} key {chain.name} {i}"] = w.private_key(chain, i)
    return found


def assert_no_leak(text: str, secrets: dict[str, str | bytes]) -> None:
    control = " ".join(sorted(f for s in secrets.values() for f in forms(s)))
    assert leaks(control, secrets) == sorted(secrets)  # the finder finds each one
    assert leaks(text, secrets) == []


def log_lines(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    assert text.strip(), "the run logged nothing: the test would prove nothing"
    return text


def test_a_demo_with_debug_logs_logs_no_seed_or_key(tmp_path: Path) -> None:
    log = tmp_path / "debug.jsonl"
    result = CliRunner().invoke(app, [
        "--log-level", "debug", "--log-format", "json", "--log-file", str(log),
        "demo", "--folder", str(tmp_path / "demo"), "--downloads", "2000",
    ])
    assert result.exit_code == 0, result.output
    text = log_lines(log)
    kinds = {json.loads(line)["logger"] for line in text.splitlines()}
    assert {"bitcache.services.settlementjob", "bitcache.services.deposits"} <= kinds
    secrets: dict[str, str | bytes] = {
        "hot wallet seed": demo.HOT_WALLET_SEED,
        "uploader seed": demo.UPLOADER_SEED,
        "platform key seed": demo.PLATFORM_KEY_SEED,
        "platform key": demo.demo_platform_key().private_bytes_raw(),
        **wallet_secrets(HDWallet.from_seed(demo.HOT_WALLET_SEED, Network.REGTEST), "hot"),
    }
    assert_no_leak(text, secrets)


def _invoke(args: Iterable[str]) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code in (0, 3), result.output  # 3: the webhook is not listening
    return result.output


def test_an_operators_node_with_debug_logs_logs_no_mnemonic_passphrase_or_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mnemonics: list[str] = []

    def capture(entropy: bytes) -> str:
        mnemonics.append(original(entropy))
        return mnemonics[-1]

    original = node_service.generate_mnemonic
    monkeypatch.setattr(node_service, "generate_mnemonic", capture)
    home, log = tmp_path / "node", tmp_path / "debug.log"
    monkeypatch.setenv("BITCACHE_PASSPHRASE", PASS)
    monkeypatch.setenv("BITCACHE_HOME", str(home))
    monkeypatch.setenv("BITCACHE_LOG_LEVEL", "debug")
    monkeypatch.setenv("BITCACHE_LOG_FILE", str(log))
    monkeypatch.delenv("BITCACHE_DB", raising=False)
    _invoke(["init", "--network", "regtest", "--chain", "regtest"])
    webhook_secret = "whsec-" + "9f" * 20
    (home / "webhook.secret").write_text(webhook_secret + "\n")
    toml = home / "bitcache.toml"
    toml.write_text(with_section(toml.read_text(encoding="utf-8"), "events", {
        "webhook_urls": ["http://127.0.0.1:9/hook"], "webhook_secret_file": "webhook.secret",
        "max_attempts": 2}))
    api_key = _invoke(["keys", "create", "--scope", "operator"]).splitlines()[0].strip()
    for args in (["deposit-address", "d1"], ["settle"], ["reconcile"], ["events", "deliver"],
                 ["metrics"], ["events", "list"]):
        _invoke(args)
    text = log_lines(log)
    (mnemonic,) = mnemonics
    w = HDWallet.from_mnemonic(mnemonic, Network.REGTEST)
    secrets: dict[str, str | bytes] = {
        "mnemonic": mnemonic,
        "passphrase": PASS,
        "api key": api_key,
        "webhook secret": webhook_secret,
        **wallet_secrets(w, "node"),
    }
    assert_no_leak(text, secrets)
