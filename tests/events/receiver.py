"""A webhook receiver on loopback that refuses the first requests it gets, then accepts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """Every request the receiver got: (status answered, signature header, body)."""

    fail_first: int
    requests: list[tuple[int, str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, signature: str, body: bytes) -> int:
        with self.lock:
            status = 503 if len(self.requests) < self.fail_first else 200
            self.requests.append((status, signature, body))
            return status

    def accepted(self) -> list[tuple[str, bytes]]:
        return [(sig, body) for status, sig, body in self.requests if status == 200]


@contextmanager
def receiver(fail_first: int) -> Iterator[tuple[str, Received]]:
    """A loopback HTTP server: its URL and what it received."""
    got = Received(fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = got.answer(self.headers.get("Bitcache-Signature", ""), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
