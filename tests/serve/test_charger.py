"""The charging process: the wire, the hooks' settings it takes, and a real charger at work."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitcache import errors
from bitcache.core.pricing import PriceRule, SplitPolicy
from bitcache.errors import (
    BitcacheError,
    InsufficientFunds,
    OutcomeUnknown,
    StoreError,
    UnknownFile,
)
from bitcache.hooks import Hooks
from bitcache.serve.charger import (
    ChargedByProcess,
    Charger,
    decode_answer,
    encode_answer,
    frame,
    main,
    spec_of,
    unframe,
)
from bitcache.services.charging import DownloadRequest, Event, check_request
from bitcache.services.receipts import DownloadReceipt

T = TypeVar("T")
DATA = b"charged elsewhere" * 64
FILE = hashlib.sha256(DATA).hexdigest()
PRICE = 1_000

receipts = st.builds(
    DownloadReceipt, key=st.text(max_size=40), entry_id=st.none() | st.integers(1, 2**62),
    file_hash=st.text("0123456789abcdef", min_size=64, max_size=64),
    downloader=st.text(min_size=1, max_size=20), price_msat=st.integers(0, 2**62),
    uploader_msat=st.integers(0, 2**62), platform_msat=st.integers(0, 2**62),
    referrer_msat=st.integers(0, 2**62), credited=st.text(max_size=60),
    balance_after_msat=st.integers(-(2**63), 2**63 - 1), replayed=st.booleans(),
    memo=st.text(max_size=80))


# -- the wire --------------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), max_size=8), st.lists(st.integers(1, 64), max_size=20))
def test_frames_come_out_whole_however_the_bytes_arrive(payloads: list[bytes],
                                                        cuts: list[int]) -> None:
    stream = b"".join(frame(p) for p in payloads)
    buffer, found, at = bytearray(), [], 0
    for size in [*cuts, len(stream)]:
        buffer += stream[at:at + size]
        at += size
        found += unframe(buffer)
    assert found == payloads and not buffer


@given(receipts)
def test_a_receipt_crosses_the_wire_unchanged(receipt: DownloadReceipt) -> None:
    import marshal

    assert decode_answer(marshal.loads(marshal.dumps(encode_answer(receipt)))) == receipt


def _error_classes() -> list[type[BitcacheError]]:
    return [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, BitcacheError)]


@pytest.mark.parametrize("kind", _error_classes(), ids=lambda c: c.__name__)
def test_every_refusal_crosses_the_wire_as_its_own_class(kind: type[BitcacheError]) -> None:
    import marshal

    error = kind.__new__(kind)
    Exception.__init__(error, f"a {kind.__name__}")
    back = decode_answer(marshal.loads(marshal.dumps(encode_answer(error))))
    assert type(back) is kind and str(back) == f"a {kind.__name__}"


def test_a_refusal_keeps_what_the_402_needs_and_a_stranger_becomes_a_store_error() -> None:
    import marshal

    def cross(answer: object) -> object:
        return decode_answer(marshal.loads(marshal.dumps(encode_answer(answer))))

    short = cross(InsufficientFunds("short", account="liability:prepaid:bob", available=7,
                                    needed=1_000))
    assert isinstance(short, InsufficientFunds)
    assert (short.account, short.available, short.needed) == ("liability:prepaid:bob", 7, 1_000)
    odd = cross(ZeroDivisionError("boom"))
    assert type(odd) is StoreError and "ZeroDivisionError" in str(odd)
    assert type(decode_answer((1, "NotAnError", "x", {}))) is StoreError
    assert type(decode_answer((1, "Path", "x", {}))) is StoreError  # not a BitcacheError


# -- what the charger opens ------------------------------------------------------------------


def test_the_charger_takes_the_hooks_settings_or_none_when_it_could_not_charge_alike(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite'}"
    hooks = Hooks.open(url, splits=SplitPolicy(platform_bps=2_500), deadline_s=7.0)
    try:
        spec = spec_of(hooks)
        assert spec is not None and spec.url == url
        assert spec.options["splits"] == SplitPolicy(platform_bps=2_500)
        assert spec.options["deadline_s"] == 7.0
        assert spec.options["flush"] == hooks.group.policy
    finally:
        hooks.close()
    memory = Hooks.open("sqlite://")
    clocked = Hooks.open(url, clock=lambda: 1)
    try:
        assert spec_of(memory) is None  # another process would see another database
        assert spec_of(clocked) is None  # charges stamped by the caller's clock
    finally:
        memory.close()
        clocked.close()


def test_a_database_password_goes_to_the_charger_whole() -> None:
    from sqlalchemy import make_url

    from bitcache.serve.charger import ChargerSpec

    url = "postgresql+psycopg://app:s3cret@db.example:5432/ledger"
    rendered = make_url(url).render_as_string(hide_password=False)
    assert ChargerSpec(rendered, {}).url == url  # str(URL) would have masked it as ***


# -- a real charger ---------------------------------------------------------------------------


@pytest.fixture
def ledger(tmp_path: Path) -> Hooks:
    hooks = Hooks.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    hooks.register_file(FILE, "carol", PriceRule.fixed(PRICE), size=len(DATA))
    hooks.credit_deposit("bob", 10 * PRICE, "deposit-1")
    return hooks


def _run(hooks: Hooks, scenario: Callable[[ChargedByProcess], Awaitable[T]],
         charger: Charger | None = None) -> T:
    async def go() -> T:
        spec = spec_of(hooks)
        assert spec is not None
        money = ChargedByProcess(hooks, charger or Charger(spec, restart_after_s=0.0))
        await money.start()
        try:
            return await scenario(money)
        finally:
            await money.charger.close()

    return asyncio.run(go())


async def _ready(charger: Charger, seconds: float = 60.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if charger.ready:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the charger did not get ready")


def test_the_charger_charges_replays_and_refuses_as_the_service_would(
        ledger: Hooks, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(money: ChargedByProcess) -> list[object]:
        await _ready(money.charger)
        got: list[object] = [await money.download(FILE, "bob", "link-1")]
        got.append(await money.download(FILE, "bob", "link-1"))  # a retry
        for key, who, file in (("link-2", "dave", FILE), ("link-3", "bob", "ab" * 32)):
            try:
                await money.download(file, who, key)
            except BitcacheError as exc:
                got.append(exc)
        return got

    before = ledger.group.stats().calls
    with caplog.at_level(logging.DEBUG, logger="bitcache.services.charging"):
        first, again, broke, unknown = _run(ledger, scenario)
    assert isinstance(first, DownloadReceipt) and not first.replayed
    assert first.price_msat == PRICE and first.balance_after_msat == 9 * PRICE
    assert isinstance(again, DownloadReceipt) and again.replayed
    assert again.entry_id == first.entry_id
    assert isinstance(broke, InsufficientFunds) and broke.available == 0
    assert isinstance(unknown, UnknownFile)
    assert ledger.group.stats().calls == before  # none of it was charged in this process
    assert f"download dl:link-2 of {FILE} by dave refused: InsufficientFunds" in caplog.text
    assert ledger.file(FILE).downloads == 1
    assert ledger.ledger.trial_balance() == 0
    ledger.close()


def test_charges_and_flushes_are_counted_by_the_service(ledger: Hooks) -> None:
    from bitcache.telemetry.metrics import REGISTRY

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    before = sample("bitcache_charges_total"), sample("bitcache_flush_seconds_count")

    async def scenario(money: ChargedByProcess) -> None:
        await _ready(money.charger)
        await asyncio.gather(*(money.download(FILE, "bob", f"k{i}") for i in range(5)))

    _run(ledger, scenario)
    assert sample("bitcache_charges_total") - before[0] == 5
    assert sample("bitcache_flush_seconds_count") - before[1] >= 1
    ledger.close()


def test_a_charger_that_dies_loses_no_charge_and_makes_none_twice(ledger: Hooks) -> None:
    """Killed with charges in flight: each answers OutcomeUnknown or its receipt; the retries
    with the same keys (in this process, then in a new charger) charge each exactly once."""
    ledger.credit_deposit("bob", 200 * PRICE, "deposit-2")

    async def scenario(money: ChargedByProcess) -> tuple[int, int]:
        charger = money.charger
        await _ready(charger)
        first_pid = charger.pid
        assert first_pid is not None
        tasks = [asyncio.ensure_future(money.charger.download(_event(f"k{i}")))
                 for i in range(100)]
        await asyncio.sleep(0)  # queued and sent
        os.kill(first_pid, signal.SIGKILL)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        unknown = sum(isinstance(o, OutcomeUnknown) for o in outcomes)
        assert all(isinstance(o, DownloadReceipt | OutcomeUnknown) for o in outcomes)
        for i in range(100):  # every key retried: in this process until a new charger runs
            await money.download(FILE, "bob", f"k{i}")
        await charger.start()
        await _ready(charger)
        assert charger.pid not in (None, first_pid)
        again = await money.download(FILE, "bob", "k0")
        assert again.replayed
        return unknown, ledger.file(FILE).downloads

    unknown, downloads = _run(ledger, scenario)
    assert unknown > 0  # killed before it answered them all
    assert downloads == 100  # one charge per key, whatever happened to the first charger
    assert ledger.ledger.trial_balance() == 0
    ledger.close()


def _event(key: str) -> Event:
    return check_request(DownloadRequest(FILE, "bob", key))


def test_without_a_charger_downloads_are_charged_in_this_process(
        ledger: Hooks, caplog: pytest.LogCaptureFixture) -> None:
    spec = spec_of(ledger)
    assert spec is not None
    broken = Charger(spec, command=[sys.executable, "-c", "raise SystemExit(1)"],
                     restart_after_s=3600)

    async def scenario(money: ChargedByProcess) -> DownloadReceipt:
        for _ in range(100):  # until the stand-in has exited and its socket closed
            if money.charger.pid is None:
                break
            await asyncio.sleep(0.05)
        return await money.download(FILE, "bob", "here-1")

    before = ledger.group.stats().calls
    with caplog.at_level(logging.WARNING, logger="bitcache.serve.charger"):
        receipt = _run(ledger, scenario, broken)
    assert receipt.price_msat == PRICE and not receipt.replayed
    assert ledger.group.stats().calls == before + 1
    assert "the charging process stopped (exit code 1)" in caplog.text
    ledger.close()


def test_the_charger_outlives_ctrl_c_and_exits_when_its_socket_closes(ledger: Hooks) -> None:
    async def scenario(money: ChargedByProcess) -> subprocess.Popen[bytes]:
        charger = money.charger
        await _ready(charger)
        process = charger._process
        assert process is not None
        os.kill(process.pid, signal.SIGINT)
        os.kill(process.pid, signal.SIGTERM)
        await asyncio.sleep(0.3)
        assert (await money.download(FILE, "bob", "after-ctrl-c")).price_msat == PRICE
        return process

    process = _run(ledger, scenario)  # closes the charger
    assert process.returncode == 0
    ledger.close()


def test_the_charger_refuses_to_run_without_its_socket(capsys: pytest.CaptureFixture[str]) -> None:
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main([]) == 2
    assert "started by `bitcache serve`" in capsys.readouterr().err
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == previous
    ours, theirs = socket.socketpair()
    ours.close()  # the service went away before sending the settings
    try:
        assert main([str(theirs.detach())]) == 1
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # it would have run
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    assert "cannot start: EOFError" in capsys.readouterr().err


def test_the_charger_logs_as_the_service_does(ledger: Hooks, tmp_path: Path) -> None:
    from dataclasses import replace

    from bitcache.telemetry.logs import LogFormat, LogSettings

    spec = spec_of(ledger)
    assert spec is not None
    to_file = LogSettings(LogFormat.JSON, "info", tmp_path / "charger.log")
    charger = Charger(replace(spec, logs=to_file), restart_after_s=0.0)

    async def scenario(money: ChargedByProcess) -> int | None:
        await _ready(money.charger)
        await money.download(FILE, "bob", "logged-1")
        return money.charger.pid

    pid = _run(ledger, scenario, charger)
    lines = [json.loads(line) for line in (tmp_path / "charger.log").read_text().splitlines()]
    assert {"level": "info", "logger": "bitcache.serve.charger",
            "message": f"the charging process is ready (pid {pid})"}.items() <= lines[0].items()
    ledger.close()
