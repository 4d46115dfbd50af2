"""Promises the endpoint table makes to every endpoint, checked over the whole table: party
scopes only read, and every money-moving POST needs and honours its Idempotency-Key."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from bitcache.serve.api import ENDPOINTS
from tests.serve.conftest import PRICE, World

PROBLEM = "application/problem+json"
PATHS = {"file": "ab" * 32, "transfer": "1", "downloader": "bob", "uploader": "carol"}


def _problem(r: httpx.Response, status: int, slug: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM and r.json()["type"] == f"/problems/{slug}"


def test_uploader_and_downloader_scopes_only_read(world: World) -> None:
    party = world.key("uploader:carol", "downloader:bob")
    writes = [e for e in ENDPOINTS if e.method != "GET"]
    assert len(writes) >= 15
    for endpoint in writes:
        assert not any(s.startswith(("uploader:", "downloader:")) for s in endpoint.scopes)

    async def scenario(c: httpx.AsyncClient) -> None:
        for endpoint in writes:
            path = endpoint.path.format(**PATHS)
            r = await c.request(endpoint.method, path, json={},
                                headers={**party, "Idempotency-Key": f"try-{path}"})
            _problem(r, 403, "forbidden")

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 0


def _money_requests(world: World) -> list[tuple[str, str, dict[str, Any], str, dict[str, Any]]]:
    """(endpoint path, path, body, another path, another body) for every money-moving POST,
    in an order in which each first request can succeed."""
    fh = world.add_file()
    fh2 = world.add_file(b"another file" * 100)
    world.hooks.credit_deposit("bob", 100 * PRICE, "tx1")
    t1 = world.hooks.begin_transfer(fh, "bob", "t1").pending_id
    t2 = world.hooks.begin_transfer(fh, "bob", "t2").pending_id
    one = {"file": fh, "downloader": "bob"}
    return [
        ("/v1/downloads", "/v1/downloads", one, "/v1/downloads", {**one, "bytes_served": 5}),
        ("/v1/downloads/batch", "/v1/downloads/batch", {"downloads": [one]},
         "/v1/downloads/batch", {"downloads": [one, one]}),
        ("/v1/transfers", "/v1/transfers", one, "/v1/transfers", {**one, "ttl_seconds": 60}),
        ("/v1/transfers/{transfer}/complete", f"/v1/transfers/{t1}/complete",
         {"bytes_served": 100}, f"/v1/transfers/{t1}/complete", {"bytes_served": 200}),
        ("/v1/transfers/{transfer}/cancel", f"/v1/transfers/{t2}/cancel", {},
         f"/v1/transfers/{t1}/cancel", {}),
        ("/v1/tips", "/v1/tips", {"file": fh, "tipper": "bob", "amount_msat": 5},
         "/v1/tips", {"file": fh, "tipper": "bob", "amount_msat": 6}),
        ("/v1/downloaders/{downloader}/credits", "/v1/downloaders/bob/credits",
         {"amount_msat": 1_000}, "/v1/downloaders/bob/credits", {"amount_msat": 2_000}),
        ("/v1/files/{file}/hold", f"/v1/files/{fh}/hold", {}, f"/v1/files/{fh2}/hold", {}),
        ("/v1/files/{file}/release", f"/v1/files/{fh}/release", {},
         f"/v1/files/{fh2}/release", {}),
        ("/v1/files/{file}/refund", f"/v1/files/{fh2}/refund", {},
         f"/v1/files/{fh}/refund", {}),
    ]


def test_every_money_moving_post_needs_and_honours_its_idempotency_key(world: World) -> None:
    moving = {e.path for e in ENDPOINTS if e.moves_money}
    requests = _money_requests(world)
    assert {r[0] for r in requests} == moving  # a new money endpoint must be listed here
    world.hooks.hold(hashlib.sha256(b"another file" * 100).hexdigest(), "hold-fh2")
    key = world.key("storage", "operator")

    def state() -> tuple[object, ...]:
        ledger = world.hooks.ledger
        return ledger.trial_balance(), world.hooks.prepaid_balance("bob"), ledger.head()

    async def scenario(c: httpx.AsyncClient) -> None:
        for template, path, body, other_path, other_body in requests:
            _problem(await c.post(path, json=body, headers=key), 400, "bad-request")
            headers = {**key, "Idempotency-Key": f"idem-{template}"}
            first = await c.post(path, json=body, headers=headers)
            assert first.status_code < 300, (template, first.text)
            after = state()
            again = await c.post(path, json=body, headers=headers)
            assert (again.status_code, again.content) == (first.status_code, first.content)
            assert again.headers["idempotent-replayed"] == "true", template
            _problem(await c.post(other_path, json=other_body, headers=headers), 422,
                     "idempotency-key-reused")
            assert state() == after, template  # neither the replay nor the refusal moved money

    world.run(scenario)


def test_a_malformed_idempotency_key_is_refused_by_its_name_and_moves_nothing(
        world: World) -> None:
    fh = world.add_file()
    world.hooks.credit_deposit("bob", 10 * PRICE, "tx1")
    key = world.key("storage")

    async def scenario(c: httpx.AsyncClient) -> None:
        for value in ("\u00e9t\u00e9".encode(), b"x" * 101, b"tab\there"):
            r = await c.post("/v1/downloads", json={"file": fh, "downloader": "bob"},
                             headers={**key, "Idempotency-Key": value})  # type: ignore[dict-item]
            _problem(r, 400, "bad-request")
            assert "Idempotency-Key" in r.json()["detail"], r.text

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 10 * PRICE


def test_a_body_over_the_limit_is_refused_413_before_it_is_read_whole(world: World) -> None:
    """Declared too large, or found too large while it arrives (no Content-Length): 413,
    nothing written, and the Idempotency-Key still free for the real request."""
    from bitcache.serve.schema import MAX_BODY

    operator = world.key("operator")
    good = b'{"amount_msat": 5000}'
    padded = good[:-1] + b" " * (MAX_BODY - len(good)) + b"}"  # exactly the limit
    assert len(padded) == MAX_BODY
    read: list[int] = []

    async def chunks(total: int) -> Any:
        sent = 0
        while sent < total:
            piece = b" " * min(65_536, total - sent)
            sent += len(piece)
            read.append(sent)
            yield piece

    async def scenario(c: httpx.AsyncClient) -> None:
        url = "/v1/downloaders/bob/credits"
        headers = {**operator, "Idempotency-Key": "fund-bob-1",
                   "Content-Type": "application/json"}
        _problem(await c.post(url, content=padded + b" ", headers=headers), 413,
                 "body-too-large")
        streamed = await c.post(url, content=chunks(8 * MAX_BODY), headers=headers)
        _problem(streamed, 413, "body-too-large")
        assert "larger than 1048576 bytes" in streamed.json()["detail"]
        r = await c.post(url, content=padded, headers=headers)
        assert r.status_code == 200, r.text

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 5_000  # credited once, by the last request
    assert read[-1] < 8 * MAX_BODY  # the stream was not read to its end


def test_every_endpoint_documents_the_413() -> None:
    assert all(413 in endpoint.statuses() for endpoint in ENDPOINTS)
