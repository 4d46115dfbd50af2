"""Bitcoin Core JSON-RPC chain backend (wallet-less RPCs only).

bitcache never uses the node's wallet: it asks for chain data and submits
transactions it built and signed itself. What the node must offer:

* ``server=1`` and credentials: a cookie file (default
  ``~/.bitcoin/<network>/.cookie``) or ``rpcuser``/``rpcpassword``;
* ``txindex=1`` so :meth:`BitcoinCoreRPC.tx_status` and
  :meth:`BitcoinCoreRPC.raw_transaction` find confirmed transactions that
  are not ours to remember (without it only mempool transactions are found);
* UTXOs come from ``scantxoutset`` over ``raw(<script hex>)`` descriptors,
  which reads only the confirmed UTXO set; outputs in the mempool are added
  (and outputs spent in the mempool removed) by reading the mempool's
  transactions in JSON-RPC batches. A node before v25 does not say which
  scanned outputs are coinbase outputs: those younger than 100 blocks are
  looked up with ``getrawtransaction``;
* :meth:`BitcoinCoreRPC.received` (outputs spent or not) reads every block
  from the height asked (``getblockhash`` and ``getblock`` verbosity 2, in
  batches), then the mempool: its cost is the number of blocks, whatever
  the number of scripts;
* the relay floor is ``getmempoolinfo`` → ``mempoolminfee`` (BTC/kvB);
* Core has no spend index: :meth:`BitcoinCoreRPC.outspend` finds mempool
  spenders (``gettxspendingprevout``, Core ≥ 24, else a mempool scan) and
  searches the last ``spend_search_blocks`` blocks (``getblock`` verbosity 2);
  for an output spent deeper it answers ``OutSpend(spent=True, txid=None)``,
  which callers must not read as "spent by someone else".

Requests use JSON-RPC 1.0 envelopes; replies in either 1.0 shape (HTTP 500
with ``{"result": null, "error": {...}}``) or 2.0 shape (HTTP 200 with
``error``) are understood. Amounts and fee rates are parsed as Decimal and
converted to integers exactly (fee rates rounded up): no float anywhere.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bitcache.chain.http import (
    HttpBackend,
    HttpTransport,
    Jitter,
    RetryPolicy,
    Sleep,
    answer_hash,
    answer_height,
    btc_to_sat,
    check_base_url,
    check_hash,
    field,
    full_jitter,
    parse_json,
    rate_to_sat_per_kvb,
)
from bitcache.chain.protocol import TxStatus
from bitcache.chain.rejection import settle_refusal
from bitcache.core.checks import is_int
from bitcache.core.tip import Tip
from bitcache.core.utxo import COINBASE_MATURITY, OutPoint, OutSpend, Utxo
from bitcache.errors import (
    ChainError,
    ChainMismatch,
    ChainProtocolError,
    ChainUnavailable,
    FeeEstimateUnavailable,
    InvalidInput,
)
from bitcache.network import Network
from bitcache.network import network as resolve_network

RPC_IN_WARMUP = -28
RPC_METHOD_NOT_FOUND = -32601
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
#: Codes sendrawtransaction uses for a refused transaction (verify error,
#: rejected, already in chain, undecodable).
BROADCAST_REFUSAL_CODES = frozenset({-25, -26, -27, -22})

#: The ``chain`` field of getblockchaininfo for each network.
CORE_CHAIN_NAMES = {
    Network.MAINNET: "main",
    Network.TESTNET4: "testnet4",
    Network.SIGNET: "signet",
    Network.REGTEST: "regtest",
}

MEMPOOL_BATCH = 200
BLOCK_BATCH = 10
MAX_TARGET_BLOCKS = 1008


def default_cookie_path(net: Network, datadir: Path | None = None) -> Path:
    """Where bitcoind writes its cookie for ``net`` (``~/.bitcoin/<net>/.cookie``)."""
    base = datadir if datadir is not None else Path.home() / ".bitcoin"
    return base / ".cookie" if net is Network.MAINNET else base / net.value / ".cookie"


def read_cookie(path: Path) -> tuple[str, str]:
    """``user:password`` from a cookie file (rewritten by bitcoind at each start)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ChainUnavailable(
            f"cannot read the RPC cookie file {path}: {exc.strerror or exc} "
            "(is bitcoind running with server=1, and is this its datadir?)"
        ) from exc
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise ChainUnavailable(f"the RPC cookie file {path} is not of the form user:password")
    return user, password


class RpcFailure(Exception):
    """Internal: the node answered a JSON-RPC error object (never escapes this module)."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(method, code, message)
        self.method = method
        self.code = code
        self.message = message

    def describe(self) -> str:
        return f"{self.method} failed with RPC error {self.code}: {self.message}"


def _core_transient(response: httpx.Response) -> bool:
    """Retry 502/503/504, the warm-up error (code -28) Core sends while starting, and a
    500 whose body is not JSON (a proxy's or an overloaded server's error page: Core's
    own 500 answers always carry a JSON-RPC error object)."""
    if response.status_code in (502, 503, 504):
        return True
    if response.status_code != 500:
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return True
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("code") == RPC_IN_WARMUP


def _with_port(url: str | None, net: Network) -> str:
    """The node URL, with the network's default RPC port when none is given."""
    parsed = httpx.URL(check_base_url(url or "http://127.0.0.1", "bitcoind URL"))
    if parsed.port is None:
        parsed = parsed.copy_with(port=net.rpc_port)
    return str(parsed).rstrip("/")


class BitcoinCoreRPC(HttpBackend):
    """A :class:`~bitcache.chain.protocol.ChainBackend` over Bitcoin Core's JSON-RPC."""

    def __init__(
        self,
        url: str | None = None,
        *,
        network: Network | str,
        auth: tuple[str, str] | None = None,
        cookie_file: Path | None = None,
        timeout: float = 30.0,
        scan_timeout: float = 300.0,
        retries: int = 3,
        sleep: Sleep = time.sleep,
        jitter: Jitter = full_jitter,
        include_mempool: bool = True,
        spend_search_blocks: int = 12,
        allow_mainnet: bool = False,
    ) -> None:
        self._network = resolve_network(network, allow_mainnet=allow_mainnet)
        if auth is not None and cookie_file is not None:
            raise InvalidInput("give either auth=(user, password) or cookie_file, not both")
        cookie = None if auth is not None else cookie_file or default_cookie_path(self._network)
        self.url = _with_port(url, self._network)
        self.scan_timeout = scan_timeout
        self.include_mempool = include_mempool
        self.spend_search_blocks = spend_search_blocks
        self._ids = itertools.count(1)
        self._chain_checked = False
        hint = (
            f"check rpcuser/rpcpassword in bitcoin.conf (user {auth[0]!r})"
            if auth is not None
            else f"check the cookie file {cookie} belongs to the node at {self.url}"
        )
        self._http = HttpTransport(
            self.url,
            label=f"bitcoind {self.url}",
            timeout=timeout,
            policy=RetryPolicy(retries=retries, jitter=jitter),
            sleep=sleep,
            auth=(lambda: auth) if cookie is None else (lambda: read_cookie(cookie)),
            transient=_core_transient,
            auth_hint=hint,
            headers={"Content-Type": "application/json"},
        )

    # --- JSON-RPC plumbing -----------------------------------------------------

    def _post(self, payload: Any, what: str, timeout: float | None = None) -> Any:
        """POST one JSON-RPC payload to ``/``; return the decoded reply body."""
        response = self._http.request("POST", "/", content=json.dumps(payload), timeout=timeout)
        if response.status_code == 404 and not response.content.strip():
            raise ChainProtocolError(
                f"bitcoind {self.url}: HTTP 404 for {what}: wrong URL path? "
                "bitcache calls the node's root path, without /wallet/<name>"
            )
        if response.status_code not in (200, 404, 500):
            raise ChainProtocolError(
                f"bitcoind {self.url}: unexpected HTTP {response.status_code} for {what}"
            )
        return parse_json(response, f"bitcoind {what}")

    def _unwrap(self, reply: Any, method: str) -> Any:
        """The ``result`` of one reply object, or RpcFailure for its ``error``."""
        if not isinstance(reply, dict) or ("result" not in reply and "error" not in reply):
            raise ChainProtocolError(f"bitcoind {method}: reply is not a JSON-RPC object")
        error = reply.get("error")
        if error is not None:
            code = field(error, "code", int, f"bitcoind {method} error")
            message = error.get("message", "")
            if code == RPC_IN_WARMUP:
                raise ChainUnavailable(f"bitcoind {self.url} is starting up: {message}")
            raise RpcFailure(method, code, str(message))
        return reply.get("result")

    def _call(self, method: str, *params: Any, timeout: float | None = None) -> Any:
        """One RPC; raises RpcFailure for a JSON-RPC error (callers decide what it means)."""
        payload = {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": params}
        return self._unwrap(self._post(payload, method, timeout), method)

    def _batch(self, method: str, params: Sequence[Sequence[Any]]) -> list[Any]:
        """Many calls of one method in one request; a failed element is its RpcFailure."""
        calls = [
            {"jsonrpc": "1.0", "id": i, "method": method, "params": list(p)}
            for i, p in enumerate(params)
        ]
        replies = self._post(calls, f"{method} batch")
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise ChainProtocolError(f"bitcoind {method} batch: reply is not a matching list")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        results: list[Any] = []
        for i in range(len(calls)):
            try:
                results.append(self._unwrap(by_id.get(i), method))
            except RpcFailure as failure:
                results.append(failure)
        return results

    def call(self, method: str, *params: Any) -> Any:
        """Any RPC by name (for operators' checks); an RPC error is a ChainProtocolError."""
        try:
            return self._call(method, *params)
        except RpcFailure as failure:
            raise ChainProtocolError(f"bitcoind {self.url}: {failure.describe()}") from None

    # --- chain identity ----------------------------------------------------------

    def chain_info(self) -> dict[str, Any]:
        """getblockchaininfo, after checking the node serves our network."""
        info = self.call("getblockchaininfo")
        chain = field(info, "chain", str, "getblockchaininfo")
        expected = CORE_CHAIN_NAMES[self._network]
        if chain != expected:
            raise ChainMismatch(
                f"bitcoind {self.url} serves chain {chain!r}, but bitcache is configured "
                f"for {self._network.value} (expected {expected!r})"
            )
        self._chain_checked = True
        return dict(info)

    def _ensure_chain(self) -> None:
        """Check the node's chain once, before the first real request."""
        if not self._chain_checked:
            self.chain_info()

    # --- ChainBackend ------------------------------------------------------------

    def tip(self) -> Tip:
        info = self.chain_info()
        return Tip(
            height=answer_height(info.get("blocks"), "getblockchaininfo blocks"),
            block_hash=answer_hash(info.get("bestblockhash"), "getblockchaininfo bestblockhash"),
        )

    def block_hash(self, height: int) -> str:
        if not is_int(height) or height < 0:
            raise InvalidInput(f"block height must be a non-negative int, got {height!r}")
        self._ensure_chain()
        try:
            return answer_hash(self._call("getblockhash", height), "getblockhash")
        except RpcFailure as failure:
            if failure.code == RPC_INVALID_PARAMETER:
                raise ChainError(f"no block at height {height}: {failure.message}") from None
            raise ChainProtocolError(failure.describe()) from None

    def utxos(self, scripts: Sequence[bytes]) -> list[Utxo]:
        wanted = _script_set(scripts)
        if not wanted:
            return []
        self._ensure_chain()
        found = {u.outpoint: u for u in self._scan_confirmed(wanted)}
        if self.include_mempool:
            self._apply_mempool(found, wanted)
        return _sorted(found.values())

    def received(self, scripts: Sequence[bytes], since_height: int) -> list[Utxo]:
        wanted = _script_set(scripts)
        if not is_int(since_height) or since_height < 0:
            raise InvalidInput(f"since_height must be a non-negative int, got {since_height!r}")
        if not wanted:
            return []
        tip = self.tip().height
        found: dict[OutPoint, Utxo] = {}
        for start in range(since_height, tip + 1, BLOCK_BATCH):
            heights = range(start, min(start + BLOCK_BATCH, tip + 1))
            for height, block in zip(heights, self._blocks(heights), strict=True):
                block_hash = answer_hash(block.get("hash"), "getblock hash")
                for tx in field(block, "tx", list, "getblock"):
                    for utxo in _tx_outputs(tx, wanted, height, block_hash):
                        found[utxo.outpoint] = utxo
        if self.include_mempool:
            for tx in self._mempool_txs():
                for utxo in _tx_outputs(tx, wanted, None, None):
                    found[utxo.outpoint] = utxo
        return _sorted(found.values())

    def tx_status(self, txid: str) -> TxStatus:
        txid = check_hash(txid)
        self._ensure_chain()
        tx = self._verbose_tx(txid)
        if tx is None:
            return TxStatus(txid=txid, known=False, confirmed=False)
        blockhash = tx.get("blockhash")
        if blockhash is None or not tx.get("confirmations"):
            return TxStatus(txid=txid, known=True, confirmed=False)
        header = self.call("getblockheader", answer_hash(blockhash, "getrawtransaction blockhash"))
        confirmations = field(header, "confirmations", int, "getblockheader")
        if confirmations < 1:  # the block left the best chain since
            return TxStatus(txid=txid, known=True, confirmed=False)
        return TxStatus(
            txid=txid,
            known=True,
            confirmed=True,
            block_height=answer_height(header.get("height"), "getblockheader height"),
            block_hash=blockhash,
            confirmations=confirmations,
        )

    def raw_transaction(self, txid: str) -> bytes | None:
        txid = check_hash(txid)
        self._ensure_chain()
        try:
            raw = self._call("getrawtransaction", txid, 0)
        except RpcFailure as failure:
            if failure.code == RPC_INVALID_ADDRESS_OR_KEY:
                return None
            raise ChainProtocolError(failure.describe()) from None
        return _hex_bytes(raw, "getrawtransaction")

    def outspend(self, outpoint: OutPoint) -> OutSpend:
        txid = check_hash(outpoint.txid)
        self._ensure_chain()
        if self.call("gettxout", txid, outpoint.vout, True) is not None:
            return OutSpend(spent=False)
        point = OutPoint(txid, outpoint.vout)
        spender = self._mempool_spender(point) or self._block_spender(point)
        if spender is not None:
            return spender
        # Not in the UTXO set nor spent in the mempool or the recent blocks searched:
        # spent deeper in the chain (or it never existed); Core has no spend index.
        return OutSpend(spent=True, txid=None, confirmed=True)

    def fee_rate(self, target_blocks: int) -> int:
        if not is_int(target_blocks):
            raise InvalidInput(f"target_blocks must be an int, got {target_blocks!r}")
        if not 1 <= target_blocks <= MAX_TARGET_BLOCKS:
            raise InvalidInput(f"target_blocks must be 1..{MAX_TARGET_BLOCKS}, got {target_blocks}")
        self._ensure_chain()
        estimate = self.call("estimatesmartfee", target_blocks)
        if not isinstance(estimate, dict):
            raise ChainProtocolError("estimatesmartfee: expected a JSON object")
        if "feerate" not in estimate:
            errors = "; ".join(str(e) for e in estimate.get("errors", [])) or "no feerate"
            raise FeeEstimateUnavailable(
                f"bitcoind has no fee estimate for {target_blocks} blocks: {errors}"
            )
        return rate_to_sat_per_kvb(estimate["feerate"], 100_000_000, "estimatesmartfee feerate")

    def relay_floor(self) -> int:
        self._ensure_chain()
        info = self.call("getmempoolinfo")
        if not isinstance(info, dict) or "mempoolminfee" not in info:
            raise ChainProtocolError("getmempoolinfo: expected an object with mempoolminfee")
        return rate_to_sat_per_kvb(info["mempoolminfee"], 100_000_000, "mempoolminfee")

    def broadcast(self, raw_tx: bytes) -> str:
        raw_hex = _raw_hex(raw_tx)
        self._ensure_chain()
        try:
            txid = self._call("sendrawtransaction", raw_hex)
        except RpcFailure as failure:
            if failure.code in BROADCAST_REFUSAL_CODES:
                return settle_refusal(failure.message, raw_tx, code=failure.code)
            raise ChainProtocolError(failure.describe()) from None
        return answer_hash(txid, "sendrawtransaction")

    def test_accept(self, raw_tx: bytes) -> str:
        """Dry-run a broadcast (testmempoolaccept): the txid, or the typed refusal."""
        raw_hex = _raw_hex(raw_tx)
        self._ensure_chain()
        results = self.call("testmempoolaccept", [raw_hex])
        if not isinstance(results, list) or len(results) != 1:
            raise ChainProtocolError("testmempoolaccept: expected a list of one result")
        result = results[0]
        if field(result, "allowed", bool, "testmempoolaccept"):
            return answer_hash(result.get("txid"), "testmempoolaccept txid")
        reason = str(result.get("reject-reason", "rejected without a reason"))
        return settle_refusal(reason, raw_tx)

    # --- helpers -------------------------------------------------------------------

    def _verbose_tx(self, txid: str) -> dict[str, Any] | None:
        """getrawtransaction verbose, or None when the node does not know the txid."""
        try:
            tx = self._call("getrawtransaction", txid, 1)
        except RpcFailure as failure:
            if failure.code == RPC_INVALID_ADDRESS_OR_KEY:
                return None
            raise ChainProtocolError(failure.describe()) from None
        if not isinstance(tx, dict):
            raise ChainProtocolError("getrawtransaction: expected a JSON object")
        return tx

    def _scan_confirmed(self, wanted: set[bytes]) -> list[Utxo]:
        """Confirmed outputs paying ``wanted``, from scantxoutset."""
        descriptors = [{"desc": f"raw({s.hex()})"} for s in sorted(wanted)]
        try:
            scan = self._call("scantxoutset", "start", descriptors, timeout=self.scan_timeout)
        except RpcFailure as failure:
            if failure.code == RPC_INVALID_PARAMETER and "in progress" in failure.message:
                raise ChainUnavailable(f"bitcoind: {failure.message}") from None
            raise ChainProtocolError(failure.describe()) from None
        if field(scan, "success", bool, "scantxoutset") is not True:
            raise ChainUnavailable("bitcoind: scantxoutset was aborted")
        unspents = field(scan, "unspents", list, "scantxoutset")
        utxos = [_scanned_utxo(u, wanted) for u in unspents]
        utxos = self._fill_coinbase(unspents, utxos, answer_height(scan.get("height"), "scan"))
        return self._fill_block_hashes(utxos)

    def _fill_coinbase(self, unspents: list[Any], utxos: list[Utxo], tip: int) -> list[Utxo]:
        """Nodes before v25 omit ``coinbase``: ask the transaction of each output young
        enough for it to matter (a coinbase output under COINBASE_MATURITY blocks)."""
        filled = []
        for entry, utxo in zip(unspents, utxos, strict=True):
            young = utxo.confirmations(tip) < COINBASE_MATURITY
            if "coinbase" not in entry and young:
                tx = self._verbose_tx(utxo.outpoint.txid)
                if tx is None:
                    raise ChainProtocolError(f"the node lists {utxo.outpoint} but not its tx")
                utxo = dataclasses.replace(utxo, coinbase=_is_coinbase(tx))
            filled.append(utxo)
        return filled

    def _blocks(self, heights: Sequence[int]) -> list[dict[str, Any]]:
        """The blocks at ``heights`` with their transactions (two batched calls)."""
        hashes = self._batch("getblockhash", [(h,) for h in heights])
        for h, answer in zip(heights, hashes, strict=True):
            if isinstance(answer, RpcFailure):
                raise ChainError(f"no block at height {h}: {answer.message}")
        params = [(answer_hash(b, "getblockhash"), 2) for b in hashes]
        blocks = self._batch("getblock", params)
        for answer in blocks:
            if isinstance(answer, RpcFailure):
                raise ChainProtocolError(answer.describe())
            if not isinstance(answer, dict):
                raise ChainProtocolError("getblock: expected a JSON object")
        return blocks

    def _fill_block_hashes(self, utxos: list[Utxo]) -> list[Utxo]:
        """Nodes before v28 omit the block hash of scanned outputs: look it up by height."""
        missing = {u.height for u in utxos if u.block_hash is None and u.height is not None}
        hashes = {h: self.block_hash(h) for h in sorted(missing)}
        return [
            u
            if u.block_hash is not None or u.height is None
            else dataclasses.replace(u, block_hash=hashes[u.height])
            for u in utxos
        ]

    def _mempool_txs(self) -> list[dict[str, Any]]:
        """Every mempool transaction, verbose, read in batches (vanished ones skipped)."""
        txids = self.call("getrawmempool", False)
        if not isinstance(txids, list):
            raise ChainProtocolError("getrawmempool: expected a list of txids")
        txs: list[dict[str, Any]] = []
        for start in range(0, len(txids), MEMPOOL_BATCH):
            chunk = txids[start : start + MEMPOOL_BATCH]
            for tx in self._batch("getrawtransaction", [(t, 1) for t in chunk]):
                if isinstance(tx, dict) and not tx.get("confirmations"):
                    txs.append(tx)
        return txs

    def _apply_mempool(self, found: dict[OutPoint, Utxo], wanted: set[bytes]) -> None:
        """Add mempool outputs paying ``wanted``; drop outputs mempool transactions spend."""
        spent: set[OutPoint] = set()
        for tx in self._mempool_txs():
            spent.update(_prevouts(tx))
            for utxo in _tx_outputs(tx, wanted, None, None):
                found[utxo.outpoint] = utxo
        for point in spent:
            found.pop(point, None)

    def _mempool_spender(self, outpoint: OutPoint) -> OutSpend | None:
        """The mempool transaction spending ``outpoint``, if any."""
        try:
            answer = self._call(
                "gettxspendingprevout", [{"txid": outpoint.txid, "vout": outpoint.vout}]
            )
        except RpcFailure as failure:
            if failure.code != RPC_METHOD_NOT_FOUND:
                raise ChainProtocolError(failure.describe()) from None
            return self._scan_mempool_for_spender(outpoint)
        if not isinstance(answer, list) or len(answer) != 1:
            raise ChainProtocolError("gettxspendingprevout: expected a list of one result")
        spender = answer[0].get("spendingtxid") if isinstance(answer[0], dict) else None
        if spender is None:
            return None
        tx = self._verbose_tx(answer_hash(spender, "gettxspendingprevout spendingtxid"))
        vin = _prevouts(tx).index(outpoint) if tx and outpoint in _prevouts(tx) else None
        return OutSpend(spent=True, txid=spender, vin=vin, confirmed=False)

    def _block_spender(self, outpoint: OutPoint) -> OutSpend | None:
        """Search the last ``spend_search_blocks`` blocks, newest first, for a spender.

        The search stops at the funding transaction's block when the node knows it.
        """
        tip = self.tip().height
        floor = max(0, tip - self.spend_search_blocks + 1)
        funding = self._verbose_tx(outpoint.txid)
        if funding is not None and funding.get("blockhash"):
            header = self.call("getblockheader", answer_hash(funding["blockhash"], "blockhash"))
            floor = max(floor, answer_height(header.get("height"), "getblockheader height"))
        for height in range(tip, floor - 1, -1):
            block = self.call("getblock", self.block_hash(height), 2)
            for tx in field(block, "tx", list, "getblock"):
                prevouts = _prevouts(tx)
                if outpoint in prevouts:
                    return OutSpend(
                        spent=True,
                        txid=answer_hash(tx.get("txid"), "getblock txid"),
                        vin=prevouts.index(outpoint),
                        confirmed=True,
                        block_height=height,
                    )
        return None

    def _scan_mempool_for_spender(self, outpoint: OutPoint) -> OutSpend | None:
        """Fallback for nodes without gettxspendingprevout: read the whole mempool."""
        for tx in self._mempool_txs():
            prevouts = _prevouts(tx)
            if outpoint in prevouts:
                txid = answer_hash(tx.get("txid"), "mempool tx txid")
                return OutSpend(spent=True, txid=txid, vin=prevouts.index(outpoint))
        return None


def _script_set(scripts: Sequence[bytes]) -> set[bytes]:
    """The scripts asked about, validated as non-empty bytes."""
    wanted: set[bytes] = set()
    for script in scripts:
        if not isinstance(script, bytes | bytearray) or not script:
            raise InvalidInput(f"a script must be non-empty bytes, got {script!r}")
        wanted.add(bytes(script))
    return wanted


def _raw_hex(raw_tx: bytes) -> str:
    if not isinstance(raw_tx, bytes | bytearray) or not raw_tx:
        raise InvalidInput("raw transaction must be non-empty bytes")
    return bytes(raw_tx).hex()


def _hex_bytes(value: Any, what: str) -> bytes:
    """Hex text from the node to bytes (ChainProtocolError if it is not hex)."""
    if not isinstance(value, str):
        raise ChainProtocolError(f"{what}: expected hex text, got {type(value).__name__}")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise ChainProtocolError(f"{what}: not hex: {value[:80]!r}") from exc


def _prevouts(tx: dict[str, Any]) -> list[OutPoint]:
    """The outpoints a verbose transaction spends (coinbase inputs have none)."""
    points = []
    for vin in field(tx, "vin", list, "transaction"):
        if isinstance(vin, dict) and "txid" in vin:
            points.append(
                OutPoint(answer_hash(vin["txid"], "vin txid"), field(vin, "vout", int, "vin"))
            )
    return points


def _scanned_utxo(entry: Any, wanted: set[bytes]) -> Utxo:
    """One scantxoutset ``unspents`` entry as a Utxo."""
    what = "scantxoutset unspent"
    script = _hex_bytes(field(entry, "scriptPubKey", str, what), what)
    if script not in wanted:
        raise ChainProtocolError(f"{what}: script {script.hex()} was not asked for")
    blockhash = entry.get("blockhash")
    return Utxo(
        outpoint=OutPoint(answer_hash(entry.get("txid"), what), field(entry, "vout", int, what)),
        value_sat=btc_to_sat(entry.get("amount"), f"{what} amount"),
        script_pubkey=script,
        height=answer_height(entry.get("height"), f"{what} height"),
        block_hash=None if blockhash is None else answer_hash(blockhash, f"{what} blockhash"),
        coinbase=field(entry, "coinbase", bool, what) if "coinbase" in entry else False,
    )


def _sorted(utxos: Iterable[Utxo]) -> list[Utxo]:
    """Confirmed outputs by height, then mempool ones (each by outpoint)."""
    return sorted(utxos, key=lambda u: (u.height is None, u.height or 0, str(u.outpoint)))


def _is_coinbase(tx: dict[str, Any]) -> bool:
    """Whether a verbose transaction is a coinbase (its one input has a ``coinbase`` field)."""
    vin = field(tx, "vin", list, "transaction")
    return len(vin) == 1 and isinstance(vin[0], dict) and "coinbase" in vin[0]


def _tx_outputs(
    tx: Any, wanted: set[bytes], height: int | None, block_hash: str | None
) -> list[Utxo]:
    """The outputs of a verbose transaction that pay ``wanted``."""
    if not isinstance(tx, dict):
        raise ChainProtocolError("a block or mempool transaction is not a JSON object")
    txid = answer_hash(tx.get("txid"), "transaction txid")
    coinbase = _is_coinbase(tx)
    found = []
    for out in field(tx, "vout", list, "transaction"):
        spk = field(field(out, "scriptPubKey", dict, "vout"), "hex", str, "vout")
        script = _hex_bytes(spk, "vout scriptPubKey")
        if script in wanted:
            point = OutPoint(txid, field(out, "n", int, "vout"))
            value = btc_to_sat(out.get("value"), "vout value")
            found.append(Utxo(point, value, script, height, block_hash, coinbase))
    return found
