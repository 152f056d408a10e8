"""``BucketThrottle`` (the REST client's QPS/burst) on a fake clock: the burst goes out
at once, then each request waits its 1/qps turn."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from jupyternetes_operator.machinery.ratelimit import BucketThrottle

from .fakeclock import FakeClock

START = 1000.0


async def settle() -> None:
    """Let every other task run until it blocks (no wall-clock time involved)."""
    for _ in range(50):
        await anyio.lowlevel.checkpoint()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def test_burst_passes_without_sleeping(clock: FakeClock) -> None:
    throttle = BucketThrottle(qps=4, burst=3, clock=clock)
    with anyio.fail_after(1):
        for _ in range(3):
            await throttle.wait()
    assert clock.next_deadline() is None
    assert clock.sleepers == 0
    assert clock.now() == START


async def test_after_the_burst_each_wait_is_one_over_qps(clock: FakeClock) -> None:
    throttle = BucketThrottle(qps=4, burst=2, clock=clock)
    await throttle.wait()
    await throttle.wait()
    released: list[float] = []

    async def one() -> None:
        await throttle.wait()
        released.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        await settle()
        assert clock.sleepers == 1
        assert clock.next_deadline() == pytest.approx(START + 0.25)
        clock.step(0.2499)
        await settle()
        assert released == []  # not a moment early
        clock.advance_to(START + 0.25)
        await settle()
        assert released == [pytest.approx(START + 0.25)]

        # The token just paid for is gone: the next request waits a full 1/qps again.
        tg.start_soon(one)
        await settle()
        assert clock.next_deadline() == pytest.approx(START + 0.5)
        clock.advance_to(START + 0.5)
    assert released == [pytest.approx(START + 0.25), pytest.approx(START + 0.5)]


async def test_concurrent_waiters_are_spaced_one_over_qps(clock: FakeClock) -> None:
    throttle = BucketThrottle(qps=5, burst=1, clock=clock)
    released: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        await throttle.wait()
        released.append((i, clock.now()))

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(one, i)
            await settle()
        # The burst of one went out at once; the other three hold reservations 0.2 s apart.
        assert released == [(0, START)]
        assert clock.sleepers == 3
        for n, deadline in enumerate((0.2, 0.4, 0.6), start=1):
            assert clock.next_deadline() == pytest.approx(START + deadline)
            clock.advance_to(START + deadline)
            await settle()
            assert len(released) == n + 1
    assert [i for i, _ in released] == [0, 1, 2, 3]
    assert [t - START for _, t in released] == pytest.approx([0.0, 0.2, 0.4, 0.6])


async def test_idle_time_refills_the_burst_but_no_further(clock: FakeClock) -> None:
    throttle = BucketThrottle(qps=2, burst=2, clock=clock)
    await throttle.wait()
    await throttle.wait()
    clock.step(60.0)  # long idle: the bucket is full again, holding 2 tokens, not 120
    await throttle.wait()
    await throttle.wait()
    assert clock.sleepers == 0

    async with anyio.create_task_group() as tg:
        tg.start_soon(throttle.wait)
        await settle()
        assert clock.next_deadline() == pytest.approx(START + 60.0 + 0.5)
        clock.step(0.5)
