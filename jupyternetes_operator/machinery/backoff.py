"""Jittered exponential backoff for reconnect loops (pure; time comes from the caller).

Delays grow ``initial * factor**n`` up to ``maximum``, each stretched by a random
factor in ``[1, 1 + jitter]`` so that many clients that lost the same API server do
not return in lockstep. After ``reset_after`` seconds without a failure the next
delay starts from ``initial`` again (client-go's backoff manager does the same).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float = 0.8
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 1.0
    reset_after: float = 120.0
    rng: random.Random = field(default_factory=random.Random)
    _failures: int = 0
    _last_failure: float | None = None

    def next_delay(self, now: float) -> float:
        """Record a failure at ``now`` and return how long to wait before the next try."""
        if self._last_failure is not None and now - self._last_failure > self.reset_after:
            self._failures = 0
        self._last_failure = now
        base = min(self.maximum, self.initial * self.factor ** min(self._failures, 64))
        self._failures += 1
        return min(self.maximum * (1 + self.jitter), base * (1 + self.jitter * self.rng.random()))

    def reset(self) -> None:
        self._failures = 0
        self._last_failure = None
