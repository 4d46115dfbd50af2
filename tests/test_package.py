"""The package's import surface: lazy exports, and what importing a module costs.

Each check that is about import side effects runs in a fresh interpreter
(``sys.executable``), since this test process has loaded everything.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import bitcache
import bitcache.config
import bitcache.wallet

#: bitcache's declared dependencies (import names) that only the database, the
#: chain, the wallet's key derivation or the command line need.
HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "httpx", "bip_utils", "coincurve", "bitcoin",
         "pbk", "psycopg", "Crypto", "typer", "rich")

LAZY_PACKAGES = (bitcache, bitcache.config, bitcache.wallet)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this environment; fail with its output."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.parametrize("module", ["bitcache", "bitcache.core", "bitcache.core.money",
                                    "bitcache.core.entries", "bitcache.core.utxo",
                                    "bitcache.core.tip", "bitcache.clock",
                                    "bitcache.statements.verify",
                                    "bitcache.wallet.platformkey"])
def test_importing_a_pure_module_loads_no_database_chain_or_key_library(module: str) -> None:
    done = run_python(f"""
        import sys
        import {module}
        print(",".join(sorted(m for m in {HEAVY!r} if m in sys.modules)))
    """)
    assert done.stdout.strip() == "", f"import {module} loaded {done.stdout.strip()}"


@pytest.mark.parametrize("package", LAZY_PACKAGES, ids=lambda p: p.__name__)
def test_every_public_name_resolves_to_its_home_object(package: object) -> None:
    exports = vars(package)["_EXPORTS"]
    public = package.__all__  # type: ignore[attr-defined]
    assert {n for names in exports.values() for n in names} <= set(public)
    for name in public:
        assert getattr(package, name) is not None
    for module, names in exports.items():
        home = importlib.import_module(module)
        for name in names:
            assert getattr(package, name) is getattr(home, name), f"{package}.{name}"
    assert set(package.__all__) <= set(dir(package))  # type: ignore[attr-defined]


def test_star_import_gives_every_public_name() -> None:
    done = run_python("""
        from bitcache import *
        import bitcache
        missing = [n for n in bitcache.__all__ if n not in globals()]
        print(",".join(missing))
    """)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("package", LAZY_PACKAGES, ids=lambda p: p.__name__)
def test_type_checkers_see_the_same_names_as_the_lazy_map(package: object) -> None:
    """The ``TYPE_CHECKING`` imports (what mypy and IDEs read) equal the runtime map."""
    tree = ast.parse(inspect.getsource(package))  # type: ignore[arg-type]
    guarded = next(
        node for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    seen: dict[str, tuple[str, ...]] = {}
    for node in guarded.body:
        assert isinstance(node, ast.ImportFrom) and node.module is not None
        seen[node.module] = tuple(a.name for a in node.names)
    assert seen == vars(package)["_EXPORTS"]


def test_network_stays_the_function_after_its_module_is_imported() -> None:
    """``bitcache.network`` is the public function, though a module has that name too."""
    done = run_python("""
        import bitcache
        import bitcache.network
        from bitcache import network
        print(callable(bitcache.network), network is bitcache.network)
    """)
    assert done.stdout.split() == ["True", "True"]


def test_subpackages_are_reachable_as_attributes() -> None:
    done = run_python("""
        import bitcache
        print(bitcache.store.__name__, bitcache.statements.__name__)
    """)
    assert done.stdout.split() == ["bitcache.store", "bitcache.statements"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        bitcache.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_name"):
        bitcache.wallet.no_such_name  # type: ignore[attr-defined]  # noqa: B018
