"""Esplora HTTP chain backend (Blockstream's esplora / mempool.space REST API).

Endpoints used, relative to a base URL such as
``https://mempool.space/testnet4/api``::

    GET  /blocks/tip/height            tip height (text)
    GET  /block-height/:height         block hash at a height (text)
    GET  /scripthash/:hash/utxo        unspent outputs of one script (JSON)
    GET  /scripthash/:hash/txs         transactions of one script, newest first (JSON):
                                       the mempool's, then the chain's 25 at a time
    GET  /scripthash/:hash/txs/chain/:last_seen_txid   the next 25 of the chain's
    GET  /tx/:txid                     a transaction (JSON; is it a coinbase?)
    GET  /tx/:txid/status              confirmation status (JSON)
    GET  /tx/:txid/hex                 raw transaction (text)
    GET  /tx/:txid/outspend/:vout      spender of one output (JSON)
    GET  /fee-estimates                sat/vB by confirmation target (JSON)
    POST /tx                           broadcast hex, answers the txid (text)

``:hash`` is sha256(scriptPubKey) in hex, in the digest's own byte order
(Electrum's protocol reverses it; Esplora's REST API does not), so UTXOs are
found by script without encoding addresses. Public servers rate-limit
(HTTP 429), which the shared transport retries after ``Retry-After``.

The UTXO answer does not say which outputs are coinbase outputs: for each
confirmed one younger than 100 blocks the adapter reads its transaction
(one more request, only while it is that young). The relay floor is the
lowest rate of ``/fee-estimates`` (the server's node relays nothing below
its lowest estimate in practice).

On first use the adapter checks the server's genesis block hash against the
network it was configured for, so a testnet4 wallet never reads signet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
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
    FeeEstimateUnavailable,
    InvalidInput,
)
from bitcache.network import Network
from bitcache.network import network as resolve_network

#: Genesis block hash of each network, to recognise what a server serves.
GENESIS_HASHES = {
    Network.MAINNET: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
    Network.TESTNET4: "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
    Network.SIGNET: "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
    Network.REGTEST: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
}

#: Esplora relays Core's refusal as ``sendrawtransaction RPC error: {"code":…,"message":…}``.
_RPC_ERROR = re.compile(r"RPC error:\s*(\{.*\})\s*$", re.DOTALL)
#: Confirmed transactions per page of ``/scripthash/:hash/txs[/chain/:last_seen]``.
CHAIN_PAGE = 25


def script_hash(script: bytes) -> str:
    """Esplora's ``:hash`` of a scriptPubKey: sha256 hex, not byte-reversed."""
    return hashlib.sha256(script).hexdigest()


class Esplora(HttpBackend):
    """A :class:`~bitcache.chain.protocol.ChainBackend` over an Esplora REST server."""

    def __init__(
        self,
        base_url: str,
        *,
        network: Network | str,
        timeout: float = 15.0,
        retries: int = 4,
        sleep: Sleep = time.sleep,
        jitter: Jitter = full_jitter,
        max_retry_after: float = 60.0,
        genesis_hash: str | None = None,
        verify_network: bool = True,
        allow_mainnet: bool = False,
    ) -> None:
        self._network = resolve_network(network, allow_mainnet=allow_mainnet)
        self.base_url = check_base_url(base_url, "esplora URL").rstrip("/")
        self._genesis = check_hash(genesis_hash or GENESIS_HASHES[self._network], "genesis hash")
        self._checked = not verify_network
        self._http = HttpTransport(
            self.base_url,
            label=f"esplora {self.base_url}",
            timeout=timeout,
            policy=RetryPolicy(retries=retries, jitter=jitter, max_retry_after=max_retry_after),
            sleep=sleep,
        )

    # --- plumbing ------------------------------------------------------------------

    def _get(self, path: str, *, missing_ok: bool = False) -> httpx.Response | None:
        """GET ``path``: the 200 answer, None for a 404 when ``missing_ok``, else an error."""
        self._ensure_network()
        return self._fetch(path, missing_ok=missing_ok)

    def _fetch(self, path: str, *, missing_ok: bool = False) -> httpx.Response | None:
        response = self._http.request("GET", path)
        if response.status_code == 200:
            return response
        if response.status_code == 404 and missing_ok:
            return None
        raise ChainProtocolError(
            f"esplora {self.base_url}: HTTP {response.status_code} for GET {path}: "
            f"{response.text.strip()[:200]!r}"
        )

    def _text(self, path: str) -> str:
        response = self._get(path)
        assert response is not None
        return response.text.strip()

    def _json(self, path: str, *, missing_ok: bool = False) -> Any:
        response = self._get(path, missing_ok=missing_ok)
        return None if response is None else parse_json(response, f"esplora GET {path}")

    def _ensure_network(self) -> None:
        """Compare the server's genesis block with our network's, once."""
        if self._checked:
            return
        response = self._fetch("/block-height/0")
        assert response is not None
        served = response.text.strip()
        if served != self._genesis:
            raise ChainMismatch(
                f"esplora {self.base_url} serves a chain with genesis {served[:64]!r}, "
                f"not {self._network.value} ({self._genesis})"
            )
        self._checked = True

    # --- ChainBackend --------------------------------------------------------------

    def tip(self) -> Tip:
        height = _int_text(self._text("/blocks/tip/height"), "GET /blocks/tip/height")
        return Tip(height=height, block_hash=self.block_hash(height))

    def block_hash(self, height: int) -> str:
        if not is_int(height) or height < 0:
            raise InvalidInput(f"block height must be a non-negative int, got {height!r}")
        response = self._get(f"/block-height/{height}", missing_ok=True)
        if response is None:
            raise ChainError(f"esplora {self.base_url}: no block at height {height}")
        return answer_hash(response.text.strip(), f"GET /block-height/{height}")

    def utxos(self, scripts: Sequence[bytes]) -> list[Utxo]:
        found: dict[OutPoint, Utxo] = {}
        for script in _scripts(scripts):
            path = f"/scripthash/{script_hash(script)}/utxo"
            entries = self._json(path)
            if not isinstance(entries, list):
                raise ChainProtocolError(f"esplora GET {path}: expected a JSON list")
            for entry in entries:
                utxo = _utxo(entry, script, path)
                found[utxo.outpoint] = utxo
        return _sorted(self._mark_coinbase(list(found.values())))

    def received(self, scripts: Sequence[bytes], since_height: int) -> list[Utxo]:
        if not is_int(since_height) or since_height < 0:
            raise InvalidInput(f"since_height must be a non-negative int, got {since_height!r}")
        found: dict[OutPoint, Utxo] = {}
        for script in _scripts(scripts):
            for utxo in self._history(script, since_height):
                found[utxo.outpoint] = utxo
        return _sorted(found.values())

    def _history(self, script: bytes, since_height: int) -> list[Utxo]:
        """Outputs paying ``script`` in its transactions at ``since_height`` or above (and
        the mempool's): the first page, then the chain's pages while they reach that high."""
        base = f"/scripthash/{script_hash(script)}/txs"
        path, found = base, []
        while True:
            txs = self._json(path)
            if not isinstance(txs, list):
                raise ChainProtocolError(f"esplora GET {path}: expected a JSON list")
            confirmed = [_tx_height(tx, path) for tx in txs]
            for tx, height in zip(txs, confirmed, strict=True):
                if height is None or height >= since_height:
                    found += _tx_outputs(tx, script, path)
            chain = [(tx, h) for tx, h in zip(txs, confirmed, strict=True) if h is not None]
            if len(chain) < CHAIN_PAGE or chain[-1][1] < since_height:
                return found
            path = f"{base}/chain/{answer_hash(chain[-1][0].get('txid'), path)}"

    def _mark_coinbase(self, utxos: list[Utxo]) -> list[Utxo]:
        """Set ``coinbase`` on confirmed outputs young enough for maturity to matter."""
        young = [u for u in utxos if u.height is not None]
        if not young:
            return utxos
        tip = _int_text(self._text("/blocks/tip/height"), "GET /blocks/tip/height")
        marked = []
        for utxo in utxos:
            if utxo.height is not None and utxo.confirmations(tip) < COINBASE_MATURITY:
                path = f"/tx/{utxo.outpoint.txid}"
                utxo = dataclasses.replace(utxo, coinbase=_is_coinbase(self._json(path), path))
            marked.append(utxo)
        return marked

    def tx_status(self, txid: str) -> TxStatus:
        txid = check_hash(txid)
        status = self._json(f"/tx/{txid}/status", missing_ok=True)
        if status is None:
            return TxStatus(txid=txid, known=False, confirmed=False)
        what = f"esplora GET /tx/{txid}/status"
        if not field(status, "confirmed", bool, what):
            return TxStatus(txid=txid, known=True, confirmed=False)
        height = answer_height(status.get("block_height"), f"{what} block_height")
        block = answer_hash(status.get("block_hash"), f"{what} block_hash")
        tip = _int_text(self._text("/blocks/tip/height"), "GET /blocks/tip/height")
        return TxStatus(
            txid=txid,
            known=True,
            confirmed=True,
            block_height=height,
            block_hash=block,
            confirmations=max(1, tip - height + 1),
        )

    def raw_transaction(self, txid: str) -> bytes | None:
        txid = check_hash(txid)
        response = self._get(f"/tx/{txid}/hex", missing_ok=True)
        if response is None:
            return None
        try:
            return bytes.fromhex(response.text.strip())
        except ValueError as exc:
            raise ChainProtocolError(f"esplora GET /tx/{txid}/hex: not hex") from exc

    def outspend(self, outpoint: OutPoint) -> OutSpend:
        txid = check_hash(outpoint.txid)
        if (
            isinstance(outpoint.vout, bool)
            or not isinstance(outpoint.vout, int)
            or outpoint.vout < 0
        ):
            raise InvalidInput(f"vout must be a non-negative int, got {outpoint.vout!r}")
        path = f"/tx/{txid}/outspend/{outpoint.vout}"
        answer = self._json(path)
        what = f"esplora GET {path}"
        if not field(answer, "spent", bool, what):
            return OutSpend(spent=False)
        status = answer.get("status") or {}
        confirmed = bool(status.get("confirmed", False)) if isinstance(status, dict) else False
        return OutSpend(
            spent=True,
            txid=answer_hash(answer.get("txid"), f"{what} txid"),
            vin=field(answer, "vin", int, what),
            confirmed=confirmed,
            block_height=answer_height(status.get("block_height"), what) if confirmed else None,
        )

    def fee_rate(self, target_blocks: int) -> int:
        if (
            isinstance(target_blocks, bool)
            or not isinstance(target_blocks, int)
            or target_blocks < 1
        ):
            raise InvalidInput(f"target_blocks must be a positive int, got {target_blocks!r}")
        estimates = self._json("/fee-estimates")
        return pick_fee_rate(estimates, target_blocks)

    def relay_floor(self) -> int:
        return lowest_fee_rate(self._json("/fee-estimates"))

    def broadcast(self, raw_tx: bytes) -> str:
        if not isinstance(raw_tx, bytes | bytearray) or not raw_tx:
            raise InvalidInput("raw transaction must be non-empty bytes")
        self._ensure_network()
        response = self._http.request(
            "POST", "/tx", content=bytes(raw_tx).hex(), headers={"Content-Type": "text/plain"}
        )
        if response.status_code == 200:
            return answer_hash(response.text.strip(), "esplora POST /tx")
        if response.status_code == 400:
            code, reason = parse_refusal(response.text)
            return settle_refusal(reason, bytes(raw_tx), code=code)
        raise ChainProtocolError(
            f"esplora {self.base_url}: HTTP {response.status_code} for POST /tx: "
            f"{response.text.strip()[:200]!r}"
        )


def parse_refusal(body: str) -> tuple[int | None, str]:
    """The (code, reason) of an Esplora broadcast refusal body.

    ``sendrawtransaction RPC error: {"code":-26,"message":"dust"}`` gives
    ``(-26, "dust")``; any other text is kept whole as the reason.
    """
    text = body.strip()
    match = _RPC_ERROR.search(text)
    if match:
        try:
            error = json.loads(match.group(1))
        except ValueError:
            error = None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            code = error.get("code")
            return (code if isinstance(code, int) else None), error["message"]
    return None, text or "rejected without a reason"


def pick_fee_rate(estimates: Any, target_blocks: int) -> int:
    """sat/kvB for the smallest target ≥ ``target_blocks`` (the largest one if none is).

    Esplora answers ``{"1": 87.882, "6": 20.1, "144": 1.027, …}`` in sat/vB.
    """
    by_target = _by_target(estimates)
    eligible = [t for t in by_target if t >= target_blocks]
    chosen = min(eligible) if eligible else max(by_target)
    return by_target[chosen]


def lowest_fee_rate(estimates: Any) -> int:
    """sat/kvB of the lowest estimate of ``/fee-estimates``: the practical relay floor."""
    return min(_by_target(estimates).values())


def _by_target(estimates: Any) -> dict[int, int]:
    """``/fee-estimates`` as target → sat/kvB (each sat/vB number read exactly, rounded up)."""
    if not isinstance(estimates, dict):
        raise ChainProtocolError("esplora /fee-estimates: expected a JSON object")
    by_target: dict[int, int] = {}
    for key, value in estimates.items():
        if not (isinstance(key, str) and key.isdigit()):
            raise ChainProtocolError(f"esplora /fee-estimates: bad target {key!r}")
        by_target[int(key)] = rate_to_sat_per_kvb(value, 1000, f"esplora fee estimate for {key}")
    if not by_target:
        raise FeeEstimateUnavailable("esplora /fee-estimates is empty: no estimate yet")
    return by_target


def _sorted(utxos: Iterable[Utxo]) -> list[Utxo]:
    """Confirmed outputs by height, then mempool ones (each by outpoint)."""
    return sorted(utxos, key=lambda u: (u.height is None, u.height or 0, str(u.outpoint)))


def _tx_height(tx: Any, path: str) -> int | None:
    """The block height of a transaction of ``/txs`` (None in the mempool)."""
    status = field(tx, "status", dict, f"esplora GET {path}")
    if not field(status, "confirmed", bool, f"esplora GET {path} status"):
        return None
    return answer_height(status.get("block_height"), f"esplora GET {path}")


def _is_coinbase(tx: Any, path: str) -> bool:
    """Whether an Esplora transaction is a coinbase (``vin[0].is_coinbase``)."""
    vin = field(tx, "vin", list, f"esplora GET {path}")
    return bool(vin) and field(vin[0], "is_coinbase", bool, f"esplora GET {path} vin")


def _tx_outputs(tx: Any, script: bytes, path: str) -> list[Utxo]:
    """The outputs of an Esplora transaction that pay ``script``, spent or not."""
    what = f"esplora GET {path}"
    txid = answer_hash(tx.get("txid"), what)
    height = _tx_height(tx, path)
    block = None if height is None else answer_hash(tx["status"].get("block_hash"), what)
    coinbase = _is_coinbase(tx, path)
    found = []
    for n, out in enumerate(field(tx, "vout", list, what)):
        if field(out, "scriptpubkey", str, what) != script.hex():
            continue
        value = field(out, "value", int, what)
        if value < 0:
            raise ChainProtocolError(f"{what}: negative value {value}")
        found.append(Utxo(OutPoint(txid, n), value, script, height, block, coinbase))
    return found


def _int_text(text: str, what: str) -> int:
    """A decimal integer answered as text."""
    if not text.isdigit():
        raise ChainProtocolError(f"esplora {what}: expected an integer, got {text[:80]!r}")
    return int(text)


def _scripts(scripts: Sequence[bytes]) -> list[bytes]:
    """The distinct scripts asked about, validated as non-empty bytes, in order."""
    seen: dict[bytes, None] = {}
    for script in scripts:
        if not isinstance(script, bytes | bytearray) or not script:
            raise InvalidInput(f"a script must be non-empty bytes, got {script!r}")
        seen[bytes(script)] = None
    return list(seen)


def _utxo(entry: Any, script: bytes, path: str) -> Utxo:
    """One ``/scripthash/:hash/utxo`` entry as a Utxo paying ``script``."""
    what = f"esplora GET {path}"
    value = field(entry, "value", int, what)
    if value < 0:
        raise ChainProtocolError(f"{what}: negative value {value}")
    status = field(entry, "status", dict, what)
    confirmed = field(status, "confirmed", bool, f"{what} status")
    return Utxo(
        outpoint=OutPoint(
            answer_hash(entry.get("txid"), what), answer_height(entry.get("vout"), what)
        ),
        value_sat=value,
        script_pubkey=script,
        height=answer_height(status.get("block_height"), what) if confirmed else None,
        block_hash=answer_hash(status.get("block_hash"), what) if confirmed else None,
    )
