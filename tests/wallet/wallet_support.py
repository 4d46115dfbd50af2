"""Shared helpers for the wallet tests: published vectors loaded from JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bitcache import errors
from bitcache.network import Network

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

# How the vectors' HRPs and chain names map to bitcache networks.
HRP_NETWORKS = {
    "bc": (Network.MAINNET,),
    "tb": (Network.TESTNET4, Network.SIGNET),
    "bcrt": (Network.REGTEST,),
}
CHAIN_NETWORKS = {
    "main": Network.MAINNET,
    "testnet4": Network.TESTNET4,
    "signet": Network.SIGNET,
    "regtest": Network.REGTEST,
}

ABANDON_MNEMONIC = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)


def load_vectors(name: str) -> Any:
    """The parsed JSON of ``tests/vectors/<name>``."""
    with (VECTORS / name).open(encoding="utf-8") as handle:
        return json.load(handle)


def error_class(name: str) -> type[errors.BitcacheError]:
    """The bitcache error class a vector names."""
    cls = getattr(errors, name)
    assert isinstance(cls, type) and issubclass(cls, errors.BitcacheError)
    return cls


def networks_of_address(address: str) -> tuple[Network, ...]:
    """The networks whose bech32 HRP the address carries."""
    hrp = address.lower()[: address.lower().rfind("1")]
    return HRP_NETWORKS[hrp]
