"""A small threaded HTTP server on 127.0.0.1 with fault injection.

Subclasses implement :meth:`FakeServer.handle`; tests queue faults with
:meth:`FakeServer.inject` (the next N requests answer 429, 500, 503,
garbage, or stall past the client's timeout) and read :attr:`requests`.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class Fault(enum.Enum):
    RATE_LIMIT = "429"
    SERVER_ERROR = "500"
    UNAVAILABLE = "503"
    GARBAGE = "garbage"
    TIMEOUT = "timeout"
    WARMUP = "warmup"  # Bitcoin Core only: RPC error -28 while loading


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _Queued:
    fault: Fault
    retry_after: str | None


class Raw(str):
    """A JSON number written verbatim (e.g. ``1.234e-05``), as a node would print it."""


def to_json(obj: Any) -> str:
    """JSON with Decimals written exactly (``0.00001234``), never through float."""
    if isinstance(obj, Raw):
        return str(obj)
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + to_json(v) for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(to_json(v) for v in obj) + "]"
    return json.dumps(obj)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 1 << 16
    server: _Httpd

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The reply's own Date when a test fixed one, else now."""
        return getattr(self, "_fixed_date", None) or super().date_time_string(timestamp)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
        )
        reply = self.server.fake.dispatch(request)
        if reply is None:  # stalled past the client's timeout: drop the connection
            self.close_connection = True
            return
        headers = dict(reply.headers)
        self._fixed_date = headers.pop("Date", None)
        self.send_response(reply.status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = _serve
    do_POST = _serve


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and left is expected here: stay quiet."""


class FakeServer:
    """Base fake: serve ``handle`` in a thread; faults win over normal answers."""

    #: How long a TIMEOUT fault stalls: longer than the tests' client timeout.
    stall_seconds = 0.6

    def __init__(self) -> None:
        self._faults: deque[_Queued] = deque()
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self._httpd = _Httpd(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def inject(self, fault: Fault, times: int = 1, *, retry_after: str | None = None) -> None:
        """Make the next ``times`` requests fail with ``fault``."""
        with self._lock:
            self._faults.extend(_Queued(fault, retry_after) for _ in range(times))

    def dispatch(self, request: Request) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            queued = self._faults.popleft() if self._faults else None
        if queued is None:
            return self.handle(request)
        if queued.fault is Fault.TIMEOUT:
            time.sleep(self.stall_seconds)
            return None
        return self.fault_reply(queued)

    def fault_reply(self, queued: _Queued) -> Reply:
        fault = queued.fault
        if fault is Fault.RATE_LIMIT:
            headers = {"Retry-After": queued.retry_after} if queued.retry_after else {}
            if queued.retry_after and not queued.retry_after.isdigit():
                headers["Date"] = "Wed, 21 Oct 2015 07:28:00 GMT"
            return Reply(429, b"Too Many Requests", headers)
        if fault is Fault.SERVER_ERROR:
            return Reply(500, b"Internal Server Error")
        if fault is Fault.UNAVAILABLE:
            return Reply(503, b"Service Unavailable")
        if fault is Fault.GARBAGE:
            return Reply(200, b"<html>not what you asked for", {"Content-Type": "text/html"})
        raise AssertionError(f"{type(self).__name__} cannot inject {fault}")

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError
