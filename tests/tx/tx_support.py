"""Test helpers for bitcache.tx: deterministic keys, coins, payments and Hypothesis strategies."""

from __future__ import annotations

import hashlib

import coincurve
from hypothesis import strategies as st

from bitcache.bitcoin.hashes import hash160
from bitcache.core.scripttype import ScriptType
from bitcache.core.utxo import OutPoint
from bitcache.tx import Payment, SpendableCoin, p2wpkh_script

ALL_TYPES = tuple(ScriptType)


def secret(n: int) -> bytes:
    """A deterministic test private key (never a real wallet's)."""
    return hashlib.sha256(b"bitcache tx test key" + n.to_bytes(4, "big")).digest()


def wallet_script(n: int) -> bytes:
    pubkey = coincurve.PrivateKey(secret(n)).public_key.format(compressed=True)
    return p2wpkh_script(hash160(pubkey))


def txid(n: int) -> str:
    return hashlib.sha256(b"funding" + n.to_bytes(4, "big")).hexdigest()


def make_coin(
    n: int, value: int, *, confirmed: bool = True, own_change: bool = False, vout: int = 0
) -> SpendableCoin:
    """Coin ``n`` of the test wallet, locked to key ``n`` (key_index = n)."""
    return SpendableCoin(
        outpoint=OutPoint(txid(n), vout),
        value_sat=value,
        script_pubkey=wallet_script(n),
        confirmed=confirmed,
        is_own_change=own_change,
        key_chain=0,
        key_index=n,
    )


def key_for(coin: SpendableCoin) -> bytes:
    return secret(coin.key_index)


def script_of(kind: ScriptType, seed: bytes) -> bytes:
    """A well-formed script of ``kind`` whose hash/key bytes come from ``seed``."""
    h = hashlib.sha256(seed).digest()
    return {
        ScriptType.P2PKH: b"\x76\xa9\x14" + h[:20] + b"\x88\xac",
        ScriptType.P2SH: b"\xa9\x14" + h[:20] + b"\x87",
        ScriptType.P2WPKH: b"\x00\x14" + h[:20],
        ScriptType.P2WSH: b"\x00\x20" + h,
        ScriptType.P2TR: b"\x51\x20" + h,
    }[kind]


def payment(kind: ScriptType, value: int, seed: int) -> Payment:
    return Payment(script_of(kind, seed.to_bytes(4, "big")), kind, value)


CHANGE_SCRIPT = wallet_script(10_000)


@st.composite
def payments(
    draw: st.DrawFn, min_size: int = 1, max_size: int = 20, max_value: int = 5_000_000
) -> list[Payment]:
    """1-20 payments of mixed standard types, each at or above its dust threshold."""
    kinds = draw(st.lists(st.sampled_from(ALL_TYPES), min_size=min_size, max_size=max_size))
    return [
        payment(kind, draw(st.integers(kind.dust_sat, max_value)), draw(st.integers(0, 2**31)))
        for kind in kinds
    ]
