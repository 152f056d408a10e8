"""A :class:`~jupyternetes_operator.machinery.clock.Clock` that only moves when a test says so:
sleepers wake exactly when their deadline is reached, in deadline order, and no test ever sleeps
on the wall clock."""

from __future__ import annotations

import heapq
import itertools

import anyio
import anyio.lowlevel


class FakeClock:
    """A clock that only moves when a test calls :meth:`step` (or :meth:`advance_to`)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), event))
        await event.wait()

    @property
    def sleepers(self) -> int:
        """How many tasks are blocked in :meth:`sleep` (to wait until a loop parks)."""
        return sum(1 for *_, e in self._sleepers if not e.is_set())

    def next_deadline(self) -> float | None:
        return self._sleepers[0][0] if self._sleepers else None

    def step(self, seconds: float) -> None:
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        if when < self._now:
            raise ValueError("a monotonic clock never goes back")
        self._now = when
        while self._sleepers and self._sleepers[0][0] <= when:
            _, _, event = heapq.heappop(self._sleepers)
            event.set()
