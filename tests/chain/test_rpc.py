"""BitcoinCoreRPC against a fake bitcoind that answers with Core's shapes and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bitcoin.core import CTransaction, b2lx
from contract import ContractFacts, check_backend_contract
from fakes.fake_core import FakeCore
from fakes.reasons import ALREADY_KNOWN, REJECTIONS
from fakes.server import Fault, Raw
from fakes.state import ChainState, make_tx

from bitcache.chain.http import RetryPolicy, no_jitter
from bitcache.chain.protocol import ChainBackend
from bitcache.chain.rejection import rejection_class, txid_of
from bitcache.chain.rpc import BLOCK_BATCH, BitcoinCoreRPC, default_cookie_path
from bitcache.core.utxo import COINBASE_MATURITY, OutPoint, OutSpend
from bitcache.errors import (
    BroadcastRejected,
    ChainAuthFailed,
    ChainError,
    ChainMismatch,
    ChainProtocolError,
    ChainUnavailable,
    FeeEstimateUnavailable,
    FeeTooLow,
    InvalidInput,
    MainnetRefused,
    RateLimited,
)
from bitcache.network import Network

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
AUTH = ("alice", "s3cret")
P2WPKH = bytes.fromhex("0014") + bytes(range(20))
OTHER = bytes.fromhex("0014") + bytes(20)
MINER = bytes.fromhex("0014") + bytes([7] * 20)


@pytest.fixture
def state() -> ChainState:
    s = ChainState(Network.TESTNET4)
    s.mine(5)
    return s


@pytest.fixture
def core(state: ChainState) -> Iterator[FakeCore]:
    server = FakeCore(state, chain="testnet4", auth=AUTH).start()
    yield server
    server.stop()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def rpc(core: FakeCore, sleeps: Sleeps) -> Iterator[BitcoinCoreRPC]:
    client = BitcoinCoreRPC(
        core.url,
        network="testnet4",
        auth=AUTH,
        timeout=0.25,
        retries=2,
        sleep=sleeps,
        jitter=no_jitter,
    )
    yield client
    client.close()


def test_is_a_chain_backend(rpc: BitcoinCoreRPC) -> None:
    assert isinstance(rpc, ChainBackend)
    assert rpc.network is Network.TESTNET4


def test_tip_and_block_hash(rpc: BitcoinCoreRPC, state: ChainState) -> None:
    tip = rpc.tip()
    assert (tip.height, tip.block_hash) == (5, state.blocks[5])
    assert rpc.block_hash(2) == state.blocks[2]
    with pytest.raises(ChainError, match="no block at height 9"):
        rpc.block_hash(9)
    with pytest.raises(InvalidInput):
        rpc.block_hash(-1)


def test_default_port_and_cookie_path() -> None:
    client = BitcoinCoreRPC("http://node.example", network="testnet4", auth=AUTH)
    assert client.url == "http://node.example:48332"
    assert BitcoinCoreRPC(network="signet", auth=AUTH).url == "http://127.0.0.1:38332"
    assert BitcoinCoreRPC("http://h:1234", network="regtest", auth=AUTH).url == "http://h:1234"
    assert default_cookie_path(Network.TESTNET4, Path("/d")) == Path("/d/testnet4/.cookie")


def test_mainnet_refused_without_opt_in() -> None:
    with pytest.raises(MainnetRefused):
        BitcoinCoreRPC(network="mainnet", auth=AUTH)


def test_cookie_auth(core: FakeCore, tmp_path: Path) -> None:
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:abc123")
    core.auth = ("__cookie__", "abc123")
    with BitcoinCoreRPC(core.url, network="testnet4", cookie_file=cookie, timeout=1) as client:
        assert client.tip().height == 5
        core.auth = ("__cookie__", "rotated")  # node restarted: a new cookie
        with pytest.raises(ChainAuthFailed, match="cookie file"):
            client.tip()
        cookie.write_text("__cookie__:rotated")  # re-read on every request
        assert client.tip().height == 5


def test_missing_cookie_names_the_file(core: FakeCore, tmp_path: Path) -> None:
    with (
        BitcoinCoreRPC(core.url, network="testnet4", cookie_file=tmp_path / "nope", timeout=1) as c,
        pytest.raises(ChainUnavailable, match="nope"),
    ):
        c.tip()


def test_wrong_password_is_an_auth_error_not_retried(core: FakeCore, sleeps: Sleeps) -> None:
    client = BitcoinCoreRPC(
        core.url, network="testnet4", auth=("alice", "wrong"), timeout=1, sleep=sleeps
    )
    with pytest.raises(ChainAuthFailed, match="rpcuser"):
        client.tip()
    assert len(core.requests) == 1 and sleeps == []


@pytest.mark.parametrize(
    ("served", "wanted"), [("testnet4", "regtest"), ("test", "testnet4"), ("signet", "testnet4")]
)
def test_chain_mismatch(state: ChainState, served: str, wanted: str) -> None:
    server = FakeCore(state, chain=served, auth=AUTH).start()
    try:
        with (
            BitcoinCoreRPC(server.url, network=wanted, auth=AUTH, timeout=1) as client,
            pytest.raises(ChainMismatch, match=served),
        ):
            client.fee_rate(2)
    finally:
        server.stop()


def test_warmup_then_success_backs_off_exponentially(
    rpc: BitcoinCoreRPC, core: FakeCore, sleeps: Sleeps
) -> None:
    core.inject(Fault.WARMUP, 2)
    assert rpc.tip().height == 5
    assert sleeps == [0.5, 1.0]


def test_warmup_forever_is_unavailable(rpc: BitcoinCoreRPC, core: FakeCore) -> None:
    core.inject(Fault.WARMUP, 3)
    with pytest.raises(ChainUnavailable, match="Loading block index") as err:
        rpc.tip()
    assert not isinstance(err.value, RateLimited)
    assert len(core.requests) == 3


def test_http_503_forever_is_unavailable(rpc: BitcoinCoreRPC, core: FakeCore) -> None:
    core.inject(Fault.UNAVAILABLE, 3)
    with pytest.raises(ChainUnavailable, match="HTTP 503"):
        rpc.tip()


def test_429_then_success_honours_retry_after(
    rpc: BitcoinCoreRPC, core: FakeCore, sleeps: Sleeps
) -> None:
    core.inject(Fault.RATE_LIMIT, 1, retry_after="7")
    assert rpc.tip().height == 5
    assert sleeps == [7.0]


def test_timeout_is_unavailable_after_retries(
    rpc: BitcoinCoreRPC, core: FakeCore, sleeps: Sleeps
) -> None:
    core.inject(Fault.TIMEOUT, 3)
    with pytest.raises(ChainUnavailable, match="timed out"):
        rpc.tip()
    assert len(sleeps) == 2


def test_connection_refused_is_unavailable(sleeps: Sleeps) -> None:
    client = BitcoinCoreRPC(
        "http://127.0.0.1:9", network="regtest", auth=AUTH, timeout=0.5, retries=1, sleep=sleeps
    )
    with pytest.raises(ChainUnavailable, match="cannot reach"):
        client.tip()
    assert len(sleeps) == 1


def test_garbage_is_a_protocol_error(rpc: BitcoinCoreRPC, core: FakeCore) -> None:
    core.inject(Fault.GARBAGE)
    with pytest.raises(ChainProtocolError, match="not JSON"):
        rpc.tip()


def test_wrong_path_is_named(core: FakeCore) -> None:
    with (
        BitcoinCoreRPC(core.url + "/rpc", network="testnet4", auth=AUTH, timeout=1) as client,
        pytest.raises(ChainProtocolError, match="wrong URL path"),
    ):
        client.tip()


def test_unknown_method_is_a_protocol_error(rpc: BitcoinCoreRPC) -> None:
    with pytest.raises(ChainProtocolError, match="-32601"):
        rpc.call("nosuchmethod")


def test_missing_field_is_a_protocol_error(rpc: BitcoinCoreRPC, core: FakeCore) -> None:
    core.methods["getblockchaininfo"] = lambda: {"blocks": 5}
    with pytest.raises(ChainProtocolError, match="'chain' is missing"):
        rpc.tip()


def test_utxos_confirmed_and_mempool(rpc: BitcoinCoreRPC, state: ChainState) -> None:
    a = state.fund(P2WPKH, 50_000)
    b = state.fund(P2WPKH, 1)
    state.fund(OTHER, 70_000)
    spent = state.fund(P2WPKH, 9_000)
    state.spend([spent], [(8_000, OTHER)])  # in the mempool: spent, gone from our view
    pending = state.fund(P2WPKH, 12_345, confirmed=False)
    utxos = rpc.utxos([P2WPKH])
    assert [(u.outpoint, u.value_sat, u.height) for u in utxos] == [
        (a, 50_000, 6),
        (b, 1, 7),
        (pending, 12_345, None),
    ]
    assert utxos[0].block_hash == state.blocks[6]
    assert utxos[0].script_pubkey == P2WPKH
    assert rpc.utxos([]) == []


def test_utxos_without_mempool_and_without_scan_blockhash(
    core: FakeCore, state: ChainState
) -> None:
    a = state.fund(P2WPKH, 50_000)
    state.fund(P2WPKH, 5, confirmed=False)
    core.scan_reports_blockhash = False  # nodes before v28
    with BitcoinCoreRPC(
        core.url, network="testnet4", auth=AUTH, include_mempool=False, timeout=1
    ) as c:
        assert [(u.outpoint, u.block_hash) for u in c.utxos([P2WPKH])] == [(a, state.blocks[6])]
    assert "getrawmempool" not in core.calls()


def test_utxos_flag_coinbase_outputs(
    core: FakeCore, rpc: BitcoinCoreRPC, state: ChainState
) -> None:
    young = state.mine_to(P2WPKH, 50_000)
    plain = state.fund(P2WPKH, 7_000)
    found = {u.outpoint: u for u in rpc.utxos([P2WPKH])}
    assert found[young].coinbase and not found[young].mature(state.height)
    assert not found[plain].coinbase


def test_utxos_ask_the_tx_of_young_outputs_when_the_scan_omits_coinbase(
    core: FakeCore, rpc: BitcoinCoreRPC, state: ChainState
) -> None:
    old = state.mine_to(P2WPKH, 50_000)
    state.mine(COINBASE_MATURITY)
    young = state.mine_to(P2WPKH, 50_000)
    plain = state.fund(P2WPKH, 7_000)
    core.scan_reports_coinbase = False  # nodes before v25
    found = {u.outpoint: u for u in rpc.utxos([P2WPKH])}
    assert found[young].coinbase and not found[plain].coinbase
    assert found[old].mature(state.height)
    asked = [json.loads(r.body) for r in core.requests]
    looked_up = {c["params"][0] for c in asked if isinstance(c, dict)
                 and c["method"] == "getrawtransaction"}
    assert looked_up == {young.txid, plain.txid}  # the old coinbase is mature whatever it is


def test_received_lists_spent_outputs_from_a_height(
    core: FakeCore, rpc: BitcoinCoreRPC, state: ChainState
) -> None:
    early = state.fund(P2WPKH, 1_000)
    state.mine(BLOCK_BATCH)  # more blocks than one batch between the outputs
    spent = state.fund(P2WPKH, 9_000)
    state.spend([spent], [(8_000, OTHER)], confirmed=True)
    coinbase = state.mine_to(P2WPKH, 50_000)
    pending = state.fund(P2WPKH, 12_345, confirmed=False)
    state.fund(OTHER, 5_000, confirmed=False)
    everything = rpc.received([P2WPKH], 0)
    assert [u.outpoint for u in everything] == [early, spent, coinbase, pending]
    by = {u.outpoint: u for u in everything}
    assert by[spent].height == state.txs[spent.txid].height
    assert by[spent].block_hash == state.blocks[by[spent].height or 0]
    assert by[coinbase].coinbase and not by[spent].coinbase and by[pending].height is None
    since = state.txs[spent.txid].height or 0
    assert [u.outpoint for u in rpc.received([P2WPKH], since)] == [spent, coinbase, pending]
    assert rpc.received([], 0) == []
    with pytest.raises(InvalidInput):
        rpc.received([P2WPKH], -1)


@pytest.mark.parametrize(
    ("printed", "expected"),
    [("0.00001000", 1000), ("0.000001", 100), ("1.234e-05", 1234), ("0.000012341", 1235)],
)
def test_relay_floor_is_mempoolminfee_exactly(
    rpc: BitcoinCoreRPC, core: FakeCore, printed: str, expected: int
) -> None:
    core.mempool_min_fee = Raw(printed)
    assert rpc.relay_floor() == expected


def test_relay_floor_without_the_field_is_a_protocol_error(
    rpc: BitcoinCoreRPC, core: FakeCore
) -> None:
    core.mempool_min_fee = Raw('"cheap"')
    with pytest.raises(ChainProtocolError, match="expected a number"):
        rpc.relay_floor()
    core.methods["getmempoolinfo"] = lambda: {"loaded": True}
    with pytest.raises(ChainProtocolError, match="mempoolminfee"):
        rpc.relay_floor()


def test_utxos_reject_sub_sat_amount(
    rpc: BitcoinCoreRPC, core: FakeCore, state: ChainState
) -> None:
    state.fund(P2WPKH, 1000)
    real = core.methods["scantxoutset"]

    def fractional(*args: object) -> object:
        answer = real(*args)
        answer["unspents"][0]["amount"] = Raw("0.000000015")
        return answer

    core.methods["scantxoutset"] = fractional
    with pytest.raises(ChainProtocolError, match="whole number of sats"):
        rpc.utxos([P2WPKH])


def test_tx_status(rpc: BitcoinCoreRPC, core: FakeCore, state: ChainState) -> None:
    confirmed = state.fund(P2WPKH, 1000)
    state.mine(2)
    pending = state.fund(P2WPKH, 1000, confirmed=False)
    status = rpc.tx_status(confirmed.txid)
    assert (status.known, status.confirmed, status.block_height, status.confirmations) == (
        True,
        True,
        6,
        3,
    )
    assert status.block_hash == state.blocks[6]
    assert (rpc.tx_status(pending.txid).known, rpc.tx_status(pending.txid).confirmed) == (
        True,
        False,
    )
    assert rpc.tx_status("ab" * 32).known is False
    core.txindex = False  # without -txindex a confirmed transaction is invisible
    assert rpc.tx_status(confirmed.txid).known is False
    with pytest.raises(InvalidInput):
        rpc.tx_status("xyz")


def test_raw_transaction(rpc: BitcoinCoreRPC, state: ChainState) -> None:
    point = state.fund(P2WPKH, 1000)
    assert rpc.raw_transaction(point.txid) == state.txs[point.txid].raw
    assert rpc.raw_transaction("cd" * 32) is None


def test_outspend(rpc: BitcoinCoreRPC, core: FakeCore, state: ChainState) -> None:
    unspent = state.fund(P2WPKH, 1000)
    other = state.fund(P2WPKH, 2000)
    in_mempool = state.fund(P2WPKH, 3000)
    spender = state.spend([other, in_mempool], [(4000, OTHER)])
    assert rpc.outspend(unspent) == OutSpend(spent=False)
    assert rpc.outspend(in_mempool) == OutSpend(
        spent=True, txid=spender.txid, vin=1, confirmed=False
    )
    core.has_gettxspendingprevout = False  # Core < 24: scan the mempool
    assert rpc.outspend(other) == OutSpend(spent=True, txid=spender.txid, vin=0)
    state.mine()  # spent in block 9: found by searching the recent blocks
    found = OutSpend(spent=True, txid=spender.txid, vin=0, confirmed=True, block_height=9)
    assert rpc.outspend(other) == found
    state.mine(3)  # now deeper than the search window: spent, spender unknown
    with BitcoinCoreRPC(core.url, network="testnet4", auth=AUTH, spend_search_blocks=3) as short:
        assert short.outspend(other) == OutSpend(spent=True, txid=None, confirmed=True)
    assert "getblock" in core.calls()


def test_backend_contract(rpc: BitcoinCoreRPC, core: FakeCore, state: ChainState) -> None:
    funding = state.fund(P2WPKH, 40_000)
    spent = state.fund(OTHER, 9_000)
    state.mine(2)
    spender = state.spend([spent], [(8_000, OTHER)], confirmed=True)
    state.mine()
    core.fee_estimates = {2: Raw("0.00001")}
    coinbase = state.mine_to(MINER, 50_000)
    core.mempool_min_fee = Raw("0.000012341")  # BTC/kvB: 1234.1 sat/kvB, rounded up
    facts = ContractFacts(
        P2WPKH, funding.txid, 0, 40_000, spent, spender.txid, OTHER, 9_000, coinbase, MINER, 1235
    )
    check_backend_contract(rpc, facts)


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("0.00001234", 1234),
        ("1.234e-05", 1234),
        ("0.000012341", 1235),
        ("0.00100000", 100_000),
        ("0.00000001", 1),
    ],
)
def test_fee_rate_is_exact_and_rounds_up(
    rpc: BitcoinCoreRPC, core: FakeCore, printed: str, expected: int
) -> None:
    core.fee_estimates = {2: Raw(printed)}
    assert rpc.fee_rate(2) == expected


def test_fee_rate_picks_the_node_answer_and_reports_no_data(
    rpc: BitcoinCoreRPC, core: FakeCore
) -> None:
    core.fee_estimates = {3: Raw("0.00002"), 6: Raw("0.00001")}
    assert rpc.fee_rate(4) == 1000
    with pytest.raises(FeeEstimateUnavailable, match="Insufficient data"):
        rpc.fee_rate(10)
    with pytest.raises(InvalidInput):
        rpc.fee_rate(0)


def test_broadcast_success(rpc: BitcoinCoreRPC, state: ChainState) -> None:
    raw = make_tx([state.fund(P2WPKH, 5000)], [(4000, OTHER)], segwit=True)
    txid = rpc.broadcast(raw)
    assert txid == txid_of(raw)
    assert state.txs[txid].height is None


@pytest.mark.parametrize(("code", "message", "cls"), REJECTIONS)
def test_broadcast_rejections_are_typed(
    rpc: BitcoinCoreRPC, core: FakeCore, code: int, message: str, cls: type
) -> None:
    core.broadcast_errors.append((code, message))
    with pytest.raises(BroadcastRejected) as err:
        rpc.broadcast(make_tx([OutPoint("11" * 32, 0)], [(1, OTHER)]))
    assert type(err.value) is cls
    assert err.value.reason == message
    assert rejection_class(message) is cls


@pytest.mark.parametrize(("code", "message"), ALREADY_KNOWN)
def test_already_known_broadcast_returns_the_txid(
    rpc: BitcoinCoreRPC, core: FakeCore, code: int, message: str
) -> None:
    raw = make_tx([OutPoint("22" * 32, 1)], [(1000, OTHER)], segwit=True)
    core.broadcast_errors.append((code, message))
    assert rpc.broadcast(raw) == txid_of(raw)


def test_json_rpc_2_error_shape(rpc: BitcoinCoreRPC, core: FakeCore) -> None:
    """Core ≥ 28 answers a 2.0 request's error with HTTP 200: the same error results."""
    real = core._one
    core._one = lambda call: real({**call, "jsonrpc": "2.0"})  # type: ignore[method-assign]
    core.broadcast_errors.append((-26, "dust"))
    with pytest.raises(BroadcastRejected, match="dust"):
        rpc.broadcast(make_tx([OutPoint("33" * 32, 0)], [(1, OTHER)]))
    assert rpc.tip().height == 5


def test_test_accept(rpc: BitcoinCoreRPC, core: FakeCore) -> None:
    raw = make_tx([OutPoint("44" * 32, 0)], [(1000, OTHER)])
    assert rpc.test_accept(raw) == txid_of(raw)
    core.accept_reasons.append("min relay fee not met, 100 < 141")
    with pytest.raises(FeeTooLow):
        rpc.test_accept(raw)


def test_txid_of_matches_published_and_reference_serializations() -> None:
    vectors = json.loads((VECTORS / "bip143.json").read_text())
    signed = bytes.fromhex(vectors["native_p2wpkh"]["signed_tx"])
    assert txid_of(signed) == b2lx(CTransaction.deserialize(signed).GetTxid())
    unsigned = bytes.fromhex(vectors["native_p2wpkh"]["unsigned_tx"])
    assert txid_of(unsigned) == b2lx(CTransaction.deserialize(unsigned).GetTxid())
    with pytest.raises(InvalidInput):
        txid_of(signed[:-1])
    with pytest.raises(InvalidInput):
        txid_of(signed + b"\x00")


def test_retry_policy_backoff_is_capped() -> None:
    policy = RetryPolicy(retries=10, base_delay=1.0, max_delay=5.0, jitter=no_jitter)
    assert [policy.backoff(n) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    half = RetryPolicy(base_delay=1.0, jitter=lambda d: d / 2)
    assert half.backoff(1) == 1.0
