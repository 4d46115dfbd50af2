"""A fake Esplora REST server (Blockstream esplora / mempool.space shapes) over in-memory state.

Not found is HTTP 404 with a text body ("Transaction not found"); a refused
broadcast is HTTP 400 with ``sendrawtransaction RPC error: {"code":…,"message":…}``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from collections.abc import Callable
from typing import Any

from bitcache.chain.rejection import txid_of
from bitcache.core.utxo import OutPoint
from bitcache.errors import InvalidInput
from fakes.server import FakeServer, Raw, Reply, Request, to_json
from fakes.state import ChainState, FakeTx

_TXID = r"([0-9a-f]{64})"


class FakeEsplora(FakeServer):
    def __init__(self, state: ChainState) -> None:
        super().__init__()
        self.state = state
        #: target (string key) -> sat/vB as printed, e.g. Raw("1.5")
        self.fee_estimates: dict[str, Raw] = {}
        #: (code, message) refusals for the next broadcasts; a str is sent as the raw body
        self.broadcast_errors: deque[tuple[int, str] | str] = deque()
        self.routes: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", r"/blocks/tip/height", self.tip_height),
            ("GET", r"/blocks/tip/hash", self.tip_hash),
            ("GET", r"/block-height/(\d+)", self.block_height),
            ("GET", r"/scripthash/([0-9a-f]{64})/utxo", self.scripthash_utxo),
            ("GET", r"/scripthash/([0-9a-f]{64})/txs", self.scripthash_txs),
            ("GET", rf"/scripthash/([0-9a-f]{{64}})/txs/chain/{_TXID}", self.scripthash_txs),
            ("GET", rf"/tx/{_TXID}", self.tx_json),
            ("GET", rf"/tx/{_TXID}/status", self.tx_status),
            ("GET", rf"/tx/{_TXID}/hex", self.tx_hex),
            ("GET", rf"/tx/{_TXID}/outspend/(\d+)", self.outspend),
            ("GET", r"/fee-estimates", self.fees),
            ("POST", r"/tx", self.post_tx),
        ]

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def handle(self, request: Request) -> Reply:
        for method, pattern, func in self.routes:
            match = re.fullmatch(pattern, request.path)
            if match and method == request.method:
                return func(request, *match.groups())
        return text(404, "Not Found")

    def _status(self, tx: FakeTx) -> dict[str, Any]:
        if tx.height is None:
            return {"confirmed": False}
        return {
            "confirmed": True,
            "block_height": tx.height,
            "block_hash": self.state.blocks[tx.height],
            "block_time": 1700000000 + tx.height,
        }

    def tip_height(self, request: Request) -> Reply:
        return text(200, str(self.state.height))

    def tip_hash(self, request: Request) -> Reply:
        return text(200, self.state.blocks[-1])

    def block_height(self, request: Request, height: str) -> Reply:
        h = int(height)
        if h > self.state.height:
            return text(404, "Block not found")
        return text(200, self.state.blocks[h])

    def scripthash_utxo(self, request: Request, scripthash: str) -> Reply:
        entries = []
        for point, tx in self.state.unspent(include_mempool=True):
            value, script = tx.outputs[point.vout]
            if hashlib.sha256(script).hexdigest() == scripthash:
                entries.append(
                    {
                        "txid": point.txid,
                        "vout": point.vout,
                        "status": self._status(tx),
                        "value": value,
                    }
                )
        return jsonr(entries)

    def _tx(self, tx: FakeTx) -> dict[str, Any]:
        """A transaction as Esplora's JSON shows it (the fields bitcache reads)."""
        vin = (
            [{"is_coinbase": True, "sequence": 4294967295}]
            if tx.coinbase
            else [{"txid": p.txid, "vout": p.vout, "is_coinbase": False} for p in tx.inputs]
        )
        vout = [{"scriptpubkey": script.hex(), "value": value} for value, script in tx.outputs]
        return {"txid": tx.txid, "vin": vin, "vout": vout, "status": self._status(tx)}

    def scripthash_txs(self, request: Request, scripthash: str, last: str | None = None) -> Reply:
        """Mempool transactions (first page only), then the chain's newest first, 25 a page."""
        mine = [
            tx
            for tx in self.state.txs.values()
            if any(hashlib.sha256(s).hexdigest() == scripthash for _, s in tx.outputs)
            or any(self._pays(p, scripthash) for p in tx.inputs if not tx.coinbase)
        ]
        pool = [tx for tx in mine if tx.height is None]
        chain = sorted((tx for tx in mine if tx.height is not None),
                       key=lambda t: t.height or 0, reverse=True)
        if last is not None:
            at = [t.txid for t in chain].index(last)
            page = chain[at + 1 : at + 26]
        else:
            page = pool[:50] + chain[:25]
        return jsonr([self._tx(tx) for tx in page])

    def _pays(self, point: OutPoint, scripthash: str) -> bool:
        out = self.state.output(point)
        return out is not None and hashlib.sha256(out[1]).hexdigest() == scripthash

    def tx_json(self, request: Request, txid: str) -> Reply:
        tx = self.state.txs.get(txid)
        return text(404, "Transaction not found") if tx is None else jsonr(self._tx(tx))

    def tx_status(self, request: Request, txid: str) -> Reply:
        tx = self.state.txs.get(txid)
        return text(404, "Transaction not found") if tx is None else jsonr(self._status(tx))

    def tx_hex(self, request: Request, txid: str) -> Reply:
        tx = self.state.txs.get(txid)
        return text(404, "Transaction not found") if tx is None else text(200, tx.raw.hex())

    def outspend(self, request: Request, txid: str, vout: str) -> Reply:
        found = self.state.spender(OutPoint(txid, int(vout)))
        if found is None:
            return jsonr({"spent": False})
        tx, vin = found
        return jsonr({"spent": True, "txid": tx.txid, "vin": vin, "status": self._status(tx)})

    def fees(self, request: Request) -> Reply:
        return jsonr(self.fee_estimates)

    def post_tx(self, request: Request) -> Reply:
        if self.broadcast_errors:
            error = self.broadcast_errors.popleft()
            if isinstance(error, str):
                return text(400, error)
            code, message = error
            body = json.dumps({"code": code, "message": message}, separators=(",", ":"))
            return text(400, f"sendrawtransaction RPC error: {body}")
        try:
            raw = bytes.fromhex(request.body.decode())
            txid_of(raw)
        except (ValueError, InvalidInput):
            body = '{"code":-22,"message":"TX decode failed."}'
            return text(400, f"sendrawtransaction RPC error: {body}")
        return text(200, self.state.add(raw, confirmed=False).txid)


def text(status: int, body: str) -> Reply:
    return Reply(status, body.encode(), {"Content-Type": "text/plain"})


def jsonr(obj: Any) -> Reply:
    return Reply(200, to_json(obj).encode(), {"Content-Type": "application/json"})
