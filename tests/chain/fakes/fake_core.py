"""A fake bitcoind JSON-RPC server: Core's reply and error shapes over in-memory state.

Shapes follow Bitcoin Core's httprpc.cpp: a JSON-RPC 1.0 error is HTTP 500
(404 for "method not found") with ``{"result": null, "error": {...}, "id": …}``;
a 2.0 request gets HTTP 200 with ``error``; a batch is HTTP 200 with a list;
bad credentials are HTTP 401 with an empty body; an unknown path is HTTP 404
with an empty body.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bitcache.chain.rejection import txid_of
from bitcache.core.utxo import OutPoint
from bitcache.errors import InvalidInput
from fakes.server import FakeServer, Fault, Raw, Reply, Request, _Queued, to_json
from fakes.state import ChainState, FakeTx

NO_TX_INDEX = (
    "No such mempool transaction. Use -txindex or provide a block hash to enable "
    "blockchain transaction queries. Use gettransaction for wallet transactions."
)
NO_SUCH_TX = (
    "No such mempool or blockchain transaction. Use gettransaction for wallet transactions."
)


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


def btc(sats: int) -> Decimal:
    return Decimal(sats).scaleb(-8).quantize(Decimal("0.00000001"))


class FakeCore(FakeServer):
    """bitcoind on ``chain`` with rpcuser/rpcpassword ``auth``."""

    def __init__(self, state: ChainState, *, chain: str, auth: tuple[str, str]) -> None:
        super().__init__()
        self.state = state
        self.chain = chain
        self.auth = auth
        self.txindex = True
        self.scan_reports_blockhash = True
        self.scan_reports_coinbase = True  # False: a node before v25
        #: getmempoolinfo's mempoolminfee, BTC/kvB as printed
        self.mempool_min_fee: Raw = Raw("0.00001000")
        self.has_gettxspendingprevout = True
        #: confirmation target -> BTC/kvB as printed (Raw keeps e.g. "1.234e-05" verbatim)
        self.fee_estimates: dict[int, Raw] = {}
        #: (code, message) errors the next sendrawtransaction calls answer
        self.broadcast_errors: deque[tuple[int, str]] = deque()
        self.accept_reasons: deque[str] = deque()
        self.methods: dict[str, Callable[..., Any]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("rpc_")
        }

    def calls(self) -> list[str]:
        """Methods called so far, in order (batches flattened)."""
        names: list[str] = []
        for request in self.requests:
            try:
                body = json.loads(request.body)
            except ValueError:
                continue
            names.extend(b["method"] for b in (body if isinstance(body, list) else [body]))
        return names

    # --- HTTP / JSON-RPC layer --------------------------------------------------------

    def fault_reply(self, queued: _Queued) -> Reply:
        if queued.fault is Fault.WARMUP:
            body = {
                "result": None,
                "error": {"code": -28, "message": "Loading block index…"},
                "id": 1,
            }
            return Reply(500, json.dumps(body).encode(), {"Content-Type": "application/json"})
        return super().fault_reply(queued)

    def handle(self, request: Request) -> Reply:
        if request.path != "/" and not request.path.startswith("/wallet/"):
            return Reply(404)
        expected = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        if request.headers.get("authorization") != expected:
            return Reply(401, b"", {"WWW-Authenticate": 'Basic realm="jsonrpc"'})
        try:
            body = json.loads(request.body, parse_float=Decimal)
        except ValueError:
            return self._reply(
                500,
                {"result": None, "error": {"code": -32700, "message": "Parse error"}, "id": None},
            )
        if isinstance(body, list):
            return self._reply(200, [self._one(call)[1] for call in body])
        status, reply = self._one(body)
        return self._reply(status, reply)

    def _reply(self, status: int, body: Any) -> Reply:
        return Reply(status, (to_json(body) + "\n").encode(), {"Content-Type": "application/json"})

    def _one(self, call: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        v2 = call.get("jsonrpc") == "2.0"
        try:
            method = self.methods.get(call["method"])
            if method is None:
                raise RpcError(-32601, "Method not found")
            result = method(*call.get("params", []))
        except RpcError as err:
            error = {"code": err.code, "message": err.message}
            if v2:
                return 200, {"jsonrpc": "2.0", "error": error, "id": call.get("id")}
            status = 404 if err.code == -32601 else 500
            return status, {"result": None, "error": error, "id": call.get("id")}
        if v2:
            return 200, {"jsonrpc": "2.0", "result": result, "id": call.get("id")}
        return 200, {"result": result, "error": None, "id": call.get("id")}

    # --- RPC methods --------------------------------------------------------------------

    def rpc_getblockchaininfo(self) -> dict[str, Any]:
        s = self.state
        return {
            "chain": self.chain,
            "blocks": s.height,
            "headers": s.height,
            "bestblockhash": s.blocks[-1],
            "initialblockdownload": False,
        }

    def rpc_getblockcount(self) -> int:
        return self.state.height

    def rpc_getbestblockhash(self) -> str:
        return self.state.blocks[-1]

    def rpc_getblockhash(self, height: int) -> str:
        if not 0 <= height <= self.state.height:
            raise RpcError(-8, "Block height out of range")
        return self.state.blocks[height]

    def rpc_getblockheader(self, block_hash: str, verbose: bool = True) -> dict[str, Any]:
        if block_hash not in self.state.blocks:
            raise RpcError(-5, "Block not found")
        height = self.state.blocks.index(block_hash)
        return {
            "hash": block_hash,
            "height": height,
            "confirmations": self.state.height - height + 1,
        }

    def rpc_scantxoutset(self, action: str, descriptors: list[Any]) -> dict[str, Any]:
        scripts = {bytes.fromhex(d["desc"][4:-1]): d["desc"] for d in descriptors}
        unspents = []
        for point, tx in self.state.unspent(include_mempool=False):
            value, script = tx.outputs[point.vout]
            if script in scripts:
                entry = {
                    "txid": point.txid,
                    "vout": point.vout,
                    "scriptPubKey": script.hex(),
                    "desc": scripts[script],
                    "amount": btc(value),
                    "height": tx.height,
                }
                if self.scan_reports_coinbase:
                    entry["coinbase"] = tx.coinbase
                if self.scan_reports_blockhash:
                    entry["blockhash"] = self.state.blocks[tx.height or 0]
                unspents.append(entry)
        return {
            "success": True,
            "txouts": len(unspents),
            "height": self.state.height,
            "bestblock": self.state.blocks[-1],
            "unspents": unspents,
            "total_amount": sum((u["amount"] for u in unspents), Decimal("0")),
        }

    def rpc_getblock(self, block_hash: str, verbosity: int = 1) -> dict[str, Any]:
        header = self.rpc_getblockheader(block_hash)
        txs = [t for t in self.state.txs.values() if t.height == header["height"]]
        return {**header, "tx": [self.rpc_getrawtransaction(t.txid, 1) for t in txs]}

    def rpc_getmempoolinfo(self) -> dict[str, Any]:
        pool = [tx for tx in self.state.txs.values() if tx.height is None]
        return {
            "loaded": True,
            "size": len(pool),
            "bytes": sum(len(tx.raw) for tx in pool),
            "mempoolminfee": self.mempool_min_fee,
            "minrelaytxfee": Raw("0.00001000"),
        }

    def rpc_getrawmempool(self, verbose: bool = False) -> list[str]:
        return [tx.txid for tx in self.state.txs.values() if tx.height is None]

    def _tx(self, txid: str) -> FakeTx:
        tx = self.state.txs.get(txid)
        if tx is None:
            raise RpcError(-5, NO_TX_INDEX if not self.txindex else NO_SUCH_TX)
        if tx.height is not None and not self.txindex:
            raise RpcError(-5, NO_TX_INDEX)
        return tx

    def rpc_getrawtransaction(self, txid: str, verbose: int | bool = 0) -> Any:
        tx = self._tx(txid)
        if not verbose:
            return tx.raw.hex()
        out: dict[str, Any] = {
            "txid": tx.txid,
            "hex": tx.raw.hex(),
            "vin": (
                [{"coinbase": "03" + tx.raw[:3].hex(), "sequence": 4294967295}]
                if tx.coinbase
                else [
                    {"txid": p.txid, "vout": p.vout, "sequence": 4294967295} for p in tx.inputs
                ]
            ),
            "vout": [
                {"value": btc(v), "n": n, "scriptPubKey": {"hex": s.hex()}}
                for n, (v, s) in enumerate(tx.outputs)
            ],
        }
        if tx.height is not None:
            out["blockhash"] = self.state.blocks[tx.height]
            out["confirmations"] = self.state.height - tx.height + 1
        return out

    def rpc_gettxout(self, txid: str, n: int, include_mempool: bool = True) -> Any:
        point = OutPoint(txid, n)
        for unspent, tx in self.state.unspent(include_mempool=include_mempool):
            if unspent == point:
                value, script = tx.outputs[n]
                confs = 0 if tx.height is None else self.state.height - tx.height + 1
                return {
                    "bestblock": self.state.blocks[-1],
                    "confirmations": confs,
                    "value": btc(value),
                    "scriptPubKey": {"hex": script.hex()},
                    "coinbase": tx.coinbase,
                }
        return None

    def rpc_gettxspendingprevout(self, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.has_gettxspendingprevout:
            raise RpcError(-32601, "Method not found")
        answers = []
        for o in outputs:
            found = self.state.spender(OutPoint(o["txid"], o["vout"]))
            entry = {"txid": o["txid"], "vout": o["vout"]}
            if found is not None and found[0].height is None:
                entry["spendingtxid"] = found[0].txid
            answers.append(entry)
        return answers

    def rpc_getmempoolentry(self, txid: str) -> dict[str, Any]:
        tx = self.state.txs.get(txid)
        if tx is None or tx.height is not None:
            raise RpcError(-5, "Transaction not in mempool")
        return {"vsize": len(tx.raw), "fees": {"base": Decimal("0.00001000")}}

    def rpc_estimatesmartfee(self, target: int, mode: str = "conservative") -> dict[str, Any]:
        eligible = sorted(t for t in self.fee_estimates if t >= target)
        if not eligible:
            return {"errors": ["Insufficient data or no feerate found"], "blocks": 0}
        return {"feerate": self.fee_estimates[eligible[0]], "blocks": eligible[0]}

    def rpc_sendrawtransaction(self, raw_hex: str, maxfeerate: Any = None) -> str:
        if self.broadcast_errors:
            raise RpcError(*self.broadcast_errors.popleft())
        try:
            txid_of(bytes.fromhex(raw_hex))
        except (ValueError, InvalidInput):
            raise RpcError(
                -22, "TX decode failed. Make sure the tx has at least one input."
            ) from None
        return self.state.add(bytes.fromhex(raw_hex), confirmed=False).txid

    def rpc_testmempoolaccept(
        self, rawtxs: list[str], maxfeerate: Any = None
    ) -> list[dict[str, Any]]:
        txid = txid_of(bytes.fromhex(rawtxs[0]))
        if self.accept_reasons:
            return [
                {"txid": txid, "allowed": False, "reject-reason": self.accept_reasons.popleft()}
            ]
        return [{"txid": txid, "allowed": True, "vsize": len(rawtxs[0]) // 2}]
