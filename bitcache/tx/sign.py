"""Sign the P2WPKH inputs of an unsigned transaction with coincurve (libsecp256k1).

Signatures are ECDSA over the BIP143 digest, deterministic (RFC 6979 nonces:
the same transaction and key always give the same bytes, so a re-signed
transaction after a crash is identical), DER-encoded, low-S (BIP146 /
standardness; checked on every signature) and followed by SIGHASH_ALL.

Keys come from a ``key_for(coin) -> 32-byte secret`` callback, so the wallet
decides where secrets live; the secret is used for one input and never
stored or shown. The key's public key must hash to the coin's script.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import coincurve

from bitcache.bitcoin.hashes import hash160
from bitcache.bitcoin.script import p2wpkh_script_code
from bitcache.bitcoin.transaction import Transaction
from bitcache.errors import TransactionError
from bitcache.tx.builder import UnsignedTransaction
from bitcache.tx.coinselect import SpendableCoin
from bitcache.tx.fees import fee_rate_of
from bitcache.tx.sighash import SIGHASH_ALL, SharedHashes, bip143_sighash

KeyFor = Callable[[SpendableCoin], bytes]
"""Returns the 32-byte private key controlling a coin."""

_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def der_s_value(der: bytes) -> int:
    """The ``s`` integer of a DER-encoded ECDSA signature."""
    r_len = der[3]
    s_len = der[5 + r_len]
    return int.from_bytes(der[6 + r_len : 6 + r_len + s_len], "big")


def sign_digest(secret: bytes, digest: bytes) -> tuple[bytes, bytes]:
    """(DER low-S signature of the 32-byte ``digest``, compressed public key)."""
    if len(digest) != 32:
        raise TransactionError(f"a sighash is 32 bytes, got {len(digest)}")
    if not isinstance(secret, bytes) or len(secret) != 32:
        raise TransactionError("the signing key must be 32 bytes")
    try:
        key = coincurve.PrivateKey(secret)
    except (ValueError, TypeError) as exc:
        raise TransactionError("the signing key is not a valid 32-byte secp256k1 secret") from exc
    der: bytes = key.sign(digest, hasher=None)
    if der_s_value(der) > _HALF_ORDER:
        raise TransactionError("the signer produced a high-S signature")
    pubkey: bytes = key.public_key.format(compressed=True)
    return der, pubkey


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A fully signed transaction and the coins it spends (in input order)."""

    tx: Transaction
    coins: tuple[SpendableCoin, ...]
    change_index: int | None

    @property
    def raw(self) -> bytes:
        return self.tx.serialize()

    @property
    def txid(self) -> str:
        return self.tx.txid

    @property
    def input_sat(self) -> int:
        return sum(c.value_sat for c in self.coins)

    @property
    def fee_sat(self) -> int:
        return self.input_sat - sum(o.value_sat for o in self.tx.outputs)

    @property
    def fee_rate_sat_per_kvb(self) -> int:
        """The rate actually paid for the signed vsize, rounded down."""
        return fee_rate_of(self.fee_sat, self.tx.vsize)

    @property
    def change_sat(self) -> int:
        if self.change_index is None:
            return 0
        return self.tx.outputs[self.change_index].value_sat


def sign_transaction(unsigned: UnsignedTransaction, key_for: KeyFor) -> SignedTransaction:
    """Sign every input of ``unsigned`` (all P2WPKH) with the key ``key_for`` returns."""
    tx = unsigned.tx
    shared = SharedHashes.of(tx)
    witnesses = []
    for index, coin in enumerate(unsigned.coins):
        script_code = p2wpkh_script_code(coin.script_pubkey)
        digest = bip143_sighash(tx, index, script_code, coin.value_sat, shared)
        der, pubkey = sign_digest(key_for(coin), digest)
        if hash160(pubkey) != coin.script_pubkey[2:]:
            raise TransactionError(
                f"the key given for coin {coin.outpoint} (chain {coin.key_chain}, "
                f"index {coin.key_index}) does not match its script"
            )
        witnesses.append((der + bytes((SIGHASH_ALL,)), pubkey))
    signed = Transaction(tx.version, tx.inputs, tx.outputs, tx.locktime, tuple(witnesses))
    return SignedTransaction(signed, unsigned.coins, unsigned.change_index)
