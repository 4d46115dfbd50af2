"""Browser fixtures: a small finished demo day served by `bitcache serve`'s app over
uvicorn, keys for each kind of login, and Debian's Chromium driven by Playwright.

Every page a test opens is watched for console errors and uncaught exceptions
(a test fails on any), and a screenshot of it is saved under the session's
artifacts folder (``<pytest basetemp>/artifacts``, or ``BITCACHE_WEB_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bitcache.cli.demo_web import DemoSite
from bitcache.demo import DemoConfig, DemoResult, run_demo
from bitcache.serve import keys
from bitcache.serve.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    """The demo day on a live server: its URL, the service, and keys to log in with."""

    base: str
    site: DemoSite
    result: DemoResult
    uploader: str
    other: str
    keys: dict[str, str] = field(default_factory=dict)

    def key(self, *scopes: str) -> str:
        return keys.create_key(self.site.service.ledger, scopes, "web test", 0).key

    def login_link(self, key: str) -> str:
        return f"{self.base}/web/login#key={key}"


@pytest.fixture(scope="session")
def demo_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult]:
    folder = tmp_path_factory.mktemp("web") / "day"
    cfg = DemoConfig(folder=folder, downloads=4_000, downloaders=12, uploaders=4, files=20,
                     batch=1_000, confirmations=3)
    return folder, run_demo(cfg)


@pytest.fixture(scope="session")
def site(demo_day: tuple[Path, DemoResult], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Site]:
    import uvicorn

    source, result = demo_day
    folder = tmp_path_factory.mktemp("web-served") / "day"
    shutil.copytree(source, folder)
    demo = DemoSite(folder)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(demo.service), host="127.0.0.1",
                                           port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    uploader = result.statement_uploader
    other = next(f"u{i:03d}" for i in range(4) if f"u{i:03d}" != uploader)
    try:
        yield Site(f"http://127.0.0.1:{port}", demo, result, uploader, other)
    finally:
        server.should_exit = True
        thread.join(10)
        demo.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("BITCACHE_WEB_ARTIFACTS")
    folder = Path(where) if where else tmp_path_factory.getbasetemp() / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("the browser tests need Debian's Chromium at /usr/bin/chromium "
                    "(apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the browser tests need playwright (the dev extra)")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Pages:
    """Opens browser pages, records their console errors, and screenshots them at the end."""

    def __init__(self, browser: Any, artifacts: Path, test: str):
        self.browser, self.artifacts, self.test = browser, artifacts, test
        self.errors: list[str] = []
        self.opened: list[tuple[str, Any]] = []
        self.contexts: list[Any] = []

    def new(self, name: str, *, width: int = 1100, height: int = 900) -> Any:
        context = self.browser.new_context(viewport={"width": width, "height": height},
                                           accept_downloads=True)
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("console", lambda m: self.errors.append(f"{name}: console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"{name}: page error: {e}"))
        self.opened.append((name, page))
        return page

    def expect_console_error(self, pattern: str) -> None:
        """Drop the expected console errors (a refused request logs one in Chromium)."""
        self.errors = [e for e in self.errors if not re.search(pattern, e)]

    def close(self) -> None:
        for name, page in self.opened:
            if not page.is_closed():
                stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.test}-{name}")
                page.screenshot(path=str(self.artifacts / f"{stem}.png"),
                                full_page=True)
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Any, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Pages]:
    opened = Pages(browser, artifacts, request.node.name)
    try:
        yield opened
    finally:
        opened.close()
    assert opened.errors == [], "console errors: " + "; ".join(opened.errors)
