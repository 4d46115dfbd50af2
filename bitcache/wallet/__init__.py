"""bitcache.wallet: keys bitcache can trust and addresses it cannot get wrong.

- ``addresses``: parse/validate payout addresses into output scripts, and back;
  the single-key address of a public key (``payout_script_for_key``).
- ``keys``: BIP39 mnemonic to a BIP84 (P2WPKH) account; watch-only from an xpub.
- ``seedbox``: the mnemonic encrypted at rest (scrypt + AES-256-GCM).
- ``platformkey``: the platform's Ed25519 signing key file (tree heads and
  statements), and its public key.
- ``gaplimit``: how far deposit-address indices may run ahead of funded ones.
- ``bech32``, ``base58``: the address encodings, with precise errors.

``p2wpkh_script`` and ``script_type_of`` are re-exported from
:mod:`bitcache.bitcoin.script`, their home.
"""

from bitcache.bitcoin.script import p2wpkh_script, script_type_of
from bitcache.wallet.addresses import (
    PayoutScript,
    address_for_script,
    parse_address,
    payout_script_for_key,
)
from bitcache.wallet.gaplimit import DEFAULT_GAP_LIMIT, highest_allowed_index, next_deposit_index
from bitcache.wallet.keys import (
    Chain,
    DerivedKey,
    HDWallet,
    XpubForm,
    generate_mnemonic,
    normalize_mnemonic,
)
from bitcache.wallet.seedbox import (
    ScryptParams,
    decrypt_mnemonic,
    encrypt_mnemonic,
    seal,
)

__all__ = [
    "DEFAULT_GAP_LIMIT",
    "Chain",
    "DerivedKey",
    "HDWallet",
    "PayoutScript",
    "ScryptParams",
    "XpubForm",
    "address_for_script",
    "decrypt_mnemonic",
    "encrypt_mnemonic",
    "generate_mnemonic",
    "highest_allowed_index",
    "next_deposit_index",
    "normalize_mnemonic",
    "p2wpkh_script",
    "parse_address",
    "payout_script_for_key",
    "script_type_of",
    "seal",
]
