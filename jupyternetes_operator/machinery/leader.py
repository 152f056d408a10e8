"""Leader election on a ``coordination.k8s.io/v1`` Lease (client-go ``tools/leaderelection`` semantics).

Guaranteed, provided the replicas' monotonic clocks run at the same rate to within
``(lease_duration - renew_deadline) / lease_duration`` and the guarded work honours
cancellation within ``lease_duration - renew_deadline``:

- never two leaders acting at once. Every write to the record is a compare-and-swap on
  its ``resourceVersion`` (409 = lost the race), and a follower takes a held lease over
  only after it has *itself* watched the record stay unchanged for the lease duration,
  measured on its local monotonic clock from the moment it first saw that record. The
  server's ``renewTime`` is never compared with local wall time, so wall-clock skew and
  NTP jumps do not matter;
- the guarded work is cancelled at ``renew_deadline`` after the start of the last
  successful renewal: strictly before anyone else can see the lease expire (which
  takes at least ``lease_duration`` from that same instant). The lease is released, if
  at all, only after the guarded work has finished.

Not guaranteed: that someone leads at every moment (failover takes up to about
``lease_duration + retry_period``); protection against writes the old leader already
had in flight when it was cancelled, or against a process frozen (SIGSTOP, swap) for
longer than the margin — there is no fencing token; fairness among candidates.

After a lost lease :meth:`LeaderElector.run` raises :class:`LeadershipLost` instead of
campaigning again: the guarded work's in-memory state is suspect, so the composition
root is expected to exit (as client-go users do) or call ``run()`` afresh.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio

from ..kube.client import Client
from ..kube.errors import AlreadyExists, Conflict
from .clock import Clock, MonotonicClock
from .leaselock import LeaderRecord, LeaseLock, Lock
from .metrics import LeaderMetrics

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2
"""Acquire retries wait ``retry_period * (1 + JITTER_FACTOR * random())``, as client-go does."""

T = TypeVar("T")


def _default_identity() -> str:
    return f"{socket.gethostname()}_{secrets.token_hex(4)}"


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Settings; the defaults are client-go's (and kube-controller-manager's)."""

    name: str
    """The Lease's name; also the ``name`` label of ``leader_election_master_status``."""
    namespace: str
    identity: str = field(default_factory=_default_identity)
    """Unique per process: hostname plus a random suffix, so a restarted pod is a new candidate."""
    lease_duration: float = 15.0
    """How long followers wait, after last seeing the record change, before taking over."""
    renew_deadline: float = 10.0
    """How long the leader keeps retrying a failed renewal before it stops the guarded work.
    The gap to ``lease_duration`` is the time the guarded work has to wind down."""
    retry_period: float = 2.0
    """Pause between attempts, to acquire (jittered) and to renew."""
    release_on_cancel: bool = True
    """Give the lease up on a clean exit so a successor need not wait ``lease_duration``."""

    def __post_init__(self) -> None:
        if not self.name or not self.namespace:
            raise ValueError("name and namespace of the lease must not be empty")
        if not self.identity:
            raise ValueError("identity must not be empty")
        for attr in ("lease_duration", "renew_deadline", "retry_period"):
            if not getattr(self, attr) > 0:
                raise ValueError(f"{attr} must be greater than zero")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(f"renew_deadline must be greater than retry_period * {JITTER_FACTOR}")

    @property
    def lease_duration_seconds(self) -> int:
        """What the Lease carries (whole seconds; rounded up, so others never wait less)."""
        return math.ceil(self.lease_duration)


class LeadershipLost(Exception):
    """Renewal did not succeed within ``renew_deadline``; the guarded work was cancelled."""


# -- the elector -----------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    """Campaigns for one lock and runs guarded work while, and only while, it leads."""

    def __init__(self, config: LeaderElectionConfig, lock: Lock, *, clock: Clock | None = None,
                 metrics: LeaderMetrics | None = None, jitter: Callable[[], float] = random.random,
                 wall_clock: Callable[[], datetime] = _utcnow,
                 before_release: Callable[[], Awaitable[None]] | None = None) -> None:
        """``jitter`` returns a number in [0, 1); ``wall_clock`` only fills the record's
        informational ``acquireTime``/``renewTime`` and never takes part in a decision.
        ``before_release`` is awaited (at most ``renew_deadline``) after the guarded work stopped and
        before the Lease is handed back: the writes still in flight land first, so none arrives after
        a successor may act."""
        self.config = config
        self._lock = lock
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._m = (metrics if metrics is not None else LeaderMetrics()).lease(config.name)
        self._jitter = jitter
        self._wall_clock = wall_clock
        self._before_release = before_release
        self._observed: LeaderRecord | None = None
        self._observed_version: str | None = None
        self._observed_at = 0.0  # local monotonic time the observed record was first seen
        self._renewed_at = 0.0  # start of the last successful acquire/renew attempt
        self._leading = False
        self._guarded_running = False
        self._running = False
        self._changed = anyio.Event()

    @classmethod
    def for_lease(cls, client: Client, config: LeaderElectionConfig, **kwargs: Any) -> LeaderElector:
        return cls(config, LeaseLock(client, config.namespace, config.name), **kwargs)

    # -- observation (for readiness, health and logs) --

    @property
    def is_leader(self) -> bool:
        """True from acquisition until the guarded work is told to stop."""
        return self._leading

    def may_act(self) -> bool:
        """A write fence: leading *and* the last successful renewal began less than
        ``renew_deadline`` ago, by the local monotonic clock. Unlike :attr:`is_leader` it needs
        no task to have run, so it is already False the instant a frozen process resumes."""
        return self._leading and self._clock.now() - self._renewed_at < self.config.renew_deadline

    @property
    def leader_identity(self) -> str:
        """The holder of the last record seen ("" when none or released)."""
        return self._observed.holder_identity if self._observed else ""

    async def wait_leading(self) -> None:
        """Return once this process leads (at once if it already does)."""
        while not self._leading:
            await self._changed.wait()

    def check(self, max_tolerable_expiration: float = 0.0) -> bool:
        """For ``/healthz``: False if the guarded work still runs although the last successful
        renewal is older than ``lease_duration + max_tolerable_expiration`` — the work ignored
        its cancellation (or the event loop is stuck) and may overlap the next leader."""
        if not (self._leading or self._guarded_running):
            return True
        return self._clock.now() - self._renewed_at <= self.config.lease_duration + max_tolerable_expiration

    # -- the loop --

    async def run(self, on_started_leading: Callable[[], Awaitable[None]]) -> None:
        """Campaign until elected, then run ``on_started_leading()`` while renewing.

        Returns when the guarded work returns; raises :class:`LeadershipLost` when renewal
        fails (the work is cancelled at the deadline); an exception from the work propagates
        (in an ``ExceptionGroup``, as anyio task groups do).
        On every exit but a lost lease, the lease is released if ``release_on_cancel``.
        """
        if self._running:
            raise RuntimeError("LeaderElector.run() is already running")
        self._running = True
        self._set_leading(False)
        try:
            await self._acquire()
            await self._lead(on_started_leading)
        finally:
            self._running = False
            self._set_leading(False)

    async def _acquire(self) -> None:
        log.info("%s: attempting to acquire lease %s/%s", self.config.identity, self.config.namespace,
                 self.config.name)
        while True:
            start = self._clock.now()
            if await self._attempt(self.config.renew_deadline):
                self._renewed_at = start
                return
            period = self.config.retry_period
            await self._clock.sleep(period + self._jitter() * JITTER_FACTOR * period)

    async def _lead(self, work: Callable[[], Awaitable[None]]) -> None:
        lost = False
        self._guarded_running = True
        self._set_leading(True)
        log.info("%s: acquired lease %s/%s", self.config.identity, self.config.namespace, self.config.name)
        try:
            async with anyio.create_task_group() as tg:
                async def guarded() -> None:
                    await work()
                    tg.cancel_scope.cancel()  # the work is done: stop renewing

                tg.start_soon(guarded)
                await self._keep_renewing()
                lost = True
                self._set_leading(False)
                tg.cancel_scope.cancel()  # the hard stop
                log.error("%s: failed to renew lease %s/%s within %ss; stopping guarded work",
                          self.config.identity, self.config.namespace, self.config.name,
                          self.config.renew_deadline)
        finally:
            self._guarded_running = False
            self._set_leading(False)
            if not lost and self.config.release_on_cancel:
                with anyio.CancelScope(shield=True):
                    if self._before_release is not None \
                            and await self._within(self.config.renew_deadline, self._settled()) is None:
                        log.warning("%s: writes still in flight after %ss; releasing lease %s/%s anyway",
                                    self.config.identity, self.config.renew_deadline, self.config.namespace,
                                    self.config.name)
                    if await self._within(self.config.renew_deadline, self._release()) is None:
                        log.warning("%s: releasing lease %s/%s timed out", self.config.identity,
                                    self.config.namespace, self.config.name)
        if lost:
            raise LeadershipLost(f"lease {self.config.namespace}/{self.config.name} not renewed within "
                                 f"{self.config.renew_deadline}s")

    async def _keep_renewing(self) -> None:
        """Renew every ``retry_period``; return at ``renew_deadline`` after the last success began."""
        while True:
            deadline = self._renewed_at + self.config.renew_deadline
            remaining = deadline - self._clock.now()
            if remaining <= 0:
                return
            await self._clock.sleep(min(self.config.retry_period, remaining))
            start = self._clock.now()
            if start >= deadline:
                return
            if await self._attempt(deadline - start):
                self._renewed_at = start

    async def _attempt(self, timeout: float) -> bool:
        """One bounded try; never raises for a failed attempt."""
        try:
            ok = await self._within(timeout, self._try_acquire_or_renew())
        except (Conflict, AlreadyExists) as exc:
            log.debug("%s: lost the race for the lease: %s", self.config.identity, exc)
            return False
        except Exception:
            log.warning("%s: leader election attempt failed", self.config.identity, exc_info=True)
            return False
        if ok is None:
            log.warning("%s: leader election attempt timed out after %.3gs", self.config.identity, timeout)
        return bool(ok)

    async def _try_acquire_or_renew(self) -> bool:
        identity = self.config.identity
        wall = self._wall_clock()
        desired = LeaderRecord(holder_identity=identity, lease_duration_seconds=self.config.lease_duration_seconds,
                               acquire_time=wall, renew_time=wall)

        # Fast path: we wrote the last record we know of; if it is unchanged, renew blind.
        observed, version = self._observed, self._observed_version
        if observed is not None and version is not None and observed.holder_identity == identity:
            renewed = replace(desired, acquire_time=observed.acquire_time,
                              leader_transitions=observed.leader_transitions)
            try:
                self._observe(renewed, await self._lock.update(renewed, version))
                return True
            except Exception as exc:  # any failure: fall back to reading the record
                log.debug("%s: fast renewal failed (%s); re-reading the lease", identity, exc)

        current = await self._lock.get()
        if current is None:
            self._observe(desired, await self._lock.create(desired))
            return True
        old, version = current
        if old != self._observed:
            self._observe(old, version)
        else:
            self._observed_version = version
        if old.holder_identity and old.holder_identity != identity and not self._expired(old):
            return False
        if old.holder_identity == identity:
            new = replace(desired, acquire_time=old.acquire_time, leader_transitions=old.leader_transitions)
        else:
            new = replace(desired, leader_transitions=old.leader_transitions + 1)
        self._observe(new, await self._lock.update(new, version))
        return True

    def _expired(self, record: LeaderRecord) -> bool:
        # The longer of the holder's promise and our own setting: waiting too long is only slow.
        duration = max(float(record.lease_duration_seconds), self.config.lease_duration)
        return self._observed_at + duration < self._clock.now()

    def _observe(self, record: LeaderRecord, version: str) -> None:
        self._observed, self._observed_version = record, version
        self._observed_at = self._clock.now()

    async def _settled(self) -> bool:
        assert self._before_release is not None
        await self._before_release()
        return True

    async def _release(self) -> bool:
        """Hand the lease back (no holder, 1 s), so a follower takes over at its next retry;
        True if the lease is not (or no longer) ours.

        Only a record that still names us is released. A 409 usually means our own renewal was
        cut off in flight after the server applied it, so the record is re-read once.
        """
        identity = self.config.identity
        observed, version = self._observed, self._observed_version
        if observed is None or version is None or observed.holder_identity != identity:
            return True
        try:
            for attempt in range(2):
                wall = self._wall_clock()
                released = LeaderRecord(holder_identity="", lease_duration_seconds=1, acquire_time=wall,
                                        renew_time=wall, leader_transitions=observed.leader_transitions)
                try:
                    self._observe(released, await self._lock.update(released, version))
                except Conflict:
                    if attempt:
                        raise
                    current = await self._lock.get()
                    if current is None or current[0].holder_identity != identity:
                        return True
                    observed, version = current
                else:
                    log.info("%s: released lease %s/%s", identity, self.config.namespace, self.config.name)
                    return True
        except Exception:
            log.warning("%s: failed to release lease %s/%s", identity, self.config.namespace, self.config.name,
                        exc_info=True)
        return False

    async def _within(self, seconds: float, coro: Awaitable[T]) -> T | None:
        """Await ``coro``, giving up (``None``) after ``seconds`` on the injected clock."""
        result: T | None = None
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            async def expire() -> None:
                await self._clock.sleep(seconds)
                tg.cancel_scope.cancel()

            tg.start_soon(expire)
            try:
                result = await coro
            except Exception as exc:  # re-raised bare below, not wrapped in an ExceptionGroup
                error = exc
            tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return result

    def _set_leading(self, leading: bool) -> None:
        self._m.leading(leading)
        if leading == self._leading:
            return
        self._leading = leading
        changed, self._changed = self._changed, anyio.Event()
        changed.set()
