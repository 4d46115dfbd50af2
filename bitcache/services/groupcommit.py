"""Group commit: concurrent callers' charges gathered into one database transaction per flush.

A storage server charges one download per request, from many threads or
asyncio tasks at once. Alone, each charge pays for a commit (a disk flush)
and a turn on the ledger's writer lock; :class:`GroupCommit` shares both
among every caller waiting at the same moment — the leader/follower group
commit of database logs:

* a caller that finds no flush in flight **leads**: it flushes at once, in
  its own thread, so an idle server adds no latency;
* callers that arrive while a flush runs **follow**: they queue, and when
  the flush ends the oldest waiting caller leads the next flush, which takes
  every queued request (at most ``max_batch``) in arrival order; the flush
  ends when it committed (the next one then takes the writer lock while it
  syncs) — or, led by a thread, once it is durable: one flush of threads in
  flight per process (see ``GroupCommit._pass_lead``);
* the answered threads are woken one after the other, each by the one
  before (a relay), not all at once to fight over the interpreter lock;
* with ``max_wait_us`` set, a leader that follows a flush of several
  callers waits up to that long for as many to queue again before it
  flushes (never after an idle spell).

Asyncio callers queue the same way; their flushes run in one worker thread,
so the event loop never waits on the database.

**One transaction, each caller as if alone.** A flush takes the writer
lock once and runs its members in arrival order: a run of downloads goes
through the batch path of :mod:`charging` (each download sees the ones
before it), every other call runs its own service function, whose write
joins the flush's transaction as a savepoint — its refusal rolls back its
own writes and nothing else. A download whose key repeats one earlier in the
run starts a new run, so it is answered as a retry of a committed charge
would be. Each caller gets exactly the receipt or refusal it would have got
calling alone at its turn: caps, balances, replays, key conflicts, holds.

**Durable before answered.** Answers are handed out only after the flush's
commit returned. If the flush fails as a whole (the database fails, the
commit fails), nothing of it was committed — or, if the commit's outcome is
unknown, all of it was — and each member is run again alone, in order, in
its own transaction: idempotency keys make the second run a replay of
whatever did commit, so no charge is made twice and none acknowledged is
lost.

**Before the lock.** Downloads are planned before the flush takes the lock
(price, split, postings, validation, content hash) from the file terms the
last flush read — by each caller, in its own thread or task, before it
queues, so the leader's path holds none of it; under the lock each plan is
checked against the file's current terms, and only the cap, the balance,
chaining and inserting remain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from bitcache.core.files import FileRecord
from bitcache.core.pricing import Split
from bitcache.errors import BitcacheError, InvalidPolicy, OutcomeUnknown, StoreError
from bitcache.services.charging import (
    ChargePlan,
    Event,
    charge_events_in,
    credited_account,
    log,
    log_refusals,
    plan_charge,
)
from bitcache.services.context import Context
from bitcache.services.receipts import DownloadReceipt
from bitcache.store.deadline import deadline
from bitcache.telemetry.metrics import FLUSH_SECONDS, count_answers

T = TypeVar("T")

#: Plans are made from at most this many files' last seen terms.
PLAN_CACHE_FILES = 100_000


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """When a flush closes: at ``max_batch`` requests, or after ``max_wait_us`` of gathering.

    ``max_batch`` 1 turns group commit off (one transaction per call).
    ``max_wait_us`` 0 never waits: a flush takes what queued while the last
    one ran. Gathering happens only right after a flush of several callers.
    """

    max_batch: int = 1_000
    max_wait_us: int = 0

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_wait_us"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidPolicy(f"{name} must be a non-negative int, got {value!r}")
        if self.max_batch < 1:
            raise InvalidPolicy("max_batch must be at least 1")
        if self.max_wait_us > 1_000_000:
            raise InvalidPolicy("max_wait_us must be at most 1,000,000 (one second)")


@dataclass(frozen=True, slots=True)
class FlushStats:
    """What a group commit did so far: flushes, calls answered, the largest flush, and
    the flushes that failed as a whole (their members then ran alone)."""

    flushes: int
    calls: int
    largest: int
    fallbacks: int


class _Op:
    """One caller's request: a validated download (and its charge, planned by the caller
    before it queued), or a service call to run in the flush."""

    __slots__ = ("event", "plan", "run")

    def __init__(self, event: Event | None, run: Callable[[], object] | None,
                 plan: ChargePlan | None = None):
        self.event, self.run, self.plan = event, run, plan


class _Slot:
    """A queued request and how its caller waits: a lock (thread) or a future (asyncio).

    ``after``: the next answered thread of the same flush, which this slot's
    thread wakes as soon as it runs again (the relay, see ``_settle``);
    ``gone``: its thread stopped waiting (interrupted), so the relay skips it;
    ``last``: the relay's last thread, which hands the lead on if nobody was
    queued when its flush ended.
    """

    __slots__ = ("after", "answer", "done", "future", "gone", "last", "loop", "op", "waiter")

    def __init__(self, op: _Op, loop: asyncio.AbstractEventLoop | None = None):
        self.op = op
        self.answer: object = None
        self.done = False
        self.gone = self.last = False
        self.after: _Slot | None = None
        self.loop = loop
        self.future: asyncio.Future[object] | None = None
        self.waiter: threading.Lock | None = None
        if loop is None:
            self.waiter = threading.Lock()
            self.waiter.acquire()
        else:
            self.future = loop.create_future()


class GroupCommit:
    """Gathers the money-moving calls of one process into shared transactions. Thread-safe."""

    def __init__(self, ctx: Context, policy: FlushPolicy | None = None, *,
                 deadline_s: float | None = None):
        self.ctx = ctx
        self.policy = policy or FlushPolicy()
        self.deadline_s = deadline_s  # of the worker's flushes (a thread's: its caller's)
        self._mutex = threading.Lock()
        self._gathered = threading.Condition(self._mutex)
        self._queue: deque[_Slot] = deque()
        self._leading = False  # a caller (or the worker) is leading flushes
        self._gathering = 0  # how many queued requests a gathering leader waits for
        self._last_size = 0
        self._last_end = 0.0
        self._lead_after_relay = False  # the next relay's last thread hands the lead on
        self._planner = _Planner(ctx)
        self._worker: ThreadPoolExecutor | None = None
        self._stats = [0, 0, 0, 0]  # flushes, calls, largest, fallbacks

    # -- callers -------------------------------------------------------------

    def download(self, event: Event) -> DownloadReceipt:
        """Charge a validated download in the next flush; its receipt, or raise its refusal."""
        return cast(DownloadReceipt, self._call(self._download_op(event)))

    def run(self, call: Callable[[], T]) -> T:
        """Run a money-moving service call in the next flush (its write joins the flush)."""
        return cast(T, self._call(_Op(None, call)))

    async def download_async(self, event: Event) -> DownloadReceipt:
        """:meth:`download` for asyncio: the flush runs in a worker thread."""
        return cast(DownloadReceipt, await self._call_async(self._download_op(event)))

    async def run_async(self, call: Callable[[], T]) -> T:
        """:meth:`run` for asyncio: the flush runs in a worker thread."""
        return cast(T, await self._call_async(_Op(None, call)))

    def _download_op(self, event: Event) -> _Op:
        """A download's op, its charge planned now, in the caller's thread: the pure work
        runs while the flush in progress waits on the database, off the leader's path."""
        alone = self.policy.max_batch == 1  # each call its own transaction: no plans used
        return _Op(event, None, None if alone else self._planner.plan_one(event))

    def waiting(self) -> int:
        """How many calls are queued for the next flush."""
        with self._mutex:
            return len(self._queue)

    def stats(self) -> FlushStats:
        """Counters of the flushes so far."""
        with self._mutex:
            return FlushStats(*self._stats)

    def close(self) -> None:
        """Stop the worker thread of asyncio callers (after the flushes in flight)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True)

    def _call(self, op: _Op) -> object:
        if self.policy.max_batch == 1:
            return _unwrap(durable_alone(self.ctx, op))
        slot = _Slot(op)
        with self._mutex:
            lead = self._enqueue(slot)
        try:
            if not lead:
                self._wait(slot)
            if not slot.done:
                self._lead(slot)
        finally:
            self._relay(slot)
        return _unwrap(slot.answer)

    def _relay(self, slot: _Slot) -> None:
        """Pass the relay on: wake the next answered thread of ``slot``'s flush; the last
        one hands the lead on if that flush found nobody queued (see ``_pass_lead``)."""
        after, slot.after = slot.after, None
        if after is not None:
            _wake(after)
        elif slot.last:
            slot.last = False
            with self._mutex:
                self._hand_over()

    def _wait(self, slot: _Slot) -> None:
        """Block until answered or handed the lead; if interrupted (KeyboardInterrupt…),
        leave the relay (the request itself goes ahead, as a cancelled task's does)."""
        assert slot.waiter is not None
        try:
            slot.waiter.acquire()
        except BaseException:
            with self._mutex:
                slot.gone = True  # a relay not yet built skips it; one built it passes on
            raise

    async def _call_async(self, op: _Op) -> object:
        if self.policy.max_batch == 1:
            return _unwrap(await asyncio.to_thread(self._alone_for_task, op))
        slot = _Slot(op, asyncio.get_running_loop())
        with self._mutex:
            lead = self._enqueue(slot)
        if lead:
            self._start_worker()
        assert slot.future is not None
        return _unwrap(await slot.future)

    def _alone_for_task(self, op: _Op) -> object:
        with deadline(self.deadline_s):
            return durable_alone(self.ctx, op)

    def _enqueue(self, slot: _Slot) -> bool:
        """Queue a request (mutex held); True when its caller must lead."""
        self._queue.append(slot)
        if self._gathering and len(self._queue) >= self._gathering:
            self._gathered.notify()
        if self._leading:
            return False
        self._leading = True
        return True

    # -- leading -------------------------------------------------------------

    def _lead(self, own: _Slot | None) -> None:
        """Flush until a flush holds ``own`` (the worker: one flush); that flush hands the
        lead on as soon as it committed, then makes itself durable and answers."""
        handed = [False]
        try:
            while not handed[0]:
                with self._mutex:
                    if not self._queue:
                        self._hand_over()
                        return
                    batch = self._take()
                self._flush(batch, own, handed)
        except BaseException:
            if not handed[0]:
                with self._mutex:
                    self._hand_over()
            raise

    def _take(self) -> list[_Slot]:
        """The next flush's requests (mutex held), after gathering if the policy says so."""
        limit, wait = self.policy.max_batch, self.policy.max_wait_us / 1e6
        target = min(limit, self._last_size)
        if wait and target > len(self._queue) and time.monotonic() - self._last_end < wait:
            self._gathering = target
            self._gathered.wait_for(lambda: len(self._queue) >= target, wait)
            self._gathering = 0
        count = min(limit, len(self._queue))
        return [self._queue.popleft() for _ in range(count)]

    def _hand_over(self) -> None:
        """Make the oldest waiting thread the leader, or the worker if only asyncio callers
        wait, or nobody when the queue is empty (mutex held)."""
        for slot in self._queue:
            if slot.waiter is not None:
                slot.waiter.release()  # not done: it wakes to lead
                return
        if self._queue:
            self._start_worker()
            return
        self._leading = False

    def _start_worker(self) -> None:
        if self._worker is None:  # two: one flushes while the other syncs and answers
            self._worker = ThreadPoolExecutor(2, thread_name_prefix="bitcache-flush")
        self._worker.submit(self._lead_for_tasks)

    def _lead_for_tasks(self) -> None:
        """The worker's flush for asyncio callers, under the group's deadline (a frozen
        database abandons the flush; its callers get the error, retryable)."""
        with deadline(self.deadline_s):
            self._lead(None)

    # -- flushing ------------------------------------------------------------

    def _flush(self, batch: list[_Slot], own: _Slot | None, handed: list[bool]) -> None:
        """Run one flush; if it holds ``own`` (or leads for the worker), hand the lead on
        once it committed or once it is durable (see ``_pass_lead``). Then make it
        durable and hand each caller its answer."""
        answers: list[object] | None = None
        started = time.perf_counter()
        try:
            answers = self._answers(batch)
            if own is None:
                self._pass_lead(handed, committed=True)
            answers = self._durable(answers)
            if own is not None and own in batch:
                self._pass_lead(handed, committed=False)
            FLUSH_SECONDS.observe(time.perf_counter() - started)
            charged = [(s.op.event, a) for s, a in zip(batch, answers, strict=True) if s.op.event]
            count_answers(a for _, a in charged)
            if log.isEnabledFor(logging.DEBUG):
                log_refusals([e for e, _ in charged], [a for _, a in charged])
        finally:
            if answers is None:  # interrupted (KeyboardInterrupt…): the outcome is unknown
                error = StoreError("the flush was interrupted; retry with the same key")
                answers = [error] * len(batch)
            self._settle(batch, answers)

    def _pass_lead(self, handed: list[bool], *, committed: bool) -> None:
        """Hand the lead on to the next flush (see ``_hand_over``).

        The worker's flush does so as soon as it committed, so that the next
        flush takes the writer lock while it syncs. A thread's flush does so
        once it is durable: threads share one interpreter lock, so two flushes
        of one process do not run side by side; overlapped, each would take
        half the callers and pay the fixed cost of a flush for them, and the
        callers answered by one would contend with the other's leader. One
        flush in flight instead takes every caller that came back meanwhile.
        (Measured, 64 threads on SQLite with the relay: overlapped, flushes
        fell to 4-7 callers; overlapped only when nobody was queued, to 22.)
        A thread's flush that finds nobody queued once durable leaves the lead
        to the last thread of its relay, so the callers it answers, woken one
        by one, are not taken one by one by flushes of their own.
        The writer lock is released at the commit all the same: other
        processes' flushes take it while this one syncs.
        """
        with self._mutex:
            if committed or self._queue:
                self._hand_over()
            else:  # its callers are about to come back: the relay's last leads
                self._lead_after_relay = True
        handed[0] = True

    def _answers(self, batch: list[_Slot]) -> list[object]:
        """Each slot's answer, not yet durable; ``batch`` grows by the calls that joined
        once the lock was held."""
        return self._run([s.op for s in batch], lambda: self._join_late(batch))

    def _run(self, ops: list[_Op], late: Callable[[], list[_Op]] | None) -> list[object]:
        """Each op's answer, not yet durable: one flush, or each op alone if the flush
        failed as a whole. ``ops`` grows by the calls ``late`` gives once the lock is held."""

        def joined() -> list[_Op]:
            extra = late() if late is not None else []
            ops.extend(extra)
            return extra

        fell_back = False
        try:
            answers = run_flush(self.ctx, list(ops), self._planner, joined)
        except Exception:  # nothing committed (or, if the commit's fate is unknown, all)
            answers = [run_alone(self.ctx, op) for op in ops]
            fell_back = True
        with self._mutex:
            stats = self._stats
            stats[0] += 1
            stats[1] += len(ops)
            stats[2] = max(stats[2], len(ops))
            stats[3] += fell_back
            self._last_size, self._last_end = len(ops), time.monotonic()
        return answers

    def charge_now(self, events: Sequence[Event]) -> list[object]:
        """Charge ``events`` in one flush led by this caller, now; each one's receipt or
        refusal, once durable — what :meth:`download` would answer each of them.

        For a caller that gathers its own batches and is this group's only caller
        (the service's charging process, :mod:`bitcache.serve.charger`): it
        waits for no other flush. Planned, run, retried alone on a failed flush
        and made durable as the group's own flushes are, under the group's
        deadline.
        """
        with deadline(self.deadline_s):
            return self._durable(self._run([self._download_op(e) for e in events], None))

    def _durable(self, answers: list[object]) -> list[object]:
        """The answers once the flush's commit is on disk — and whatever commit of others
        they read: a replay may answer from a flush not yet synced; if that cannot be
        made so, an error for every caller instead (their retries replay what committed)."""
        try:
            self.ctx.ledger.sync()
        except Exception as exc:
            error = OutcomeUnknown(f"the flush committed but was not made durable ({exc}); "
                                   "retry with the same key")
            return [error] * len(answers)
        return answers

    def _join_late(self, batch: list[_Slot]) -> list[_Op]:
        """The calls queued while the flush waited for the writer lock: they join it, after
        the others (another process may have held the lock for a while)."""
        with self._mutex:
            room = min(self.policy.max_batch - len(batch), len(self._queue))
            late = [self._queue.popleft() for _ in range(room)]
        batch.extend(late)
        return [s.op for s in late]

    def _settle(self, batch: list[_Slot], answers: list[object]) -> None:
        """Give each caller its answer: threads by a relay, one callback per event loop.

        The threads are woken one after the other, in arrival order: this one
        wakes the first, each woken thread the next as soon as it runs (before
        it even reads its answer). Woken all at once, they would all contend
        for the interpreter lock, each going back to sleep on it, preempting
        the thread that holds it: two to four context switches per call
        instead of about one.
        """
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Slot, object]]] = {}
        first = last = None
        with self._mutex:  # against a waiting thread leaving (``_wait``)
            for slot, answer in zip(batch, answers, strict=True):
                slot.answer = answer
                if slot.loop is not None:
                    by_loop.setdefault(slot.loop, []).append((slot, answer))
                    continue
                slot.done = True
                if slot.gone:
                    continue
                if last is None:
                    first = slot
                else:
                    last.after = slot
                last = slot
            if self._lead_after_relay:
                self._lead_after_relay = False
                if last is None:  # nobody to relay to (cannot happen: the leader is)
                    self._hand_over()
                else:
                    last.last = True
        if first is not None:
            _wake(first)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve_futures, settled)


def _wake(slot: _Slot) -> None:
    """Wake an answered thread; one that left (interrupted) passes the relay on itself."""
    assert slot.waiter is not None
    slot.waiter.release()


def _resolve_futures(settled: list[tuple[_Slot, object]]) -> None:
    for slot, answer in settled:
        slot.done = True
        future = slot.future
        if future is None or future.done():
            continue  # the awaiting task was cancelled; the call itself went ahead
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer)


def _unwrap(answer: object) -> object:
    if isinstance(answer, BaseException):
        raise answer
    return answer


# -- one flush -------------------------------------------------------------------


def run_flush(
    ctx: Context, ops: Sequence[_Op], planner: _Planner | None = None,
    late: Callable[[], list[_Op]] | None = None,
) -> list[object]:
    """Run ``ops`` in arrival order in one write transaction; an answer per op.

    ``late``, called once the writer lock is held, gives calls that join at
    the end (their answers follow). Raises only when the transaction fails as
    a whole (then nothing was written). The commit does not wait for the
    disk: call ``ctx.ledger.sync()`` before handing out the answers.
    """
    planner = planner or _Planner(ctx)
    plans = planner.plan(ops)
    answers: list[object] = []
    planned = 0
    with ctx.ledger.write(defer_sync=True) as conn:  # the caller syncs, after the lock
        joined = late() if late is not None else []
        if joined:
            ops = [*ops, *joined]
            plans += planner.plan(joined)
        for run in _runs(ops):
            if run[0].event is None:
                answers.extend(_call_in_flush(op) for op in run)
                continue
            batch = [op.event for op in run if op.event is not None]
            seen: dict[bytes, FileRecord] = {}
            answers.extend(charge_events_in(
                ctx, conn, batch, isolate=True, plans=plans[planned : planned + len(batch)],
                seen=seen))
            planned += len(batch)
            planner.learn(seen)
    return answers


def run_alone(ctx: Context, op: _Op) -> object:
    """Run one op in its own transaction, as a caller alone would (its answer or error)."""
    try:
        if op.event is None:
            assert op.run is not None
            return op.run()
        with ctx.ledger.write() as conn:
            return charge_events_in(ctx, conn, [op.event], isolate=True)[0]
    except Exception as exc:
        return exc


def durable_alone(ctx: Context, op: _Op) -> object:
    """:func:`run_alone`, and a replay's answer only once what it replays is durable (it
    may be another process's flush, committed and not yet synced)."""
    answer = run_alone(ctx, op)
    if getattr(answer, "replayed", False):
        try:
            ctx.ledger.sync()
        except Exception as exc:
            return exc
    return answer


def _call_in_flush(op: _Op) -> object:
    """A service call inside the flush: its write is a savepoint, its refusal its answer."""
    assert op.run is not None
    try:
        return op.run()
    except Exception as exc:  # its savepoint rolled back; the flush goes on
        return exc


def _runs(ops: Sequence[_Op]) -> Iterator[list[_Op]]:
    """Consecutive ops grouped: runs of downloads with distinct keys, other calls one by one."""
    run: list[_Op] = []
    keys: set[str] = set()
    for op in ops:
        event = op.event
        if event is None or (run and run[0].event is None) or event.key in keys:
            if run:
                yield run
            run, keys = [], set()
        run.append(op)
        if event is not None:
            keys.add(event.key)
    if run:
        yield run


class _Planner:
    """Download charges planned before the lock from the file terms the last flush read."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.files: dict[bytes, FileRecord] = {}
        self.splits: dict[tuple[int, bool], Split] = {}

    def plan(self, ops: Sequence[_Op]) -> list[ChargePlan | None]:
        """A plan per download of ``ops``: the one its caller made, or one made now from
        the terms last seen (None when its file was not seen: planned under the lock)."""
        return [op.plan or self.plan_one(op.event) for op in ops if op.event is not None]

    def plan_one(self, event: Event) -> ChargePlan | None:
        """A download's plan from its file's terms as last seen (thread-safe: reads only
        the last flush's records, and caches splits, which are pure values)."""
        rec = self.files.get(event.fh)
        if rec is None:
            return None
        try:
            credited = credited_account(self.ctx, rec)
            return plan_charge(self.ctx, event, rec, credited, self.splits)
        except BitcacheError:
            return None  # refused as planned: decided again under the lock

    def learn(self, files: dict[bytes, FileRecord]) -> None:
        if len(self.files) + len(files) > PLAN_CACHE_FILES:
            self.files = {}
        self.files.update(files)


def describe(stats: FlushStats) -> dict[str, Any]:
    """The stats as a plain dict (for benchmarks and logs)."""
    mean = stats.calls / stats.flushes if stats.flushes else 0.0
    return {"flushes": stats.flushes, "calls": stats.calls, "largest": stats.largest,
            "mean": round(mean, 2), "fallbacks": stats.fallbacks}
