"""Which waiting request gets the next free connection: a status write before any other.

Contract: :class:`Gate` lets at most ``capacity`` holders in at once; a freed place goes to the waiter
of the lowest rank, first come first served within a rank. A waiter cancelled before its turn leaves
no trace; one cancelled as its turn comes passes the place on. :func:`rank` orders requests: a write
to a ``/status`` subresource (what turns an instance Ready) first, then everything else, so that in a
burst a server that already runs is reported before more pods are created.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

STATUS, OTHER = 0, 1


def rank(method: str, path: str) -> int:
    """A request's place in the line for a connection (lower goes first)."""
    return STATUS if method in ("PATCH", "PUT") and path.endswith("/status") else OTHER


class Gate:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._free = capacity
        self._waiting: list[tuple[int, int, anyio.Event]] = []  # a heap: (rank, arrival, turn)
        self._arrivals = itertools.count()

    @asynccontextmanager
    async def place(self, rank: int, timeout: float | None = None) -> AsyncIterator[None]:
        """Hold one of the places for the block's length, waiting for it in ``rank``'s line at most
        ``timeout`` seconds (then ``TimeoutError``)."""
        with anyio.fail_after(timeout):
            await self._enter(rank)
        try:
            yield
        finally:
            self._leave()

    async def _enter(self, rank: int) -> None:
        if self._free:  # nobody waits while a place is free
            self._free -= 1
            return
        entry = (rank, next(self._arrivals), anyio.Event())
        heapq.heappush(self._waiting, entry)
        try:
            await entry[2].wait()
        except BaseException:
            if entry[2].is_set():
                self._leave()  # the turn came as the wait was cancelled: pass it on
            else:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
            raise

    def _leave(self) -> None:
        if self._waiting:
            heapq.heappop(self._waiting)[2].set()
        else:
            self._free += 1
