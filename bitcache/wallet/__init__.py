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
:mod:`bitcache.bitcoin.script`, their home. The names below are exported
lazily (:mod:`bitcache.lazy`): importing ``bitcache.wallet.platformkey`` or
``bitcache.wallet.seedbox`` does not load the key-derivation libraries.
"""

from typing import TYPE_CHECKING

from bitcache.lazy import exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "bitcache.bitcoin.script": ("p2wpkh_script", "script_type_of"),
    "bitcache.wallet.addresses": (
        "PayoutScript",
        "address_for_script",
        "parse_address",
        "payout_script_for_key",
    ),
    "bitcache.wallet.gaplimit": (
        "DEFAULT_GAP_LIMIT",
        "highest_allowed_index",
        "next_deposit_index",
    ),
    "bitcache.wallet.keys": (
        "Chain",
        "DerivedKey",
        "HDWallet",
        "XpubForm",
        "generate_mnemonic",
        "normalize_mnemonic",
    ),
    "bitcache.wallet.seedbox": ("ScryptParams", "decrypt_mnemonic", "encrypt_mnemonic", "seal"),
}

if TYPE_CHECKING:
    from bitcache.bitcoin.script import p2wpkh_script, script_type_of
    from bitcache.wallet.addresses import (
        PayoutScript,
        address_for_script,
        parse_address,
        payout_script_for_key,
    )
    from bitcache.wallet.gaplimit import (
        DEFAULT_GAP_LIMIT,
        highest_allowed_index,
        next_deposit_index,
    )
    from bitcache.wallet.keys import (
        Chain,
        DerivedKey,
        HDWallet,
        XpubForm,
        generate_mnemonic,
        normalize_mnemonic,
    )
    from bitcache.wallet.seedbox import ScryptParams, decrypt_mnemonic, encrypt_mnemonic, seal
else:
    __getattr__, __dir__ = exports(__name__, _EXPORTS)

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
