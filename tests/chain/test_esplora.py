"""Esplora against a fake server that answers with Esplora's shapes and errors."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest
from contract import ContractFacts, check_backend_contract
from fakes.fake_esplora import FakeEsplora
from fakes.reasons import ALREADY_KNOWN, REJECTIONS
from fakes.server import Fault, Raw, Reply
from fakes.state import ChainState, make_tx

from bitcache.chain.esplora import (
    CHAIN_PAGE,
    Esplora,
    parse_refusal,
    pick_fee_rate,
    script_hash,
)
from bitcache.chain.http import no_jitter
from bitcache.chain.protocol import ChainBackend, TxStatus
from bitcache.chain.rejection import txid_of
from bitcache.core.utxo import COINBASE_MATURITY, OutPoint, OutSpend
from bitcache.errors import (
    BroadcastRejected,
    ChainError,
    ChainMismatch,
    ChainProtocolError,
    ChainUnavailable,
    FeeEstimateUnavailable,
    InvalidInput,
    RateLimited,
)
from bitcache.network import Network

P2WPKH = bytes.fromhex("0014") + bytes(range(20))
P2TR = bytes.fromhex("5120") + bytes(range(32))
OTHER = bytes.fromhex("0014") + bytes(20)
MINER = bytes.fromhex("0014") + bytes([7] * 20)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def state() -> ChainState:
    s = ChainState(Network.TESTNET4)
    s.mine(10)
    return s


@pytest.fixture
def server(state: ChainState) -> Iterator[FakeEsplora]:
    fake = FakeEsplora(state).start()
    yield fake
    fake.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def esplora(server: FakeEsplora, sleeps: Sleeps) -> Iterator[Esplora]:
    client = Esplora(
        server.url + "/",
        network=Network.TESTNET4,
        timeout=0.25,
        retries=2,
        sleep=sleeps,
        jitter=no_jitter,
    )
    yield client
    client.close()


def test_is_a_chain_backend(esplora: Esplora) -> None:
    assert isinstance(esplora, ChainBackend)
    assert esplora.network is Network.TESTNET4


def test_tip_and_block_hash(esplora: Esplora, state: ChainState, server: FakeEsplora) -> None:
    tip = esplora.tip()
    assert (tip.height, tip.block_hash) == (10, state.blocks[10])
    assert esplora.block_hash(3) == state.blocks[3]
    with pytest.raises(ChainError, match="no block at height 11"):
        esplora.block_hash(11)
    assert server.paths()[0] == "/block-height/0"  # the genesis check, once
    assert server.paths().count("/block-height/0") == 1


def test_network_mismatch_by_genesis(sleeps: Sleeps) -> None:
    fake = FakeEsplora(ChainState(Network.SIGNET)).start()
    try:
        with (
            Esplora(fake.url, network="testnet4", timeout=1, sleep=sleeps) as client,
            pytest.raises(ChainMismatch, match="testnet4"),
        ):
            client.tip()
        with Esplora(fake.url, network="signet", timeout=1, sleep=sleeps) as client:
            assert client.tip().height == 0
    finally:
        fake.stop()


def test_script_hash_is_sha256_in_digest_order() -> None:
    """Esplora's REST takes sha256(script) as is (Electrum's protocol reverses it)."""
    digest = "4ae81572f06e1b88fd5ced7a1a000945432e83e1551e6f721ee9c00b8cc33260"
    assert script_hash(bytes.fromhex("51")) == digest
    assert script_hash(bytes.fromhex("51")) != bytes.fromhex(digest)[::-1].hex()


def test_utxos(esplora: Esplora, state: ChainState, server: FakeEsplora) -> None:
    a = state.fund(P2WPKH, 50_000)
    t = state.fund(P2TR, 330)
    state.fund(OTHER, 1)
    spent = state.fund(P2WPKH, 9_000)
    state.spend([spent], [(8_000, OTHER)])
    pending = state.fund(P2WPKH, 777, confirmed=False)
    utxos = esplora.utxos([P2WPKH, P2TR, P2WPKH])
    assert [(u.outpoint, u.value_sat, u.script_pubkey, u.height) for u in utxos] == [
        (a, 50_000, P2WPKH, 11),
        (t, 330, P2TR, 12),
        (pending, 777, P2WPKH, None),
    ]
    assert utxos[0].block_hash == state.blocks[11] and utxos[2].block_hash is None
    assert f"/scripthash/{hashlib.sha256(P2TR).hexdigest()}/utxo" in server.paths()
    with pytest.raises(InvalidInput):
        esplora.utxos([b""])


def test_utxos_flag_young_coinbase_outputs(
    esplora: Esplora, state: ChainState, server: FakeEsplora
) -> None:
    old = state.mine_to(P2WPKH, 50_000)
    state.mine(COINBASE_MATURITY)
    young = state.mine_to(P2WPKH, 50_000)
    plain = state.fund(P2WPKH, 7_000)
    pending = state.fund(P2WPKH, 800, confirmed=False)
    found = {u.outpoint: u for u in esplora.utxos([P2WPKH])}
    assert found[young].coinbase and not found[young].mature(state.height)
    assert not found[plain].coinbase and not found[pending].coinbase
    assert found[old].mature(state.height)
    looked_up = {p.removeprefix("/tx/") for p in server.paths() if p.count("/") == 2
                 and p.startswith("/tx/")}
    assert looked_up == {young.txid, plain.txid}  # only confirmed outputs under 100 blocks


def test_received_pages_through_the_history_from_a_height(
    esplora: Esplora, state: ChainState, server: FakeEsplora
) -> None:
    first = state.fund(P2WPKH, 1_000)
    spent = state.fund(P2WPKH, 9_000)
    state.spend([spent], [(8_000, OTHER)], confirmed=True)
    many = [state.fund(P2WPKH, 2_000 + i) for i in range(2 * CHAIN_PAGE)]
    pending = state.fund(P2WPKH, 777, confirmed=False)
    everything = esplora.received([P2WPKH], 0)
    assert [u.outpoint for u in everything] == [first, spent, *many, pending]
    by = {u.outpoint: u for u in everything}
    assert by[spent].value_sat == 9_000 and by[spent].height == state.txs[spent.txid].height
    assert by[spent].block_hash == state.blocks[by[spent].height or 0]
    assert by[pending].height is None and by[pending].block_hash is None
    pages = [p for p in server.paths() if "/txs" in p]
    assert len(pages) == 3  # 53 confirmed transactions (the spender's too): 25 + 25 + 3
    server.requests.clear()
    since = state.txs[many[-1].txid].height or 0
    assert [u.outpoint for u in esplora.received([P2WPKH], since)] == [many[-1], pending]
    assert len([p for p in server.paths() if "/txs" in p]) == 1  # no page below the height
    with pytest.raises(InvalidInput):
        esplora.received([P2WPKH], -1)


def test_relay_floor_is_the_lowest_estimate(esplora: Esplora, server: FakeEsplora) -> None:
    with pytest.raises(FeeEstimateUnavailable):
        esplora.relay_floor()
    server.fee_estimates = {"1": Raw("87.882"), "144": Raw("1.0271"), "1008": Raw("1.5")}
    assert esplora.relay_floor() == 1028
    server.fee_estimates = {"1": Raw("3"), "6": Raw("0.1")}
    assert esplora.relay_floor() == 100


def test_utxo_missing_field_is_a_protocol_error(
    esplora: Esplora, server: FakeEsplora, state: ChainState
) -> None:
    state.fund(P2WPKH, 1000)
    server.routes.insert(
        0,
        (
            "GET",
            r"/scripthash/[0-9a-f]{64}/utxo",
            lambda r: _json('[{"txid": "' + "ab" * 32 + '", "vout": 0}]'),
        ),
    )
    with pytest.raises(ChainProtocolError, match="'value' is missing"):
        esplora.utxos([P2WPKH])


def _json(body: str) -> Reply:
    return Reply(200, body.encode(), {"Content-Type": "application/json"})


def test_tx_status_raw_and_outspend(esplora: Esplora, state: ChainState) -> None:
    funding = state.fund(P2WPKH, 5000)
    state.mine(2)
    spender = state.spend([funding], [(4000, OTHER)])
    assert esplora.tx_status(funding.txid) == TxStatus(
        txid=funding.txid,
        known=True,
        confirmed=True,
        block_height=11,
        block_hash=state.blocks[11],
        confirmations=3,
    )
    assert esplora.tx_status(spender.txid) == TxStatus(
        txid=spender.txid, known=True, confirmed=False
    )
    assert esplora.tx_status("EF" * 32).known is False
    assert esplora.raw_transaction(spender.txid) == spender.raw
    assert esplora.raw_transaction("ef" * 32) is None
    assert esplora.outspend(funding) == OutSpend(
        spent=True, txid=spender.txid, vin=0, confirmed=False
    )
    state.mine()
    assert esplora.outspend(funding) == OutSpend(
        spent=True, txid=spender.txid, vin=0, confirmed=True, block_height=14
    )
    assert esplora.outspend(OutPoint(spender.txid, 0)) == OutSpend(spent=False)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (1, 87_882),
        (2, 20_001),
        (3, 1_500),
        (6, 1_500),
        (7, 1_028),
        (144, 1_028),
        (1008, 1_000),
        (5000, 1_000),
    ],
)
def test_fee_rate_smallest_target_at_least_requested(
    esplora: Esplora, server: FakeEsplora, target: int, expected: int
) -> None:
    server.fee_estimates = {
        "1": Raw("87.882"),
        "2": Raw("20.0001"),
        "6": Raw("1.5"),
        "144": Raw("1.0271"),
        "1008": Raw("1"),
    }
    assert esplora.fee_rate(target) == expected


def test_fee_rate_errors(esplora: Esplora, server: FakeEsplora) -> None:
    with pytest.raises(FeeEstimateUnavailable):
        esplora.fee_rate(2)
    server.fee_estimates = {"2": Raw('"fast"')}
    with pytest.raises(ChainProtocolError, match="expected a number"):
        esplora.fee_rate(2)
    with pytest.raises(ChainProtocolError):
        pick_fee_rate({"soon": 1}, 1)
    with pytest.raises(InvalidInput):
        esplora.fee_rate(0)


def test_broadcast(esplora: Esplora, state: ChainState, server: FakeEsplora) -> None:
    raw = make_tx([state.fund(P2WPKH, 5000)], [(4000, OTHER)], segwit=True)
    assert esplora.broadcast(raw) == txid_of(raw)
    post = server.requests[-1]
    assert (post.method, post.path, post.body) == ("POST", "/tx", raw.hex().encode())


@pytest.mark.parametrize(("code", "message", "cls"), REJECTIONS)
def test_broadcast_rejections_are_typed(
    esplora: Esplora, server: FakeEsplora, code: int, message: str, cls: type
) -> None:
    server.broadcast_errors.append((code, message))
    with pytest.raises(BroadcastRejected) as err:
        esplora.broadcast(make_tx([OutPoint("11" * 32, 0)], [(1, OTHER)]))
    assert type(err.value) is cls
    assert err.value.reason == message


@pytest.mark.parametrize(("code", "message"), ALREADY_KNOWN)
def test_already_known_broadcast_returns_the_txid(
    esplora: Esplora, server: FakeEsplora, code: int, message: str
) -> None:
    raw = make_tx([OutPoint("22" * 32, 3)], [(1000, OTHER)])
    server.broadcast_errors.append((code, message))
    assert esplora.broadcast(raw) == txid_of(raw)


def test_broadcast_refusal_without_rpc_wrapper_keeps_the_text(
    esplora: Esplora, server: FakeEsplora
) -> None:
    server.broadcast_errors.append("Invalid hex string")
    with pytest.raises(BroadcastRejected) as err:
        esplora.broadcast(make_tx([OutPoint("11" * 32, 0)], [(1, OTHER)]))
    assert err.value.reason == "Invalid hex string"
    assert parse_refusal('sendrawtransaction RPC error: {"code":-26,"message":"dust"}') == (
        -26,
        "dust",
    )
    assert parse_refusal("sendrawtransaction RPC error: {broken") == (
        None,
        "sendrawtransaction RPC error: {broken",
    )


def test_429_then_success(esplora: Esplora, server: FakeEsplora, sleeps: Sleeps) -> None:
    esplora.tip()
    server.inject(Fault.RATE_LIMIT, 2, retry_after="3")
    assert esplora.tip().height == 10
    assert sleeps == [3.0, 3.0]


def test_429_without_retry_after_backs_off(
    esplora: Esplora, server: FakeEsplora, sleeps: Sleeps
) -> None:
    esplora.tip()
    server.inject(Fault.RATE_LIMIT, 2)
    assert esplora.tip().height == 10
    assert sleeps == [0.5, 1.0]


def test_429_http_date_retry_after(esplora: Esplora, server: FakeEsplora, sleeps: Sleeps) -> None:
    esplora.tip()
    server.inject(
        Fault.RATE_LIMIT, 1, retry_after="Wed, 21 Oct 2015 07:28:05 GMT"
    )  # Date: …07:28:00
    assert esplora.tip().height == 10
    assert sleeps == [5.0]


def test_429_forever_is_rate_limited(esplora: Esplora, server: FakeEsplora, sleeps: Sleeps) -> None:
    esplora.tip()
    server.inject(Fault.RATE_LIMIT, 3, retry_after="1")
    with pytest.raises(RateLimited, match="429"):
        esplora.tip()
    assert sleeps == [1.0, 1.0]


def test_429_with_a_long_retry_after_fails_at_once(
    esplora: Esplora, server: FakeEsplora, sleeps: Sleeps
) -> None:
    esplora.tip()
    server.inject(Fault.RATE_LIMIT, 1, retry_after="3600")
    with pytest.raises(RateLimited, match="3600"):
        esplora.tip()
    assert sleeps == []


def test_500_then_success_and_500_forever(
    esplora: Esplora, server: FakeEsplora, sleeps: Sleeps
) -> None:
    esplora.tip()
    server.inject(Fault.SERVER_ERROR, 1)
    assert esplora.tip().height == 10
    server.inject(Fault.UNAVAILABLE, 3)
    with pytest.raises(ChainUnavailable, match="HTTP 503") as err:
        esplora.tip()
    assert not isinstance(err.value, RateLimited)


def test_timeout_is_unavailable(esplora: Esplora, server: FakeEsplora, sleeps: Sleeps) -> None:
    esplora.tip()
    server.inject(Fault.TIMEOUT, 3)
    with pytest.raises(ChainUnavailable, match="timed out"):
        esplora.tip()
    assert len(sleeps) == 2


@pytest.mark.parametrize("call", ["tip", "fee_rate", "tx_status", "utxos"])
def test_garbage_is_a_protocol_error(esplora: Esplora, server: FakeEsplora, call: str) -> None:
    esplora.tip()
    server.fee_estimates = {"1": Raw("1")}
    server.inject(Fault.GARBAGE)
    actions: dict[str, Callable[[], object]] = {
        "tip": esplora.tip,
        "fee_rate": lambda: esplora.fee_rate(1),
        "tx_status": lambda: esplora.tx_status("ab" * 32),
        "utxos": lambda: esplora.utxos([P2WPKH]),
    }
    with pytest.raises(ChainProtocolError):
        actions[call]()


def test_unexpected_status_is_a_protocol_error(esplora: Esplora, server: FakeEsplora) -> None:
    server.routes.insert(
        0, ("GET", r"/blocks/tip/height", lambda r: _status(400, "Too many unspent outputs"))
    )
    with pytest.raises(ChainProtocolError, match="HTTP 400"):
        esplora.tip()


def _status(status: int, body: str) -> Reply:
    return Reply(status, body.encode())


def test_backend_contract(esplora: Esplora, server: FakeEsplora, state: ChainState) -> None:
    funding = state.fund(P2WPKH, 40_000)
    spent = state.fund(OTHER, 9_000)
    state.mine(2)
    spender = state.spend([spent], [(8_000, OTHER)], confirmed=True)
    coinbase = state.mine_to(MINER, 50_000)
    server.fee_estimates = {"2": Raw("1.0"), "144": Raw("0.101"), "1008": Raw("0.5")}
    facts = ContractFacts(
        P2WPKH, funding.txid, 0, 40_000, spent, spender.txid, OTHER, 9_000, coinbase, MINER, 101
    )
    check_backend_contract(esplora, facts)
