import asyncio
import random
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import pytest
from prometheus_client import CollectorRegistry

from jupyternetes_operator.machinery.metrics import WorkQueueMetrics
from jupyternetes_operator.machinery.ratelimit import ItemExponentialFailureRateLimiter
from jupyternetes_operator.machinery.workqueue import ShutDown, WorkQueue

from .fakeclock import FakeClock

START = 1000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> WorkQueueMetrics:
    return WorkQueueMetrics(registry)


@pytest.fixture
def q(clock: FakeClock, metrics: WorkQueueMetrics) -> WorkQueue[str]:
    return WorkQueue("q", clock=clock, metrics=metrics)


async def settle() -> None:
    """Let every other task run until it blocks (no wall-clock time involved)."""
    for _ in range(50):
        await anyio.lowlevel.checkpoint()


def sample(registry: CollectorRegistry, name: str, queue: str = "q") -> float:
    value = registry.get_sample_value(name, {"name": queue})
    assert value is not None, name
    return value


async def drain_now(q: WorkQueue[str]) -> list[str]:
    """Everything ready right now, in order, each marked done."""
    out = []
    while len(q):
        key = await q.get()
        out.append(key)
        q.done(key)
    return out


# -- the basic queue --


async def test_dedup_of_queued_keys(q: WorkQueue[str], registry: CollectorRegistry) -> None:
    q.add("a")
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert sample(registry, "workqueue_adds_total") == 2
    assert await drain_now(q) == ["a", "b"]


async def test_fifo_order(q: WorkQueue[str]) -> None:
    for key in ["c", "a", "d", "b"]:
        q.add(key)
    assert await drain_now(q) == ["c", "a", "d", "b"]


async def test_add_during_processing_requeues_once_after_done(q: WorkQueue[str]) -> None:
    q.add("a")
    assert await q.get() == "a"
    q.add("a")
    q.add("a")
    assert len(q) == 0  # not before done()

    got: list[str] = []
    async with anyio.create_task_group() as tg:

        async def getter() -> None:
            got.append(await q.get())

        tg.start_soon(getter)
        await settle()
        assert got == []  # a second worker does not get the in-flight key
        q.done("a")
        await settle()
        assert got == ["a"]
    assert len(q) == 0  # exactly once
    q.done("a")
    assert len(q) == 0


async def test_add_after_done_of_clean_key(q: WorkQueue[str]) -> None:
    q.add("a")
    key = await q.get()
    q.done(key)
    assert len(q) == 0
    q.add("a")
    assert len(q) == 1
    assert await q.get() == "a"


async def test_done_of_unknown_key_is_an_error(q: WorkQueue[str]) -> None:
    q.add("a")  # queued, not in flight
    with pytest.raises(ValueError, match="not being processed"):
        q.done("a")
    assert len(q) == 1


async def test_never_concurrent_with_several_getters(q: WorkQueue[str]) -> None:
    active: set[str] = set()
    got: list[str] = []
    finish: dict[str, anyio.Event] = {}

    async def worker() -> None:
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            assert key not in active
            active.add(key)
            got.append(key)
            finish[key] = anyio.Event()
            await finish[key].wait()
            active.discard(key)
            q.done(key)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(worker)
        await settle()
        q.add("a")
        await settle()
        assert got == ["a"]
        q.add("a")  # two idle workers, yet none may take "a"
        await settle()
        assert got == ["a"]
        q.add("b")
        await settle()
        assert got == ["a", "b"]
        finish["a"].set()
        await settle()
        assert got == ["a", "b", "a"]
        finish["a"].set()
        finish["b"].set()
        await settle()
        assert got == ["a", "b", "a"]
        q.shutdown()


async def test_random_interleavings_never_concurrent_never_lost(q: WorkQueue[str]) -> None:
    rng = random.Random(20240601)
    keys = [f"k{i}" for i in range(5)]
    version = dict.fromkeys(keys, 0)  # bumped on every add
    seen = dict.fromkeys(keys, -1)  # version observed by the latest processing
    active: set[str] = set()
    processed = 0

    async def worker(pause: Callable[[], Awaitable[None]]) -> None:
        nonlocal processed
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            assert key not in active
            active.add(key)
            seen[key] = version[key]
            await pause()
            active.discard(key)
            processed += 1
            q.done(key)

    async def pause() -> None:
        for _ in range(rng.randint(0, 4)):
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(worker, pause)
        for _ in range(2000):
            key = rng.choice(keys)
            version[key] += 1
            q.add(key)
            await pause()
        await q.shutdown_with_drain()

    assert seen == version  # every add was followed by a processing that saw it
    assert 0 < processed < 2000  # and adds were coalesced


# -- delayed adds --


async def test_add_after_fires_at_its_time_not_before(q: WorkQueue[str], clock: FakeClock) -> None:
    async with q:
        q.add_after("a", 5.0)
        await settle()
        assert clock.next_deadline() == START + 5.0
        clock.advance_to(START + 4.999)
        await settle()
        assert len(q) == 0
        clock.advance_to(START + 5.0)
        await settle()
        assert len(q) == 1
        assert await q.get() == "a"


async def test_add_after_ordering(q: WorkQueue[str], clock: FakeClock) -> None:
    async with q:
        q.add_after("late", 3.0)
        q.add_after("early", 1.0)
        q.add_after("mid", 2.0)
        await settle()
        order: list[str] = []
        for t in (1.0, 2.0, 3.0):
            clock.advance_to(START + t)
            await settle()
            order += await drain_now(q)
        assert order == ["early", "mid", "late"]


async def test_add_after_earlier_time_wins(q: WorkQueue[str], clock: FakeClock) -> None:
    async with q:
        q.add_after("a", 5.0)
        await settle()
        q.add_after("a", 2.0)  # earlier: replaces, and wakes the waiting loop
        q.add_after("b", 2.0)
        q.add_after("b", 4.0)  # later: ignored
        await settle()
        clock.advance_to(START + 2.0)
        await settle()
        assert sorted(await drain_now(q)) == ["a", "b"]
        clock.advance_to(START + 10.0)  # neither comes back at its other time
        await settle()
        assert len(q) == 0


async def test_add_after_nonpositive_delay_adds_now(q: WorkQueue[str]) -> None:
    q.add_after("a", 0)
    q.add_after("b", -1.0)
    assert await drain_now(q) == ["a", "b"]  # no run() needed


async def test_add_after_dedups_when_it_fires(q: WorkQueue[str], clock: FakeClock) -> None:
    async with q:
        q.add("a")
        q.add_after("a", 1.0)
        clock.step(1.0)
        await settle()
        assert len(q) == 1


async def test_forget_drops_a_requeue_but_no_other_delayed_add(q: WorkQueue[str], clock: FakeClock) -> None:
    """A key's own look-again (``requeue_after``) is dropped by ``forget``; an ``add_after`` or a
    rate-limited add, alone or merged into that requeue, is not: someone else needs that pass."""
    async with q:
        q.requeue_after("own", 2.0)
        q.add_after("other", 2.0)
        q.add_rate_limited("retry")
        q.requeue_after("merged", 2.0)
        q.add_after("merged", 3.0)  # later, so the requeue's time stays, but it must happen now
        q.add_after("under", 3.0)
        q.requeue_after("under", 2.0)  # earlier: merged into an add that must happen
        for key in ("own", "other", "retry", "merged", "under"):
            q.forget(key)
        await settle()
        clock.step(2.0)
        await settle()
        assert sorted(await drain_now(q)) == ["merged", "other", "retry", "under"]
        clock.step(10.0)
        await settle()
        assert len(q) == 0  # and "own" never comes


async def test_a_requeue_not_forgotten_fires_and_a_later_one_is_dropped_again(q: WorkQueue[str],
                                                                             clock: FakeClock) -> None:
    async with q:
        q.requeue_after("a", 1.0)
        await settle()
        clock.step(1.0)
        await settle()
        assert await drain_now(q) == ["a"]
        q.requeue_after("a", 1.0)  # asked again after it fired: droppable again
        q.forget("a")
        q.requeue_after("b", 0)  # no delay: an add now
        q.forget("b")
        assert await drain_now(q) == ["b"]
        clock.step(5.0)
        await settle()
        assert len(q) == 0


async def test_a_hold_is_not_dropped_by_forget(q: WorkQueue[str], clock: FakeClock) -> None:
    async with q:
        q.requeue_after("a", 1.0)
        q.hold("a", 2.0)
        q.forget("a")
        await settle()
        clock.step(2.0)
        await settle()
        assert await drain_now(q) == ["a"]


async def test_run_is_cancellable_and_keeps_delayed_keys(q: WorkQueue[str], clock: FakeClock) -> None:
    q.add_after("a", 5.0)  # before run(): kept until a loop runs
    async with anyio.create_task_group() as tg:
        tg.start_soon(q.run)
        await settle()
        with pytest.raises(RuntimeError, match="already running"):
            await q.run()
        tg.cancel_scope.cancel()
    clock.step(5.0)
    await settle()
    assert len(q) == 0  # no loop, nothing moves
    async with anyio.create_task_group() as tg:
        tg.start_soon(q.run)  # a cancelled run() can be started again
        await settle()
        assert len(q) == 1
        q.shutdown()  # run() returns by itself on shutdown


async def test_context_manager_exit_shuts_down(q: WorkQueue[str]) -> None:
    async with q:
        q.add_after("a", 1.0)
        assert not q.shutting_down
    assert q.shutting_down
    q.add("b")
    assert len(q) == 0


# -- rate limiting --


async def test_add_rate_limited_backs_off_and_counts(q: WorkQueue[str], clock: FakeClock,
                                                     registry: CollectorRegistry) -> None:
    async with q:
        q.add_rate_limited("a")  # default limiter: 5 ms
        q.add_rate_limited("a")  # 10 ms, but the earlier 5 ms wins
        assert q.num_requeues("a") == 2
        assert sample(registry, "workqueue_retries_total") == 2
        await settle()
        clock.step(0.004)
        await settle()
        assert len(q) == 0
        clock.step(0.001)
        await settle()
        assert await drain_now(q) == ["a"]
        q.forget("a")
        assert q.num_requeues("a") == 0


async def test_injected_rate_limiter(clock: FakeClock, metrics: WorkQueueMetrics) -> None:
    q: WorkQueue[str] = WorkQueue("q", clock=clock, metrics=metrics,
                                  rate_limiter=ItemExponentialFailureRateLimiter(2.0, 60.0))
    async with q:
        q.add_rate_limited("a")
        await settle()
        assert clock.next_deadline() == START + 2.0
        clock.step(2.0)
        await settle()
        assert await drain_now(q) == ["a"]
        q.add_rate_limited("a")
        await settle()
        assert clock.next_deadline() == START + 2.0 + 4.0


# -- shutdown --


async def test_a_key_wakes_one_idle_worker_not_all(q: WorkQueue[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """client-go's Signal, not Broadcast: with 8 workers idle, each add and each done woke all 8 and
    sent 7 back to sleep (the sustained benchmark's idle workers spent their CPU on it). Counted as the
    times a worker went to sleep: 8 at first, then one per key handed out."""
    sleeps = 0
    event = anyio.Event

    class Counted:
        def __init__(self) -> None:
            self._event = event()

        def set(self) -> None:
            self._event.set()

        def is_set(self) -> bool:
            return self._event.is_set()

        async def wait(self) -> None:
            nonlocal sleeps
            sleeps += 1
            await self._event.wait()

    monkeypatch.setattr(anyio, "Event", Counted)
    got: list[str] = []

    async def worker() -> None:
        while True:
            key = await q.get()
            got.append(key)
            q.done(key)

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(worker)
        await settle()
        assert sleeps == 8
        for key in ("a", "b", "c"):
            q.add(key)
            await settle()
        assert sorted(got) == ["a", "b", "c"]
        assert sleeps == 8 + 3
        tg.cancel_scope.cancel()


async def test_a_worker_cancelled_as_it_is_woken_hands_the_key_on(q: WorkQueue[str]) -> None:
    """Woken for a key and cancelled before it ran: the key goes to another idle worker, not left
    queued while every worker sleeps."""
    first = asyncio.create_task(q.get())
    await settle()
    second = asyncio.create_task(q.get())
    await settle()
    q.add("k")  # wakes the first getter ...
    first.cancel()  # ... which is cancelled before it runs
    with anyio.fail_after(1):
        assert await second == "k"
    assert first.cancelled()


async def test_shutdown_wakes_blocked_getters(q: WorkQueue[str]) -> None:
    outcomes: list[str] = []

    async def getter() -> None:
        try:
            await q.get()
        except ShutDown:
            outcomes.append("shutdown")

    async with anyio.create_task_group() as tg:
        tg.start_soon(getter)
        tg.start_soon(getter)
        await settle()
        assert outcomes == []
        q.shutdown()
    assert outcomes == ["shutdown", "shutdown"]
    assert q.shutting_down


async def test_adds_after_shutdown_are_ignored(q: WorkQueue[str], registry: CollectorRegistry) -> None:
    q.shutdown()
    q.add("a")
    q.add_after("b", 0)
    q.add_after("c", 1.0)
    q.add_rate_limited("d")
    assert len(q) == 0
    assert q.num_requeues("d") == 0
    assert sample(registry, "workqueue_adds_total") == 0
    assert sample(registry, "workqueue_retries_total") == 0
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_drops_queued_keys_but_allows_done(q: WorkQueue[str], registry: CollectorRegistry) -> None:
    q.add("a")
    q.add("b")
    assert await q.get() == "a"
    q.add("a")  # dirty while in flight
    q.shutdown()
    assert len(q) == 0
    assert sample(registry, "workqueue_depth") == 0
    q.done("a")  # not re-queued
    assert len(q) == 0
    with pytest.raises(ShutDown):
        await q.get()


async def test_shutdown_with_drain_waits_for_in_flight_done(q: WorkQueue[str]) -> None:
    q.add("a")
    q.add("b")
    assert await q.get() == "a"
    q.add("a")  # dirty: drained too
    drained = False

    async def drain() -> None:
        nonlocal drained
        await q.shutdown_with_drain()
        drained = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        await settle()
        assert q.shutting_down
        q.add("c")  # ignored
        assert not drained
        assert await q.get() == "b"  # queued keys are still handed out
        q.done("a")
        await settle()
        assert not drained  # "b" in flight, "a" re-queued
        assert await q.get() == "a"
        q.done("b")
        await settle()
        assert not drained
        q.done("a")
        await settle()
        assert drained
    with pytest.raises(ShutDown):
        await q.get()


async def test_drain_getter_waits_for_possible_requeue(q: WorkQueue[str]) -> None:
    q.add("a")
    assert await q.get() == "a"
    got: list[str] = []

    async def worker() -> None:
        try:
            while True:
                key = await q.get()
                got.append(key)
                q.done(key)
        except ShutDown:
            got.append("shutdown")

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        tg.start_soon(q.shutdown_with_drain)
        await settle()
        assert got == []  # "a" is in flight and may still be re-queued
        q.done("a")
        await settle()
        assert got == ["shutdown"]


async def test_shutdown_after_drain_gives_up_on_queued(q: WorkQueue[str]) -> None:
    q.add("a")
    q.add("b")
    assert await q.get() == "a"
    async with anyio.create_task_group() as tg:
        tg.start_soon(q.shutdown_with_drain)
        await settle()
        q.shutdown()
        assert len(q) == 0
        with pytest.raises(ShutDown):
            await q.get()
        q.done("a")  # the drain still waits for what is in flight, then returns


# -- metrics --


async def test_metrics(q: WorkQueue[str], clock: FakeClock, registry: CollectorRegistry) -> None:
    q.add("a")
    clock.step(1.0)
    q.add("b")
    assert sample(registry, "workqueue_depth") == 2
    assert sample(registry, "workqueue_adds_total") == 2

    clock.step(2.0)
    assert await q.get() == "a"  # waited 3 s
    assert sample(registry, "workqueue_depth") == 1
    clock.step(1.0)
    assert await q.get() == "b"  # waited 3 s
    assert sample(registry, "workqueue_depth") == 0
    assert sample(registry, "workqueue_queue_duration_seconds_count") == 2
    assert sample(registry, "workqueue_queue_duration_seconds_sum") == pytest.approx(6.0)

    q.add("a")  # re-added while in flight: counted in depth, not in len()
    assert sample(registry, "workqueue_depth") == 1
    assert len(q) == 0

    clock.step(4.0)
    q.update_unfinished_work()
    assert sample(registry, "workqueue_unfinished_work_seconds") == pytest.approx(5.0 + 4.0)
    assert sample(registry, "workqueue_longest_running_processor_seconds") == pytest.approx(5.0)

    q.done("b")
    q.done("a")
    assert sample(registry, "workqueue_work_duration_seconds_count") == 2
    assert sample(registry, "workqueue_work_duration_seconds_sum") == pytest.approx(9.0)
    q.update_unfinished_work()
    assert sample(registry, "workqueue_unfinished_work_seconds") == 0
    assert sample(registry, "workqueue_longest_running_processor_seconds") == 0

    clock.step(0.5)
    assert await q.get() == "a"  # queue time counts from the re-add, 4.5 s ago
    assert sample(registry, "workqueue_queue_duration_seconds_sum") == pytest.approx(10.5)


async def test_metrics_are_labelled_by_name_and_off_by_default(clock: FakeClock, metrics: WorkQueueMetrics,
                                                               registry: CollectorRegistry) -> None:
    one: WorkQueue[str] = WorkQueue("one", clock=clock, metrics=metrics)
    two: WorkQueue[str] = WorkQueue("two", clock=clock, metrics=metrics)
    one.add("a")
    one.add("b")
    two.add("a")
    assert sample(registry, "workqueue_adds_total", "one") == 2
    assert sample(registry, "workqueue_adds_total", "two") == 1

    unmeasured: WorkQueue[str] = WorkQueue("one", clock=clock)  # the default records nothing
    unmeasured.add("x")
    assert sample(registry, "workqueue_adds_total", "one") == 2
