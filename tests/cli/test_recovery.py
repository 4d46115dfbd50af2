"""Deep reorgs from the command line: settle keeps raising the alarm (exit 5) until an
operator resolves it, and recovery (abandon, reverse with a shortfall) needs no Python."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from bitcache.chain.regtest import RegtestChain
from bitcache.cli import EXIT_CHECK_FAILED, EXIT_REFUSED, EXIT_REORG, NodeConfig, app
from bitcache.core.accounts import OPERATOR_EQUITY, default_spec, payable, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.utxo import OutPoint
from bitcache.network import Network
from bitcache.services.settlement import SettlementService
from bitcache.settlement.model import SettlementConfig
from bitcache.store.ledger import LedgerStore
from bitcache.wallet.addresses import parse_address
from tests.cli import ISO_UTC
from tests.deposits.conftest import Faucet
from tests.settlement.support import payee_address

PASS = "correct horse battery staple"
N = 3  # the node's confirmations (init's default)
DEPOSIT = 20_000_000  # sat
SPENT = 15_000_000  # msat of bob's credit spent on downloads of carol's files


def run(runner: CliRunner, args: list[str], code: int = 0) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


@contextmanager
def node_chain(home: Path) -> Iterator[RegtestChain]:
    with RegtestChain.open(Path(NodeConfig.load(home).chain.path or "")) as chain:
        yield chain


def deposit(home: Path, runner: CliRunner) -> tuple[OutPoint, bytes]:
    """Bob's deposit, N deep: its outpoint and a transaction double-spending it."""
    address = str(run(runner, ["deposit-address", "bob"])["address"])
    script = parse_address(address, Network.REGTEST).script_pubkey
    with node_chain(home) as chain:
        chain.mine(110)
        faucet = Faucet(chain)
        txid, coin = faucet.pay(script, DEPOSIT)
        chain.mine(N)
        return OutPoint(txid, 0), faucet.conflict(coin)


def deep_reorg(home: Path, conflict: bytes | None) -> None:
    """Replace the last N blocks by a longer branch (confirming ``conflict``, if given)."""
    with node_chain(home) as chain:
        chain.reorg(N, new_blocks=N + 1, transactions=[conflict] if conflict else [])


def ledger_of(home: Path) -> LedgerStore:
    return LedgerStore.open(NodeConfig.load(home).db)


def spend_and_earn(home: Path) -> None:
    """Bob spends part of his credit on carol's files; carol has a payout address."""
    ledger = ledger_of(home)
    ledger.record_many(
        [EntryRequest("dl:1", (Posting(prepaid("bob"), SPENT), Posting(payable("carol"), -SPENT)))],
        atomic=True,
        open_accounts=[default_spec(payable("carol"))],
    )
    with node_chain(home) as chain:
        cfg = NodeConfig.load(home)
        service = SettlementService(ledger, chain, cfg.watch_only(), SettlementConfig())
        service.register_payout_address("carol", payee_address("carol")[0])


def test_a_deep_reorg_keeps_settle_exiting_5_until_acknowledged(
    home: Path, runner: CliRunner
) -> None:
    op, _ = deposit(home, runner)
    assert run(runner, ["settle"])["deposits_credited"] == 1
    deep_reorg(home, None)  # the deposit is back in the mempool, unconfirmed
    for _ in range(2):  # reported on every run, not once
        cycle = run(runner, ["settle"], EXIT_REORG)
        [alarm] = cycle["reorged_deposits"]  # type: ignore[misc]
        assert alarm["outpoint"] == str(op) and alarm["value_sat"] == DEPOSIT
    human = runner.invoke(app, ["settle"])
    assert human.exit_code == EXIT_REORG
    assert f"deposit {op}" in human.output.replace("\n", "")  # rich wraps long lines
    checks = run(runner, ["reconcile"], EXIT_CHECK_FAILED)["checks"]
    assert checks["reorged_deposits"]["ok"] is False  # type: ignore[index]
    # The transaction may confirm again: the operator acknowledges instead of reversing.
    done = run(runner, ["deposits", "acknowledge", str(op), "--note", "back in the mempool"])
    assert ISO_UTC.match(str(done["acknowledged_at"])) and done["reversed_by"] is None
    assert run(runner, ["settle"])["reorged_deposits"] == []
    listed = run(runner, ["deposits", "reorged"])["reorged_deposits"]
    assert [r["note"] for r in listed] == ["back in the mempool"]  # type: ignore[union-attr]
    run(runner, ["reconcile"], EXIT_CHECK_FAILED)  # the books still name the credit
    with node_chain(home) as chain:
        chain.mine(N)  # it confirms again: the scan restores it
    assert run(runner, ["settle"])["reorged_deposits"] == []
    assert run(runner, ["deposits", "reorged"])["reorged_deposits"] == []
    assert run(runner, ["reconcile"])["ok"] is True


def test_recovering_a_lost_deposit_that_a_settlement_spent(
    home: Path, runner: CliRunner
) -> None:
    op, conflict = deposit(home, runner)
    assert run(runner, ["settle"])["deposits_credited"] == 1
    spend_and_earn(home)
    cycle = run(runner, ["settle", "--no-anchor"])
    [sid] = cycle["created"]  # type: ignore[misc]
    deep_reorg(home, conflict)  # bob's deposit is double-spent: gone for good
    abandoned = run(runner, ["settlement", "abandon", str(sid), "--reason", "deposit reorged"])
    assert abandoned["state"] == "void" and abandoned["payees"] == ["carol"]
    run(runner, ["settlement", "abandon", str(sid), "--reason", "again"], EXIT_REFUSED)
    cycle = run(runner, ["settle", "--no-anchor"], EXIT_REORG)
    assert [a["outpoint"] for a in cycle["reorged_deposits"]] == [str(op)]  # type: ignore[union-attr]
    refused = run(runner, ["deposits", "reverse", str(op)], EXIT_REFUSED)
    assert refused["error"] == "InsufficientFunds"  # bob spent part of the credit
    done = run(runner, ["deposits", "reverse", str(op), "--cover-shortfall"])
    assert done["shortfall_msat"] == SPENT and done["replayed"] is False
    again = run(runner, ["deposits", "reverse", str(op), "--cover-shortfall"])
    assert again["replayed"] is True and again["reversal_entry"] == done["reversal_entry"]
    assert run(runner, ["settle", "--no-anchor"])["reorged_deposits"] == []
    ledger = ledger_of(home)
    assert ledger.balance(prepaid("bob")).posted == 0
    assert ledger.balance(OPERATOR_EQUITY).posted == SPENT  # the operator bears the loss
    assert -ledger.balance(payable("carol")).posted == SPENT  # carol is still owed
    report = run(runner, ["reconcile"])
    assert report["ok"] is True, report["discrepancies"]


def test_recovery_commands_refuse_bad_input_with_typed_errors(
    home: Path, runner: CliRunner
) -> None:
    op, _ = deposit(home, runner)
    run(runner, ["settle"])
    unknown = OutPoint("ab" * 32, 0)
    cases: list[tuple[list[str], str]] = [
        (["deposits", "reverse", "nonsense"], "InvalidInput"),
        (["deposits", "reverse", f"{op.txid}:x"], "InvalidInput"),
        (["deposits", "reverse", str(unknown)], "UnknownDeposit"),
        (["deposits", "reverse", str(op)], "DepositStateError"),  # its block is in the chain
        (["deposits", "acknowledge", str(op), "--note", "x"], "DepositStateError"),
        (["deposits", "acknowledge", str(unknown), "--note", "x"], "UnknownDeposit"),
        (["shortfall", OPERATOR_EQUITY, "5", "--key", "k", "--memo", "m"], "InvalidInput"),
        (["shortfall", "asset:wallet", "0", "--key", "k", "--memo", "m"], "InvalidAmount"),
        (["shortfall", "asset:wallet", "5", "--key", "", "--memo", "m"], "InvalidIdempotencyKey"),
        (["shortfall", "liability:prepaid:nobody", "5", "--key", "k", "--memo", "m"],
         "UnknownAccount"),
        (["settlement", "abandon", "99", "--reason", "x"], "UnknownEntry"),
    ]
    ledger = ledger_of(home)
    before = ledger.head()
    for args, error in cases:
        assert run(runner, args, EXIT_REFUSED)["error"] == error, args
    assert ledger.head() == before  # nothing was written
    booked = run(runner, ["shortfall", "asset:wallet", "5000", "--key", "loss:1", "--memo", "m"])
    assert run(runner, ["shortfall", "asset:wallet", "5000", "--key", "loss:1", "--memo", "m"]
               )["entry"] == booked["entry"]  # a retry writes nothing
    assert ledger.balance("asset:wallet").posted == DEPOSIT * 1000 - 5000
