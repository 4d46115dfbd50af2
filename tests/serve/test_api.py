"""The JSON API in process (httpx on the ASGI app), on both engines: keys and scopes,
Idempotency-Key, 402 bodies, problems that leak nothing, and every money-moving endpoint."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest

from bitcache.core.pricing import PriceRule
from bitcache.errors import StoreUnavailable
from bitcache.serve import keys
from tests.serve.conftest import DATA, FILE, PRICE, World, make_world

JSON = "application/json"
PROBLEM = "application/problem+json"


def _problem(r: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status
    return dict(body)


def _money(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


# -- authentication and scopes ----------------------------------------------------------


def test_requests_without_a_valid_key_are_refused(world: World) -> None:
    storage = world.key("storage")
    key_id = storage["Authorization"].split("_")[1]

    async def scenario(c: httpx.AsyncClient) -> None:
        r = await c.get("/v1/ping")
        _problem(r, 401, "unauthorized")
        assert r.headers["www-authenticate"].startswith("Bearer")
        for header in ("Basic abc", "Bearer nonsense", "Bearer bck_" + key_id + "_" + "x" * 43):
            _problem(await c.get("/v1/ping", headers={"Authorization": header}), 401,
                     "unauthorized")
        ok = await c.get("/v1/ping", headers=storage)
        assert ok.status_code == 200 and ok.json() == {"key_id": key_id, "scopes": ["storage"]}
        keys.revoke_key(world.hooks.ledger, key_id, 1)
        _problem(await c.get("/v1/ping", headers=storage), 401, "unauthorized")

    world.run(scenario)


def test_a_key_without_the_scope_is_refused(world: World) -> None:
    bob = world.key("downloader:bob")
    carol = world.key("uploader:carol")
    operator = world.key("operator")
    fh = world.add_file()

    async def scenario(c: httpx.AsyncClient) -> None:
        body = {"file": fh, "downloader": "bob"}
        _problem(await c.post("/v1/downloads", json=body, headers=_money(bob, "k1")), 403,
                 "forbidden")
        _problem(await c.post("/v1/links", json=body, headers=operator), 403, "forbidden")
        assert (await c.get("/v1/downloaders/bob/balance", headers=bob)).status_code == 200
        _problem(await c.get("/v1/downloaders/alice/balance", headers=bob), 403, "forbidden")
        assert (await c.get("/v1/uploaders/carol/earnings", headers=carol)).status_code == 200
        _problem(await c.get("/v1/uploaders/dave/earnings", headers=carol), 403, "forbidden")
        _problem(await c.get("/v1/operator/settlements", headers=carol), 403, "forbidden")
        _problem(await c.post(f"/v1/files/{fh}/hold", json={}, headers=_money(bob, "h")), 403,
                 "forbidden")

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 0 and world.hooks.file(fh).downloads == 0


def test_repeated_failures_lock_the_client_out_even_with_a_good_key(
        db_url: str, tmp_path: Path) -> None:
    w = make_world(db_url, tmp_path, failure_limit=3)
    good = w.key("storage")

    async def scenario(c: httpx.AsyncClient) -> None:
        for _ in range(3):
            _problem(await c.get("/v1/ping", headers={"Authorization": "Bearer bck_x"}), 401,
                     "unauthorized")
        r = await c.get("/v1/ping", headers=good)
        _problem(r, 429, "too-many-failures")
        assert int(r.headers["retry-after"]) >= 1

    try:
        w.run(scenario)
    finally:
        w.hooks.close()


# -- Idempotency-Key ------------------------------------------------------------------


def test_the_same_key_and_body_answer_the_same_and_charge_once(world: World) -> None:
    storage = world.key("storage")
    other = world.key("storage")
    fh = world.add_file()
    world.hooks.credit_deposit("bob", 10_000, "tx1")

    async def scenario(c: httpx.AsyncClient) -> None:
        body = {"file": fh, "downloader": "bob"}
        first = await c.post("/v1/downloads", json=body, headers=_money(storage, "req-1"))
        assert first.status_code == 200 and first.json()["price_msat"] == PRICE
        again = await c.post("/v1/downloads", content=json.dumps(body, indent=2),
                             headers=_money(storage, "req-1"))
        assert again.status_code == 200 and again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        _problem(await c.post("/v1/downloads", json={**body, "bytes_served": 5},
                              headers=_money(storage, "req-1")), 422, "idempotency-key-reused")
        _problem(await c.post("/v1/tips", json={"file": fh, "tipper": "bob", "amount_msat": 1},
                              headers=_money(storage, "req-1")), 422, "idempotency-key-reused")
        _problem(await c.post("/v1/downloads", json=body, headers=storage), 400, "bad-request")
        # another API key has its own keys: a second, separate charge
        assert (await c.post("/v1/downloads", json=body,
                             headers=_money(other, "req-1"))).status_code == 200

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 10_000 - 2 * PRICE


def test_a_refused_payment_is_kept_for_its_key(world: World) -> None:
    storage = world.key("storage")
    fh = world.add_file()

    async def scenario(c: httpx.AsyncClient) -> None:
        body = {"file": fh, "downloader": "bob"}
        refused = _problem(await c.post("/v1/downloads", json=body,
                                        headers=_money(storage, "a")), 402, "insufficient-funds")
        assert refused["price_msat"] == PRICE and refused["missing_msat"] == PRICE
        assert str(refused["payment_uri"]).startswith(f"bitcoin:{refused['deposit_address']}?")
        assert str(refused["deposit_address"]).startswith("bcrt1")
        world.hooks.credit_deposit("bob", 10_000, "tx1")
        kept = await c.post("/v1/downloads", json=body, headers=_money(storage, "a"))
        assert kept.status_code == 402 and kept.headers["idempotent-replayed"] == "true"
        assert (await c.post("/v1/downloads", json=body,
                             headers=_money(storage, "b"))).status_code == 200

    world.run(scenario)


# -- problems leak nothing ------------------------------------------------------------


def test_an_ownership_conflict_does_not_name_the_owner(world: World) -> None:
    storage = world.key("storage")
    fh = world.add_file()

    async def scenario(c: httpx.AsyncClient) -> None:
        r = await c.post("/v1/files", json={"file": fh, "uploader": "mallory",
                                            "price": {"kind": "fixed", "amount": 1}},
                         headers=storage)
        _problem(r, 409, "ownership-conflict")
        assert "carol" not in r.text

    world.run(scenario)


# -- the endpoints --------------------------------------------------------------------


def test_files_terms_and_holds(world: World) -> None:
    storage, operator = world.key("storage"), world.key("operator")
    fh = FILE
    (world.files / fh).write_bytes(DATA)
    world.hooks.credit_deposit("bob", 100_000, "tx1")

    async def scenario(c: httpx.AsyncClient) -> None:
        made = await c.post("/v1/files", headers=storage, json={
            "file": fh, "uploader": "carol", "price": {"kind": "fixed", "amount": PRICE},
            "size": len(DATA), "cap": 5})
        assert made.status_code == 200 and made.json()["cap"] == 5
        changed = await c.patch(f"/v1/files/{fh}", headers=storage,
                                json={"uploader": "carol", "cap": None})
        assert changed.json()["cap"] is None and changed.json()["price"]["amount"] == PRICE
        _problem(await c.get(f"/v1/files/{'00' * 32}", headers=storage), 404, "unknown-file")
        await c.post("/v1/downloads", json={"file": fh, "downloader": "bob"},
                     headers=_money(storage, "d1"))
        held = await c.post(f"/v1/files/{fh}/hold", json={}, headers=_money(operator, "h1"))
        assert held.status_code == 200 and held.json()["amount_msat"] > 0
        assert (await c.get(f"/v1/files/{fh}", headers=operator)).json()["held"] is True
        again = await c.post(f"/v1/files/{fh}/hold", json={}, headers=_money(operator, "h2"))
        assert again.status_code == 451
        released = await c.post(f"/v1/files/{fh}/release", json={},
                                headers=_money(operator, "r1"))
        assert released.json()["amount_msat"] == held.json()["amount_msat"]
        _problem(await c.post(f"/v1/files/{fh}/refund", json={},
                              headers=_money(operator, "r2")), 409, "file-not-held")
        given = await c.post(f"/v1/files/{fh}/owner", json={"uploader": "dave"},
                             headers=operator)
        assert given.json()["uploader"] == "dave"

    world.run(scenario)


def test_batches_transfers_tips_credits_and_reads(world: World) -> None:
    storage, operator = world.key("storage"), world.key("operator")
    fh = world.add_file()

    async def scenario(c: httpx.AsyncClient) -> None:
        credited = await c.post("/v1/downloaders/bob/credits", json={"amount_msat": 10_000},
                                headers=_money(operator, "promo-1"))
        assert credited.json()["amount_msat"] == 10_000
        batch = await c.post("/v1/downloads/batch", headers=_money(storage, "b1"), json={
            "downloads": [{"file": fh, "downloader": "bob"},
                          {"file": fh, "downloader": "alice"},
                          {"file": fh, "downloader": "bob", "bytes_served": len(DATA) // 2}]})
        results = batch.json()["results"]
        assert results[0]["price_msat"] == PRICE and results[2]["price_msat"] == PRICE // 2
        assert results[1]["status"] == 402 and "deposit_address" in results[1]
        begun = await c.post("/v1/transfers", json={"file": fh, "downloader": "bob"},
                             headers=_money(storage, "t1"))
        tid = begun.json()["transfer_id"]
        assert begun.json()["reserved_msat"] == PRICE
        done = await c.post(f"/v1/transfers/{tid}/complete", json={"bytes_served": 0},
                            headers=_money(storage, "t2"))
        assert done.status_code == 200 and done.json()["price_msat"] == 0
        other = await c.post("/v1/transfers", json={"file": fh, "downloader": "bob"},
                             headers=_money(storage, "t5"))
        other_id = other.json()["transfer_id"]
        cancelled = await c.post(f"/v1/transfers/{other_id}/cancel", json={},
                                 headers=_money(storage, "t6"))
        assert cancelled.json()["amount_msat"] == PRICE

        _problem(await c.post("/v1/transfers/99999/cancel", json={},
                              headers=_money(storage, "t4")), 404, "unknown-transfer")
        named = _problem(await c.post("/v1/transfers/abc/cancel", json={},
                                      headers=_money(storage, "t7")), 400, "bad-request")
        assert named["detail"] == "path parameter transfer must be an integer"
        tipped = await c.post("/v1/tips", json={"file": fh, "tipper": "bob", "amount_msat": 500},
                              headers=_money(storage, "tip1"))
        assert tipped.json()["amount_msat"] == 500
        balance = await c.get("/v1/downloaders/bob/balance", headers=storage)
        assert balance.json()["available_msat"] == 10_000 - PRICE - PRICE // 2 - 500
        earned = await c.get("/v1/uploaders/carol/earnings", headers=storage,
                             params={"since": 0})
        assert earned.json()["files"][0]["downloads"] == 2
        address = await c.get("/v1/downloaders/bob/deposit-address", headers=storage)
        assert address.json()["address"].startswith("bcrt1")
        _problem(await c.get("/v1/uploaders/carol/payout-address", headers=storage), 404,
                 "not-found")
        payout = await c.put("/v1/uploaders/carol/payout-address", headers=storage,
                             json={"address": address.json()["address"]})
        assert payout.status_code == 200
        assert (await c.get("/v1/uploaders/carol/payout-address",
                            headers=storage)).json()["address"] == address.json()["address"]
        assert (await c.get("/v1/operator/settlements",
                            headers=operator)).json() == {"settlements": []}
        _problem(await c.get("/v1/uploaders/carol/statement", headers=storage), 503,
                 "unavailable")

    world.run(scenario)
    assert world.hooks.ledger.trial_balance() == 0


def test_health_checks_the_database_and_the_chain(world: World) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        ok = await c.get("/health")
        assert ok.status_code == 200
        assert ok.json()["checks"] == {"database": {"ok": True},
                                       "chain": {"ok": True, "height": 7}}
        world.chain_up["up"] = False
        down = _problem(await c.get("/health"), 503, "unavailable")
        assert down["checks"]["chain"]["ok"] is False  # type: ignore[index]

    world.run(scenario)


def test_health_answers_503_when_the_database_does_not_answer(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable() -> None:
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(world.service.ledger, "read", unreachable)

    async def scenario(c: httpx.AsyncClient) -> None:
        down = _problem(await c.get("/health"), 503, "unavailable")
        checks = down["checks"]
        assert checks["database"]["ok"] is False  # type: ignore[index]
        assert checks["chain"] == {"ok": True, "height": 7}  # type: ignore[index]
        assert "connection refused" not in json.dumps(down)

    world.run(scenario)


def test_openapi_describes_every_route(world: World) -> None:
    routes = world.client()._transport.app.routes  # type: ignore[attr-defined]
    app_routes = {(m, r.path) for r in routes if hasattr(r, "methods")
                  for m in r.methods - {"HEAD"}}
    # the web pages (HTML, docs/web.md) are mounted apart from the JSON API
    assert [r.path for r in routes if not hasattr(r, "methods")] == ["/web"]

    async def scenario(c: httpx.AsyncClient) -> dict[str, dict[str, object]]:
        r = await c.get("/openapi.json")
        assert r.status_code == 200
        return dict(r.json()["paths"])

    paths = world.run(scenario)
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert documented == app_routes
    downloads = paths["/v1/downloads"]["post"]
    assert {"402", "422", "401", "403"} <= set(downloads["responses"])  # type: ignore[index]
    assert any(p["name"] == "Idempotency-Key" and p["required"]
               for p in downloads["parameters"])  # type: ignore[index]


def test_unknown_paths_and_methods_are_problems(world: World) -> None:
    async def scenario(c: httpx.AsyncClient) -> None:
        _problem(await c.get("/nowhere"), 404, "not-found")
        _problem(await c.delete("/v1/ping"), 405, "method-not-allowed")
        wrong = await c.put(f"/v1/files/{FILE}/hold")
        _problem(wrong, 405, "method-not-allowed")
        assert wrong.headers["allow"] == "POST"
        about = await c.get("/problems/insufficient-funds")
        assert about.json()["status"] == 402
        _problem(await c.get("/problems/nothing"), 404, "not-found")

    world.run(scenario)


def test_keys_and_link_signatures_never_reach_the_logs(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    storage = world.key("storage")
    key = storage["Authorization"].removeprefix("Bearer ")
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    fh = world.add_file()
    link = world.service.signer.make(fh, "bob", 600, int(world.now[0]))
    query = world.service.signer.query(link)
    signature = query.rsplit("s=", 1)[1]

    class Broken:
        async def download(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("the money seam broke")

    world.service.money = Broken()  # type: ignore[assignment]
    world.service.gate.money = Broken()  # type: ignore[assignment]

    async def scenario(c: httpx.AsyncClient) -> None:
        assert (await c.get("/v1/ping", headers=storage)).status_code == 200
        _problem(await c.get("/v1/ping", headers={"Authorization": f"Bearer {wrong}"}), 401,
                 "unauthorized")
        r = await c.post("/v1/downloads", json={"file": fh, "downloader": "bob"},
                         headers=_money(storage, "k-log"))
        _problem(r, 500, "internal")
        assert key not in r.text
        _problem(await c.get(f"/v1/gate/{fh}?{query}"), 500, "internal")
        _problem(await c.get(f"/v1/gate/{fh}?{query.replace(signature, 'x' * 43)}"), 403,
                 "link-invalid")

    with caplog.at_level(logging.DEBUG):
        world.run(scenario)
    logged = [r for r in caplog.records if r.name == "bitcache.serve" and r.exc_info]
    assert len(logged) == 2  # both errors were logged, with their traceback ...
    handler = logging.StreamHandler()
    served = "\n".join(handler.format(r) for r in caplog.records  # the client's own log aside
                       if not r.name.startswith(("httpx", "httpcore")))
    assert "the money seam broke" in served
    for secret in (key, key.rsplit("_", 1)[1], wrong.rsplit("_", 1)[1], signature):
        assert secret not in served  # ... and nothing that grants anything


def test_a_link_to_a_file_not_registered_is_refused_when_asked_for(world: World) -> None:
    storage = world.key("storage")
    fh = world.add_file()

    async def scenario(c: httpx.AsyncClient) -> None:
        made = await c.post("/v1/links", json={"file": fh, "downloader": "bob"},
                            headers=storage)
        assert made.status_code == 201 and made.json()["url"].startswith(f"/files/{fh}?")
        _problem(await c.post("/v1/links", json={"file": "cd" * 32, "downloader": "bob"},
                              headers=storage), 404, "unknown-file")

    world.run(scenario)


def test_terms_no_download_could_be_charged_by_are_refused_at_registration(
        world: World) -> None:
    storage = world.key("storage")
    fh = "ef" * 32
    prices = ({"kind": "fiat", "amount": 5, "currency": "USD"},  # the service has no rates
              {"kind": "free", "amount": 5},
              {"kind": "per_gib", "amount": 100_000_000_000})  # past the bound at 2 GiB

    async def scenario(c: httpx.AsyncClient) -> None:
        for price in prices:
            body = {"file": fh, "uploader": "carol", "price": price, "size": 2 * 2**30}
            _problem(await c.post("/v1/files", json=body, headers=storage), 400, "bad-request")
        _problem(await c.get(f"/v1/files/{fh}", headers=storage), 404, "unknown-file")
        ok = await c.post("/v1/files", headers=storage, json={
            "file": fh, "uploader": "carol", "price": {"kind": "fixed", "amount": 5}})
        assert ok.status_code == 200, ok.text
        _problem(await c.patch(f"/v1/files/{fh}", headers=storage, json={
            "uploader": "carol", "price": prices[0]}), 400, "bad-request")
        assert (await c.get(f"/v1/files/{fh}", headers=storage)).json()["price"] == {
            "kind": "fixed", "amount": 5}

    world.run(scenario)


def test_the_documented_api_table_lists_every_route(world: World) -> None:
    routes = world.client()._transport.app.routes  # type: ignore[attr-defined]
    served = {f"{m} {r.path}" for r in routes if hasattr(r, "methods")
              for m in r.methods - {"HEAD"}} | {"GET /web/…"}
    doc = (Path(__file__).resolve().parents[2] / "docs" / "serve.md").read_text()
    table = doc.split("## The API", 1)[1].split("\n\n", 3)[2]
    documented = {row.split("`")[1].split("?")[0] for row in table.splitlines()
                  if row.startswith("| `")}

    def shape(paths: set[str]) -> set[str]:  # {downloader} is {d} in the table
        return {re.sub(r"\{[^}]*\}", "{}", p) for p in paths}

    assert shape(documented) == shape(served)


def test_a_file_priced_in_fiat_by_the_library_is_unavailable_not_a_bad_request(
        world: World) -> None:
    storage = world.key("storage")
    fh = world.add_file()
    world.hooks.update_terms(fh, "carol", price=PriceRule.fiat(5, "USD"))
    world.hooks.credit_deposit("bob", 10 * PRICE, "tx1")

    async def scenario(c: httpx.AsyncClient) -> None:
        r = await c.post("/v1/downloads", json={"file": fh, "downloader": "bob"},
                         headers=_money(storage, "fiat-1"))
        assert _problem(r, 503, "unavailable")["detail"] == "a USD price needs a rate provider"

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 10 * PRICE
