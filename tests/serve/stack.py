"""A real stack on loopback ports: `bitcache serve` as a subprocess, and nginx in front of it
with the configuration docs/serve.md gives hosts (read from the document itself)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bitcache.store.ledger import LedgerStore

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "serve.md"
BITCACHE = str(Path(sys.executable).with_name("bitcache"))
PASSPHRASE = "serve-tests-passphrase"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nginx_binary() -> str:
    """nginx's path; without it the test fails in CI (which installs it) and skips elsewhere."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed: .ci/run installs it with apt-get")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return found


def doc_nginx_block() -> str:
    """The nginx configuration of docs/serve.md (its ```nginx block)."""
    found = re.search(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert found is not None, "docs/serve.md has no ```nginx block"
    return found.group(1)


def nginx_conf(folder: Path, nginx_port: int, serve_port: int, files: Path) -> Path:
    """A whole nginx.conf: the documented block, with this stack's ports and folder."""
    block = doc_nginx_block()
    for placeholder, value in (("127.0.0.1:8470", f"127.0.0.1:{serve_port}"),
                               ("listen 80;", f"listen 127.0.0.1:{nginx_port};"),
                               ("/srv/bitcache/files/", f"{files}/"),
                               ("/var/log/nginx/", f"{folder}/")):
        assert placeholder in block, placeholder
        block = block.replace(placeholder, value)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    temp_paths = " ".join(f"{kind}_temp_path {tmp};" for kind in (
        "client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\nerror_log {folder}/error.log warn;\npid {folder}/nginx.pid;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{\n{temp_paths}\n{block}\n}}\n")
    return conf


def init_node(home: Path) -> None:
    """A regtest node folder made by `bitcache init`."""
    env = {**os.environ, "BITCACHE_PASSPHRASE": PASSPHRASE}
    done = subprocess.run([BITCACHE, "init", "--home", str(home), "--network", "regtest",
                           "--chain", "regtest", "--json"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def cli_json(*args: str) -> object:
    done = subprocess.run([BITCACHE, *args, "--json"], capture_output=True, text=True,
                          timeout=120, env={k: v for k, v in os.environ.items()
                                            if k != "BITCACHE_PASSPHRASE"})
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args!r} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def _charger_ready(api: str, process: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    """Wait until the service's charging process is ready (so that the gate's charges are
    made there, as in production, not in the HTTP process while it starts)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        checks = httpx.get(f"{api}/health", timeout=5.0).json().get("checks", {})
        if checks.get("charging_process", {}).get("ok"):
            return
        time.sleep(0.05)
    raise AssertionError(f"the charging process of {api} did not get ready within {seconds} s")


@contextmanager
def _process(args: Sequence[str], log: Path, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if k != "BITCACHE_PASSPHRASE"}
    with log.open("wb") as out:
        process = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                   env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@dataclass(frozen=True)
class Stack:
    """The running stack: the service's and nginx's base URLs, the files folder, the db."""

    api: str
    web: str
    files: Path
    db: str
    home: Path
    serve_pid: int = 0


@contextmanager
def serve_stack(home: Path, db: str, folder: Path, *serve_args: str,
                with_nginx: bool = True) -> Iterator[Stack]:
    """`bitcache serve` on a free port (and nginx in front of it), stopped afterwards.

    The database is made first (serve refuses a SQLite file that does not exist), as
    `bitcache db upgrade --db URL` makes one.
    """
    LedgerStore.open(db).close()
    files = folder / "files"
    files.mkdir(parents=True, exist_ok=True)
    serve_port = free_port()
    args = [BITCACHE, "serve", "--home", str(home), "--db", db, "--files", str(files),
            "--port", str(serve_port), "--key-cache-seconds", "0", *serve_args]
    with _process(args, folder / "serve.log", folder) as serve:
        api = f"http://127.0.0.1:{serve_port}"
        _wait(f"{api}/openapi.json", serve)
        if "--no-charging-process" not in serve_args:
            _charger_ready(api, serve)
        if not with_nginx:
            yield Stack(api, "", files, db, home, serve.pid)
            return
        nginx_port = free_port()
        conf = nginx_conf(folder / "nginx", nginx_port, serve_port, files)
        nginx = [nginx_binary(), "-c", str(conf), "-g", "daemon off;"]
        with _process(nginx, folder / "nginx.log", folder) as web:
            _wait(f"http://127.0.0.1:{nginx_port}/files/", web)
            yield Stack(api, f"http://127.0.0.1:{nginx_port}", files, db, home, serve.pid)
