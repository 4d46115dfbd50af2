"""HD keys: a BIP39 mnemonic to a BIP84 (P2WPKH) account, or a watch-only account xpub.

Key hierarchy (BIP32/BIP44/BIP84)::

    m / 84' / coin' / account' / chain / index
    coin = 0 on mainnet, 1 on every test network (testnet4, signet, regtest)
    chain = 0 external (deposit addresses), 1 internal (change)

Addresses are produced by :func:`bitcache.wallet.addresses.address_for_script`
so the bech32 prefix follows the network (``tb1`` or ``bcrt1``), although
testnet4, signet and regtest share the same keys and extended-key versions.

Mainnet is refused unless ``allow_mainnet=True``. Private keys, seeds and
mnemonics never appear in a ``repr``, a ``str`` or an error message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bip_utils import (
    Bip32KeyError,
    Bip32KeyNetVersions,
    Bip32Slip10Secp256k1,
    Bip39Languages,
    Bip39MnemonicDecoder,
    Bip39MnemonicEncoder,
    Bip39SeedGenerator,
    MnemonicChecksumError,
)

from bitcache.bitcoin.hashes import hash160
from bitcache.bitcoin.script import p2wpkh_script
from bitcache.core.checks import is_int
from bitcache.errors import (
    InvalidAddress,
    InvalidExtendedKey,
    InvalidInput,
    InvalidMnemonic,
    WatchOnlyWallet,
)
from bitcache.network import Network
from bitcache.network import network as resolve_network
from bitcache.wallet.addresses import address_for_script
from bitcache.wallet.base58 import b58decode_check, b58encode_check

PURPOSE = 84
HARDENED = 0x80000000
MAX_INDEX = HARDENED - 1
ACCOUNT_DEPTH = 3
_MNEMONIC_WORDS = (12, 15, 18, 21, 24)


class Chain(enum.Enum):
    """The two BIP44 chains of an account."""

    EXTERNAL = 0  # deposit (receive) addresses
    INTERNAL = 1  # change


class XpubForm(enum.Enum):
    """How an account public key is serialised."""

    SLIP132 = "slip132"  # vpub (test networks) / zpub (mainnet): says "BIP84, P2WPKH"
    BIP32 = "bip32"  # tpub / xpub: what Bitcoin Core descriptors use


@dataclass(frozen=True)
class _Versions:
    public: bytes
    private: bytes
    mainnet: bool
    form: XpubForm


_VERSIONS = (
    _Versions(bytes.fromhex("04b24746"), bytes.fromhex("04b2430c"), True, XpubForm.SLIP132),
    _Versions(bytes.fromhex("0488b21e"), bytes.fromhex("0488ade4"), True, XpubForm.BIP32),
    _Versions(bytes.fromhex("045f1cf6"), bytes.fromhex("045f18bc"), False, XpubForm.SLIP132),
    _Versions(bytes.fromhex("043587cf"), bytes.fromhex("04358394"), False, XpubForm.BIP32),
)
_BIP49_VERSIONS = {bytes.fromhex(v) for v in ("049d7cb2", "049d7878", "044a5262", "044a4e28")}


def _versions_for(net: Network, form: XpubForm) -> _Versions:
    mainnet = net is Network.MAINNET
    return next(v for v in _VERSIONS if v.mainnet == mainnet and v.form is form)


@dataclass(frozen=True)
class DerivedKey:
    """One derived public key of the account, with its P2WPKH script and address."""

    chain: Chain
    index: int
    pubkey: bytes
    script_pubkey: bytes
    address: str


def generate_mnemonic(entropy: bytes) -> str:
    """A BIP39 English mnemonic from 16 (12 words) or 32 (24 words) bytes of entropy.

    The randomness is the caller's: pass ``os.urandom(32)`` or ``secrets.token_bytes(32)``.
    """
    if not isinstance(entropy, bytes) or len(entropy) not in (16, 32):
        raise InvalidInput("mnemonic entropy must be 16 or 32 bytes")
    return str(Bip39MnemonicEncoder(Bip39Languages.ENGLISH).Encode(entropy))


def normalize_mnemonic(mnemonic: str) -> str:
    """Validate a BIP39 English mnemonic and return it with single spaces, lowercase.

    The error message never repeats the mnemonic or any of its words.
    """
    if not isinstance(mnemonic, str):
        raise InvalidMnemonic("mnemonic must be a str")
    words = mnemonic.lower().split()
    if len(words) not in _MNEMONIC_WORDS:
        raise InvalidMnemonic(f"mnemonic has {len(words)} words; BIP39 uses 12, 15, 18, 21 or 24")
    normalized = " ".join(words)
    try:
        Bip39MnemonicDecoder(Bip39Languages.ENGLISH).Decode(normalized)
    except MnemonicChecksumError:
        raise InvalidMnemonic(
            "mnemonic checksum does not verify (a word is wrong or out of order)"
        ) from None
    except ValueError:
        raise InvalidMnemonic("mnemonic has a word that is not in the BIP39 English list") from None
    return normalized


def _check_index(index: int) -> None:
    if not is_int(index) or not 0 <= index <= MAX_INDEX:
        raise InvalidInput(f"key index must be an int in 0..{MAX_INDEX}, got {index!r}")


def _check_chain(chain: Chain) -> Chain:
    if not isinstance(chain, Chain):
        raise InvalidInput(f"chain must be Chain.EXTERNAL or Chain.INTERNAL, got {chain!r}")
    return chain


class HDWallet:
    """A BIP84 account: derives deposit and change keys; signs unless watch-only.

    Build one with :meth:`from_mnemonic`, :meth:`from_seed` or :meth:`watch_only`.
    """

    __slots__ = ("_account", "_account_node", "_chain_nodes", "_network")

    def __init__(self, account_node: Bip32Slip10Secp256k1, net: Network, account: int) -> None:
        self._account_node = account_node
        self._network = net
        self._account = account
        self._chain_nodes = {chain: account_node.ChildKey(chain.value) for chain in Chain}

    @classmethod
    def from_mnemonic(
        cls,
        mnemonic: str,
        network: Network,
        *,
        passphrase: str = "",
        account: int = 0,
        allow_mainnet: bool = False,
    ) -> HDWallet:
        """The account ``m/84'/coin'/account'`` of a BIP39 mnemonic (and optional passphrase)."""
        net = resolve_network(network, allow_mainnet=allow_mainnet)
        normalized = normalize_mnemonic(mnemonic)
        if not isinstance(passphrase, str):
            raise InvalidInput("BIP39 passphrase must be a str")
        seed = bytes(Bip39SeedGenerator(normalized, Bip39Languages.ENGLISH).Generate(passphrase))
        return cls.from_seed(seed, net, account=account, allow_mainnet=allow_mainnet)

    @classmethod
    def from_seed(
        cls, seed: bytes, network: Network, *, account: int = 0, allow_mainnet: bool = False
    ) -> HDWallet:
        """The BIP84 account of a BIP32 seed (16 to 64 bytes)."""
        net = resolve_network(network, allow_mainnet=allow_mainnet)
        _check_index(account)
        if not isinstance(seed, bytes) or not 16 <= len(seed) <= 64:
            raise InvalidInput("BIP32 seed must be 16 to 64 bytes")
        versions = _versions_for(net, XpubForm.SLIP132)
        master = Bip32Slip10Secp256k1.FromSeed(
            seed, Bip32KeyNetVersions(versions.public, versions.private)
        )
        coin = 0 if net is Network.MAINNET else 1
        node = master.DerivePath(f"m/{PURPOSE}'/{coin}'/{account}'")
        return cls(node, net, account)

    @classmethod
    def watch_only(
        cls, account_xpub: str, network: Network, *, allow_mainnet: bool = False
    ) -> HDWallet:
        """A wallet that derives addresses from an account public key but cannot sign.

        Test networks accept tpub/vpub; mainnet (with the opt-in) accepts xpub/zpub.
        """
        net = resolve_network(network, allow_mainnet=allow_mainnet)
        versions, account = _parse_account_xpub(account_xpub, net)
        try:
            node = Bip32Slip10Secp256k1.FromExtendedKey(
                account_xpub, Bip32KeyNetVersions(versions.public, versions.private)
            )
        except (Bip32KeyError, ValueError) as exc:  # e.g. a public key off the curve
            raise InvalidExtendedKey(
                f"extended public key does not decode ({type(exc).__name__})"
            ) from None
        return cls(node, net, account)

    @property
    def network(self) -> Network:
        return self._network

    @property
    def account(self) -> int:
        """The account number (the hardened index under ``m/84'/coin'``)."""
        return self._account

    @property
    def is_watch_only(self) -> bool:
        return bool(self._account_node.IsPublicOnly())

    def derive(self, chain: Chain, index: int) -> DerivedKey:
        """The public key, P2WPKH script and address at ``chain/index`` of the account."""
        _check_index(index)
        node = self._chain_nodes[_check_chain(chain)].ChildKey(index)
        pubkey = bytes(node.PublicKey().RawCompressed().ToBytes())
        script = p2wpkh_script(hash160(pubkey))
        return DerivedKey(chain, index, pubkey, script, address_for_script(script, self._network))

    def receive_key(self, index: int) -> DerivedKey:
        """External-chain key ``index``: a deposit address."""
        return self.derive(Chain.EXTERNAL, index)

    def change_key(self, index: int) -> DerivedKey:
        """Internal-chain key ``index``: a change address."""
        return self.derive(Chain.INTERNAL, index)

    def private_key(self, chain: Chain, index: int) -> bytes:
        """The 32-byte secret key at ``chain/index``, for signing. Never log it."""
        if self.is_watch_only:
            raise WatchOnlyWallet("this wallet was built from an xpub and holds no private keys")
        _check_index(index)
        node = self._chain_nodes[_check_chain(chain)].ChildKey(index)
        return bytes(node.PrivateKey().Raw().ToBytes())

    def account_xpub(self, form: XpubForm = XpubForm.SLIP132) -> str:
        """The account public key, for a watch-only server (vpub/zpub, or tpub/xpub)."""
        raw = b58decode_check(str(self._account_node.PublicKey().ToExtended()))
        return b58encode_check(_versions_for(self._network, form).public + raw[4:])

    def __repr__(self) -> str:
        kind = "watch-only" if self.is_watch_only else "signing"
        return f"<HDWallet {kind} {self._network.value} m/84'/*/{self._account}'>"

    __str__ = __repr__


def _parse_account_xpub(text: str, net: Network) -> tuple[_Versions, int]:
    """Check an account xpub's shape, version and network; return versions and account."""
    if not isinstance(text, str):
        raise InvalidExtendedKey("extended key must be a str")
    try:
        raw = b58decode_check(text)
    except InvalidAddress as exc:
        raise InvalidExtendedKey(f"extended key is not valid base58check: {exc}") from None
    if len(raw) != 78:
        raise InvalidExtendedKey(f"extended key is {len(raw)} bytes; BIP32 keys are 78")
    version, depth, child = raw[:4], raw[4], int.from_bytes(raw[9:13], "big")
    if version in _BIP49_VERSIONS:
        raise InvalidExtendedKey("ypub/upub keys are BIP49 (nested segwit); bitcache uses BIP84")
    match = next((v for v in _VERSIONS if version in (v.public, v.private)), None)
    if match is None:
        raise InvalidExtendedKey(f"unknown extended key version 0x{version.hex()}")
    if version == match.private:
        raise InvalidExtendedKey("a private extended key was given; watch-only takes the xpub")
    if match.mainnet != (net is Network.MAINNET):
        owner = "mainnet" if match.mainnet else "test-network"
        raise InvalidExtendedKey(f"{owner} extended key given for {net.value}")
    if depth != ACCOUNT_DEPTH or child < HARDENED:
        raise InvalidExtendedKey(
            f"not an account key: depth {depth}, want {ACCOUNT_DEPTH} (m/84'/coin'/account')"
        )
    return match, child - HARDENED
