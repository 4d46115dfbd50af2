"""Transactions: sizes and fees, coin selection, building, BIP143 signing, policy checks.

Pure code: no database, network, clock or randomness. The usual path is
``select_coins`` → ``build_transaction`` → ``sign_transaction`` →
``check_transaction`` (see docs/transactions.md).
"""

from bitcache.bitcoin.script import (
    MAX_ANCHOR_BYTES,
    null_data_script,
    p2wpkh_script,
    script_type_of,
)
from bitcache.bitcoin.transaction import Transaction, TxIn, TxOut
from bitcache.tx.builder import (
    RBF_SEQUENCE,
    TX_VERSION,
    UnsignedTransaction,
    anti_fee_sniping_locktime,
    build_transaction,
)
from bitcache.tx.coinselect import CoinSelection, SpendableCoin, select_coins, use_coins
from bitcache.tx.fees import clamp_fee_rate, fee_for_weight, fee_rate_of
from bitcache.tx.outputs import Payment
from bitcache.tx.policy import PolicyLimits, check_dust, check_transaction
from bitcache.tx.sighash import SIGHASH_ALL, SharedHashes, bip143_sighash
from bitcache.tx.sign import KeyFor, SignedTransaction, sign_transaction

__all__ = [
    "MAX_ANCHOR_BYTES",
    "RBF_SEQUENCE",
    "SIGHASH_ALL",
    "TX_VERSION",
    "CoinSelection",
    "KeyFor",
    "Payment",
    "PolicyLimits",
    "SharedHashes",
    "SignedTransaction",
    "SpendableCoin",
    "Transaction",
    "TxIn",
    "TxOut",
    "UnsignedTransaction",
    "anti_fee_sniping_locktime",
    "bip143_sighash",
    "build_transaction",
    "check_dust",
    "check_transaction",
    "clamp_fee_rate",
    "fee_for_weight",
    "fee_rate_of",
    "null_data_script",
    "p2wpkh_script",
    "script_type_of",
    "select_coins",
    "sign_transaction",
    "use_coins",
]
