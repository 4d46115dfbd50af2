"""Bitcoin networks bitcache knows, with the mainnet guard.

Mainnet is refused everywhere unless the caller passes ``allow_mainnet=True``
explicitly: a test or a demo can never spend real money by mistake.
"""

from __future__ import annotations

import enum

from bitcache.errors import InvalidInput, MainnetRefused


class Network(enum.Enum):
    """A bitcoin network, with the parameters addresses and RPC need."""

    MAINNET = "mainnet"
    TESTNET4 = "testnet4"
    SIGNET = "signet"
    REGTEST = "regtest"

    @property
    def hrp(self) -> str:
        """bech32 human-readable part (BIP173)."""
        return {"mainnet": "bc", "regtest": "bcrt"}.get(self.value, "tb")

    @property
    def p2pkh_version(self) -> int:
        return 0x00 if self is Network.MAINNET else 0x6F

    @property
    def p2sh_version(self) -> int:
        return 0x05 if self is Network.MAINNET else 0xC4

    @property
    def rpc_port(self) -> int:
        return {"mainnet": 8332, "testnet4": 48332, "signet": 38332, "regtest": 18443}[self.value]

    @property
    def is_test(self) -> bool:
        return self is not Network.MAINNET


def network(name: str | Network, *, allow_mainnet: bool = False) -> Network:
    """Resolve a network by name, refusing mainnet without the explicit opt-in."""
    if isinstance(name, Network):
        net = name
    else:
        try:
            net = Network(str(name).strip().lower())
        except ValueError as exc:
            known = ", ".join(n.value for n in Network)
            raise InvalidInput(f"unknown network {name!r}; expected one of {known}") from exc
    if net is Network.MAINNET and not allow_mainnet:
        raise MainnetRefused("mainnet is refused unless allow_mainnet=True is passed explicitly")
    return net
