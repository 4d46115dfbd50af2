"""A TCP proxy in front of the test PostgreSQL server that can play a frozen or lost server.

``freeze()`` stops forwarding in both directions while every socket stays
open — what a client sees of a primary stopped by SIGSTOP: connections
succeed at the TCP level, then nothing answers. ``freeze_at_commit(forward)``
freezes as soon as the client sends ``COMMIT``, after passing it on
(``forward=True``: the server commits, the answer never comes back) or not.
``drop()`` closes every connection (a lost node whose kernel answers RST).
"""

from __future__ import annotations

import re
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import sqlalchemy as sa

#: A ``COMMIT`` statement on the wire: the whole text of a Query (or Parse) message, after
#: its length or statement name. Not any text that contains the word: a pooled connection
#: that served an autocommit call begins its next transaction with ``BEGIN ISOLATION LEVEL
#: READ COMMITTED``, and trapping that would freeze before the write, not at its commit.
COMMIT_MESSAGE = re.compile(rb"[\x00-\x1f]COMMIT\x00")


class FreezableProxy:
    """Forward 127.0.0.1:<port> to ``upstream``; freeze or drop on demand."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.commit_trap: bool | None = None  # None: off; True/False: forward the COMMIT
        self.commits_seen = 0
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._idle = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, base_url: str) -> str:
        """``base_url`` pointed at the proxy."""
        return (
            sa.make_url(base_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    def freeze(self) -> None:
        self.frozen.set()

    def thaw(self) -> None:
        self.frozen.clear()

    def freeze_at_commit(self, forward: bool) -> None:
        self.commit_trap = forward

    def drop(self) -> None:
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        self.drop()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        try:
            while not self._closed:
                if self.frozen.is_set():
                    self._idle.wait(0.05)
                    continue
                try:
                    ready, _, _ = select.select(list(peers), [], [], 0.05)
                except (OSError, ValueError):
                    return
                if not self._forward(ready, client, peers):
                    return
        finally:
            for s in (client, server):
                s.close()

    def _forward(
        self, ready: list[socket.socket], client: socket.socket,
        peers: dict[socket.socket, socket.socket],
    ) -> bool:
        """Pass on what arrived; False once a side closed."""
        for src in ready:
            if self.frozen.is_set():
                return True
            try:
                data = src.recv(65536)
            except OSError:
                return False
            if not data:
                return False
            trapped = (src is client and self.commit_trap is not None
                       and COMMIT_MESSAGE.search(data) is not None)
            forward = not trapped or bool(self.commit_trap)
            try:
                if forward:
                    peers[src].sendall(data)
            except OSError:
                return False
            if trapped:
                self.commit_trap = None
                self.commits_seen += 1
                self.frozen.set()
        return True


@contextmanager
def proxy_for(pg_url: str) -> Iterator[FreezableProxy]:
    url = sa.make_url(pg_url)
    proxy = FreezableProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield proxy
    finally:
        proxy.close()
