"""Shared fixtures: ledger databases on SQLite (always) and PostgreSQL (when configured).

PostgreSQL tests run when ``BITCACHE_TEST_PG_URL`` names a server database
(CI sets it to the local server); without it they skip, saying so. Each test
gets its own database, cloned from a migrated template.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings

from bitcache.store.database import make_engine, sqlite_url, upgrade

# No per-example time limit: the suite shares two cores with other work, and a
# deadline would fail a correct example for being slow (timing is for benchmarks/).
settings.register_profile("bitcache", deadline=None)
settings.load_profile("bitcache")

PG_URL = os.environ.get("BITCACHE_TEST_PG_URL", "")
PG_SKIP = "PostgreSQL tests need BITCACHE_TEST_PG_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"


def _admin() -> sa.Engine:
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _with_db(url: str, name: str) -> str:
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template(worker_id: str) -> Iterator[str]:
    """A migrated template database for this test worker."""
    if not PG_URL:
        pytest.skip(PG_SKIP)
    name = f"bitcache_tpl_{worker_id}_{os.getpid()}"
    admin = _admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(_with_db(PG_URL, name))
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def make_pg_url(request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """Factory of fresh, migrated PostgreSQL databases (dropped after the test)."""
    created: list[str] = []
    admin = _admin() if PG_URL else None

    def make() -> str:
        if admin is None:
            pytest.skip(PG_SKIP)
        template = request.getfixturevalue("pg_template")
        name = f"bitcache_t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        created.append(name)
        return _with_db(PG_URL, name)

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for name in created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def make_sqlite_url(tmp_path: Path) -> Callable[[], str]:
    """Factory of fresh SQLite database files in the test's folder."""
    counter = iter(range(10_000))

    def make() -> str:
        return sqlite_url(tmp_path / f"ledger{next(counter)}.sqlite")

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine_name(request: pytest.FixtureRequest) -> str:
    """The database engine a test runs on: every such test runs on both."""
    return str(request.param)


@pytest.fixture
def make_db_url(engine_name: str, request: pytest.FixtureRequest) -> Callable[[], str]:
    """Fresh database URLs on the parametrised engine."""
    if engine_name == "postgres":
        return request.getfixturevalue("make_pg_url")  # type: ignore[no-any-return]
    return request.getfixturevalue("make_sqlite_url")  # type: ignore[no-any-return]


@pytest.fixture
def db_url(make_db_url: Callable[[], str]) -> str:
    """One fresh database URL on the parametrised engine."""
    return make_db_url()


@pytest.fixture(scope="session")
def worker_id() -> str:
    """The xdist worker id, or ``master`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "master")
