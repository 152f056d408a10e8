"""Per-key retry delays for the work queue (client-go ``default_rate_limiters`` semantics).

A limiter answers one question — "how long should this key wait before its next
try?" — and records that it was asked. It is pure and synchronous: no sleeping,
no I/O; the only input besides the key is an injected :class:`Clock`. Delays are
seconds. Limiters are not thread-safe (one event loop owns them).

Not promised: fairness between keys, or that a delay is honoured — the queue
decides what to do with the answer.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Protocol

from .clock import Clock


class RateLimiter(Protocol):
    """What the work queue (and :class:`MaxOfRateLimiter`) needs from a limiter."""

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait before its next try; counts as one more try."""
        ...

    def forget(self, item: Hashable) -> None:
        """The item succeeded (or was given up on): drop its history."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times :meth:`when` was asked about ``item`` since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """``base * 2**failures`` per key, capped at ``max_delay``.

    The first failure waits ``base``, the second ``2*base``, … A success should
    call :meth:`forget` so the next failure starts again from ``base``.
    """

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        if base < 0 or max_delay < 0:
            raise ValueError("delays must not be negative")
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        try:
            # ldexp raises instead of returning inf, so a long-failing key cannot overflow.
            backoff = math.ldexp(self.base, exp)
        except OverflowError:
            return self.max_delay
        return min(backoff, self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """A token bucket shared by all keys: ``burst`` immediate tries, then ``qps`` per second.

    :meth:`when` reserves a token and returns how long until it is available (the
    token is spent even if the caller never waits), like ``x/time/rate``'s
    ``Reserve().Delay()``. The bucket starts full. It keeps no per-key state.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock) -> None:
        if not qps > 0:
            raise ValueError("qps must be positive (math.inf means unlimited)")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def when(self, item: Hashable) -> float:
        if math.isinf(self.qps):
            return 0.0
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        # Tokens may go negative: that is the queue of reservations already handed out.
        tokens = min(float(self.burst), self._tokens + elapsed * self.qps) - 1.0
        self._tokens = tokens
        self._last = max(now, self._last)
        return -tokens / self.qps if tokens < 0 else 0.0

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay any of ``limiters`` asks for (every limiter is asked, so all keep count)."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("need at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock) -> MaxOfRateLimiter:
    """client-go's default: per-key exponential 5 ms … 1000 s, and 10 qps / burst 100 overall.

    The bucket only bites when very many keys fail at once; it keeps a storm of
    retries from hammering the API server.
    """
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(10.0, 100, clock=clock),
    )


class BucketThrottle:
    """Client-side QPS/burst for the REST client (``kube.client.Throttle``), on a token bucket."""

    def __init__(self, qps: float, burst: int, *, clock: Clock) -> None:
        self._bucket = BucketRateLimiter(qps, burst, clock=clock)
        self._clock = clock

    async def wait(self) -> None:
        await self._clock.sleep(self._bucket.when(None))
