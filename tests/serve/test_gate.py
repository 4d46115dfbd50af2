"""The download gate in process, on both engines: links, one charge per link, Range, refusals.

(tests/serve/test_nginx.py runs the same gate behind a real nginx.)
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from bitcache.core.files import HoldPolicy
from tests.serve.conftest import DATA, PRICE, World, make_world

ACCEL = "/_bitcache_files/"


async def _link(c: httpx.AsyncClient, w: World, fh: str, who: str = "bob",
                ttl: int = 60) -> str:
    r = await c.post("/v1/links", json={"file": fh, "downloader": who, "ttl_seconds": ttl},
                     headers=w.key("storage"))
    assert r.status_code == 201, r.text
    parts = urlsplit(r.json()["url"])
    assert parts.path == f"/files/{fh}"
    return f"/v1/gate/{fh}?{parts.query}"


def _served(r: httpx.Response, fh: str, charged: int) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["x-accel-redirect"] == ACCEL + fh and r.content == b""
    assert r.headers["x-bitcache-charged-msat"] == str(charged)


def test_a_link_is_charged_once_and_served_again_only_within_its_lifetime(world: World) -> None:
    fh = world.add_file()
    world.hooks.credit_deposit("bob", 10_000, "tx1")

    async def scenario(c: httpx.AsyncClient) -> None:
        url = await _link(c, world, fh, ttl=60)
        _served(await c.get(url), fh, PRICE)
        world.now[0] += 59
        _served(await c.get(url), fh, 0)
        world.now[0] += 1
        r = await c.get(url)
        assert r.status_code == 410 and r.json()["type"] == "/problems/link-expired"
        _served(await c.get(await _link(c, world, fh)), fh, PRICE)  # a new link, a new charge

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 10_000 - 2 * PRICE
    assert world.hooks.file(fh).downloads == 2


def test_a_refused_charge_answers_402_with_where_to_pay(world: World) -> None:
    fh = world.add_file()
    world.hooks.credit_deposit("bob", 1_000, "tx1")

    async def scenario(c: httpx.AsyncClient) -> None:
        r = await c.get(await _link(c, world, fh))
        assert r.status_code == 402 and r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert (body["price_msat"], body["available_msat"], body["missing_msat"]) == (
            PRICE, 1_000, PRICE - 1_000)
        assert body["payment_uri"] == f"bitcoin:{body['deposit_address']}?amount=0.00000002"
        assert "x-accel-redirect" not in r.headers

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 1_000


def test_forged_links_are_refused_and_count_as_failures(db_url: str, tmp_path: Path) -> None:
    w = make_world(db_url, tmp_path, failure_limit=2)
    fh = w.add_file()
    w.hooks.credit_deposit("bob", 10_000, "tx1")

    async def scenario(c: httpx.AsyncClient) -> None:
        url = await _link(c, w, fh)
        forged = url.replace("d=bob", "d=alice")
        for _ in range(2):
            r = await c.get(forged)
            assert r.status_code == 403 and r.json()["type"] == "/problems/link-invalid"
        assert (await c.get(url)).status_code == 429  # the genuine link too, for a while

    try:
        w.run(scenario)
    finally:
        w.hooks.close()
    assert w.hooks.prepaid_balance("alice") == 0


def test_range_requests_are_charged_for_the_bytes_asked(world: World) -> None:
    fh = world.add_file()
    world.hooks.credit_deposit("bob", 10_000, "tx1")
    tenth = len(DATA) // 10

    async def scenario(c: httpx.AsyncClient) -> None:
        url = await _link(c, world, fh)
        _served(await c.get(url, headers={"Range": f"bytes=0-{tenth - 1}"}), fh, PRICE // 10)
        _served(await c.get(url, headers={"Range": f"bytes=0-{tenth - 1}"}), fh, 0)
        _served(await c.get(url, headers={"Range": "bytes=10-19"}), fh, 0)
        for other in ({"Range": f"bytes={tenth}-{2 * tenth}"}, {}):
            r = await c.get(url, headers=other)
            assert r.status_code == 409 and r.json()["type"] == "/problems/link-used"
        whole = await _link(c, world, fh)
        _served(await c.get(whole), fh, PRICE)
        _served(await c.get(whole, headers={"Range": "bytes=500-"}), fh, 0)  # a resume
        r = await c.get(await _link(c, world, fh), headers={"Range": "bytes=99999-"})
        assert r.status_code == 416

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 10_000 - PRICE // 10 - PRICE


def test_a_file_missing_on_disk_is_not_charged(world: World) -> None:
    fh = world.add_file()
    (world.files / fh).unlink()
    world.hooks.credit_deposit("bob", 10_000, "tx1")

    async def scenario(c: httpx.AsyncClient) -> None:
        url = await _link(c, world, fh)
        for method in ("GET", "HEAD"):
            r = await c.request(method, url)
            assert r.status_code == 404
        assert (await c.get(url)).json()["type"] == "/problems/file-missing"

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 10_000
    assert world.hooks.file(fh).downloads == 0


def test_head_is_checked_but_not_charged(world: World) -> None:
    fh = world.add_file()
    world.hooks.credit_deposit("bob", 10_000, "tx1")

    async def scenario(c: httpx.AsyncClient) -> None:
        r = await c.head(await _link(c, world, fh))
        assert r.status_code == 200 and r.headers["x-accel-redirect"] == ACCEL + fh

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 10_000


def test_the_cap_refuses_links_past_it(world: World) -> None:
    fh = world.add_file(cap=1)
    world.hooks.credit_deposit("bob", 10_000, "tx1")

    async def scenario(c: httpx.AsyncClient) -> None:
        _served(await c.get(await _link(c, world, fh)), fh, PRICE)
        r = await c.get(await _link(c, world, fh))
        assert r.status_code == 403 and r.json()["type"] == "/problems/download-cap-reached"

    world.run(scenario)
    assert world.hooks.prepaid_balance("bob") == 10_000 - PRICE


@pytest.mark.parametrize("policy", [HoldPolicy.REDIRECT, HoldPolicy.REFUSE])
def test_a_held_file(db_url: str, tmp_path: Path, policy: HoldPolicy) -> None:
    w = make_world(db_url, tmp_path, hold_policy=policy)
    fh = w.add_file()
    w.hooks.credit_deposit("bob", 10_000, "tx1")
    w.hooks.hold(fh, "takedown-1")

    async def scenario(c: httpx.AsyncClient) -> httpx.Response:
        return await c.get(await _link(c, w, fh))

    try:
        r = w.run(scenario)
        if policy is HoldPolicy.REFUSE:
            assert r.status_code == 451 and r.json()["type"] == "/problems/file-held"
            assert w.hooks.prepaid_balance("bob") == 10_000
        else:
            _served(r, fh, PRICE)
            held = w.hooks.balance(f"liability:held:{fh}")
            assert -held.posted > 0 and w.hooks.earnings("carol") == []
    finally:
        w.hooks.close()


def test_the_gate_ahead_of_the_router_answers_as_the_routed_gate(world: World) -> None:
    """``GateFirst`` takes GET and HEAD of /v1/gate/<file> before the router: every answer
    is the one the routed gate gives (the same status, headers and body), and what it
    does not take (other methods, other paths) still reaches the router."""
    from bitcache.serve.app import GateFirst, create_app

    fh = world.add_file()
    world.hooks.credit_deposit("bob", 10_000, "tx1")
    app = create_app(world.service)
    assert isinstance(app, GateFirst)
    taken: list[str] = []
    gate = app._gate

    async def counted(request: object) -> object:
        taken.append(request.url.path)  # type: ignore[attr-defined]
        return await gate(request)  # type: ignore[arg-type]

    app._gate = counted  # type: ignore[assignment]

    def client(asgi: object) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=asgi,  # type: ignore[arg-type]
                                        client=("198.51.100.7", 5000))
        return httpx.AsyncClient(transport=transport, base_url="http://bitcache.test")

    def seen(r: httpx.Response) -> tuple[int, dict[str, str], bytes]:
        return r.status_code, {k: v for k, v in r.headers.items() if k != "date"}, r.content

    async def scenario(c: httpx.AsyncClient) -> None:
        async with client(app) as first, client(app.app) as routed:
            link = (await _link(c, world, fh)).split("?", 1)[1]
            other = (await _link(c, world, fh)).split("?", 1)[1]
            _served(await c.get(f"/v1/gate/{fh}?{link}"), fh, PRICE)  # then each app replays it
            for method, path in [("GET", f"/v1/gate/{fh}?{link}"),
                                 ("HEAD", f"/v1/gate/{fh}?{link}"),
                                 ("GET", f"/v1/gate/{fh}?{link}&x=1"),
                                 ("GET", f"/v1/gate/{fh}?{link.replace('d=bob', 'd=eve')}"),
                                 ("GET", f"/v1/gate/{'cd' * 32}?{link}"),
                                 ("GET", f"/v1/gate/{fh}"), ("GET", "/v1/gate/x%2Fy"),
                                 ("POST", f"/v1/gate/{fh}?{link}"), ("GET", f"/v1/gate/{fh}/x"),
                                 ("GET", "/v1/gate/")]:
                taken.clear()
                a = await first.request(method, path)
                went_first = bool(taken)
                b = await routed.request(method, path)
                assert seen(a) == seen(b), (method, path)
                route = unquote(path.split("?")[0])  # as the server decodes it
                fast = method in ("GET", "HEAD") and route.count("/") == 3 and route[-1] != "/"
                assert went_first == fast, (method, path)
            r = await first.get(f"/v1/gate/{fh}?{other}")  # the first use of a link: charged
            assert r.headers["x-bitcache-charged-msat"] == str(PRICE)
            r = await first.post(f"/v1/gate/{fh}?{other}")
            assert r.status_code == 405
            assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD"}  # in any order

    world.run(scenario)
    assert world.hooks.file(fh).downloads == 2
