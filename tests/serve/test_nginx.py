"""A real nginx, configured as docs/serve.md says, serving real files in front of
`bitcache serve` (a subprocess), on loopback ports, on both engines."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bitcache.serve import keys
from bitcache.store.ledger import LedgerStore
from tests.serve.stack import Stack, init_node, nginx_binary, serve_stack

PRICE = 5_000
SIZE = 100_000
PROBLEM = "application/problem+json"


@pytest.fixture(scope="session")
def node_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    nginx_binary()  # skip or fail before paying for a node folder
    home = tmp_path_factory.mktemp("serve-node") / "node"
    init_node(home)
    return home


def _stack(node_home: Path, db_url: str, tmp_path: Path, *args: str) -> Iterator[Stack]:
    with serve_stack(node_home, db_url, tmp_path, *args) as stack:
        yield stack


@pytest.fixture
def stack(node_home: Path, db_url: str, tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(node_home, db_url, tmp_path)


class Host:
    """The host's side: API keys from the CLI, files on disk, calls to the API."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.storage = self.key("storage")
        self.operator = self.key("operator")
        self.api = httpx.Client(base_url=stack.api, timeout=30)
        self.web = httpx.Client(base_url=stack.web, timeout=30)

    def key(self, *scopes: str) -> dict[str, str]:
        ledger = LedgerStore.open(self.stack.db, migrate=False)
        try:
            made = keys.create_key(ledger, scopes, "tests", time.time_ns() // 1000)
        finally:
            ledger.close()
        return {"Authorization": f"Bearer {made.key}"}

    def add_file(self, **terms: object) -> tuple[str, bytes]:
        data = os.urandom(SIZE)
        fh = hashlib.sha256(data).hexdigest()
        (self.stack.files / fh).write_bytes(data)
        r = self.api.post("/v1/files", headers=self.storage, json={
            "file": fh, "uploader": "carol", "price": {"kind": "fixed", "amount": PRICE},
            "size": SIZE, **terms})
        assert r.status_code == 200, r.text
        return fh, data

    def link(self, fh: str, who: str = "bob", ttl: int = 300) -> str:
        r = self.api.post("/v1/links", headers=self.storage,
                          json={"file": fh, "downloader": who, "ttl_seconds": ttl})
        assert r.status_code == 201, r.text
        return str(r.json()["url"])

    def credit(self, who: str, msat: int) -> None:
        r = self.api.post(f"/v1/downloaders/{who}/credits", json={"amount_msat": msat},
                          headers={**self.operator, "Idempotency-Key": f"fund-{who}-{msat}"})
        assert r.status_code == 200, r.text

    def balance(self, who: str) -> int:
        r = self.api.get(f"/v1/downloaders/{who}/balance", headers=self.operator)
        return int(r.json()["available_msat"])


def _problem(r: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"] == f"/problems/{slug}"
    return dict(r.json())


def test_paid_download_402_replays_and_forged_or_expired_links(stack: Stack) -> None:
    host = Host(stack)
    fh, data = host.add_file()
    url = host.link(fh)

    refused = _problem(host.web.get(url), 402, "insufficient-funds")
    assert (refused["price_msat"], refused["available_msat"], refused["missing_msat"]) == (
        PRICE, 0, PRICE)
    assert str(refused["deposit_address"]).startswith("bcrt1")
    assert refused["payment_uri"] == f"bitcoin:{refused['deposit_address']}?amount=0.00000005"

    host.credit("bob", 12_000)
    paid = host.web.get(url)
    assert paid.status_code == 200 and paid.content == data
    assert paid.headers["x-bitcache-charged-msat"] == str(PRICE)
    assert paid.headers["x-bitcache-balance-msat"] == "7000"
    again = host.web.get(url)  # a retry within the link's lifetime
    assert again.status_code == 200 and again.content == data
    assert again.headers["x-bitcache-charged-msat"] == "0"
    assert host.balance("bob") == 12_000 - PRICE

    expires = int(url.split("e=")[1].split("&")[0])
    _problem(host.web.get(url.replace("d=bob", "d=alice")), 403, "link-invalid")
    _problem(host.web.get(url.replace(f"e={expires}", f"e={expires + 3600}")), 403,
             "link-invalid")

    short = host.link(fh, ttl=6)
    ends = int(short.split("e=")[1].split("&")[0])
    assert host.web.get(short).headers["x-bitcache-charged-msat"] == str(PRICE)
    time.sleep(max(0.0, ends - time.time()) + 0.2)
    _problem(host.web.get(short), 410, "link-expired")  # after its lifetime: not served
    assert host.balance("bob") == 12_000 - 2 * PRICE and host.balance("alice") == 0

    # the logs, as configured by the documentation: paths, never a link's signature or a key
    access = (stack.files.parent / "nginx" / "bitcache.log").read_text()
    assert f"/files/{fh}" in access and "s=" not in access and url.split("s=")[1] not in access
    served = (stack.files.parent / "serve.log").read_text()
    for key in (host.storage, host.operator):
        assert key["Authorization"].split("_")[-1] not in served + access


def test_range_requests_a_file_missing_on_disk_and_the_cap(stack: Stack) -> None:
    host = Host(stack)
    host.credit("bob", 100_000)
    fh, data = host.add_file()
    url = host.link(fh)
    part = host.web.get(url, headers={"Range": "bytes=0-9999"})
    assert part.status_code == 206 and part.content == data[:10_000]
    assert part.headers["content-range"] == f"bytes 0-9999/{SIZE}"
    assert part.headers["x-bitcache-charged-msat"] == str(PRICE // 10)
    inside = host.web.get(url, headers={"Range": "bytes=100-199"})
    assert inside.status_code == 206 and inside.content == data[100:200]
    assert inside.headers["x-bitcache-charged-msat"] == "0"
    _problem(host.web.get(url, headers={"Range": "bytes=50000-50099"}), 409, "link-used")
    assert host.balance("bob") == 100_000 - PRICE // 10

    gone, _ = host.add_file()
    (stack.files / gone).unlink()
    _problem(host.web.get(host.link(gone)), 404, "file-missing")
    assert host.balance("bob") == 100_000 - PRICE // 10
    counted = host.api.get(f"/v1/files/{gone}", headers=host.storage).json()
    assert counted["downloads"] == 0

    capped, _ = host.add_file(cap=1)
    assert host.web.get(host.link(capped)).status_code == 200
    _problem(host.web.get(host.link(capped)), 403, "download-cap-reached")
    assert host.balance("bob") == 100_000 - PRICE // 10 - PRICE


@pytest.mark.parametrize("header", [
    "bytes =0-9",                    # nginx ignores it and sends the whole file
    "bytes=0\t-9",                   # nginx skips spaces only: 416
    "bytes=0-9999999999999999999",   # past nginx's largest offset: 416
    "bytes=-9999999999999999999",
])
def test_a_range_nginx_reads_otherwise_is_refused_before_any_charge(stack: Stack,
                                                                    header: str) -> None:
    host = Host(stack)
    host.credit("bob", 100_000)
    fh, _ = host.add_file()
    _problem(host.web.get(host.link(fh), headers={"Range": header}), 416,
             "range-not-satisfiable")
    assert host.balance("bob") == 100_000


def test_ranges_nginx_reads_as_the_gate_does_are_charged_for_the_bytes_sent(
        stack: Stack) -> None:
    host = Host(stack)
    host.credit("bob", 100_000)
    fh, data = host.add_file()
    for header, sent in (("BYTES=0-9999", data[:10_000]),
                         ("bytes= 00010000 - 19999", data[10_000:20_000])):
        r = host.web.get(host.link(fh), headers={"Range": header})
        assert r.status_code == 206 and r.content == sent, header
        assert r.headers["x-bitcache-charged-msat"] == str(PRICE // 10)
    assert host.balance("bob") == 100_000 - 2 * (PRICE // 10)


def test_a_range_of_a_file_registered_without_a_size_is_a_whole_download(stack: Stack) -> None:
    host = Host(stack)
    host.credit("bob", 100_000)
    fh, data = host.add_file(size=None)
    url = host.link(fh)
    part = host.web.get(url, headers={"Range": "bytes=0-9999"})  # no size to prorate against
    assert part.status_code == 206 and part.content == data[:10_000]
    assert part.headers["x-bitcache-charged-msat"] == str(PRICE)
    rest = host.web.get(url, headers={"Range": "bytes=10000-"})  # the link paid for it all
    assert rest.status_code == 206 and rest.content == data[10_000:]
    assert rest.headers["x-bitcache-charged-msat"] == "0"
    assert host.balance("bob") == 100_000 - PRICE

    smaller, _ = host.add_file(size=SIZE // 2)  # the host's copy is larger than registered
    r = host.web.get(host.link(smaller), headers={"Range": f"bytes=0-{SIZE // 2}"})
    assert r.status_code == 206 and r.headers["x-bitcache-charged-msat"] == str(PRICE)
    assert host.balance("bob") == 100_000 - 2 * PRICE


def test_a_hold_and_keys_without_the_scope(stack: Stack) -> None:
    host = Host(stack)
    host.credit("bob", 100_000)
    fh, data = host.add_file()
    bob_key = host.key("downloader:bob")
    _problem(host.api.post(f"/v1/files/{fh}/hold", json={},
                           headers={**host.storage, "Idempotency-Key": "h1"}), 403, "forbidden")
    _problem(host.api.post("/v1/links", json={"file": fh, "downloader": "bob"},
                           headers=bob_key), 403, "forbidden")
    _problem(host.api.get("/v1/downloaders/alice/balance", headers=bob_key), 403, "forbidden")
    assert host.api.get("/v1/downloaders/bob/balance", headers=bob_key).status_code == 200

    held = host.api.post(f"/v1/files/{fh}/hold", json={},
                         headers={**host.operator, "Idempotency-Key": "h1"})
    assert held.status_code == 200, held.text
    served = host.web.get(host.link(fh))  # the default policy: served, earnings held
    assert served.status_code == 200 and served.content == data
    earnings = host.api.get("/v1/uploaders/carol/earnings", headers=host.storage).json()
    assert earnings["files"] == []
    assert host.balance("bob") == 100_000 - PRICE


def test_a_hold_under_the_refuse_policy(node_home: Path, db_url: str, tmp_path: Path) -> None:
    for stack in _stack(node_home, db_url, tmp_path, "--hold-policy", "refuse"):
        host = Host(stack)
        host.credit("bob", 100_000)
        fh, _ = host.add_file()
        held = host.api.post(f"/v1/files/{fh}/hold", json={},
                             headers={**host.operator, "Idempotency-Key": "h1"})
        assert held.status_code == 200
        _problem(host.web.get(host.link(fh)), 451, "file-held")
        assert host.balance("bob") == 100_000


def test_a_client_cannot_escape_the_failure_limit_by_naming_another_address(
        stack: Stack) -> None:
    host = Host(stack)
    fh, _ = host.add_file()
    good = host.link(fh)  # made before: the API's client here is the same loopback address
    forged = good.replace("d=bob", "d=eve")
    for i in range(20):  # the documented limit: 20 failures in 60 s per client
        r = host.web.get(forged, headers={"X-Forwarded-For": f"203.0.113.{i}",
                                          "X-Real-IP": f"198.51.100.{i}"})
        _problem(r, 403, "link-invalid")
    r = host.web.get(good, headers={"X-Forwarded-For": "203.0.113.99"})
    _problem(r, 429, "too-many-failures")  # even a good link, from any claimed address
    assert int(r.headers["retry-after"]) >= 1


def _charger(stack: Stack, host: Host, seconds: float = 60.0) -> int:
    """The charging process's pid once /health says it is ready (a child of the service)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check = host.api.get("/health").json()["checks"]["charging_process"]
        if check["ok"]:
            pid = int(check["pid"])
            children = Path(f"/proc/{stack.serve_pid}/task/{stack.serve_pid}/children")
            assert str(pid) in children.read_text().split()
            return pid
        time.sleep(0.1)
    raise AssertionError("the charging process did not get ready")


def test_the_gates_charges_are_made_by_the_charging_process(
        node_home: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Frozen, the charger holds a download until it runs again; killed, the service charges
    in its own process, logs it, then starts a new charger. Each link is charged once."""
    monkeypatch.setenv("BITCACHE_LOG_LEVEL", "warning")
    with serve_stack(node_home, db_url, tmp_path) as stack:
        _charged_by_the_charger(stack)


def _charged_by_the_charger(stack: Stack) -> None:
    import signal
    from concurrent.futures import ThreadPoolExecutor

    host = Host(stack)
    fh, data = host.add_file()
    host.credit("bob", 4 * PRICE)
    pid = _charger(stack, host)
    os.kill(pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(host.web.get, host.link(fh))
            time.sleep(1.0)
            assert not pending.done()  # waiting on the frozen charger
            os.kill(pid, signal.SIGCONT)
            paid = pending.result(30)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert paid.status_code == 200 and paid.content == data
    assert paid.headers["x-bitcache-charged-msat"] == str(PRICE)

    os.kill(pid, signal.SIGKILL)
    for _ in range(100):  # the service sees its socket close
        if host.api.get("/health").json()["checks"]["charging_process"]["ok"] is None:
            break
        time.sleep(0.05)
    here = host.web.get(host.link(fh))  # charged in the service's own process
    assert here.status_code == 200 and here.headers["x-bitcache-charged-msat"] == str(PRICE)
    time.sleep(5.2)  # a new charger starts on the next download after 5 s
    assert host.web.get(host.link(fh)).headers["x-bitcache-charged-msat"] == str(PRICE)
    assert _charger(stack, host) != pid
    assert host.web.get(host.link(fh)).headers["x-bitcache-charged-msat"] == str(PRICE)
    assert host.balance("bob") == 0
    log = (stack.files.parent / "serve.log").read_text()
    assert "the charging process stopped (exit code -9) with 0 charges in flight" in log


def test_without_the_charging_process_the_service_is_one_process(
        node_home: Path, db_url: str, tmp_path: Path) -> None:
    with serve_stack(node_home, db_url, tmp_path, "--no-charging-process") as stack:
        host = Host(stack)
        fh, _ = host.add_file()
        host.credit("bob", PRICE)
        assert host.web.get(host.link(fh)).headers["x-bitcache-charged-msat"] == str(PRICE)
        assert "charging_process" not in host.api.get("/health").json()["checks"]
        children = Path(f"/proc/{stack.serve_pid}/task/{stack.serve_pid}/children")
        assert children.read_text().split() == []
