"""The charging process: the gate's charges committed by a second process of ``bitcache serve``.

In one Python process the event loop (HTTP, links, keys) and the group
commit's flushes (rows, the database's writes) take turns on one
interpreter lock, so a gated download costs the time of both, one after
the other. ``bitcache serve`` therefore starts a second process, the
*charger*, which commits the downloads:

* the service checks each request as before (link, file on disk, range)
  and sends the validated charge — file, downloader, key, bytes — to the
  charger over a private socket pair; the charges of one turn of the event
  loop go in one message;
* the charger takes every charge waiting, runs them as one flush of the
  same group commit (:meth:`~bitcache.services.groupcommit.GroupCommit.charge_now`:
  each caller answered as if alone, durable before answered) and sends the
  answers back; the charges that arrived meanwhile make its next flush. So
  the service answers one flush's downloads while the charger commits the
  next, each process on its own core;
* the service's retry policy stays in the service: a charge that meets a
  database outage is sent again with the same key.

Every other money-moving call (transfers, tips, credits, holds) stays in the
service's process, through its own group commit; the two processes write
the same ledger under its writer lock, as any two processes do.

**Failures.** Until the charger says it is ready, and whenever it is not
running, downloads are charged in the service's own process, as without a
charger. If the charger stops, the charges it held answer ``OutcomeUnknown``
(each may have committed: the service's retry, or the client's with the
same link or key, is answered as made once) and a new charger is started,
at most once every :data:`RESTART_AFTER_S` seconds. The charger lives until
its socket closes: it ignores SIGINT and SIGTERM, so a stopping service
answers what is in flight, then closes the socket, and the charger finishes
its flush and exits; if the service dies, the charger sees the socket close
and exits too.

**Wire.** Frames of a 4-byte length and a :mod:`marshal` body of plain
tuples (a message loads no code). Only the start-up frame, the hooks'
settings and the database URL, is a pickle, which the service writes to its
own child; the URL never appears on a command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, cast

from bitcache import errors
from bitcache.asynchooks import AsyncHooks
from bitcache.clock import now_us
from bitcache.core.filehash import FileHash
from bitcache.errors import BitcacheError, OutcomeUnknown, StoreError
from bitcache.hooks import DownloadRequest, Hooks
from bitcache.serve.collector import settle_collector
from bitcache.services import charging
from bitcache.services.charging import Event
from bitcache.services.receipts import DownloadReceipt
from bitcache.store.ledger import LedgerStore
from bitcache.telemetry.logs import LogSettings, configure_logging, configured
from bitcache.telemetry.metrics import FLUSH_SECONDS, count_answers

log = logging.getLogger(__name__)

#: A charger that stopped is started again at most this often (seconds).
RESTART_AFTER_S = 5.0
_LENGTH = struct.Struct("!I")
_RECEIPT = tuple(f.name for f in fields(DownloadReceipt))
_READY, _ANSWERS = 0, 1
_CHUNK = 65_536  # bytes a read takes (a larger buffer is mapped and unmapped every read)


@dataclass(frozen=True)
class ChargerSpec:
    """What the charger opens: the database and the hooks' settings, and how the service
    logs, so that the charger logs alike (a picklable value)."""

    url: str
    options: dict[str, Any]
    logs: LogSettings | None = None


def spec_of(hooks: Hooks) -> ChargerSpec | None:
    """The charger's settings for ``hooks``, or None when a second process cannot charge
    as this one does: an in-memory database, or a clock or rate provider of the caller's."""
    url = hooks.ledger.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    ctx = hooks.ctx
    if ctx.rates is not None or ctx.clock is not now_us or hooks.ledger.clock is not now_us:
        return None
    options = {"splits": ctx.splits, "hold_policy": ctx.hold_policy,
               "transfer_ttl_us": ctx.transfer_ttl_us, "deadline_s": hooks.deadline_s,
               "flush": hooks.group.policy}
    return ChargerSpec(url.render_as_string(hide_password=False), options, configured())


# -- the wire ---------------------------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    """One frame: the payload's length, then the payload."""
    return _LENGTH.pack(len(payload)) + payload


def unframe(buffer: bytearray) -> list[bytes]:
    """The whole frames at the start of ``buffer``, removed from it."""
    found: list[bytes] = []
    start, size = 0, len(buffer)
    while size - start >= 4:
        (length,) = _LENGTH.unpack_from(buffer, start)
        if size - start - 4 < length:
            break
        found.append(bytes(buffer[start + 4:start + 4 + length]))
        start += 4 + length
    del buffer[:start]
    return found


def encode_answer(answer: object) -> tuple[Any, ...]:
    """A receipt as its fields; a refusal as its class name, message and plain attributes
    (``InsufficientFunds.available`` …); anything else as a ``StoreError``."""
    if isinstance(answer, DownloadReceipt):
        return (0, tuple(getattr(answer, name) for name in _RECEIPT))
    if isinstance(answer, BitcacheError):
        state = {k: v for k, v in vars(answer).items()
                 if isinstance(v, bool | int | str | None)}
        return (1, type(answer).__name__, str(answer), state)
    return (1, "StoreError", f"the charging process failed: {type(answer).__name__}", {})


def decode_answer(encoded: Sequence[Any]) -> DownloadReceipt | BitcacheError:
    """The receipt or refusal :func:`encode_answer` encoded (a class not in
    :mod:`bitcache.errors` comes back as ``StoreError``)."""
    if encoded[0] == 0:
        return DownloadReceipt(*encoded[1])
    _, name, message, state = encoded
    kind = getattr(errors, name, None)
    if not (isinstance(kind, type) and issubclass(kind, BitcacheError)):
        kind = StoreError
    error = kind.__new__(kind)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class _Wire(asyncio.Protocol):
    """The service's end of the socket: frames in to ``on_frame``, its end to ``on_lost``."""

    def __init__(self, on_frame: Callable[[tuple[Any, ...]], None],
                 on_lost: Callable[[], None]):
        self._buffer = bytearray()
        self._on_frame, self._on_lost = on_frame, on_lost
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for payload in unframe(self._buffer):
            self._on_frame(marshal.loads(payload))

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost()


# -- the service's side -------------------------------------------------------------------------


class Charger:
    """The service's handle on its charging process: start it, send charges, get answers.

    ``command``: how to start the charger (tests start a stand-in).
    """

    def __init__(self, spec: ChargerSpec, *, command: Sequence[str] | None = None,
                 restart_after_s: float = RESTART_AFTER_S):
        self.spec = spec
        self._command = list(command or [sys.executable, "-m", "bitcache.serve.charger"])
        self._restart_after_s = restart_after_s
        self._process: subprocess.Popen[bytes] | None = None
        self._wire: _Wire | None = None
        self._ready = False
        self._started_at = float("-inf")
        self._waiting: dict[int, tuple[asyncio.Future[object], Event]] = {}
        self._outbox: list[tuple[Any, ...]] = []
        self._next = 0
        self._closed = False

    @property
    def ready(self) -> bool:
        """Whether the charger is running and has said it is ready for charges."""
        return self._ready

    @property
    def pid(self) -> int | None:
        """The charger's process id, while one runs."""
        return None if self._process is None else self._process.pid

    async def start(self) -> None:
        """Start a charger if none runs and the last start is long enough ago; it is
        ready once it has opened the database (:attr:`ready`)."""
        if self._closed or self._process is not None or (
                time.monotonic() - self._started_at < self._restart_after_s):
            return
        self._started_at = time.monotonic()
        ours, theirs = socket.socketpair()
        try:
            fd = theirs.fileno()
            self._process = subprocess.Popen([*self._command, str(fd)], pass_fds=[fd],
                                             stdin=subprocess.DEVNULL)
        except OSError as exc:
            ours.close()
            log.warning("the charging process did not start (%s); charging in this process",
                        exc)
            return
        finally:
            theirs.close()
        try:
            ours.sendall(frame(pickle.dumps(self.spec)))
            _, self._wire = await asyncio.get_running_loop().create_connection(
                lambda: _Wire(self._received, self._lost), sock=ours)
        except OSError as exc:  # it died at once: the next start is tried later
            ours.close()
            self._process.kill()
            self._process = None
            log.warning("the charging process did not start (%s); charging in this process",
                        exc)

    async def download(self, event: Event) -> DownloadReceipt:
        """Charge ``event`` in the charger (which must be :attr:`ready`); its receipt, or
        raise its refusal (``OutcomeUnknown`` if the charger stops before it answers)."""
        self._next += 1
        rid = self._next
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = (future, event)
        if not self._outbox:  # sent at the end of this turn, with the turn's other charges
            asyncio.get_running_loop().call_soon(self._send)
        self._outbox.append((rid, event.fh, event.downloader, event.key, event.bytes_served))
        answer = await future
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, DownloadReceipt)
        return answer

    def _send(self) -> None:
        outbox, self._outbox = self._outbox, []
        wire = self._wire
        if wire is None or wire.transport is None or wire.transport.is_closing():
            self._fail([rid for rid, *_ in outbox], "the charging process stopped")
            return
        wire.transport.write(frame(marshal.dumps(outbox)))

    def _received(self, message: tuple[Any, ...]) -> None:
        if message[0] == _READY:
            self._ready = True
            return
        _, seconds, answered = message
        FLUSH_SECONDS.observe(seconds)
        waiting, answers, events = self._waiting, [], []
        for rid, encoded in answered:
            answer = decode_answer(encoded)
            answers.append(answer)
            found = waiting.pop(rid, None)
            if found is None:
                continue  # answered as failed already
            future, event = found
            events.append((event, answer))
            if not future.done():
                future.set_result(answer)
        count_answers(answers)
        if charging.log.isEnabledFor(logging.DEBUG):  # as the flushes of this process log them
            charging.log_refusals([e for e, _ in events], [a for _, a in events])

    def _lost(self) -> None:
        self._ready, self._wire = False, None
        if self._closed:
            self._fail(list(self._waiting), "the service closed the charging process")
            return
        process, self._process = self._process, None
        code = process.poll() if process is not None else None
        if process is not None and code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = process.wait(1)
        in_flight = list(self._waiting)
        log.warning("the charging process stopped (exit code %s) with %d charges in flight; "
                    "charging in this process until it restarts", code, len(in_flight))
        self._fail(in_flight, "the charging process stopped")

    def _fail(self, rids: list[int], why: str) -> None:
        for rid in rids:
            future, _ = self._waiting.pop(rid, (None, None))
            if future is not None and not future.done():
                future.set_result(OutcomeUnknown(
                    f"{why} before it answered; the charge may have been made: retry with the "
                    "same key"))

    async def close(self) -> None:
        """Close the socket; the charger finishes its flush and exits. Waits for it."""
        self._ready, self._closed = False, True
        wire, self._wire = self._wire, None
        if wire is not None and wire.transport is not None:
            wire.transport.close()
        process, self._process = self._process, None
        if process is not None:
            await asyncio.to_thread(process.wait)


class ChargedByProcess(AsyncHooks):
    """The service's money hooks, downloads charged by the charging process when it runs.

    Whenever it is not ready, a download is charged in this process (and a
    new charger started, see :meth:`Charger.start`).
    """

    def __init__(self, hooks: Hooks, charger: Charger):
        super().__init__(hooks)
        self.charger = charger

    async def start(self) -> None:
        """Start the charger (the service's start-up)."""
        await self.charger.start()

    async def download(
        self, file: str | bytes, downloader: str, key: str, *, bytes_served: int | None = None
    ) -> DownloadReceipt:
        """Authorize and charge one download; answered once its commit is durable."""
        if not self.charger.ready:
            await self.charger.start()
        event = charging.check_request(DownloadRequest(file, downloader, key, bytes_served))
        return await self._moving(lambda: self._charge(event))

    async def _charge(self, event: Event) -> DownloadReceipt:
        """One attempt: in the charger while it is ready, else in this process."""
        if self.charger.ready:
            return await self.charger.download(event)
        return await self.group.download_async(event)

    async def close(self) -> None:
        await self.charger.close()
        await super().close()


# -- the charger's side -------------------------------------------------------------------------


def _next_charges(sock: socket.socket, buffer: bytearray) -> list[bytes] | None:
    """Every message waiting (at least one: waits for it); None once the socket closed.
    The first message is the start-up settings, which the service sends alone."""
    found: list[bytes] = []
    sock.setblocking(True)
    while not found:
        data = sock.recv(_CHUNK)
        if not data:
            return None
        buffer += data
        found = unframe(buffer)
    sock.setblocking(False)
    while True:
        try:
            data = sock.recv(_CHUNK)
        except BlockingIOError:
            return found
        if not data:
            return found  # the service is closing: answer these first
        buffer += data
        found += unframe(buffer)


def serve_charges(sock: socket.socket, hooks: Hooks, buffer: bytearray) -> None:
    """Charge what the service sends until it closes the socket: every charge waiting goes
    in one flush (at most the policy's ``max_batch``), its answers back once durable.
    ``buffer``: what was read past the start-up settings."""
    group = hooks.group
    sock.sendall(frame(marshal.dumps((_READY, os.getpid()))))
    while (messages := _next_charges(sock, buffer)) is not None:
        rids, events = [], []
        for message in messages:
            for rid, fh, downloader, key, served in marshal.loads(message):
                rids.append(rid)
                events.append(Event(FileHash(fh), downloader, key, served))
        most = group.policy.max_batch
        sock.setblocking(True)
        for at in range(0, len(events), most):  # a flush takes at most max_batch charges
            started = time.perf_counter()
            answers = group.charge_now(events[at:at + most])
            seconds = time.perf_counter() - started
            sent = rids[at:at + most]
            reply = [(rid, encode_answer(a)) for rid, a in zip(sent, answers, strict=True)]
            sock.sendall(frame(marshal.dumps((_ANSWERS, seconds, reply))))


def main(argv: Sequence[str] = sys.argv[1:]) -> int:
    """``python -m bitcache.serve.charger <fd>``: the charger, started by ``bitcache serve``."""
    if len(argv) != 1 or not argv[0].isdigit():
        print("bitcache charger: started by `bitcache serve`, with its socket's descriptor",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service stops it by closing the socket
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with socket.socket(fileno=int(argv[0])) as sock:
        buffer = bytearray()
        try:
            first = _next_charges(sock, buffer)  # the settings come first, alone
            if first is None:
                raise EOFError("the service closed the socket before sending the settings")
            spec = pickle.loads(first[0])
            assert isinstance(spec, ChargerSpec)
            if spec.logs is not None:
                configure_logging(spec.logs)
            ledger = LedgerStore.open(spec.url, migrate=False)  # the service migrated it
            hooks = Hooks(ledger, **spec.options)
        except (BitcacheError, EOFError, OSError) as exc:
            print(f"bitcache charger: cannot start: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 1
        settle_collector()
        log.info("the charging process is ready (pid %d)", os.getpid())
        try:
            serve_charges(sock, hooks, buffer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the service is gone: nobody to answer
        finally:
            hooks.close()
    return 0


if __name__ == "__main__":  # run as the module itself, so that its classes unpickle
    from bitcache.serve import charger

    sys.exit(charger.main())
