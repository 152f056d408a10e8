"""Time, injected: everything that waits or measures takes a :class:`Clock`.

``now()`` is monotonic seconds (never wall time: leases and backoff must not jump
with NTP). The unit tests inject a fake clock they move by hand
(``tests/unit/machinery/fakeclock.py``), so no test sleeps on the wall clock.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep until ``now() >= start + seconds`` (cancellable)."""
        ...


class MonotonicClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

