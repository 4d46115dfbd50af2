"""The embedded chain keeps its tip and its mempool when its process is killed (SIGKILL)
at any point: while opening, mining, reorganising or closing.

Each test builds a folder, then for every kill point of the operation (see
``killing.py``) copies the folder, runs the operation in a child killed at
that point, reopens the copy here and checks that it holds the state from
before the operation or the state after it, never anything else (no block
lost, no unconfirmed transaction lost).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from killing import count_points, run_killed

from bitcache.chain.regtest import ANYONE_CAN_SPEND_SCRIPT, RegtestChain
from bitcache.core.tip import Tip
from bitcache.core.utxo import OutPoint

COIN = 100_000_000
FEE = 2_000
Spend = Callable[..., bytes]


def _coinbase(chain: RegtestChain, height: int) -> tuple[OutPoint, int]:
    [utxo] = [u for u in chain.utxos([ANYONE_CAN_SPEND_SCRIPT]) if u.height == height]
    return utxo.outpoint, utxo.value_sat


def _pay_parent_and_child(chain: RegtestChain, spend: Spend, height: int) -> list[str]:
    """Broadcast a spend of the coinbase at ``height`` and a child of it; their txids."""
    coin = _coinbase(chain, height)
    half = coin[1] // 2
    parent = spend([coin], [(ANYONE_CAN_SPEND_SCRIPT, half), (ANYONE_CAN_SPEND_SCRIPT, half - FEE)])
    parent_id = chain.broadcast(parent)
    child = spend([(OutPoint(parent_id, 0), half)], [(ANYONE_CAN_SPEND_SCRIPT, half - FEE)])
    return [parent_id, chain.broadcast(child)]


def _kill_everywhere(
    tmp_path: Path,
    pristine: Path,
    operation: Callable[[Any], object],
    check: Callable[[Path], None],
    *,
    prepare: Callable[[Path], Any] | None = None,
) -> int:
    """Kill ``operation`` at each of its points on a copy of ``pristine``; ``check`` each copy
    (and the copy the unkilled run left)."""
    survey = _copy(pristine, tmp_path / "survey")
    points = count_points(operation, survey, tmp_path / "points", prepare=prepare)
    check(survey)
    for k in range(points):
        work = _copy(pristine, tmp_path / f"kill-{k}")
        code = run_killed(operation, work, k, tmp_path / "points", prepare=prepare)
        assert code == -9, f"point {k}: the child ended with {code} instead of being killed"
        check(work)
        shutil.rmtree(work)
    return points


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _open(folder: Path) -> RegtestChain:
    return RegtestChain.open(folder)


# --- opening ----------------------------------------------------------------------------


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "killed"])
def test_a_kill_while_opening_loses_no_block_and_no_mempool_transaction(
    tmp_path: Path, spend_anyone: Spend, closed: bool
) -> None:
    """Open a folder last closed cleanly, or left by a killed process (blocks the kernel
    never flushed, a mempool), and kill the open at every point: the same tip and the
    same mempool every time."""
    pristine = tmp_path / "pristine"
    with RegtestChain.open(pristine) as chain:
        chain.mine(101)
    expected = tmp_path / "expected.json"

    def mine_and_broadcast(folder: Path) -> None:
        chain = RegtestChain.open(folder)
        chain.mine(2)
        _pay_parent_and_child(chain, spend_anyone, 1)
        chain.mine(1)
        txids = _pay_parent_and_child(chain, spend_anyone, 2)
        tip = chain.tip()
        expected.write_text(json.dumps([tip.height, tip.block_hash, txids]))
        if closed:
            chain.close()

    assert run_killed(mine_and_broadcast, pristine, None, tmp_path / "points") == 0
    height, block_hash, mempool = json.loads(expected.read_text())

    def check(folder: Path) -> None:
        with RegtestChain.open(folder) as chain:
            assert chain.tip() == Tip(height, block_hash)
            assert chain.mempool_txids() == mempool

    _kill_everywhere(tmp_path, pristine, _open, check)


# --- mining, reorganising, closing --------------------------------------------------------


def _with_mempool(tmp_path: Path, spend: Spend, *, confirm_first: bool) -> tuple[Path, list[str]]:
    """A cleanly closed folder at height 103 with two mempool txs (after one confirmed pair)."""
    pristine = tmp_path / "pristine"
    with RegtestChain.open(pristine) as chain:
        chain.mine(101)
        confirmed = _pay_parent_and_child(chain, spend, 1) if confirm_first else []
        chain.mine(2)
        return pristine, confirmed + _pay_parent_and_child(chain, spend, 2)


def test_a_kill_while_mining_leaves_the_block_and_its_transactions_or_neither(
    tmp_path: Path, spend_anyone: Spend
) -> None:
    pristine, txids = _with_mempool(tmp_path, spend_anyone, confirm_first=False)
    with RegtestChain.open(pristine) as chain:
        before = chain.tip()

    def check(folder: Path) -> None:
        with RegtestChain.open(folder) as chain:
            tip = chain.tip()
            if tip == before:
                assert chain.mempool_txids() == txids
            else:
                assert tip.height == before.height + 1
                assert chain.block_hash(before.height) == before.block_hash
                assert chain.mempool_txids() == []
                assert {chain.tx_status(t).block_height for t in txids} == {tip.height}

    points = _kill_everywhere(
        tmp_path, pristine, lambda chain: chain.mine(1), check, prepare=_open
    )
    assert points >= 4


def test_a_kill_during_a_reorg_keeps_the_old_branch_or_returns_its_transactions_to_the_mempool(
    tmp_path: Path, spend_anyone: Spend
) -> None:
    pristine, txids = _with_mempool(tmp_path, spend_anyone, confirm_first=True)
    confirmed, pending = txids[:2], txids[2:]
    with RegtestChain.open(pristine) as chain:
        chain.mine(1)  # the block at the tip now holds the second pair
        assert chain.mempool_txids() == []
        before = chain.tip()
        in_tip = [t for t in txids if chain.tx_status(t).block_height == before.height]
    assert in_tip == pending and confirmed

    def check(folder: Path) -> None:
        with RegtestChain.open(folder) as chain:
            tip = chain.tip()
            if tip == before:
                assert chain.mempool_txids() == []
                assert all(chain.tx_status(t).confirmed for t in txids)
            else:
                assert tip.height == before.height + 1
                assert chain.block_hash(before.height) != before.block_hash
                assert chain.mempool_txids() == pending  # orphaned: back, parents first
                assert all(chain.tx_status(t).confirmed for t in confirmed)

    points = _kill_everywhere(
        tmp_path, pristine, lambda chain: chain.reorg(1), check, prepare=_open
    )
    assert points >= 8


def test_a_kill_while_closing_loses_nothing(tmp_path: Path, spend_anyone: Spend) -> None:
    pristine, txids = _with_mempool(tmp_path, spend_anyone, confirm_first=True)
    with RegtestChain.open(pristine) as chain:
        before = chain.tip()

    def unflushed(folder: Path) -> RegtestChain:
        chain = RegtestChain.open(folder)
        chain.mine(1)
        return chain

    def check(folder: Path) -> None:
        with RegtestChain.open(folder) as chain:
            assert chain.tip().height == before.height + 1
            assert chain.mempool_txids() == []
            assert all(chain.tx_status(t).confirmed for t in txids)

    points = _kill_everywhere(
        tmp_path, pristine, lambda chain: chain.close(), check, prepare=unflushed
    )
    assert points >= 4


@pytest.mark.parametrize("torn", [1, 3, 50])
def test_a_torn_block_log_record_is_cut_off(tmp_path: Path, torn: int) -> None:
    """A record cut short by a kill is dropped at the next open (its block was never
    reported mined), so the blocks logged after it are found again."""
    folder = tmp_path / "chain"
    with RegtestChain.open(folder) as chain:
        chain.mine(3)
    log = folder / "blocks.log"
    log.write_bytes(b"\xff\x00\x00\x00" + b"\x00" * torn)
    expected = tmp_path / "tip.json"

    def mine_and_die(folder: Path) -> None:
        chain = RegtestChain.open(folder)
        chain.mine(2)
        expected.write_text(json.dumps(chain.tip().block_hash))

    assert run_killed(mine_and_die, folder, None, tmp_path / "points") == 0
    with RegtestChain.open(folder) as chain:
        assert chain.tip() == Tip(5, json.loads(expected.read_text()))
