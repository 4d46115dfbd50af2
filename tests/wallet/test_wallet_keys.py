"""HD keys: BIP32 and BIP84 vectors, watch-only mode, network guards, secrecy."""

from __future__ import annotations

import itertools

import pytest
from bip_utils import Bip32KeyNetVersions, Bip32Slip10Secp256k1
from wallet_support import ABANDON_MNEMONIC, load_vectors

from bitcache.errors import (
    InvalidExtendedKey,
    InvalidInput,
    InvalidMnemonic,
    MainnetRefused,
    WatchOnlyWallet,
)
from bitcache.network import Network
from bitcache.wallet.addresses import parse_address
from bitcache.wallet.base58 import b58decode_check, b58encode_check
from bitcache.wallet.keys import (
    Chain,
    HDWallet,
    XpubForm,
    _versions_for,
    generate_mnemonic,
    normalize_mnemonic,
)

BIP32 = load_vectors("bip32.json")
BIP84 = load_vectors("bip84.json")
TEST_NETWORKS = (Network.TESTNET4, Network.SIGNET, Network.REGTEST)


def _bip32_cases() -> list[tuple[str, dict[str, str]]]:
    return [(v["seed"], chain) for v in BIP32["vectors"] for chain in v["chains"]]


@pytest.mark.parametrize(("seed_hex", "chain"), _bip32_cases(), ids=lambda c: str(c)[:20])
def test_bip32_vectors(seed_hex: str, chain: dict[str, str]) -> None:
    """The derivation engine, with the version bytes bitcache configures, meets BIP32."""
    versions = _versions_for(Network.MAINNET, XpubForm.BIP32)
    net_ver = Bip32KeyNetVersions(versions.public, versions.private)
    master = Bip32Slip10Secp256k1.FromSeed(bytes.fromhex(seed_hex), net_ver)
    node = master.DerivePath(chain["path"]) if chain["path"] != "m" else master
    assert node.PublicKey().ToExtended() == chain["xpub"]
    assert node.PrivateKey().ToExtended() == chain["xprv"]
    # bitcache's own base58check reads and rewrites both serialisations exactly.
    for key in (chain["xpub"], chain["xprv"]):
        raw = b58decode_check(key)
        assert len(raw) == 78 and b58encode_check(raw) == key


@pytest.mark.parametrize("vector", BIP32["vectors"], ids=["vector1", "vector2"])
def test_bip32_public_derivation_matches_for_non_hardened_steps(vector: dict[str, object]) -> None:
    """Watch-only derivation (CKDpub) gives the vectors' child xpubs from the parent xpub."""
    chains = vector["chains"]
    assert isinstance(chains, list)
    for parent, child in itertools.pairwise(chains):
        last = child["path"].rsplit("/", 1)[1]
        if last.endswith("'"):
            continue
        public_parent = Bip32Slip10Secp256k1.FromExtendedKey(parent["xpub"])
        assert public_parent.IsPublicOnly()
        assert public_parent.ChildKey(int(last)).PublicKey().ToExtended() == child["xpub"]


def _wif_secret(wif: str) -> bytes:
    raw = b58decode_check(wif)
    assert raw[0] == 0x80 and raw[-1] == 0x01 and len(raw) == 34
    return raw[1:33]


def test_bip84_mainnet_vectors_with_explicit_opt_in() -> None:
    main = BIP84["mainnet"]
    wallet = HDWallet.from_mnemonic(BIP84["mnemonic"], Network.MAINNET, allow_mainnet=True)
    assert wallet.account_xpub() == main["account_xpub"]
    for key in main["keys"]:
        chain = Chain.EXTERNAL if key["chain"] == "external" else Chain.INTERNAL
        derived = wallet.derive(chain, key["index"])
        assert derived.pubkey.hex() == key["pubkey"]
        assert derived.address == key["address"]
        assert parse_address(key["address"], Network.MAINNET).script_pubkey == derived.script_pubkey
        assert wallet.private_key(chain, key["index"]) == _wif_secret(key["privkey_wif"])
    assert wallet.receive_key(1).address == main["keys"][1]["address"]
    assert wallet.change_key(0).address == main["keys"][2]["address"]


def test_bip84_testnet_account_and_first_address() -> None:
    test = BIP84["testnet"]
    for net in (Network.TESTNET4, Network.SIGNET):
        wallet = HDWallet.from_mnemonic(ABANDON_MNEMONIC, net)
        assert wallet.account_xpub() == test["account_xpub"]
        assert wallet.receive_key(0).address == test["keys"][0]["address"]


def test_regtest_uses_bcrt_prefix_with_the_same_keys() -> None:
    regtest = HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.REGTEST).receive_key(0)
    testnet = HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.TESTNET4).receive_key(0)
    assert regtest.address.startswith("bcrt1q")
    assert regtest.script_pubkey == testnet.script_pubkey
    assert parse_address(regtest.address, Network.REGTEST).script_pubkey == regtest.script_pubkey


def test_mainnet_is_refused_without_opt_in() -> None:
    with pytest.raises(MainnetRefused):
        HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.MAINNET)
    with pytest.raises(MainnetRefused):
        HDWallet.watch_only(BIP84["mainnet"]["account_xpub"], Network.MAINNET)
    with pytest.raises(MainnetRefused):
        HDWallet.from_seed(bytes(32), Network.MAINNET)


def test_mainnet_watch_only_with_opt_in_derives_the_bip84_address() -> None:
    wallet = HDWallet.watch_only(
        BIP84["mainnet"]["account_xpub"], Network.MAINNET, allow_mainnet=True
    )
    assert wallet.receive_key(0).address == BIP84["mainnet"]["keys"][0]["address"]


@pytest.mark.parametrize("form", list(XpubForm))
@pytest.mark.parametrize("net", TEST_NETWORKS)
def test_watch_only_derives_the_same_keys_and_cannot_sign(form: XpubForm, net: Network) -> None:
    full = HDWallet.from_mnemonic(ABANDON_MNEMONIC, net)
    xpub = full.account_xpub(form)
    assert xpub[:4] == ("vpub" if form is XpubForm.SLIP132 else "tpub")
    watch = HDWallet.watch_only(xpub, net)
    assert watch.is_watch_only and not full.is_watch_only
    assert watch.account == 0 and watch.network is net
    for chain in Chain:
        for index in (0, 1, 7, 1000, 2**31 - 1):
            assert watch.derive(chain, index) == full.derive(chain, index)
    assert watch.account_xpub(XpubForm.SLIP132) == full.account_xpub(XpubForm.SLIP132)
    with pytest.raises(WatchOnlyWallet):
        watch.private_key(Chain.EXTERNAL, 0)


def test_account_number_is_part_of_the_path() -> None:
    first = HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.SIGNET)
    second = HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.SIGNET, account=1)
    assert second.account == 1
    assert second.receive_key(0) != first.receive_key(0)
    assert HDWallet.watch_only(second.account_xpub(), Network.SIGNET).account == 1


def test_bip39_passphrase_changes_the_keys() -> None:
    plain = HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.REGTEST)
    salted = HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.REGTEST, passphrase="TREZOR")
    assert plain.receive_key(0).pubkey != salted.receive_key(0).pubkey


def test_wrong_network_xpubs_are_refused() -> None:
    zpub = BIP84["mainnet"]["account_xpub"]
    vpub = BIP84["testnet"]["account_xpub"]
    for net in TEST_NETWORKS:
        with pytest.raises(InvalidExtendedKey, match="mainnet extended key"):
            HDWallet.watch_only(zpub, net)
    with pytest.raises(InvalidExtendedKey, match="test-network extended key"):
        HDWallet.watch_only(vpub, Network.MAINNET, allow_mainnet=True)


def _reversion(key: str, version_hex: str) -> str:
    return b58encode_check(bytes.fromhex(version_hex) + b58decode_check(key)[4:])


def test_malformed_and_private_extended_keys_are_refused_without_echo() -> None:
    vpub = BIP84["testnet"]["account_xpub"]
    flipped = vpub[:40] + ("A" if vpub[40] != "A" else "B") + vpub[41:]
    vprv = HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.TESTNET4)._account_node
    vprv_text = vprv.PrivateKey().ToExtended()
    master_tpub = _reversion(BIP32["vectors"][0]["chains"][0]["xpub"], "043587cf")
    upub = _reversion(vpub, "044a5262")
    cases = {
        "not-a-key": "base58",
        flipped: "checksum",
        b58encode_check(b58decode_check(vpub)[:-1]): "77 bytes",
        vprv_text: "private extended key",
        master_tpub: "not an account key",
        upub: "BIP49",
        _reversion(vpub, "01020304"): "unknown extended key version",
    }
    for text, message in cases.items():
        with pytest.raises(InvalidExtendedKey, match=message) as info:
            HDWallet.watch_only(text, Network.TESTNET4)
        assert text not in str(info.value)


def test_invalid_point_in_xpub_is_refused() -> None:
    raw = bytearray(b58decode_check(BIP84["testnet"]["account_xpub"]))
    raw[45] = 0x05  # a public key must start with 02 or 03
    with pytest.raises(InvalidExtendedKey, match="does not decode"):
        HDWallet.watch_only(b58encode_check(bytes(raw)), Network.TESTNET4)


def test_secrets_never_appear_in_repr_or_str() -> None:
    wallet = HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.TESTNET4)
    secret = wallet.private_key(Chain.EXTERNAL, 0)
    for text in (repr(wallet), str(wallet), repr(wallet.receive_key(0))):
        assert secret.hex() not in text
        assert "abandon" not in text
        assert "prv" not in text
    assert "signing" in repr(wallet) and "testnet4" in repr(wallet)


@pytest.mark.parametrize("index", [-1, 2**31, True, 1.0, "0"])
def test_bad_indices_are_refused(index: object) -> None:
    wallet = HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.REGTEST)
    with pytest.raises(InvalidInput, match="index"):
        wallet.receive_key(index)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="index"):
        wallet.private_key(Chain.INTERNAL, index)  # type: ignore[arg-type]


def test_chain_must_be_the_enum() -> None:
    wallet = HDWallet.from_mnemonic(ABANDON_MNEMONIC, Network.REGTEST)
    with pytest.raises(InvalidInput, match="chain"):
        wallet.derive(0, 0)  # type: ignore[arg-type]


def test_generate_mnemonic_follows_bip39() -> None:
    assert generate_mnemonic(bytes(16)) == ABANDON_MNEMONIC
    assert generate_mnemonic(bytes(32)) == " ".join(["abandon"] * 23 + ["art"])
    assert generate_mnemonic(b"\xff" * 16) == " ".join(["zoo"] * 11 + ["wrong"])
    words = generate_mnemonic(bytes(range(32))).split()
    assert len(words) == 24
    assert normalize_mnemonic(" ".join(words)) == " ".join(words)
    for bad in (b"", bytes(15), bytes(24), bytes(33)):
        with pytest.raises(InvalidInput):
            generate_mnemonic(bad)


def test_normalize_mnemonic_cleans_spacing_and_case() -> None:
    messy = "  ABANDON  abandon\tabandon abandon abandon abandon abandon abandon abandon abandon "
    assert normalize_mnemonic(messy + "abandon About\n") == ABANDON_MNEMONIC


@pytest.mark.parametrize(
    ("mnemonic", "message"),
    [
        (" ".join(["abandon"] * 12), "checksum"),
        (" ".join(["abandon"] * 11 + ["bitcache"]), "not in the BIP39 English list"),
        (" ".join(["abandon"] * 11), "11 words"),
        ("", "0 words"),
    ],
)
def test_invalid_mnemonics_are_refused_without_echo(mnemonic: str, message: str) -> None:
    with pytest.raises(InvalidMnemonic, match=message) as info:
        HDWallet.from_mnemonic(mnemonic, Network.REGTEST)
    assert "abandon" not in str(info.value) and "bitcache" not in str(info.value)
