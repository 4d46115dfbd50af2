"""A statement is verified with ``cryptography`` alone: no database, chain or wallet library.

An uploader verifies a statement on their own machine. The library verifier
(:func:`bitcache.statements.verify.verify_statement`) must run where only
``cryptography`` of bitcache's dependencies is installed; ``bitcache verify``
also needs the command line's own libraries and what the CLI loads when it
starts (docs/statements.md lists them). Each check runs in a fresh
interpreter whose import hook refuses the other dependencies, as if they were
not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.services.statements import issue_statement
from bitcache.store.database import sqlite_url
from bitcache.store.ledger import LedgerStore
from bitcache.wallet.platformkey import public_key_hex
from tests.statements.conftest import CAROL, START, STEP, Clock, build_history

#: Import names of bitcache's dependencies (declared, optional, or used undeclared).
DEPENDENCIES = ("sqlalchemy", "sqlmodel", "alembic", "httpx", "bip_utils", "coincurve",
                "bitcoin", "pbk", "psycopg", "Crypto", "starlette", "uvicorn", "typer", "rich",
                "cryptography")
#: What ``bitcache verify`` (the command) needs besides cryptography.
CLI_NEEDS = ("typer", "rich", "sqlalchemy", "bitcoin", "coincurve")

REFUSE = """
import importlib.abc
import sys

REFUSED = {refused!r}

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (refused)", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
for refused in REFUSED:  # the hook is in force: a refused import fails
    try:
        __import__(refused)
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit(f"{{refused}} imported despite the hook")
"""


@pytest.fixture(scope="module")
def statement(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A signed statement of carol's (every kind of line) and the platform's public key."""
    folder = tmp_path_factory.mktemp("statement")
    store = LedgerStore.open(sqlite_url(folder / "ledger.db"), clock=Clock())
    try:
        build_history(store)
        key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
        uploader = CAROL.rpartition(":")[2]
        document = issue_statement(store, uploader, START + 2 * STEP + 1, START + 10**4 * STEP,
                                   key)
    finally:
        store.close()
    path = folder / "statement.json"
    path.write_bytes(document)
    return path, public_key_hex(key.public_key())


def run_without(refused: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where the ``refused`` modules fail to import."""
    program = REFUSE.format(refused=refused) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])


def test_the_library_verifier_needs_only_cryptography(statement: tuple[Path, str]) -> None:
    path, public = statement
    others = tuple(d for d in DEPENDENCIES if d != "cryptography")
    done = run_without(others, f"""
        import json
        from pathlib import Path
        from bitcache.errors import StatementInvalid
        from bitcache.statements.verify import verify_statement

        document = Path({str(path)!r}).read_bytes()
        verified = verify_statement(document, bytes.fromhex({public!r}))
        doc = json.loads(document)
        doc["lines"][0]["amount_msat"] += 1
        try:
            verify_statement(json.dumps(doc).encode(), bytes.fromhex({public!r}))
        except StatementInvalid as exc:
            refused = exc.line
        print(json.dumps({{"closing": verified.summary.closing_msat, "refused_line": refused}}))
    """)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["refused_line"] == 1
    assert out["closing"] == json.loads(path.read_bytes())["totals"]["closing_msat"]


def test_the_library_verifier_does_need_cryptography(statement: tuple[Path, str]) -> None:
    """The control case: the hook does refuse a dependency the verifier uses."""
    done = run_without(("cryptography",), "from bitcache.statements.verify import verify_statement")
    assert done.returncode != 0 and "cryptography" in done.stderr


def test_the_verify_command_needs_only_what_the_docs_list(statement: tuple[Path, str]) -> None:
    path, public = statement
    others = tuple(d for d in DEPENDENCIES if d != "cryptography" and d not in CLI_NEEDS)
    done = run_without(others, f"""
        import sys
        from bitcache.cli import main
        sys.argv = ["bitcache", "verify", {str(path)!r}, "--public-key", {public!r}, "--json"]
        main()
    """)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True
