"""Output-script templates against the published address vectors; classification; dust."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bitcache.bitcoin.script import (
    MAX_ANCHOR_BYTES,
    is_witness_program,
    null_data_script,
    p2pkh_script,
    p2sh_script,
    p2tr_script,
    p2wpkh_script,
    p2wpkh_script_code,
    p2wsh_script,
    script_num_push,
    script_type_of,
    witness_program_script,
)
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidInput
from bitcache.tx.policy import dust_threshold_sat

VECTORS = Path(__file__).parents[1] / "vectors"


def _load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((VECTORS / name).read_text())


SCRIPTS = sorted(
    {v["script_pubkey"] for v in _load("key_io_addresses.json")["valid"]}
    | {
        v["script_pubkey"]
        for name in ("bip173.json", "bip350.json")
        for v in _load(name)["valid_segwit"]
    }
    | {v["script_pubkey"] for v in _load("bip86.json")["keys"]}
)
TEMPLATES = {
    ScriptType.P2PKH: (p2pkh_script, slice(3, 23)),
    ScriptType.P2SH: (p2sh_script, slice(2, 22)),
    ScriptType.P2WPKH: (p2wpkh_script, slice(2, None)),
    ScriptType.P2WSH: (p2wsh_script, slice(2, None)),
    ScriptType.P2TR: (p2tr_script, slice(2, None)),
}


@pytest.mark.parametrize("script_hex", SCRIPTS)
def test_each_template_rebuilds_the_published_scripts_of_its_type(script_hex: str) -> None:
    script = bytes.fromhex(script_hex)
    kind = script_type_of(script)
    if kind is None:  # witness v2-16 or odd-sized v1: valid, no standard type
        assert is_witness_program(script)
        version = script[0] - 0x50 if script[0] else 0
        assert witness_program_script(version, script[2:]) == script
        return
    template, payload = TEMPLATES[kind]
    assert template(script[payload]) == script


@pytest.mark.parametrize(
    ("template", "size"),
    [
        (p2pkh_script, 20),
        (p2sh_script, 20),
        (p2wpkh_script, 20),
        (p2wsh_script, 32),
        (p2tr_script, 32),
    ],
)
def test_templates_refuse_a_wrong_length(template: object, size: int) -> None:
    assert callable(template)
    for wrong in (size - 1, size + 1):
        with pytest.raises(InvalidInput, match=f"is {size} bytes"):
            template(bytes(wrong))


def test_p2wpkh_script_code_is_the_p2pkh_template_of_the_program() -> None:
    program = hashlib.sha256(b"k").digest()[:20]
    assert p2wpkh_script_code(p2wpkh_script(program)) == p2pkh_script(program)
    with pytest.raises(InvalidInput, match="not P2WPKH"):
        p2wpkh_script_code(p2wsh_script(bytes(32)))


@pytest.mark.parametrize(
    ("size", "head"), [(1, "6a01"), (75, "6a4b"), (76, "6a4c4c"), (MAX_ANCHOR_BYTES, "6a4c50")]
)
def test_null_data_pushes_minimally(size: int, head: str) -> None:
    script = null_data_script(b"\x07" * size)
    assert script.hex() == head + "07" * size
    assert script_type_of(script) is None


@pytest.mark.parametrize("payload", [b"", b"x" * (MAX_ANCHOR_BYTES + 1)])
def test_null_data_refuses_empty_and_oversized_payloads(payload: bytes) -> None:
    with pytest.raises(InvalidInput, match="anchor payload"):
        null_data_script(payload)


def test_script_num_push_refuses_negative_numbers() -> None:
    with pytest.raises(InvalidInput):
        script_num_push(-1)


@pytest.mark.parametrize(
    ("script_hex", "expected"),
    [
        ("0014" + "00" * 20, True),
        ("5120" + "00" * 32, True),
        ("6002" + "0000", True),
        ("0015" + "00" * 20, False),  # the push says 21 bytes, 20 follow
        ("0014" + "00" * 21, False),  # one byte after the program
        ("0101" + "00" * 20, False),  # a push, not OP_0..OP_16, first
        ("", False),
    ],
)
def test_witness_programs_follow_bip141(script_hex: str, expected: bool) -> None:
    assert is_witness_program(bytes.fromhex(script_hex)) is expected


def test_dust_of_a_non_standard_script_follows_bitcoin_cores_formula() -> None:
    # GetDustThreshold: (output size + size of a spending input) × 3000 sat/kvB,
    # the input counted at 148 bytes unless the script is a witness program.
    not_witness = bytes.fromhex("0014" + "00" * 21)
    assert dust_threshold_sat(not_witness) == (8 + 1 + 23 + 148) * 3
    witness_v2 = bytes.fromhex("5210" + "00" * 16)
    assert dust_threshold_sat(witness_v2) == (8 + 1 + 18 + 67) * 3
    assert dust_threshold_sat(p2wpkh_script(bytes(20))) == 294
    assert dust_threshold_sat(p2wpkh_script(bytes(20)), 1000) == (8 + 1 + 22 + 67) * 1
    assert dust_threshold_sat(null_data_script(b"x")) == 0
