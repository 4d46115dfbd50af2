"""Schemathesis against the service's own /openapi.json: whatever it sends, within the schema
or outside it, the service never answers 5xx nor a status its document does not list, and its
answers match their documented media types and schemas.

Bounded: a fixed number of examples per operation, derandomized, on SQLite in process.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from bitcache.chain.regtest import RegtestChain
from bitcache.serve.app import create_app
from bitcache.store.database import sqlite_url
from bitcache.wallet.platformkey import generate_platform_key
from tests.serve.conftest import World, make_world

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]

EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 8}


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("fuzz")
    w = make_world(sqlite_url(folder / "ledger.sqlite"), folder, failure_limit=1_000_000,
                   chain=lambda: RegtestChain.open(folder / "chain"),
                   platform_key=generate_platform_key())
    w.add_file()
    w.hooks.credit_deposit("bob", 50_000, "tx1")
    yield w
    w.hooks.close()


def _operations(w: World) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(w.service))
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_service_keeps_its_documented_promises(fuzz_world: World,
                                                   mode: GenerationMode) -> None:
    auth = fuzz_world.key("storage", "operator")
    operations = _operations(fuzz_world)
    assert len(operations) >= 26
    seen: Counter[tuple[str, int]] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            sent = {k: v for k, v in (case.headers or {}).items()
                    if k.lower() != "authorization"}
            response = case.call(headers={**sent, **auth})
            seen[(case.operation.path, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:  # an operation without parameters has no invalid input
            assert mode is GenerationMode.NEGATIVE
            assert operation.path in ("/openapi.json", "/health", "/v1/ping",
                                      "/v1/operator/settlements", "/v1/operator/reconcile")
    if mode is GenerationMode.POSITIVE:  # the key works: much valid input is served
        served = {path for path, status in seen if status < 300}
        assert len(served) >= len(operations) // 3, sorted(seen.items())

