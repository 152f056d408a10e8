"""The keys a work queue holds ready, in the order they go out: keys added ``first`` before the
others, each lane first in, first out (controller-runtime's priority queue, in two levels).

Contract: the caller pushes a key at most once (the queue's dirty set guarantees it);
:meth:`Lanes.promote` moves a key waiting in the plain lane to the back of the first lane, in time
linear in the plain lane (it is for a key already waiting, so rare).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Lanes(Generic[K]):
    def __init__(self) -> None:
        self._first: deque[K] = deque()
        self._plain: deque[K] = deque()

    def push(self, key: K, *, first: bool = False) -> None:
        (self._first if first else self._plain).append(key)

    def promote(self, key: K) -> None:
        """Move ``key`` from the plain lane to the first (nothing if it is not in the plain lane)."""
        try:
            self._plain.remove(key)
        except ValueError:
            return
        self._first.append(key)

    def pop(self) -> K:
        """The next key: the first lane's oldest, else the plain lane's (IndexError when empty)."""
        return self._first.popleft() if self._first else self._plain.popleft()

    def remove(self, key: K) -> None:
        """Take ``key`` out of whichever lane holds it (ValueError if none does)."""
        try:
            self._first.remove(key)
        except ValueError:
            self._plain.remove(key)

    def clear(self) -> None:
        self._first.clear()
        self._plain.clear()

    def __len__(self) -> int:
        return len(self._first) + len(self._plain)
