"""Callers that reach the group commit in a known order, from threads or asyncio tasks.

A gate call holds the leader inside a flush; the callers are started one by
one, each only after the one before it is queued; then the gate opens and
the queued calls are flushed together in that order (several flushes when
``max_batch`` is smaller).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence

from bitcache.hooks import Hooks


def answer_of(call: Callable[[], object]) -> object:
    """The call's result, or the exception it raised."""
    try:
        return call()
    except Exception as exc:
        return exc


class Gate:
    """Keeps the group commit busy in a flush of its own until :meth:`open`."""

    def __init__(self, hooks: Hooks):
        self.hooks = hooks
        self._open, self._entered = threading.Event(), threading.Event()
        self._thread = threading.Thread(  # its own answer does not matter
            target=lambda: answer_of(lambda: hooks.group.run(self._hold)))

    def _hold(self) -> None:
        self._entered.set()
        assert self._open.wait(60), "the gate was never opened"

    def start(self) -> None:
        self._thread.start()
        assert self._entered.wait(30), "the gate call did not lead"

    def open(self) -> None:
        self._open.set()
        self._thread.join(60)


def wait_queued(hooks: Hooks, count: int) -> None:
    deadline = time.monotonic() + 30
    while hooks.group.waiting() < count:
        assert time.monotonic() < deadline, "a caller never reached the queue"
        time.sleep(0.0005)


def in_threads(hooks: Hooks, calls: Sequence[Callable[[], object]]) -> list[object]:
    """Each call in its own thread, queued in list order behind a gate; their answers."""
    answers: list[object] = [None] * len(calls)

    def caller(i: int) -> None:
        answers[i] = answer_of(calls[i])

    gate = Gate(hooks)
    gate.start()
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(calls))]
    for i, thread in enumerate(threads):
        thread.start()
        wait_queued(hooks, i + 1)
    gate.open()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a caller never got its answer"
    return answers


async def _answer_async(call: Callable[[], Awaitable[object]]) -> object:
    try:
        return await call()
    except Exception as exc:
        return exc


def in_tasks(hooks: Hooks, calls: Sequence[Callable[[], Awaitable[object]]]) -> list[object]:
    """Each call in its own asyncio task, queued in list order behind a gate; their answers."""

    async def main() -> list[object]:
        gate = Gate(hooks)
        gate.start()
        tasks = []
        for i, call in enumerate(calls):
            tasks.append(asyncio.create_task(_answer_async(call)))
            while hooks.group.waiting() < i + 1:
                await asyncio.sleep(0.0005)
        await asyncio.to_thread(gate.open)
        return list(await asyncio.wait_for(asyncio.gather(*tasks), 60))

    return asyncio.run(main())


def same_answer(got: object, want: object) -> bool:
    """Equal receipts, or refusals of the same type and message."""
    if isinstance(want, BaseException):
        return type(got) is type(want) and str(got) == str(want)
    return got == want
