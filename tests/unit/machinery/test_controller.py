"""Controller outcome rules, with a real work queue on a fake clock."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from prometheus_client import CollectorRegistry

from jupyternetes_operator.machinery.controller import Controller, Result, TerminalError
from jupyternetes_operator.machinery.metrics import ControllerMetrics
from jupyternetes_operator.machinery.workqueue import WorkQueue

from .fakeclock import FakeClock


def make(reconcile, workers: int = 2):  # type: ignore[no-untyped-def]
    clock = FakeClock()
    registry = CollectorRegistry()
    queue: WorkQueue[str] = WorkQueue("things", clock=clock)
    controller = Controller("things", reconcile, queue, workers=workers, metrics=ControllerMetrics(registry),
                            clock=clock)
    return controller, clock, registry


def total(registry: CollectorRegistry, result: str) -> float:
    return registry.get_sample_value("controller_runtime_reconcile_total",
                                             {"controller": "things", "result": result}) or 0.0


async def settle() -> None:
    for _ in range(50):
        await anyio.lowlevel.checkpoint()


async def test_success_forgets_and_requeue_after_uses_the_clock() -> None:
    seen: list[str] = []

    async def reconcile(key: str) -> Result:
        seen.append(key)
        return Result(requeue_after=30.0) if len(seen) == 1 else Result()

    controller, clock, registry = make(reconcile)
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await controller.started.wait()
        controller.queue.add("a")
        await settle()
        assert seen == ["a"]
        clock.step(29.9)
        await settle()
        assert seen == ["a"]
        clock.step(0.1)
        await settle()
        assert seen == ["a", "a"]
        assert total(registry, "requeue_after") == 1
        assert total(registry, "success") == 1
        tg.cancel_scope.cancel()


async def test_a_later_answer_replaces_the_requeue_an_earlier_one_asked_for() -> None:
    """A reconcile asks to look again in 2 s (a spawn's first-status timer); an event's reconcile
    at 1 s succeeds (the server runs): the timer is dropped, no third pass. One that asks again
    instead replaces the time."""
    seen: list[tuple[str, float]] = []
    answers = {"done": [Result(requeue_after=2.0), Result()],
               "again": [Result(requeue_after=2.0), Result(requeue_after=5.0), Result()]}

    async def reconcile(key: str) -> Result:
        seen.append((key, clock.now() - 1000.0))
        return answers[key].pop(0)

    controller, clock, registry = make(reconcile)
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await controller.started.wait()
        controller.queue.add("done")
        controller.queue.add("again")
        await settle()
        clock.step(1.0)
        controller.queue.add("done")  # the pod's event
        controller.queue.add("again")
        await settle()
        clock.step(1.0)  # the first answers' time: nothing comes
        await settle()
        clock.step(4.0)
        await settle()
        clock.step(30.0)
        await settle()
        assert sorted(seen) == [("again", 0.0), ("again", 1.0), ("again", 6.0), ("done", 0.0), ("done", 1.0)]
        assert total(registry, "requeue_after") == 3
        tg.cancel_scope.cancel()


async def test_errors_retry_with_backoff_terminal_errors_do_not() -> None:
    calls: dict[str, int] = {"flaky": 0, "bad": 0}

    async def reconcile(key: str) -> None:
        calls[key] += 1
        if key == "bad":
            raise TerminalError("template invalid")
        if calls[key] < 3:
            raise RuntimeError("bug")  # not an API error: counted as a panic too

    controller, clock, registry = make(reconcile)
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await controller.started.wait()
        controller.queue.add("flaky")
        controller.queue.add("bad")
        await settle()
        assert calls == {"flaky": 1, "bad": 1}
        clock.step(0.005)  # first retry after 5 ms
        await settle()
        assert calls["flaky"] == 2
        clock.step(0.009)
        await settle()
        assert calls["flaky"] == 2  # the second retry waits 10 ms
        clock.step(0.001)
        await settle()
        assert calls["flaky"] == 3
        clock.step(1000)
        await settle()
        assert calls == {"flaky": 3, "bad": 1}  # success stops retries; terminal never retried
        assert controller.queue.num_requeues("flaky") == 0  # forgotten after success
        value = registry.get_sample_value
        assert value("controller_runtime_reconcile_errors_total", {"controller": "things"}) == 3
        assert value("controller_runtime_terminal_reconcile_errors_total", {"controller": "things"}) == 1
        assert value("controller_runtime_reconcile_panics_total", {"controller": "things"}) == 2
        assert total(registry, "success") == 1
        tg.cancel_scope.cancel()


async def test_one_key_never_runs_twice_at_once_and_updates_are_not_lost() -> None:
    running: set[str] = set()
    overlaps = 0
    runs = 0
    gate = anyio.Event()

    async def reconcile(key: str) -> None:
        nonlocal overlaps, runs
        if key in running:
            overlaps += 1
        running.add(key)
        runs += 1
        await gate.wait()
        running.discard(key)

    controller, _, registry = make(reconcile, workers=4)
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await controller.started.wait()
        controller.queue.add("k")
        await settle()
        for _ in range(5):
            controller.queue.add("k")  # events while it is being reconciled
        await settle()
        assert runs == 1
        gate.set()
        await settle()
        assert runs == 2  # exactly one more pass sees the latest state
        assert overlaps == 0
        assert registry.get_sample_value("controller_runtime_active_workers", {"controller": "things"}) == 0
        tg.cancel_scope.cancel()


async def test_waits_for_informers_before_the_first_reconcile() -> None:
    seen: list[str] = []

    class Informer:
        def __init__(self) -> None:
            self.synced = anyio.Event()

        async def wait_synced(self) -> None:
            await self.synced.wait()

    async def reconcile(key: str) -> None:
        seen.append(key)

    informer = Informer()
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("q", clock=clock)
    controller = Controller("c", reconcile, queue, wait_for=[informer], clock=clock)
    queue.add("early")
    async with anyio.create_task_group() as tg:
        tg.start_soon(controller.run)
        await settle()
        assert seen == []
        informer.synced.set()
        await settle()
        assert seen == ["early"]
        tg.cancel_scope.cancel()


async def test_graceful_shutdown_finishes_in_flight_and_returns() -> None:
    finished: list[str] = []
    release = anyio.Event()

    async def reconcile(key: str) -> None:
        await release.wait()
        finished.append(key)

    controller, _, _ = make(reconcile, workers=1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(controller.run)
            await controller.started.wait()
            controller.queue.add("in-flight")
            controller.queue.add("queued")
            await settle()
            controller.shutdown()
            release.set()
        # run() returned by itself: the in-flight key finished, the queued one was dropped.
    assert finished == ["in-flight"]


def test_needs_a_worker() -> None:
    async def reconcile(key: str) -> None:
        return None

    with pytest.raises(ValueError, match="at least one worker"):
        Controller("c", reconcile, WorkQueue("q", clock=FakeClock()), workers=0)
