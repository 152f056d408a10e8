"""The keys a work queue holds ready, in the order they go out: keys pushed ``first`` before the
others, each lane first in, first out (controller-runtime's priority queue, in two levels).

Contract: a key is held at most once (a push of a held key is the caller's error: the queue's
dirty set prevents it). Every operation is O(1) amortized: :meth:`Lanes.promote` and
:meth:`Lanes.remove` leave the key's old entry behind, and :meth:`Lanes.pop` skips such entries
(a restart lists 10,000 instances, then their 10,000 pods promote each one).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Lanes(Generic[K]):
    def __init__(self) -> None:
        self._first: deque[tuple[K, int]] = deque()
        self._plain: deque[tuple[K, int]] = deque()
        self._live: dict[K, tuple[int, bool]] = {}  # key -> its live entry's number, and lane (first?)
        self._numbers = itertools.count()

    def push(self, key: K, *, first: bool = False) -> None:
        number = next(self._numbers)
        self._live[key] = (number, first)
        (self._first if first else self._plain).append((key, number))

    def promote(self, key: K) -> None:
        """Move ``key`` from the plain lane to the back of the first (nothing if it is not in the plain lane)."""
        if (live := self._live.get(key)) is not None and not live[1]:
            self.push(key, first=True)

    def pop(self) -> K:
        """The next key: the first lane's oldest, else the plain lane's (IndexError when none is held)."""
        while True:
            key, number = (self._first or self._plain).popleft()
            if (live := self._live.get(key)) is not None and live[0] == number:
                del self._live[key]
                return key

    def remove(self, key: K) -> None:
        """Take ``key`` out of whichever lane holds it (ValueError if none does)."""
        if self._live.pop(key, None) is None:
            raise ValueError(key)

    def clear(self) -> None:
        self._first.clear()
        self._plain.clear()
        self._live.clear()

    def __len__(self) -> int:
        return len(self._live)
