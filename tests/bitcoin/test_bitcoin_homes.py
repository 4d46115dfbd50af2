"""Each bitcoin concept has one home, and every package bitcache imports is declared.

Both read the source (``ast``), not the running program: a second sha256d, a
second transaction parser, or an import of a package that ``pip install
bitcache`` would not bring fails here, wherever it hides.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bitcache"
HOME = PACKAGE / "bitcoin"

#: Names that mean one bitcoin concept, whatever module defines them (old names included).
CONCEPTS = {
    "sha256d", "hash160", "_hash160", "tagged_hash", "_tagged_hash",
    "compact_size", "compact_size_len", "_varint", "varint",
    "ByteReader", "_Reader",
    "script_type_of", "script_type", "require_script_type", "p2pkh_script", "p2sh_script",
    "p2wpkh_script", "p2wsh_script", "p2tr_script", "witness_program_script",
    "p2wpkh_script_code", "null_data_script", "script_num_push", "is_null_data",
    "Transaction", "Tx", "TxIn", "TxOut", "parse_transaction", "parse_tx", "serialize_tx",
    "read_transaction", "outpoint_bytes", "check_sat",
}  # fmt: skip


@cache
def _modules() -> tuple[tuple[Path, ast.Module], ...]:
    return tuple(
        (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    )


def test_each_bitcoin_concept_is_defined_once_in_bitcache_bitcoin() -> None:
    homes: dict[str, list[str]] = defaultdict(list)
    for path, tree in _modules():
        for node in ast.walk(tree):
            is_def = isinstance(node, ast.FunctionDef | ast.ClassDef)
            if is_def and node.name in CONCEPTS:
                homes[node.name].append(str(path.relative_to(ROOT)))
    misplaced = {
        name: where
        for name, where in homes.items()
        if len(where) > 1 or not where[0].startswith(str(HOME.relative_to(ROOT)))
    }
    assert not misplaced, f"bitcoin concepts defined outside bitcache/bitcoin or twice: {misplaced}"


def test_no_module_hashes_ripemd160_or_taproot_tweaks_by_hand() -> None:
    for path, tree in _modules():
        if path == HOME / "hashes.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
                assert text.lower() != "ripemd160", f"{path}: hand-rolled RIPEMD-160"
                assert text != "TapTweak", f"{path}: hand-written BIP341 tweak"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    """Distributions ``pip install bitcache[kernel,postgres,server]`` brings (not ``dev``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    reqs = project["dependencies"] + [r for name, rs in extras.items() if name != "dev" for r in rs]
    return {_canonical(re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0]) for r in reqs}


def _imported_top_levels() -> Iterator[tuple[str, Path]]:
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                yield from ((alias.name.split(".")[0], path) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield node.module.split(".")[0], path


def test_every_third_party_import_is_a_declared_dependency() -> None:
    declared, owners_of = _declared(), packages_distributions()
    undeclared = set()
    for top, path in _imported_top_levels():
        if top in sys.stdlib_module_names or top in ("__future__", "bitcache"):
            continue
        owners = {_canonical(d) for d in owners_of.get(top, [])}
        if not owners & declared:
            undeclared.add(f"{path.relative_to(ROOT)} imports {top} ({', '.join(owners) or '?'})")
    assert not undeclared, "imports of undeclared packages:\n" + "\n".join(sorted(undeclared))
