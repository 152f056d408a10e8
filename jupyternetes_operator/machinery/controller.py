"""A controller: N workers draining one work queue into a reconcile function.

The reconciler's contract (controller-runtime's): ``reconcile(key)`` returns a
:class:`Result` or raises.

- ``Result()``: done; the key's backoff is forgotten.
- ``Result(requeue_after=s)``: look again in ``s`` seconds (backoff forgotten). The key's next
  reconcile answers anew: its own ``requeue_after`` replaces this one, and a plain ``Result()``
  drops it (a spawn's first-status timer does not wake a server already Running).
- ``Result(requeue=True)``: look again with the key's rate-limited backoff.
- raises :class:`TerminalError`: recorded (metric and log), not retried until the
  key is added again by an event.
- raises anything else: counted as an error and retried with backoff; the worker
  survives (a reconciler bug never kills the controller or stalls other keys). An
  API error carrying Retry-After is retried no sooner than that, whatever adds the key.

A key is never reconciled by two workers at once (the queue guarantees it). The
first reconcile waits until every informer the controller depends on has synced.
:meth:`Controller.shutdown` is the graceful stop (in-flight reconciles finish);
cancelling :meth:`Controller.run` is the hard stop (for lost leadership).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import anyio

from ..kube.errors import ApiError
from ..kube.fence import WriteFenced
from .clock import Clock, MonotonicClock
from .metrics import ControllerMetrics, Outcome
from .workqueue import ShutDown, WorkQueue

if TYPE_CHECKING:
    from collections.abc import Hashable

log = logging.getLogger(__name__)

K = TypeVar("K", bound="Hashable")


@dataclass(frozen=True)
class Result:
    requeue: bool = False
    requeue_after: float | None = None


class TerminalError(Exception):
    """An error retrying cannot fix (bad input); recorded, not retried."""


class Synced(Protocol):
    async def wait_synced(self) -> None: ...


Reconcile = Callable[[K], Awaitable[Result | None]]


class Controller(Generic[K]):
    def __init__(self, name: str, reconcile: Reconcile[K], queue: WorkQueue[K], *,
                 workers: int = 4, wait_for: Sequence[Synced] = (),
                 metrics: ControllerMetrics | None = None,
                 clock: Clock | None = None) -> None:
        if workers < 1:
            raise ValueError("a controller needs at least one worker")
        self.name = name
        self.queue = queue
        self._reconcile = reconcile
        self._workers = workers
        self._wait_for = tuple(wait_for)
        self._m = (metrics if metrics is not None else ControllerMetrics()).controller(name)
        self._clock = clock or MonotonicClock()
        self._active = 0
        self.started = anyio.Event()

    async def run(self) -> None:
        """Reconcile until :meth:`shutdown` (graceful) or cancellation (hard stop).

        After ``shutdown()`` no new key is handed out, in-flight reconciles finish and
        ``run()`` returns. Cancelling ``run()`` stops at once: in-flight reconciles are
        cancelled at their next await (safe: reconciles are level-triggered and
        idempotent, and whatever was left is reconciled again later).
        """
        self._m.workers(self._workers)
        self._m.active(0)
        for dependency in self._wait_for:
            await dependency.wait_synced()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.queue.run)
            tg.start_soon(self._report_unfinished_work)
            async with anyio.create_task_group() as workers:
                for _ in range(self._workers):
                    workers.start_soon(self._worker)
                self.started.set()
            tg.cancel_scope.cancel()

    def shutdown(self) -> None:
        """Graceful stop: take no new keys; ``run()`` returns when in-flight reconciles are done."""
        self.queue.shutdown()

    async def _report_unfinished_work(self) -> None:
        while True:
            self.queue.update_unfinished_work()
            await self._clock.sleep(0.5)

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.process(key)
            finally:
                self.queue.done(key)

    async def process(self, key: K) -> None:
        """Reconcile one key and act on the outcome (public for tests of the outcome rules)."""
        m = self._m
        self._active += 1
        m.active(self._active)
        started = self._clock.now()
        try:
            result = await self._reconcile(key) or Result()
        except TerminalError as exc:
            self.queue.forget(key)
            m.failed(terminal=True, panic=False)
            m.reconciled("error")
            log.warning("%s: %s: terminal error, not retrying: %s", self.name, key, exc)
        except Exception as exc:
            self.queue.add_rate_limited(key)
            if isinstance(exc, ApiError) and exc.retry_after:
                # The server said when (429, or a 5xx with Retry-After): not sooner, even if an event adds the key.
                self.queue.hold(key, exc.retry_after)
            m.failed(terminal=False, panic=not isinstance(exc, _EXPECTED))
            m.reconciled("error")
            log.warning("%s: %s: reconcile failed (retry %d): %s", self.name, key,
                        self.queue.num_requeues(key), exc, exc_info=not isinstance(exc, _EXPECTED))
        else:
            m.reconciled(self._follow(key, result))
        finally:
            m.took(self._clock.now() - started)
            self._active -= 1
            m.active(self._active)

    def _follow(self, key: K, result: Result) -> Outcome:
        """Act on a reconcile's result: requeue later, requeue with backoff, or forget the key."""
        if result.requeue_after is not None and result.requeue_after > 0:
            self.queue.forget(key)
            self.queue.requeue_after(key, result.requeue_after)
            return "requeue_after"
        if result.requeue:
            self.queue.add_rate_limited(key)
            return "requeue"
        self.queue.forget(key)
        return "success"

_EXPECTED = (ApiError, OSError, TimeoutError, WriteFenced)
"""Errors from talking to the API server are expected; anything else is a bug (a "panic")."""
