"""Retry-After is honoured: the queue's hold, the controller's retry of a throttled key and the
reflector's retry of a throttled LIST or WATCH, all on a fake clock."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from jupyternetes_operator.kube.errors import ServerError, TooManyRequests
from jupyternetes_operator.machinery.controller import Controller
from jupyternetes_operator.machinery.ratelimit import ItemExponentialFailureRateLimiter
from jupyternetes_operator.machinery.reflector import Reflector
from jupyternetes_operator.machinery.workqueue import WorkQueue

from .fakeclock import FakeClock
from .test_reflector import HANG, RecordingSink, ScriptedSource, ev, until


async def settle() -> None:
    for _ in range(50):
        await anyio.lowlevel.checkpoint()


def throttled(seconds: float) -> TooManyRequests:
    return TooManyRequests(429, "TooManyRequests", "Too many requests, please try again later.",
                           retry_after=seconds)


# -- the queue --


async def test_a_held_key_waits_out_adds_and_is_added_when_the_hold_ends() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue("q", clock=clock)
    async with q:
        q.add("a")
        assert await q.get() == "a"
        q.add("a")  # an event while in flight: would normally be handed out again at done()
        q.hold("a", 5.0)
        q.done("a")
        q.add("a")
        q.add_after("a", 1.0)
        await settle()
        assert len(q) == 0
        clock.step(1.0)  # the short delayed add fires and is put back to the hold's end
        await settle()
        assert len(q) == 0
        clock.step(3.999)
        await settle()
        assert len(q) == 0
        clock.step(0.001)
        await settle()
        assert len(q) == 1  # added by the hold itself, once
        assert await q.get() == "a"
        q.done("a")
        q.add("a")  # the hold is over: adds are immediate again
        assert len(q) == 1


async def test_a_hold_keeps_a_later_pending_retry_and_takes_a_queued_copy_out() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue("q", clock=clock)
    async with q:
        q.add_after("a", 10.0)
        q.hold("a", 2.0)  # the later retry stands: max(retry-after, backoff)
        q.add("b")
        q.hold("b", 3.0)  # queued but not yet handed out: it waits too
        assert len(q) == 0
        clock.step(3.0)
        await settle()
        assert [await q.get()] == ["b"]
        clock.step(6.999)
        await settle()
        assert len(q) == 0
        clock.step(0.001)
        await settle()
        assert await q.get() == "a"


# -- the controller --


async def test_a_throttled_reconcile_is_not_retried_before_retry_after_even_when_events_add_it() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("things", clock=clock)
    runs: list[float] = []

    async def reconcile(key: str) -> None:
        runs.append(clock.now())
        if len(runs) == 1:
            queue.add(key)  # an informer event during the reconcile (e.g. the child it just created)
            raise throttled(4.0)
        if len(runs) == 2:
            raise ServerError(500, "InternalError", "boom")  # no Retry-After: the usual backoff

    controller = Controller("things", reconcile, queue, workers=2, clock=clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await controller.started.wait()
        queue.add("a")
        await settle()
        assert runs == [1000.0]
        for _ in range(39):
            clock.step(0.1)
            queue.add("a")  # more events while it is held
            await settle()
        assert runs == [1000.0]
        clock.step(0.1)
        await settle()
        assert runs == pytest.approx([1000.0, 1004.0])
        clock.step(0.01)  # the 500's retry: the backoff's second step (10 ms), no hold
        await settle()
        assert runs == pytest.approx([1000.0, 1004.0, 1004.01])
        tg.cancel_scope.cancel()


async def test_retry_after_shorter_than_the_backoff_does_not_shorten_it() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("things", clock=clock,
                                      rate_limiter=ItemExponentialFailureRateLimiter(8.0, 100.0))
    runs: list[float] = []

    async def reconcile(key: str) -> None:
        runs.append(clock.now())
        if len(runs) == 1:
            raise throttled(1.0)

    controller = Controller("things", reconcile, queue, workers=1, clock=clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await controller.started.wait()
        queue.add("a")
        await settle()
        clock.step(7.9)
        await settle()
        assert runs == [1000.0]
        clock.step(0.1)
        await settle()
        assert runs == [1000.0, 1008.0]
        tg.cancel_scope.cancel()


# -- the reflector --


async def test_the_reflector_waits_at_least_retry_after_for_a_throttled_list_and_watch() -> None:
    src = ScriptedSource()
    src.lists.append(throttled(7.0))
    src.lists.append(([], "10"))
    src.watches.append(throttled(9.0))
    src.watches.append([ev("ADDED", "a", "11"), HANG])
    clock = FakeClock()
    reflector = Reflector("pods", src, RecordingSink(), clock=clock)

    async def waits_for(seconds: float, calls: int) -> None:
        await until(lambda: clock.sleepers == 1)
        deadline = clock.next_deadline()
        assert deadline is not None
        assert deadline - clock.now() == seconds  # far above the 0.8-3.2 s backoff
        clock.step(seconds - 0.001)
        await settle()
        assert len(src.calls) == calls - 1
        clock.step(0.001)
        await until(lambda: len(src.calls) >= calls)

    async with anyio.create_task_group() as tg:
        tg.start_soon(reflector.run)
        await until(lambda: len(src.calls) == 1)
        await waits_for(7.0, 2)
        assert src.calls[1] == ("list", "0")
        await until(lambda: len(src.calls) == 3)  # the watch, throttled
        await waits_for(9.0, 4)
        await until(lambda: reflector.resource_version == "11")
        tg.cancel_scope.cancel()
