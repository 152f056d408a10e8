"""A work queue of keys with client-go ``util/workqueue`` semantics, on one anyio event loop.

Guaranteed:

- A key is queued at most once: adding a key that is already waiting is a no-op.
- Keys come out in the order they were first added (FIFO).
- A key handed out by :meth:`WorkQueue.get` is never handed out again until
  :meth:`WorkQueue.done` is called for it, however many workers call ``get()``.
- An add while the key is being processed is not lost: the key is queued again,
  exactly once, when ``done()`` is called.
- :meth:`WorkQueue.add_after` keys become ready no earlier than asked, measured on
  the injected :class:`Clock`; of two pending delays for one key the earlier wins.
- A key under :meth:`WorkQueue.hold` (the server's Retry-After) is not handed out
  before its hold ends, whatever adds come meanwhile.
- :meth:`WorkQueue.requeue_after` is the key's own processing asking to look again later:
  as ``add_after``, except that :meth:`WorkQueue.forget` (the key's next successful
  processing, which answers for itself) drops it, unless an ``add_after``, a rate-limited
  add or a hold was merged into it meanwhile.

Not promised: that a key is processed once per add (adds are coalesced — the queue
carries keys, the reconciler re-reads state); fairness between keys; that delayed
keys survive shutdown (both shutdowns drop them); thread safety (one event loop only).

Delayed adds need the background loop: run ``await queue.run()`` in a task group, or
use ``async with queue:`` which does that and shuts the queue down on exit.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from types import TracebackType
from typing import Generic, Self, TypeVar

import anyio
import anyio.lowlevel

from .clock import Clock, MonotonicClock
from .metrics import WorkQueueMetrics
from .ratelimit import RateLimiter, default_controller_rate_limiter

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down and has nothing more to hand out."""


class WorkQueue(Generic[K]):
    """Dedup + "never concurrent per key" queue with delayed and rate-limited adds.

    Workers loop ``key = await q.get(); try: ... finally: q.done(key)`` and call
    :meth:`forget` after a success so the key's backoff resets.

    Shutdown comes in two kinds:

    - :meth:`shutdown` stops at once: adds are ignored, queued keys are dropped and
      every ``get()`` raises :class:`ShutDown`. Keys already handed out may still be
      ``done()``; they are not re-queued.
    - :meth:`shutdown_with_drain` ignores new adds but keeps handing out what is
      queued (and re-queues of keys dirtied while in flight) until nothing is queued
      or in flight, then ``get()`` raises :class:`ShutDown` and it returns. Workers
      must keep calling ``get()``/``done()`` meanwhile; bound it with a timeout and
      call :meth:`shutdown` to give up on the rest.

    Metrics (:class:`~.metrics.WorkQueueMetrics`, none by default; label ``name``): depth (keys
    waiting to be processed, including keys re-added while in flight — client-go counts the same
    way), adds, queue duration (add → get), work duration (get → done) and retries are updated
    as things happen; unfinished-work seconds
    and the longest running processor only when :meth:`update_unfinished_work` is
    called (the owner calls it periodically, as client-go does every 500 ms).
    """

    def __init__(
        self,
        name: str,
        *,
        clock: Clock | None = None,
        rate_limiter: RateLimiter | None = None,
        metrics: WorkQueueMetrics | None = None,
    ) -> None:
        self.name = name
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._limiter: RateLimiter = (
            rate_limiter if rate_limiter is not None else default_controller_rate_limiter(self._clock)
        )
        self._m = (metrics if metrics is not None else WorkQueueMetrics()).queue(name)

        self._queue: deque[K] = deque()  # FIFO of keys ready to hand out; each is also in _dirty
        self._dirty: set[K] = set()  # keys that need processing (queued, or re-added while processing)
        self._processing: dict[K, float] = {}  # key -> when get() handed it out
        self._added_at: dict[K, float] = {}  # key -> when it became dirty (queue duration)
        self._shutting_down = False
        self._draining = False
        # Idle getters, each on its own event: a key wakes one of them (client-go's cond.Signal), not
        # every idle worker (32 woken, 31 back to sleep, twice per reconcile: bench/README.md).
        self._getters: deque[anyio.Event] = deque()
        # Broadcast at shutdown, and at each done() while shutting down, to the drain waiter.
        self._changed = anyio.Event()

        # Delayed adds: key -> (ready time, seq) is the live entry; the heap may hold stale ones.
        self._waiting: dict[K, tuple[float, int]] = {}
        self._requeues: set[K] = set()  # waiting keys only a requeue_after asked for (forget drops them)
        self._held: dict[K, float] = {}  # key -> not handed out before then (cleared by the add at that time)
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._wake_loop = anyio.Event()
        self._running = False
        self._exit_stack: contextlib.AsyncExitStack[bool | None] | None = None

        self._m.depth(0)

    # -- the basic queue --

    def __len__(self) -> int:
        """Keys queued and ready to hand out (not those in flight or delayed)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already queued; never blocks. Ignored once shut down."""
        if self._shutting_down or key in self._dirty:
            return
        if (until := self._held.get(key)) is not None:
            if until > self._clock.now():
                self._requeues.discard(key)
                self._schedule(key, until)
                return
            del self._held[key]
        self._m.added()
        self._dirty.add(key)
        self._m.depth(len(self._dirty))
        self._added_at[key] = self._clock.now()
        if key in self._processing:
            return  # done() will queue it
        self._push(key)

    async def get(self) -> K:
        """Wait for a key and mark it in flight; the caller must call :meth:`done` with it.

        Raises :class:`ShutDown` when the queue is shut down and has nothing more to give.
        """
        await anyio.lowlevel.checkpoint()
        while True:
            if self._queue and not (self._shutting_down and not self._draining):
                return self._pop()
            if self._shutting_down and (not self._draining or not self._processing):
                raise ShutDown(self.name)
            woken = anyio.Event()
            self._getters.append(woken)
            try:
                await woken.wait()
            except BaseException:
                if woken.is_set():
                    self._wake_one()  # cancelled as it was woken: the key it was woken for goes to another
                else:
                    self._getters.remove(woken)
                raise

    def done(self, key: K) -> None:
        """``key`` is processed; if it was added meanwhile, queue it again now."""
        try:
            started = self._processing.pop(key)
        except KeyError:
            raise ValueError(f"done({key!r}) for a key that is not being processed") from None
        self._m.worked(self._clock.now() - started)
        if key in self._dirty:
            self._push(key)
        elif self._shutting_down:
            self._wake_all()  # the drain may be over

    # -- delayed and rate-limited adds --

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed; ``delay <= 0`` adds now.

        If ``key`` is already waiting, the earlier of the two ready times is kept.
        """
        self._later(key, delay, requeue=False)

    def requeue_after(self, key: K, delay: float) -> None:
        """As :meth:`add_after`, for the key's processing that asks to look again in ``delay`` seconds:
        :meth:`forget` drops it (a later processing that succeeded saw everything since)."""
        self._later(key, delay, requeue=True)

    def _later(self, key: K, delay: float, *, requeue: bool) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        if not requeue:
            self._requeues.discard(key)  # whatever was waiting, this add must happen
        elif key not in self._waiting:
            self._requeues.add(key)  # only this processing asked for it: forget() may drop it
        self._schedule(key, self._clock.now() + delay)

    def hold(self, key: K, seconds: float) -> None:
        """Hand ``key`` out no sooner than ``seconds`` from now, whatever adds come meanwhile, and add it
        then (a server's Retry-After). A pending delayed add that is later still is kept; a copy of the
        key already queued, or re-added while it is in flight, waits too."""
        if self._shutting_down or seconds <= 0:
            return
        until = max(self._clock.now() + seconds, self._held.get(key, 0.0))
        self._held[key] = until
        self._requeues.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self._added_at.pop(key, None)
            self._m.depth(len(self._dirty))
            with contextlib.suppress(ValueError):
                self._queue.remove(key)
        current = self._waiting.get(key)
        if current is None or current[0] < until:
            self._waiting.pop(key, None)  # its heap entry goes stale
            self._schedule(key, until)

    def _schedule(self, key: K, ready: float) -> None:
        """Add ``key`` at ``ready`` unless it is already waiting for an earlier time."""
        current = self._waiting.get(key)
        if current is not None and current[0] <= ready:
            return
        seq = next(self._seq)
        self._waiting[key] = (ready, seq)
        earliest = self._next_ready()
        heapq.heappush(self._heap, (ready, seq, key))
        if earliest is None or ready < earliest:
            self._wake_loop.set()

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after the rate limiter's delay for it (one more retry)."""
        if self._shutting_down:
            return
        self._m.retried()
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff and drop its pending :meth:`requeue_after` (call after it was
        processed successfully)."""
        self._limiter.forget(key)
        if key in self._requeues:
            self._requeues.discard(key)
            del self._waiting[key]  # its heap entry goes stale

    def num_requeues(self, key: K) -> int:
        return self._limiter.num_requeues(key)

    async def run(self) -> None:
        """Move delayed keys into the queue when they are due; returns on shutdown.

        Cancellable. Only one ``run()`` at a time.
        """
        if self._running:
            raise RuntimeError(f"work queue {self.name!r} is already running")
        self._running = True
        try:
            while not self._shutting_down:
                now = self._clock.now()
                while (ready := self._next_ready()) is not None and ready <= now:
                    _, _, key = heapq.heappop(self._heap)
                    del self._waiting[key]
                    self._requeues.discard(key)
                    self.add(key)
                self._wake_loop = wake = anyio.Event()
                if ready is None:
                    await wake.wait()
                else:
                    await self._sleep_or_wake(ready - now, wake)
        finally:
            self._running = False

    async def __aenter__(self) -> Self:
        """Start :meth:`run` in a task group of its own; on exit, :meth:`shutdown` and stop it."""
        stack = contextlib.AsyncExitStack()
        tg = await stack.enter_async_context(anyio.create_task_group())
        tg.start_soon(self.run)
        self._exit_stack = stack
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        self.shutdown()
        stack, self._exit_stack = self._exit_stack, None
        if stack is None:
            raise RuntimeError("__aexit__ without __aenter__")
        return await stack.__aexit__(exc_type, exc, tb)

    # -- shutdown --

    def shutdown(self) -> None:
        """Stop now: ignore adds, drop queued and delayed keys, make every ``get()`` raise."""
        self._shutting_down = True
        self._draining = False
        self._queue.clear()
        for key in list(self._dirty):
            self._added_at.pop(key, None)
        self._dirty.clear()
        self._held.clear()
        self._drop_waiting()
        self._m.depth(0)
        self._wake_all()

    async def shutdown_with_drain(self) -> None:
        """Ignore adds; return once everything queued or in flight has been handed out and done."""
        if not self._shutting_down:
            self._shutting_down = True
            self._draining = True
            self._drop_waiting()
            self._wake_all()
        while self._queue or self._processing:
            await self._changed.wait()

    # -- metrics --

    def update_unfinished_work(self) -> None:
        """Refresh the unfinished-work and longest-running-processor gauges from the in-flight keys."""
        now = self._clock.now()
        running = [now - started for started in self._processing.values()]
        self._m.in_flight(sum(running), max(running, default=0.0))

    # -- internals --

    def _push(self, key: K) -> None:
        self._queue.append(key)
        self._wake_one()

    def _pop(self) -> K:
        key = self._queue.popleft()
        now = self._clock.now()
        self._dirty.discard(key)
        self._m.depth(len(self._dirty))
        self._processing[key] = now
        added = self._added_at.pop(key, None)
        if added is not None:
            self._m.waited(now - added)
        return key

    def _wake_one(self) -> None:
        if self._getters:
            self._getters.popleft().set()

    def _wake_all(self) -> None:
        while self._getters:
            self._getters.popleft().set()
        self._changed.set()
        self._changed = anyio.Event()

    def _next_ready(self) -> float | None:
        """Ready time of the earliest live delayed entry, discarding stale heap heads."""
        while self._heap:
            ready, seq, key = self._heap[0]
            if self._waiting.get(key) == (ready, seq):
                return ready
            heapq.heappop(self._heap)
        return None

    def _drop_waiting(self) -> None:
        self._waiting.clear()
        self._requeues.clear()
        self._heap.clear()
        self._wake_loop.set()

    async def _sleep_or_wake(self, seconds: float, wake: anyio.Event) -> None:
        """Sleep on the clock until ``seconds`` pass or ``wake`` is set, whichever is first."""

        async def sleeper() -> None:
            await self._clock.sleep(seconds)
            wake.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(sleeper)
            await wake.wait()
            tg.cancel_scope.cancel()
